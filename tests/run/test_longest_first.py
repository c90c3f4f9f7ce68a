"""The longest targets (the embedded lab's cells with real guests) start first, together, and
the others fill the workers around them."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.declarations.model import Target
from harness.run import orchestration
from harness.run.orchestration import Events, RunOptions, TargetRun, run_targets
from harness.run.secrets import Redactor


def test_the_longest_targets_start_first_and_run_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = frozenset({"real-a", "real-b"})
    guard = threading.Lock()
    running: set[str] = set()
    seen_together: list[set[str]] = []
    started: list[str] = []

    def pretend(matrix: Any, lab: Any, run: TargetRun, *rest: Any) -> TargetRun:
        name = run.target.target_name
        with guard:
            started.append(name)
            running.add(name)
            seen_together.append(set(running))
        time.sleep(0.2 if name in slow else 0.05)
        with guard:
            running.discard(name)
        return run

    monkeypatch.setattr(orchestration, "_run_one", pretend)
    targets = [  # in the lab's order, the slow ones last
        Target(name=name, combination="c", cloud="cloud")
        for name in ("fake-1", "fake-2", "real-a", "fake-3", "real-b")
    ]
    options = RunOptions(tmp_path, tmp_path, tmp_path, first=slow)
    run_targets(None, None, targets, options, Events(), 2, lambda t: Redactor())  # type: ignore[arg-type]
    assert set(started[:2]) == slow  # the two workers take the slow ones first
    assert set(started[2:]) == {"fake-1", "fake-2", "fake-3"}
    assert slow in [frozenset(together) for together in seen_together]  # at once, not in turn
    assert all(len(together) <= 2 for together in seen_together)
