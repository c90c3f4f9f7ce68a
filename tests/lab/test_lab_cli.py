"""`matrix lab up|status|down` as a user runs them: real cell, real processes, nothing left."""

from __future__ import annotations

import json
from pathlib import Path

from tests.lab.conftest import live_processes_mentioning, matrix_cli


def test_up_status_down_leaves_no_process(tmp_path: Path, lab_python: Path) -> None:
    state_dir = (tmp_path / "lab").resolve()
    started = matrix_cli("lab", "up", "--cell", "live-local", "--lab-dir", str(state_dir))
    assert started.returncode == 0, started.stderr
    assert "live-local: up in" in started.stderr
    clouds = state_dir / "clouds.yaml"
    assert f"export OS_CLIENT_CONFIG_FILE={clouds}" in started.stdout
    token = (state_dir / "cells" / "live-local" / "token").read_text().strip()
    assert token not in started.stdout + started.stderr
    assert len(live_processes_mentioning(str(state_dir))) == 1

    status = matrix_cli("lab", "status", "--json", "--lab-dir", str(state_dir))
    (cell,) = json.loads(status.stdout)
    assert (cell["cell"], cell["health"]) == ("live-local", "up")
    assert cell["url"].startswith("http://127.0.0.1:")

    stopped = matrix_cli("lab", "down", "--lab-dir", str(state_dir))
    assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped live-local"
    assert live_processes_mentioning(str(state_dir)) == []
    assert not clouds.exists()
    after = matrix_cli("lab", "status", "--json", "--lab-dir", str(state_dir))
    assert [c["health"] for c in json.loads(after.stdout)] == ["stopped"]


def test_unknown_cell_is_a_one_line_error(tmp_path: Path) -> None:
    done = matrix_cli("lab", "up", "--cell", "live-locl", "--dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == "matrix: unknown cell 'live-locl'; did you mean 'live-local'?"
