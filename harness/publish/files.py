"""Write thousands of pages from a few threads, so file-system latency overlaps rendering.

Creating a file can take far longer than rendering it (journalled or networked disks, CI
volumes); opening and writing release the GIL, so a small pool of threads keeps the disk busy
while the main thread renders the next page. Queued pages are bounded, so memory stays flat.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

THREADS = 2
PENDING = 256  # pages rendered but not yet written, at most


class FileWriter:
    """`write()` queues a file; leaving the `with` block waits for all and raises the first
    error (a full disk, a permission) in the caller's thread."""

    def __init__(self, threads: int = THREADS, pending: int = PENDING) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="publish-writer")
        self._slots = threading.BoundedSemaphore(pending)
        self._errors: list[BaseException] = []

    def write(self, path: Path, text: str) -> None:
        if self._errors:
            raise self._errors[0]
        self._slots.acquire()
        future = self._pool.submit(_write, path, text)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        self._slots.release()
        error = future.exception()
        if error is not None:
            self._errors.append(error)

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True)
        if kind is None and self._errors:
            raise self._errors[0]


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))
