"""`matrix run` in a CI log (no terminal): every target's steps are lines of their own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
