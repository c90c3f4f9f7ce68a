"""`matrix run` in a CI log (no terminal): every target's steps are lines of their own, each
result one step."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness.declarations.model import Target
from harness.run.orchestration import Events, TargetRun, _watch
from harness.run.records import Result as RecordResult
from harness.run.records import append_result, now
from tests.conftest import Result, hostless_lab

SCENARIOS = """
import pytest

@pytest.mark.feature("live-snapshot")
@pytest.mark.parametrize("n", range(2))
def test_it(n): pass
"""


def test_without_a_terminal_each_step_of_a_target_is_a_line(
    run: Callable[..., Result], small: Path, tmp_path: Path
) -> None:
    lab = hostless_lab(tmp_path)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "test_it.py").write_text(SCENARIOS)
    done = run(
        "--matrix", str(small), "run", "--lab", str(lab), "--out", str(tmp_path / "out"),
        "--scenarios", str(tmp_path / "scenarios"),
    )  # fmt: skip
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    steps = [line for line in lines if line.startswith("t: ")]
    assert steps[0] == "t: preflight skipped"  # no hosts to check
    assert "t: 1/2 scenarios done" in steps and "t: 2/2 scenarios done" in steps
    assert len(set(steps)) == len(steps), steps  # results landing together: a line each
    assert steps[-1] == "t: complete"


def test_each_result_is_one_progress_step_however_often_the_record_is_looked_at(
    tmp_path: Path,
) -> None:
    """The watcher looks at the record twice a second for as long as the run lasts: a result
    is reported once, in order, with its failure, and the last look comes when the run ends."""
    steps: list[tuple[int, str | None]] = []

    class Recorded(Events):
        def progress(self, run: TargetRun, done: int, failure: str | None) -> None:
            steps.append((done, failure))

    def result(name: str, outcome: str = "passed", message: str | None = None) -> RecordResult:
        return RecordResult(feature="f", scenario=name, outcome=outcome, duration_s=1.0,  # type: ignore[arg-type]
                            message=message, finished_at=now())  # fmt: skip

    run = TargetRun(Target(combination="a/b/c", cloud="c"), "run-1", tmp_path)
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(run, Recorded(), done))
    watcher.start()
    try:
        append_result(tmp_path, result("s::a"))
        append_result(tmp_path, result("s::b"))
        deadline = time.monotonic() + 10
        while len(steps) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.2)  # two more looks with nothing new
        append_result(tmp_path, result("s::c", "failed", "boom\nand more"))
    finally:
        done.set()
        watcher.join(10)
    assert steps == [(1, None), (2, None), (3, "s::c: boom")]
