"""A target's scenarios in pytest-xdist workers: one record, each result once, the same
outcomes as a serial run, and a host-wide scenario never beside another."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest

from harness.run.records import PLANNED_FILE, read_header, read_results
from harness.scenario.concurrency import gate_of, holding
from tests.conftest import hostless_lab

SCENARIOS = """
import os, time, pytest
from harness.scenario.skips import not_configured

def spans(name):
    start = time.time()
    time.sleep(0.6)
    with open(os.environ["SPANS"], "a") as out:
        out.write(f"{name} {start} {time.time()} {os.environ.get('PYTEST_XDIST_WORKER', '-')}\\n")

@pytest.mark.feature("live-snapshot")
@pytest.mark.parametrize("n", range(4))
def test_ordinary(n): spans(f"ordinary{n}")

@pytest.mark.feature("live-snapshot")
@pytest.mark.requires(exclusive=True)
def test_host_wide(): spans("host-wide")

@pytest.mark.feature("live-snapshot")
def test_written_after_host_wide(): spans("ordinary-after")

@pytest.mark.feature("live-snapshot")
def test_fails(): raise AssertionError("as it should")

@pytest.mark.feature("live-snapshot")
def test_not_configured(): not_configured("needs what it lacks")
"""


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return hostless_lab(tmp_path)


def run_scenarios(
    pytester: pytest.Pytester, small: Path, lab: Path, record: Path, *args: str
) -> list[tuple[str, float, float, str]]:
    spans = record.with_suffix(".spans")
    pytester.makepyfile(test_scenarios=SCENARIOS)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPANS", str(spans))
        pytester.runpytest_subprocess(
            "--matrix-dir", str(small), "--lab", str(lab), "--run-id", "run-1",
            f"--record-dir={record}", "-p", "no:cacheprovider", *args,
        )  # fmt: skip
    found = []
    for line in spans.read_text().splitlines():
        name, start, end, worker = line.split()
        found.append((name, float(start), float(end), worker))
    return found


def test_workers_write_one_record_with_the_outcomes_of_a_serial_run(
    pytester: pytest.Pytester, small: Path, lab: Path, tmp_path: Path
) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    run_scenarios(pytester, small, lab, serial)
    spans = run_scenarios(pytester, small, lab, parallel, "-n", "3")

    def outcomes(record: Path) -> dict[str, tuple[str, str | None, str | None]]:
        results = list(read_results(record))
        assert len({r.scenario for r in results}) == len(results), "each result once"
        return {r.scenario: (r.outcome, r.skip_category, r.proof) for r in results}

    assert outcomes(parallel) == outcomes(serial)
    assert len(outcomes(parallel)) == 8
    assert (parallel / PLANNED_FILE).read_text() == "8\n"
    assert read_header(parallel).status == "complete"
    assert len({worker for *_, worker in spans}) > 1, "the scenarios ran in several workers"


def test_a_host_wide_scenario_never_overlaps_another(
    pytester: pytest.Pytester, small: Path, lab: Path, tmp_path: Path
) -> None:
    spans = run_scenarios(pytester, small, lab, tmp_path / "record", "-n", "3")
    [(_, start, end, _)] = [s for s in spans if s[0] == "host-wide"]
    ordinary = [s for s in spans if s[0] != "host-wide"]
    assert len(ordinary) == 5
    assert all(e <= start or s >= end for _, s, e, _ in ordinary), spans
    overlapping = [
        (a, b) for a in ordinary for b in ordinary if a < b and a[1] < b[2] and b[1] < a[2]
    ]
    assert overlapping, "ordinary scenarios do run side by side"


def test_in_workers_a_host_wide_scenario_runs_after_the_others(
    pytester: pytest.Pytester, small: Path, lab: Path, tmp_path: Path
) -> None:
    """Declared after it, an ordinary scenario still runs before the host-wide one in a
    worker, which then never waits for scenarios still to come; a serial run keeps the
    order of the file."""
    serial = [name for name, *_ in run_scenarios(pytester, small, lab, tmp_path / "serial")]
    assert serial.index("host-wide") < serial.index("ordinary-after")
    one_worker = run_scenarios(pytester, small, lab, tmp_path / "worker", "-n", "1")
    assert [name for name, *_ in one_worker][-1] == "host-wide"


def test_a_waiting_host_wide_scenario_keeps_new_ones_from_starting(tmp_path: Path) -> None:
    """While a host-wide scenario waits for the lock, an ordinary one that comes after it
    waits too: workers taking turns with the shared lock never keep it out."""
    lock, events = tmp_path / ".scenarios.lock", []
    first_in, first_may_go = threading.Event(), threading.Event()

    def ordinary(name: str, hold: threading.Event | None = None) -> None:
        with holding(lock, exclusive=False):
            events.append(f"{name} in")
            if hold is not None:
                first_in.set()
                hold.wait(10)
            events.append(f"{name} out")

    def host_wide() -> None:
        with holding(lock, exclusive=True):
            events.append("host-wide in")
            events.append("host-wide out")

    threads = [threading.Thread(target=ordinary, args=("first", first_may_go))]
    threads[0].start()
    assert first_in.wait(10)
    threads.append(threading.Thread(target=host_wide))
    threads[1].start()
    with gate_of(lock).open("a") as gate:  # wait until the host-wide one holds the gate
        for _ in range(200):
            try:
                fcntl.flock(gate, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                break
            fcntl.flock(gate, fcntl.LOCK_UN)
            time.sleep(0.01)
        else:
            pytest.fail("the host-wide scenario never took the gate")
    threads.append(threading.Thread(target=ordinary, args=("second",)))
    threads[2].start()
    time.sleep(0.3)
    assert events == ["first in"], "the second one must wait behind the host-wide one"
    first_may_go.set()
    for thread in threads:
        thread.join(10)
    assert events == [
        "first in", "first out", "host-wide in", "host-wide out", "second in", "second out"
    ]  # fmt: skip
