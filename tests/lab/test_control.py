"""Process control of lab cells, with a stub cell process (no Nova needed)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.declarations.loading import load_matrix
from harness.declarations.model import Provenance, Target
from harness.lab import control, keystone, launching, libvirt_cells, processes
from harness.lab.cells import CellSpec, LabConfigError, cells_from, select
from harness.lab.environment import CELL_LAUNCHER
from harness.lab.state import LabState
from tests.conftest import SHIPPED
from tests.lab.conftest import live_processes_mentioning

STUB = Path(__file__).with_name("stub_cell.py")


@pytest.fixture
def stub_python(tmp_path: Path) -> Path:
    """An executable standing in for the lab's python: Keystone is the stub; the cells are
    the stub's too, forked by the real launcher (its --server, given as its second and third
    arguments, replaced by the stub)."""
    path = tmp_path / "python"
    path.write_text(
        f'#!/bin/sh\nif [ "$1" = "{CELL_LAUNCHER}" ]; then\n'
        f'  launcher="$1"; shift 3; exec "{sys.executable}" "$launcher" --server "{STUB}" "$@"\n'
        f'fi\nexec "{sys.executable}" "{STUB}" "$@"\n'
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def cell(name: str = "c1", cloud: str = "embedded-c1") -> CellSpec:
    target = Target(
        combination="fake-live-migrate/fake-local/fake-neutron",
        cloud=cloud,
        name=name,
        provenance=Provenance(kind="embedded"),
    )
    return CellSpec(name, target.combination, cloud, ("host1", "host2"), True, False, target)


@pytest.fixture
def state(tmp_path: Path):  # type: ignore[no-untyped-def]
    lab = LabState(tmp_path / "lab")
    yield lab
    control.down(lab)


def test_up_writes_clouds_yaml_and_a_valid_lab_file(state: LabState, stub_python: Path) -> None:
    (status,) = control.up(state, [cell()], stub_python)
    assert status.health == "up" and status.endpoint is not None
    assert stat.S_IMODE(state.clouds_file.stat().st_mode) == 0o600
    clouds = yaml.safe_load(state.clouds_file.read_text())["clouds"]
    assert list(clouds) == ["embedded-c1", "embedded-c1-member"]
    keystone_url = keystone.status(state).url
    for name, user in (("embedded-c1", "admin"), ("embedded-c1-member", "member")):
        entry = clouds[name]
        assert entry["auth_type"] == "password" and entry["region_name"] == "c1"
        assert entry["auth"]["auth_url"] == keystone_url
        assert entry["auth"]["username"] == user and entry["auth"]["project_name"] == user
    assert (
        clouds["embedded-c1"]["auth"]["password"]
        != clouds["embedded-c1-member"]["auth"]["password"]
    )
    identity = json.loads((state.cell_dir("c1") / "identity.json").read_text())
    assert (identity["region"], identity["auth_url"]) == ("c1", keystone_url)
    assert stat.S_IMODE((state.cell_dir("c1") / "identity.json").stat().st_mode) == 0o600
    matrix = load_matrix(SHIPPED, [state.lab_file], labs_dir=False)
    (target,) = matrix.labs["embedded"].targets
    assert [h.root for h in target.hosts] == [  # type: ignore[union-attr]
        str((state.cell_dir("c1") / "hosts" / h).resolve()) for h in ("host1", "host2")
    ]
    assert (Path(target.hosts[0].root) / "etc/nova/nova-cpu.conf").is_file()  # type: ignore[union-attr, arg-type]


def test_up_twice_keeps_the_running_cell(state: LabState, stub_python: Path) -> None:
    first = control.up(state, [cell()], stub_python)[0].pid
    said: list[str] = []
    second = control.up(state, [cell()], stub_python, progress=said.append)[0].pid
    assert first == second
    assert said == ["c1: already up"]


def test_down_stops_exactly_what_up_started(state: LabState, stub_python: Path) -> None:
    control.up(state, [cell("c1"), cell("c2", "embedded-c2")], stub_python)
    pids = [state.pid("c1"), state.pid("c2")]
    assert control.down(state, ["c1"]) == ["c1"]
    assert [s.health for s in control.statuses(state)] == ["stopped", "up"]
    assert list(yaml.safe_load(state.clouds_file.read_text())["clouds"]) == [
        "embedded-c2",
        "embedded-c2-member",
    ]
    assert keystone.status(state).health == "up"  # c2 still needs it
    pids.append(keystone.status(state).pid)
    assert control.down(state) == ["c2"]
    assert not state.clouds_file.exists() and not state.lab_file.exists()
    assert keystone.status(state).health == "stopped"  # gone with the last cell
    for pid in pids:
        assert pid is not None and not Path(f"/proc/{pid}").exists()


def test_cells_that_outlived_their_keystone_are_restarted(
    state: LabState, stub_python: Path
) -> None:
    first = control.up(state, [cell()], stub_python)[0].pid
    old_keystone = keystone.status(state).pid
    assert old_keystone is not None
    os.kill(old_keystone, 9)
    processes.started.pop(old_keystone).wait()
    said: list[str] = []
    (status,) = control.up(state, [cell()], stub_python, progress=said.append)
    assert said[0] == "c1: restarting, its Keystone is gone"
    assert status.health == "up" and status.pid != first
    assert keystone.status(state).health == "up"
    assert not Path(f"/proc/{first}").exists()


def test_cells_start_while_keystone_does(
    state: LabState, stub_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUB_KEYSTONE_MODE", "slow")  # serves 1.5 s after binding its port
    (status,) = control.up(state, [cell()], stub_python)
    assert status.health == "up" and keystone.status(state).health == "up"
    cell_ready = (state.cell_dir("c1") / "endpoint.json").stat().st_mtime
    keystone_ready = (keystone.directory_of(state) / "endpoint.json").stat().st_mtime
    assert cell_ready < keystone_ready  # the cell did not wait for Keystone to serve
    identity = json.loads((state.cell_dir("c1") / "identity.json").read_text())
    assert identity["auth_url"] == keystone.status(state).url


def test_a_keystone_that_dies_while_cells_start_leaves_nothing_running(
    state: LabState, stub_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUB_KEYSTONE_MODE", "die")
    with pytest.raises(keystone.KeystoneStartError, match="exited with status 4"):
        control.up(state, [cell("c1"), cell("c2", "embedded-c2")], stub_python)
    assert [s.health for s in control.statuses(state)] == ["stopped", "stopped"]
    assert keystone.status(state).health == "stopped"
    assert not live_processes_mentioning(str(state.root))


def test_a_pid_file_naming_another_process_is_never_signalled(state: LabState) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        state.cell_dir("c1").mkdir(parents=True)
        (state.cell_dir("c1") / "pid").write_text(f"{bystander.pid}\n")
        assert control.status(state, "c1").health == "dead"
        assert control.down(state) == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_a_cell_that_fails_is_reported_with_its_log_tail(
    state: LabState, stub_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUB_CELL_MODE", "fail")
    with pytest.raises(control.LabStartError) as caught:
        control.up(state, [cell()], stub_python)
    message = str(caught.value)
    assert "cell 'c1' exited with status 3 while starting" in message
    assert "RuntimeError: boom: the cell cannot start" in message
    assert control.status(state, "c1").health == "stopped"
    assert keystone.status(state).health == "stopped"  # no Keystone kept for no cell


def test_cells_started_together_share_a_launcher_that_ends_with_the_last(
    state: LabState, stub_python: Path
) -> None:
    control.up(state, [cell("c1"), cell("c2", "embedded-c2")], stub_python)
    launchers = {
        processes.read_pid(state.cell_dir(n), launching.LAUNCHER_PID) for n in ("c1", "c2")
    }
    (launcher,) = launchers
    assert launcher is not None and launcher not in (state.pid("c1"), state.pid("c2"))
    control.down(state, ["c1"])
    assert processes.alive(launcher)  # it reaps c2 still
    control.down(state)
    assert not processes.alive(launcher) and launcher not in processes.started
    assert not live_processes_mentioning(str(state.root.resolve()))


def test_a_launcher_that_fails_before_forking_fails_each_cell_with_its_log(
    state: LabState, stub_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUB_LAUNCHER_MODE", "fail")
    with pytest.raises(control.LabStartError) as caught:
        control.up(state, [cell("c1"), cell("c2", "embedded-c2")], stub_python)
    message = str(caught.value)
    for name in ("c1", "c2"):
        assert f"cell '{name}' was never started: the cell launcher exited with status 1" in message
    assert "ImportError: No module named 'nova' (stub)" in message
    assert [s.health for s in control.statuses(state)] == ["stopped", "stopped"]
    assert not live_processes_mentioning(str(state.root.resolve()))


def test_a_log_tail_is_its_last_lines_or_says_there_is_none(tmp_path: Path) -> None:
    assert processes.log_tail(tmp_path, "cell.log") == "(no log)"
    (tmp_path / "cell.log").write_bytes(b"")
    assert processes.log_tail(tmp_path, "cell.log") == "(empty log)"
    (tmp_path / "cell.log").write_bytes(b"one\ntwo \xff\nthree\n\n")
    assert processes.log_tail(tmp_path, "cell.log", lines=2) == "two \ufffd\nthree"


def test_a_cell_that_never_answers_is_stopped_after_the_timeout(
    state: LabState, stub_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUB_CELL_MODE", "hang")
    with pytest.raises(control.LabStartError, match="cell 'c1' did not answer within 1 s"):
        control.up(state, [cell()], stub_python, timeout=1.0)
    assert control.statuses(state)[0].health == "stopped"
    assert not live_processes_mentioning(str(state.cell_dir("c1").resolve()))


def test_a_killed_cell_shows_as_dead(state: LabState, stub_python: Path) -> None:
    (status,) = control.up(state, [cell()], stub_python)
    assert status.pid is not None
    os.kill(status.pid, 9)
    assert processes.stopped(status.pid, 5)  # its launcher reaps it
    assert control.status(state, "c1").health == "dead"


def test_cells_follow_the_attributes_of_the_embedded_combinations() -> None:
    matrix = load_matrix(SHIPPED)
    found = {
        c.name: (c.driver, c.live_migration, c.shared_storage, c.hosts)
        for c in cells_from(matrix, matrix.labs["embedded"])
    }
    assert found == {
        "live-local": ("fake", True, False, ("host1", "host2")),
        "live-shared": ("fake", True, True, ("host1", "host2")),
        "nolive-local": ("fake", False, False, ("host1", "host2")),
        # the real libvirt driver: two computes in one process share one instances_path, so
        # on local storage a cell has one, on shared storage two
        "libvirt-local": ("libvirt", True, False, ("host1",)),
        "libvirt-shared": ("libvirt", True, True, ("host1", "host2")),
    }
    with pytest.raises(LabConfigError, match="unknown cell 'live-locl'; did you mean 'live-local'"):
        select(cells_from(matrix, matrix.labs["embedded"]), ("live-locl",))


def test_real_combinations_cannot_be_lab_cells() -> None:
    matrix = load_matrix(SHIPPED)
    with pytest.raises(LabConfigError, match="is not an embedded combination"):
        cells_from(matrix, matrix.labs["example-devstack"])


def test_interrupting_up_stops_the_cells_it_started(
    state: LabState, stub_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUB_CELL_MODE", "hang")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(control, "_wait_ready", interrupted)
    with pytest.raises(KeyboardInterrupt):
        control.up(state, [cell("c1"), cell("c2", "embedded-c2")], stub_python)
    assert [s.health for s in control.statuses(state)] == ["stopped", "stopped"]
    assert not live_processes_mentioning(str(state.root.resolve()))


def test_a_libvirt_cell_this_machine_cannot_run_is_skipped_saying_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without root or the packages, `lab up` says what is missing and does not fail (the
    machine's lack is stood in for here: the tests themselves run as root with libvirt)."""
    matrix = load_matrix(SHIPPED)
    [cell] = select(cells_from(matrix, matrix.labs["embedded"]), ("libvirt-local",))
    need = "root (libvirtd, taps and bridges need it)"
    monkeypatch.setattr(libvirt_cells, "missing_requirements", lambda: [need])
    said: list[str] = []
    state = LabState(tmp_path)
    [status] = control.up(state, [cell], Path(sys.executable), progress=said.append)
    assert said == [f"libvirt-local: not started, it needs {need}"]
    assert status.health == "stopped"
    assert not (state.cell_dir("libvirt-local") / libvirt_cells.CONFIG_FILE).exists()
