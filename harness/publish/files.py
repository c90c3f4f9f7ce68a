"""Write thousands of pages from a few threads, so file-system latency overlaps rendering.

Creating a file can take far longer than rendering it (journalled or networked disks, CI
volumes); opening and writing release the GIL, so a small pool of threads keeps the disk busy
while the main thread renders the next page. Queued pages are bounded, so memory stays flat.

A page whose bytes the previous site already has is not written again: the previous file is
hard-linked into the new site instead, so it keeps its inode and time, and whatever copies
the site onward (rsync, an object store's sync) sends only the pages that changed.
"""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

THREADS = 2
PENDING = 256  # pages rendered but not yet written, at most


class FileWriter:
    """`write()` queues a file; leaving the `with` block waits for all and raises the first
    error (a full disk, a permission) in the caller's thread."""

    def __init__(
        self,
        threads: int = THREADS,
        pending: int = PENDING,
        reuse: tuple[Path, Path] | None = None,
    ) -> None:
        """`reuse`: (the new site's root, the previous site's root) on one file system."""
        self._reuse = reuse
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="publish-writer")
        self._slots = threading.BoundedSemaphore(pending)
        self._errors: list[BaseException] = []

    def write(self, path: Path, text: str) -> None:
        if self._errors:
            raise self._errors[0]
        self._slots.acquire()
        previous = None
        if self._reuse is not None:
            root, before = self._reuse
            previous = before / path.relative_to(root)
        future = self._pool.submit(_write, path, text, previous)
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


def _write(path: Path, text: str, previous: Path | None = None) -> None:
    data = text.encode("utf-8")
    if previous is not None and _same(previous, data):
        try:
            os.link(previous, path)
            return
        except OSError:  # another file system, or no hard links there: write it
            pass
    path.write_bytes(data)


def _same(path: Path, data: bytes) -> bool:
    """Whether `path` is a regular file (not a link to one) holding exactly `data`."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or os.path.getsize(path) != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False
