"""Targets run `apart` (the embedded lab's cells with real guests) never overlap, and the
others fill the workers meanwhile."""

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


def test_apart_targets_never_run_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apart = frozenset({"real-a", "real-b"})
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
        time.sleep(0.2 if name in apart else 0.05)
        with guard:
            running.discard(name)
        return run

    monkeypatch.setattr(orchestration, "_run_one", pretend)
    targets = [
        Target(name=name, combination="c", cloud="cloud")
        for name in ("real-a", "real-b", "fake-1", "fake-2", "fake-3")
    ]
    options = RunOptions(tmp_path, tmp_path, tmp_path, apart=apart)
    run_targets(None, None, targets, options, Events(), 2, lambda t: Redactor())  # type: ignore[arg-type]
    assert not [together for together in seen_together if len(together & apart) > 1]
    assert started[0] == "real-a" and started[-1] == "real-b"
    # while real-a ran, the second worker went through every other target
    assert {"fake-1", "fake-2", "fake-3"} <= set(started[1:4])
