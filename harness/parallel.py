"""Work shared among forked processes, for the few passes that take seconds of pure Python
at scale (levels of a big history, a big lab's cell pages).

Fork, because a child then starts in milliseconds with everything computed so far (the
declarations, a history's runs, compiled templates) and nothing is pickled on the way in;
only what a child returns is. Fork before starting any thread (the children then inherit no
lock held by one), and inside `frozen_heap()`: otherwise each child's garbage collections
walk, and so copy, the whole heap it inherited.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

MAX_WORKERS = 8

Job = Callable[[int, int], Any]  # job(part, parts) does its share of the work
_job: Job | None = None  # what forked children run; set only while a pool runs


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, which containers narrow), at most 8."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    return max(1, min(count, MAX_WORKERS))


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave the objects that exist now (millions of them, at scale) out of garbage
    collection while the block runs: collections stay fast and forked children do not touch
    the pages they share with the parent."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def forked(job: Job, forked_parts: Iterable[int], parts: int) -> Iterator[list[Future[Any]]]:
    """Run `job(k, parts)` for each k of `forked_parts` in a forked child while the block runs
    (the caller may do another part meanwhile); yields their futures, in that order. Leaving
    the block waits for every child; a child's error is raised here."""
    global _job
    chosen = list(forked_parts)
    _job = job
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max(1, len(chosen)), mp_context=context) as pool:
            futures = [pool.submit(_run, part, parts) for part in chosen]  # all fork here
            yield futures
            for future in futures:
                future.result()
    finally:
        _job = None


def _run(part: int, parts: int) -> Any:
    assert _job is not None, "runs only in a child forked while a job was set"
    return _job(part, parts)
