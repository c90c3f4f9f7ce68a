"""Reading run directories for ingest: each record validated whole, or one line saying where
and why it is not a run record.

Validation costs more than storing, so a big ingest reads and validates in worker processes
(`RunReader`), one per core, while the ingesting process only writes; a few directories
(a `matrix run`'s own, a test's) are read in the process itself, where starting workers
would cost more than they save. Either way the runs come back in the order given.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from harness.errors import BadInput
from harness.history.database import MAX_RESULTS_PER_RUN
from harness.history.rows import StoredRun, rows_of
from harness.run.records import RESULTS_FILE, RUN_FILE, Result, RunHeader, read_header, read_results


class MalformedRecord(BadInput):
    """A run directory that is not a valid run record; the message says where and why."""


class Known(NamedTuple):
    """A run already in the history when the ingest began: only its header was read."""

    run_id: str
    header: str


class Rejected(NamedTuple):
    """A directory that is not a run record: why, naming the file (and line)."""

    message: str


Read = StoredRun | Known | Rejected


def load_header(run_dir: Path) -> RunHeader:
    """Read and validate a run's header, or say precisely what is wrong with it."""
    if not (run_dir / RUN_FILE).exists():
        raise MalformedRecord(f"{run_dir}: no {RUN_FILE}")
    try:
        return read_header(run_dir)
    except OSError as error:  # not a regular file, over its bound, unreadable
        raise MalformedRecord(f"{run_dir / RUN_FILE}: cannot read: {reason(error)}") from None
    except (ValidationError, ValueError) as error:
        raise MalformedRecord(f"{run_dir / RUN_FILE}: {_first_error(error)}") from None


def load_results(run_dir: Path) -> list[Result]:
    """Every result of a run, validated; a bad line is named by its number."""
    results: list[Result] = []
    try:
        for result in read_results(run_dir):  # one by one: the error can name its line
            if len(results) == MAX_RESULTS_PER_RUN:  # a result's key holds no more
                raise ValueError(f"more than {MAX_RESULTS_PER_RUN:,} results in one run")
            results.append(result)
    except OSError as error:
        raise MalformedRecord(f"{run_dir / RESULTS_FILE}: cannot read: {reason(error)}") from None
    except (ValidationError, ValueError) as error:
        where = f"{run_dir / RESULTS_FILE}:{len(results) + 1}"
        raise MalformedRecord(f"{where}: {_first_error(error)}") from None
    return results


def reason(error: OSError) -> str:
    return error.strerror or str(error)


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        return f"{location}: {first['msg']}" if location else first["msg"]
    return (str(error).splitlines() or [type(error).__name__])[0]


def read_run(run_dir: Path, known: frozenset[str]) -> Read:
    """One run directory: its rows, only its header when its run id is `known` (re-ingesting
    a results folder reads no results), or why it is not a run record."""
    try:
        header = load_header(run_dir)
        if header.run_id in known:
            return Known(header.run_id, header.model_dump_json())
        return rows_of(header, load_results(run_dir))
    except MalformedRecord as error:
        return Rejected(str(error))
    except OSError as error:  # the directory itself went away, or cannot be listed
        return Rejected(f"{run_dir}: {error}")


PARALLEL_FROM = 32
"""Run directories in one folder from which workers read them: below, starting the workers
(tens of milliseconds) costs more than they save."""
CHUNK = 16  # run directories a worker reads per task: a few hundred KiB of rows
AHEAD = 64
"""Tasks given out before their rows are taken: a thousand runs, more than the writer stores
in one transaction (store.BATCH_RUNS), so the workers go on reading while it commits; and a
bound on the memory the rows waiting take (tens of MiB)."""


class RunReader:
    """Reads run directories, in worker processes when there are many. The run ids known when
    it starts are read header only; one stored meanwhile is found at insert instead."""

    def __init__(self, known: frozenset[str], workers: int | None = None) -> None:
        self.known = known
        self.workers = workers if workers is not None else len(os.sched_getaffinity(0))
        self._pool: ProcessPoolExecutor | None = None

    def read(self, dirs: Sequence[Path]) -> Iterator[tuple[Path, Read]]:
        """Each directory with what was read from it, in the order given."""
        if self.workers < 2 or len(dirs) < PARALLEL_FROM:
            for run_dir in dirs:
                yield run_dir, read_run(run_dir, self.known)
            return
        pool = self._started()
        chunks = [list(dirs[start : start + CHUNK]) for start in range(0, len(dirs), CHUNK)]
        waiting: deque[tuple[list[Path], Future[list[Read]]]] = deque()
        for chunk in chunks:
            waiting.append((chunk, pool.submit(_read_chunk, chunk)))
            if len(waiting) >= AHEAD:
                yield from _taken(waiting.popleft())
        while waiting:
            yield from _taken(waiting.popleft())

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # fork: a worker starts in milliseconds with the known run ids already in it
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(
                self.workers, context, initializer=_set_known, initargs=(self.known,)
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _taken(task: tuple[list[Path], Future[list[Read]]]) -> Iterator[tuple[Path, Read]]:
    chunk, future = task
    yield from zip(chunk, future.result(), strict=True)


_KNOWN: frozenset[str] = frozenset()  # in a worker: the run ids its reader knew


def _set_known(known: frozenset[str]) -> None:
    global _KNOWN
    _KNOWN = known


def _read_chunk(dirs: list[Path]) -> list[Read]:
    return [read_run(run_dir, _KNOWN) for run_dir in dirs]
