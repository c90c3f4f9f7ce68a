"""Boot time and resident memory of each embedded-lab cell, and of a libvirt cell's guests.

Starts every cell of the shipped embedded lab once on its own (so each boots on an idle
machine), measures the wall time from starting the process until it answers over HTTP and
its resident memory once ready, then stops it; the lab's Keystone is started (and timed)
before each cell, whose boot does not include it. Then Keystone and the fake cells together
from nothing, the way `matrix lab up` starts them (the cells boot while Keystone does). The
lab virtualenv is built first if needed (not counted). Aim: under 5 s and 300 MB per cell, a
fake cell under 3 s median, Keystone and the three fake cells together under 5 s (issue 15).
On a cell with real guests (the libvirt
driver) it also boots a guest: seconds from the create request to ACTIVE and to the guest's
boot marker on its console, and the resident memory of its QEMU process (aim: to the marker
under 15 s under TCG, under 250 MB).

    python benchmarks/lab_boot.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness.declarations.loading import load_matrix
from harness.lab import control, environment, keystone
from harness.lab.cells import cells_from
from harness.lab.state import LabState

SHIPPED = Path(__file__).resolve().parent.parent / "matrix"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="boots per cell (default 2)")
    args = parser.parse_args()
    python = environment.ensure(progress=print)
    matrix = load_matrix(SHIPPED)
    cells = cells_from(matrix, matrix.labs["embedded"])
    print(f"{'cell':<14}{'boot s (median)':>17}{'boot s (max)':>14}{'RSS MB (max)':>14}")
    identity: list[float] = []
    guests: list[tuple[str, float, float, float]] = []
    for cell in cells:
        boots, memory = [], []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                state = LabState(Path(tmp))
                started = time.perf_counter()
                process = keystone.start(state, python)  # every cell validates tokens with it
                assert process is not None
                keystone.wait_up(state, process)
                identity.append(time.perf_counter() - started)
                started = time.perf_counter()
                (status,) = control.up(state, [cell], python)
                boots.append(time.perf_counter() - started)
                assert status.pid is not None
                memory.append(rss_mb(status.pid))
                if cell.real_hypervisor:
                    guests.append((cell.name, *boot_guest(state, cell.cloud)))
                control.down(state)
        print(
            f"{cell.name:<14}{statistics.median(boots):>17.2f}{max(boots):>14.2f}"
            f"{max(memory):>14.0f}"
        )
    fake = [c for c in cells if not c.real_hypervisor]
    print(f"aim: cells boot in under 5 s with under 300 MB; {len(fake)} fake ones under 3 s median")
    print(
        f"keystone (started before each cell): {statistics.median(identity):.2f} s median, "
        f"{max(identity):.2f} s max; aim: under 3 s"
    )
    together = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            state = LabState(Path(tmp))
            started = time.perf_counter()
            control.up(state, fake, python)
            together.append(time.perf_counter() - started)
            control.down(state)
    print(
        f"keystone and the {len(fake)} fake cells from nothing, as `matrix lab up` starts them:"
        f" {statistics.median(together):.2f} s median, {max(together):.2f} s max; aim: under 5 s"
    )
    for name, active, marker, qemu_mb in guests:
        print(
            f"guest on {name}: ACTIVE in {active:.1f} s, boot marker in {marker:.1f} s, "
            f"QEMU RSS {qemu_mb:.0f} MB"
        )
    if guests:
        print("aim: a guest's boot marker in under 15 s under TCG, QEMU under 250 MB")


def boot_guest(state: LabState, cloud: str) -> tuple[float, float, float]:
    """Seconds to ACTIVE and to the guest's boot marker, and its QEMU's resident memory."""
    import openstack
    from openstack.config import OpenStackConfig

    from harness.lab import image, libvirt_cells

    config = OpenStackConfig(config_files=[str(state.clouds_file)]).get_one(cloud=cloud)
    conn = openstack.connection.Connection(config=config)
    started = time.perf_counter()
    server = conn.compute.create_server(
        name="benchmark-guest",
        image_id=conn.image.find_image(libvirt_cells.GUEST_IMAGE_NAME).id,
        flavor_id=conn.compute.find_flavor("m1.tiny").id,
        networks=[{"uuid": conn.network.find_network("private").id}],
    )
    server = conn.compute.wait_for_server(server, wait=300, interval=0.5)
    active = time.perf_counter() - started
    while image.MARKER_BOOTED not in (conn.compute.get_server_console_output(server)["output"]):
        if time.perf_counter() - started > 300:
            raise SystemExit("the guest printed no boot marker within 300 s")
        time.sleep(0.5)
    marker = time.perf_counter() - started
    qemu = [pid for pid, argv in _processes() if "qemu-system" in argv and server.id in argv]
    qemu_mb = max((rss_mb(pid) for pid in qemu), default=float("nan"))
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=120)
    return active, marker, qemu_mb


def _processes() -> list[tuple[int, str]]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                found.append((int(proc.name), (proc / "cmdline").read_text(errors="replace")))
            except OSError:
                continue
    return found


if __name__ == "__main__":
    main()
