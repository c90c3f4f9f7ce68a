"""The cell on Nova's real libvirt driver: a real QEMU guest boots from the lab's image, uploaded
through the image front as a user would, and says so on its console; the preflight of the
real-libvirt value holds there and not on a fake cell; and `lab down` leaves no process,
interface, mount or loop device behind.

These need root, libvirt, QEMU and dnsmasq (scripts/system-packages.sh); they fail without.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

from harness.declarations.loading import load_lab, load_matrix
from harness.declarations.model import Target
from harness.lab import image, libvirt_cells
from harness.lab.state import LabState
from harness.preflight.runner import run_preflight
from tests.conftest import SHIPPED
from tests.lab.conftest import connect, live_processes_mentioning, matrix_cli, wait_for

CELL = "libvirt-local"
COMBINATION = "lab-libvirt/lab-local-qcow2/lab-tap"


def test_a_real_guest_boots_from_an_uploaded_image_and_takes_a_lease(
    libvirt_lab: LabState,
) -> None:
    conn = connect(libvirt_lab, f"embedded-{CELL}")
    guest = conn.image.find_image(libvirt_cells.GUEST_IMAGE_NAME, ignore_missing=False)
    assert guest.disk_format == "qcow2" and guest.size > 1024 * 1024  # real bytes, not a stub
    config = libvirt_cells.config_of(libvirt_lab.cell_dir(CELL))
    assert config is not None
    uploaded = conn.image.create_image(  # through the image front, as a user uploads one
        name="matrix-test-uploaded-guest", filename=config["image"]["path"],
        disk_format="qcow2", container_format="bare", allow_duplicates=True,
        **config["image"]["properties"],
    )  # fmt: skip
    assert conn.image.get_image(uploaded.id).size == Path(config["image"]["path"]).stat().st_size
    server = conn.compute.create_server(
        name="test-libvirt-guest",
        image_id=uploaded.id,
        flavor_id=conn.compute.find_flavor("m1.tiny", ignore_missing=False).id,
        networks=[{"uuid": conn.network.find_network("private", ignore_missing=False).id}],
    )
    try:
        server = conn.compute.wait_for_server(server, wait=180, interval=1)
        console = wait_for(
            lambda: _console_with(conn, server, image.MARKER_DHCP),
            timeout=180,
            what="the guest's boot and DHCP markers on its console",
        )
        assert console.count(image.MARKER_BOOTED) == 1  # each line once: nothing appended twice
        address = console.split(image.MARKER_DHCP, 1)[1].split()[0]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(config["subnet"])
        domains = _virsh(config["hosts"]["host1"]["uri"], "list", "--name")
        assert server.instance_name in domains.split()  # a real domain on the cell's libvirtd
        # Console output comes from virtlogd's log alone: a TCP serial console, not a pty that
        # Nova would read and append to that log while virtlogd writes it.
        domain = _virsh(config["hosts"]["host1"]["uri"], "dumpxml", server.instance_name)
        assert "<console type='tcp'>" in domain and "<log file=" in domain
    finally:
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)
        conn.image.delete_image(uploaded.id)


def _console_with(conn: object, server: object, marker: str) -> str | None:
    output = str(conn.compute.get_server_console_output(server)["output"])  # type: ignore[attr-defined]
    return output if marker in output else None


def _virsh(uri: str, *args: str) -> str:
    return subprocess.run(
        ["virsh", "-c", uri, *args], capture_output=True, text=True, check=True
    ).stdout


def test_preflight_of_real_libvirt_holds_on_the_libvirt_cell_and_not_on_a_fake_one(
    libvirt_lab: LabState, running_lab: LabState
) -> None:
    matrix, lab = load_lab(SHIPPED, libvirt_lab.lab_file)
    [target] = [t for t in lab.targets if t.combination == COMBINATION]
    result = run_preflight(matrix, target)
    assert result.status == "passed", result.failures
    [facts] = result.facts.values()
    assert facts["virt-type"] in ("kvm", "qemu")
    assert facts["libvirt"].startswith("libvirtd (libvirt) ")
    assert facts["qemu"].startswith("QEMU emulator version ")

    # the same checks on a fake cell's host: its nova-cpu.conf names labfake, no libvirtd
    fake_matrix, fake_lab = load_lab(SHIPPED, running_lab.lab_file)
    fake_hosts = fake_lab.targets[0].hosts
    on_fake = Target(combination=COMBINATION, cloud="unused", hosts=fake_hosts)
    failed = run_preflight(load_matrix(SHIPPED), on_fake)
    assert failed.status == "failed"
    found = {o.description: o.found for o in failed.failures}
    assert any("compute_driver == libvirt.LibvirtDriver" in d for d in found)
    assert any(d.startswith("command 'virsh") for d in found)
    del fake_matrix


def test_lab_down_leaves_nothing_of_a_libvirt_cell(tmp_path: Path) -> None:
    up = matrix_cli("lab", "up", "--cell", CELL, "--lab-dir", str(tmp_path))
    assert up.returncode == 0, up.stderr
    cell_dir = LabState(tmp_path).cell_dir(CELL).resolve()
    config = json.loads((cell_dir / libvirt_cells.CONFIG_FILE).read_text())
    bridge = config["bridge"]
    conn = connect(LabState(tmp_path), f"embedded-{CELL}")
    server = conn.compute.create_server(  # a guest and a volume on a loop device to take down
        name="left-running",
        image_id=conn.image.find_image(libvirt_cells.GUEST_IMAGE_NAME).id,
        flavor_id=conn.compute.find_flavor("m1.tiny").id,
        networks=[{"uuid": conn.network.find_network("private").id}],
    )
    conn.compute.wait_for_server(server, wait=180, interval=1)
    volume = conn.block_storage.create_volume(size=1, name="left-attached")
    conn.compute.create_volume_attachment(server, volume)
    wait_for(
        lambda: conn.block_storage.get_volume(volume.id).status == "in-use",
        timeout=120,
        what="the volume attached",
    )
    assert _loops_of(cell_dir), "the attached volume is a loop device"
    assert live_processes_mentioning(str(cell_dir))  # qemu, libvirtd, the cell...

    down = matrix_cli("lab", "down", "--lab-dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert live_processes_mentioning(str(cell_dir)) == []
    assert live_processes_mentioning(bridge) == []  # dnsmasq
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert bridge not in links
    assert not any(name in links for name in _noted_taps(cell_dir)), links
    assert str(cell_dir) not in Path("/proc/self/mountinfo").read_text()
    assert _loops_of(cell_dir) == []


def _loops_of(cell_dir: Path) -> list[str]:
    listed = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return [line for line in listed.splitlines() if str(cell_dir) in line]


def _noted_taps(cell_dir: Path) -> list[str]:
    log = (cell_dir / "cell.log").read_text(errors="replace")
    return sorted({w for w in log.split() if w.startswith("tap") and len(w) == 14})
