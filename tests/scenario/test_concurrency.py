"""A target's scenarios in pytest-xdist workers: one record, each result once, the same
outcomes as a serial run, and a host-wide scenario never beside another."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run.records import PLANNED_FILE, read_header, read_results
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
    assert len(outcomes(parallel)) == 7
    assert (parallel / PLANNED_FILE).read_text() == "7\n"
    assert read_header(parallel).status == "complete"
    assert len({worker for *_, worker in spans}) > 1, "the scenarios ran in several workers"


def test_a_host_wide_scenario_never_overlaps_another(
    pytester: pytest.Pytester, small: Path, lab: Path, tmp_path: Path
) -> None:
    spans = run_scenarios(pytester, small, lab, tmp_path / "record", "-n", "3")
    [(_, start, end, _)] = [s for s in spans if s[0] == "host-wide"]
    ordinary = [s for s in spans if s[0] != "host-wide"]
    assert len(ordinary) == 4
    assert all(e <= start or s >= end for _, s, e, _ in ordinary), spans
    overlapping = [
        (a, b) for a in ordinary for b in ordinary if a < b and a[1] < b[2] and b[1] < a[2]
    ]
    assert overlapping, "ordinary scenarios do run side by side"
