"""Scenarios of one target in several pytest-xdist workers, never beside a host-wide one.

`matrix run --concurrency N` (or the lab target's `concurrency:`) runs a target's scenarios in
N workers of one pytest session; the controller alone writes the run record (the workers'
reports reach it), so a parallel run writes the same record, JUnit and progress as a serial
one. A scenario that acts on a whole host or the cloud (`requires: {exclusive: true}`, e.g.
evacuate, which stops a compute service) must not share the cloud with others: every scenario
holds a lock on a file of the run while it runs (setup to teardown, its cleanup included),
shared for ordinary scenarios and exclusive for host-wide ones (flock(2): it is released
when a killed worker's process goes, so nothing is left locked). A host-wide scenario waiting
closes a gate first, so no ordinary one starts meanwhile: without it, workers taking turns
with the shared lock kept a waiting evacuate out until the rest of the suite had run, its
worker idle all that time.

What the preflight found (names looked up once per run) reaches the controller when the run
says go, after the workers started: the controller leaves it in the run directory for them
(`found_path`) until every scenario has run.

In workers, scenarios are put in the order that finishes soonest (the plugin's `_weight`):
those that move a server between hosts, the longest, first; host-wide ones last, when there
is nothing left to start beside them.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.scenario.stash import RUN_ID

LOCK_FILE = ".scenarios.lock"
FOUND_FILE = ".scenarios.found.json"


def is_worker(config: pytest.Config) -> bool:
    """This process is a pytest-xdist worker (the controller collects and runs nothing)."""
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """This process distributes scenarios to xdist workers and runs none itself."""
    return config.pluginmanager.has_plugin("dsession")


def lock_path(config: pytest.Config) -> Path:
    """The run's lock file: in its run directory, or (a bare session) named after the run."""
    return _run_file(config, LOCK_FILE)


def found_path(config: pytest.Config) -> Path:
    """Where the controller leaves what the preflight found for its workers. They started
    while the preflight ran, before it was known, so it cannot reach them with their options;
    the controller writes it before it hands out a scenario, and removes it once all ran."""
    return _run_file(config, FOUND_FILE)


def _run_file(config: pytest.Config, name: str) -> Path:
    record_dir = config.getoption("record_dir")
    if record_dir:
        return Path(record_dir) / name
    return Path(tempfile.gettempdir()) / f"matrix-{config.stash[RUN_ID]}{name}"


def hand_to_workers(path: Path, found: dict[str, Any]) -> None:
    """Write `found` for the workers in one step (they never read half of it)."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(found), encoding="utf-8")
    os.replace(partial, path)


def handed(path: Path) -> dict[str, Any]:
    """What the controller handed its workers; nothing when it found nothing."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


@contextmanager
def holding(path: Path, exclusive: bool) -> Iterator[None]:
    """Hold the run's lock, shared or exclusive, for as long as the block runs. The lock is
    taken through its gate (`<lock>.gate`): held exclusively by a host-wide scenario while it
    waits, and passed through shared by ordinary ones, which then wait for it to have run."""
    with path.open("a") as handle, gate_of(path).open("a") as gate:
        fcntl.flock(gate, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def gate_of(path: Path) -> Path:
    return path.with_name(path.name + ".gate")
