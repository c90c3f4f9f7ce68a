"""`matrix lab up|status|down` as a user runs them: real cell, real processes, nothing left."""

from __future__ import annotations

import json
from pathlib import Path

from tests.lab.conftest import live_processes_mentioning, matrix_cli


def test_up_status_down_leaves_no_process(tmp_path: Path, lab_python: Path) -> None:
    state_dir = (tmp_path / "lab").resolve()
    try:
        started = matrix_cli("lab", "up", "--cell", "live-local", "--lab-dir", str(state_dir))
        assert started.returncode == 0, started.stderr
        assert "live-local: up in" in started.stderr
        clouds = state_dir / "clouds.yaml"
        assert f"export OS_CLIENT_CONFIG_FILE={clouds}" in started.stdout
        passwords = json.loads((state_dir / "keystone" / "credentials.json").read_text())
        for user in passwords.values():
            assert user["password"] not in started.stdout + started.stderr
        # Keystone, the cell and the launcher that forked it
        assert len(live_processes_mentioning(str(state_dir))) == 3

        status = matrix_cli("lab", "status", "--json", "--lab-dir", str(state_dir))
        found = json.loads(status.stdout)
        (cell,) = found["cells"]
        assert (cell["cell"], cell["health"]) == ("live-local", "up")
        assert cell["url"].startswith("http://127.0.0.1:")
        assert found["keystone"]["health"] == "up"

        stopped = matrix_cli("lab", "down", "--lab-dir", str(state_dir))
        assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped live-local"
        assert live_processes_mentioning(str(state_dir)) == []
        assert not clouds.exists()
        after = matrix_cli("lab", "status", "--json", "--lab-dir", str(state_dir))
        stopped_all = json.loads(after.stdout)
        assert [c["health"] for c in stopped_all["cells"]] == ["stopped"]
        assert stopped_all["keystone"]["health"] == "stopped"
        assert not (state_dir / "keystone" / "credentials.json").exists()
    finally:  # a failed assertion must not leave the lab running (pytest later deletes its dir)
        matrix_cli("lab", "down", "--lab-dir", str(state_dir))


def test_unknown_cell_is_a_one_line_error(tmp_path: Path) -> None:
    done = matrix_cli("lab", "up", "--cell", "live-locl", "--dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == "matrix: unknown cell 'live-locl'; did you mean 'live-local'?"
