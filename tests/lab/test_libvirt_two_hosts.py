"""The two-host libvirt cell: a real guest live-migrates from one of the cell's libvirtds to
the other, its tap made on the destination host's own bridge; the shared-storage preflight
holds; and `lab down` leaves none of what the second host adds (the uplink into its network
namespace, the shared storage's bindfs mount) behind.

These need root, libvirt, QEMU, dnsmasq and bindfs (scripts/system-packages.sh); they fail
without.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.declarations.loading import load_lab
from harness.lab import bridge, libvirt_cells, shared_storage
from harness.lab.state import LabState
from harness.preflight.runner import run_preflight
from tests.conftest import SHIPPED
from tests.lab.conftest import connect, live_processes_mentioning, matrix_cli, wait_for

CELL = "libvirt-shared"
COMBINATION = "lab-libvirt/lab-shared-qcow2/lab-tap"


def test_a_guest_live_migrates_between_two_libvirtds_and_lab_down_leaves_nothing(
    tmp_path: Path,
) -> None:
    up = matrix_cli("lab", "up", "--cell", CELL, "--lab-dir", str(tmp_path))
    assert up.returncode == 0, up.stderr
    state = LabState(tmp_path)
    cell_dir = state.cell_dir(CELL).resolve()
    config = libvirt_cells.config_of(cell_dir)
    assert config is not None
    hosts = config["hosts"]
    shared = Path(hosts["host1"]["instances_path"])
    assert hosts["host2"]["instances_path"] == str(shared)
    assert shared_storage.fs_type(shared) == "fuse.glusterfs"  # what libvirt calls shared
    uplinks = bridge.LabBridge.load(cell_dir / "bridge").uplinks
    assert len(uplinks) == 2 and hosts["host1"]["netns"] != hosts["host2"]["netns"]

    matrix, lab = load_lab(SHIPPED, state.lab_file)
    [target] = [t for t in lab.targets if t.combination == COMBINATION]
    preflight = run_preflight(matrix, target)
    assert preflight.status == "passed", preflight.failures

    conn = connect(state, f"embedded-{CELL}")
    server = conn.compute.create_server(
        name="test-live-migration",
        image_id=conn.image.find_image(libvirt_cells.GUEST_IMAGE_NAME, ignore_missing=False).id,
        flavor_id=conn.compute.find_flavor("m1.tiny", ignore_missing=False).id,
        networks=[{"uuid": conn.network.find_network("private", ignore_missing=False).id}],
    )
    try:
        server = conn.compute.wait_for_server(server, wait=180, interval=1)
        source = server.compute_host
        [dest] = [host for host in hosts if host != source]
        assert server.instance_name in _domains(hosts[source]["uri"])
        conn.compute.live_migrate_server(server, block_migration="auto")

        def moved() -> bool:
            now = conn.compute.get_server(server.id)
            assert now.status != "ERROR", now.fault
            return now.compute_host == dest and now.status == "ACTIVE" and not now.task_state

        wait_for(moved, timeout=300, what=f"the server ACTIVE on {dest}")
        assert server.instance_name in _domains(hosts[dest]["uri"])
        assert server.instance_name not in _domains(hosts[source]["uri"], "--all")
        [port] = conn.network.ports(device_id=server.id)
        tap = ("tap" + port.id)[:14]  # Nova's name for it
        shown = _ip(hosts[dest]["netns"], "-o", "link", "show", tap)
        assert f"master {hosts[dest]['bridge']}" in shown, shown
    finally:
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)

    down = matrix_cli("lab", "down", "--lab-dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert live_processes_mentioning(str(cell_dir)) == []
    assert live_processes_mentioning(str(shared)) == []  # bindfs
    for host in hosts:  # each host's libvirt logs outlive its short directory, for a post-mortem
        logs = cell_dir / "hosts" / host / "var" / "log" / "libvirt"
        assert (logs / "libvirtd.log").is_file()
        assert (logs / "qemu" / f"{server.instance_name}.log").is_file()
        assert not (cell_dir / "libvirt" / host).is_symlink()  # the short directory is gone
    assert shared_storage.fs_type(shared) is None
    assert str(shared) not in Path("/proc/self/mountinfo").read_text()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not any(name in links for name in (config["bridge"], *uplinks)), links


def _domains(uri: str, *flags: str) -> list[str]:
    listed = subprocess.run(
        ["virsh", "-c", uri, "list", "--name", *flags], capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def _ip(netns: str | None, *args: str) -> str:
    enter = ["nsenter", f"--net={netns}"] if netns else []
    return subprocess.run([*enter, "ip", *args], capture_output=True, text=True, check=True).stdout
