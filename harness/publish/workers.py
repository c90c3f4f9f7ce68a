"""Share a page-writing job among forked processes while this one does other work.

Thousands of cell pages take seconds of pure-Python rendering, so on a machine with several
cores they are split into parts, each written by a forked child (fork: children inherit the
computed levels and compiled templates, nothing is pickled), while the parent writes the other
pages and the exports. A child's error is raised in the parent when the block ends; without
fork, or with fewer than two parts, the job simply runs here first.

Fork before starting any thread (the children then inherit no lock held by one), and inside
`frozen_heap()`: otherwise each child's garbage collections walk, and so copy, the whole heap
it inherited.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

MAX_WORKERS = 8

Job = Callable[[int, int], object]  # job(part, parts) does its share of the work
_job: Job | None = None  # what forked children run; set only while a pool runs


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, which containers narrow), at most 8."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    return max(1, min(count, MAX_WORKERS))


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave the objects that exist now (the levels: millions of them) out of garbage
    collection while the block runs: collections stay fast and forked children do not touch
    the pages they share with the parent."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def in_background(job: Job, parts: int) -> Iterator[None]:
    """Run `job(k, parts)` for every part k in forked children while the block runs."""
    if parts < 2 or "fork" not in multiprocessing.get_all_start_methods():
        job(0, 1)
        yield
        return
    global _job
    _job = job
    try:
        with ProcessPoolExecutor(parts, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run, part, parts) for part in range(parts)]  # all fork here
            yield
            for future in futures:
                future.result()
    finally:
        _job = None


def _run(part: int, parts: int) -> None:
    assert _job is not None, "runs only in a child forked while a job was set"
    _job(part, parts)
