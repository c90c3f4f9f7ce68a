"""Share a page-writing job among forked processes while this one does other work.

Thousands of cell pages take seconds of pure-Python rendering, so on a machine with several
cores they are split into parts, each written by a forked child (`harness.parallel`:
children inherit the computed levels and compiled templates), while the parent writes the
other pages and the exports. A child's error is raised in the parent when the block ends;
without fork, or with fewer than two parts, the job simply runs here first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from harness.parallel import Job, can_fork, forked


@contextmanager
def in_background(job: Job, parts: int) -> Iterator[None]:
    """Run `job(k, parts)` for every part k in forked children while the block runs."""
    if parts < 2 or not can_fork():
        job(0, 1)
        yield
        return
    with forked(job, range(parts), parts):
        yield
