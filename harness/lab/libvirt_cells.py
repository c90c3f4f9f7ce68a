"""Cells on Nova's real libvirt driver: what `lab up` prepares before such a cell's process
starts, and what `lab down` takes away after it stops.

Per cell, under its directory: one private libvirtd (with its virtlogd) per compute host
(`hypervisor`), a bridge with dnsmasq that the guests' taps join (`bridge`), the guest image
(`image`, built once per machine and cached), and `libvirt.json`, which tells the cell
server (cell/libvirt_cell.py) how to reach all of it. Everything started is recorded there,
so a `lab down` in another process stops exactly it and then checks that nothing is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.errors import Failure
from harness.lab import bridge, hypervisor, image, shared_storage
from harness.lab.cells import CellSpec

CONFIG_FILE = "libvirt.json"
TAPS_FILE = "taps"  # one name per line, noted by the cell as Nova plugs each tap
LOOPS_FILE = "loops"  # "<device> <backing file>" per line, noted as each volume is attached
GUEST_IMAGE_NAME = "matrix-guest"
TOOLS = {
    "libvirtd": "libvirt-daemon-system",
    "virtlogd": "libvirt-daemon-system",
    "virsh": "libvirt-clients",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "dnsmasq": "dnsmasq-base",
    "ip": "iproute2",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "bindfs": "bindfs",
}
"""What a libvirt cell runs, and the Debian package that has it."""
TAP_NAME = re.compile(r"tap[0-9a-f-]{1,11}")  # Nova's name: "tap" and the port id's start
LOOP_NAME = re.compile(r"/dev/loop[0-9]+")
IMAGE_NAMESPACE = uuid.UUID("5c3e8a44-1f0b-4c43-9d55-4b8e3b7a2f10")

Progress = Callable[[str], None]


class LibvirtCellError(Failure):
    """A libvirt cell cannot be prepared here; the message says what to install or do."""


def missing_requirements() -> list[str]:
    """What this machine lacks for a libvirt cell, each with how to get it ([] when ready)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (libvirtd, taps and bridges need it)")
    packages = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if packages:
        missing.append(
            f"the Debian packages {' '.join(packages)} (scripts/system-packages.sh installs them)"
        )
    return missing


def _digest(cell_dir: Path) -> str:
    """Names of what a cell makes outside its directory come from the directory, so two labs
    (two checkouts, or a test's lab beside yours) never share a bridge or a subnet."""
    return hashlib.sha256(str(cell_dir.resolve()).encode()).hexdigest()


SUBNETS = 200  # 10.213.20.0/24 to 10.213.219.0/24


def subnet_of(cell_dir: Path) -> str:
    """A private /24 for the cell (10.213.<n>.0/24): its directory's own, or the next one no
    network of this machine overlaps, since two cells' directories may hash to the same one
    of 200 (a clean clone's libvirt-local and libvirt-shared once did). Cells are prepared
    one after another, each bridge up before the next is chosen."""
    start = int(_digest(cell_dir), 16) % SUBNETS
    used = bridge.networks_in_use()
    for step in range(SUBNETS):
        subnet = ipaddress.IPv4Network(f"10.213.{(start + step) % SUBNETS + 20}.0/24")
        if not any(subnet.overlaps(network) for network in used):
            return str(subnet)
    return f"10.213.{start + 20}.0/24"  # every one taken: the bridge says what it clashes with


def bridge_name_of(cell_dir: Path) -> str:
    return "mlab-" + _digest(cell_dir)[:8]  # interface names are at most 15 characters


MIGRATION_BANDWIDTH = 8  # MiB/s: a lab guest's ~40 MiB then take seconds to migrate, long
# enough for abort and force-complete to meet a running migration (Nova's own default: no limit)
MIGRATION_PORTS = 64  # per host, from 49152 (qemu.conf's default range starts there)


def prepare(cell_dir: Path, cell: CellSpec, progress: Progress) -> Path:
    """Start the cell's bridge, shared storage and hypervisors, and write libvirt.json;
    returns its path. On failure everything started here is stopped again. (What a killed
    earlier run left is gone already: `control.up` stops a cell, which tears this down.)

    Every host runs in a network namespace of its own, reached from the lab bridge by an
    uplink: a guest's tap then exists on two hosts at once during a live migration, and two
    cells never meet on a tap name (Nova names taps after port ids, and the Neutron
    fixture's ports have fixed ids). Hosts of a shared-storage cell share one instances_path.
    """
    cell_dir = cell_dir.resolve()
    try:
        with ThreadPoolExecutor(1 + len(cell.hosts), thread_name_prefix="lab-prepare") as pool:
            # apt takes a second to name the guest image's kernel: the rest starts meanwhile
            guest_image = pool.submit(image.build, progress=progress)
            lab_bridge = bridge.LabBridge.create(
                bridge_name_of(cell_dir), subnet_of(cell_dir), cell_dir / "bridge"
            )
            shared = None
            if cell.shared_storage:
                progress(f"{cell.name}: mounting the hosts' shared instance storage")
                shared = shared_storage.mount(shared_root(cell_dir))
            hosts: dict[str, dict[str, Any]] = {}
            roots = [host_root(cell_dir, name) for name in cell.hosts]
            addresses = [lab_bridge.address + 1 + i for i in range(len(roots))]  # .1: bridge

            def start(index: int) -> hypervisor.LibvirtHost:
                low = 49152 + MIGRATION_PORTS * index
                return hypervisor.start(
                    roots[index],
                    f"{cell.name}-{cell.hosts[index]}",
                    migration_host=str(addresses[index]),
                    migration_ports=(low, low + MIGRATION_PORTS - 1),
                    own_network=True,
                )

            # together: each waits over a second for its daemons; a failure tears all down
            progress(f"{cell.name}: starting libvirtd for {', '.join(cell.hosts)}")
            started = list(pool.map(start, range(len(roots))))
            guest = guest_image.result()
        first = started[0]
        for index, (name, host, address) in enumerate(
            zip(cell.hosts, started, addresses, strict=True)
        ):
            joins = lab_bridge.name
            if host.network_namespace:
                uplink = f"{lab_bridge.name[:12]}u{index}"
                lab_bridge = lab_bridge.reach_into(host.network_namespace, uplink, address)
                joins = bridge.INNER_BRIDGE
            hosts[name] = {
                "uri": host.uri,
                "instances_path": str(shared.mountpoint if shared else host.instances_path),
                "netns": host.network_namespace,
                "bridge": joins,
            }
        virt_type = hypervisor.detect_virt_type(first, kernel=guest.kernel_path)
        progress(f"{cell.name}: guests run with virt_type={virt_type}")
        config = {
            "virt_type": virt_type,
            "hosts": hosts,
            "migration": {
                # Nova puts the destination's host name for %s: each host's libvirtd socket
                "uri": "qemu+unix:///system?socket="
                + str(host_root(cell_dir, cell.hosts[0]).parent / "%s" / "sock" / "libvirt-sock"),
                "bandwidth": MIGRATION_BANDWIDTH,
            },
            "image": {
                "id": str(uuid.uuid5(IMAGE_NAMESPACE, guest.key)),
                "name": GUEST_IMAGE_NAME,
                "path": str(guest.path),
                "disk_format": guest.disk_format,
                "properties": dict(guest.properties),
            },
            "images_dir": str(cell_dir / "images"),
            "bridge": lab_bridge.name,
            "subnet": str(lab_bridge.subnet),
            "taps_file": str(cell_dir / TAPS_FILE),
            "volumes_dir": str(cell_dir / "volumes"),
            "loops_file": str(cell_dir / LOOPS_FILE),
        }
        path = cell_dir / CONFIG_FILE
        path.write_text(json.dumps(config, indent=2) + "\n")
        return path
    except BaseException:
        teardown(cell_dir)
        raise


def shared_root(cell_dir: Path) -> Path:
    """Where a shared-storage cell keeps its hosts' one instances_path (beside their roots)."""
    return _made(_short_dir(cell_dir)) / "shared"


def host_root(cell_dir: Path, host: str) -> Path:
    """Where a host's libvirtd keeps its state. Unix sockets take at most 107 bytes of path,
    which a checkout's .lab/cells/<cell>/... can exceed, so the state lives in a short
    directory of the temp dir, named after the cell directory, and the cell directory links
    to it (libvirt/<host>), which is also how `teardown` finds it again."""
    short = _made(_short_dir(cell_dir)) / host
    short.mkdir(exist_ok=True)
    link = cell_dir / "libvirt" / host
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.resolve() != short.resolve():
            raise LibvirtCellError(f"{link} exists and is not the link to {short}")
    else:
        link.symlink_to(short, target_is_directory=True)
    return short


def _short_dir(cell_dir: Path) -> Path:
    return Path(tempfile.gettempdir()) / f"matrix-lab-{_digest(cell_dir)[:12]}"


def _made(directory: Path) -> Path:
    directory.mkdir(mode=0o700, exist_ok=True)
    directory.chmod(0o700)  # the mode mkdir gives is masked, and the directory may be older
    return directory


def teardown(cell_dir: Path) -> list[str]:
    """Stop what `prepare` started under `cell_dir` (domains, daemons, bridge, dnsmasq) and
    return what is still left (nothing, unless something refused to stop)."""
    left = _remove_taps(cell_dir / TAPS_FILE) + _remove_loops(cell_dir / LOOPS_FILE)
    libvirt_dir = cell_dir / "libvirt"
    for link in sorted(libvirt_dir.iterdir()) if libvirt_dir.is_dir() else []:
        root = link.resolve()
        try:
            host = hypervisor.LibvirtHost.load(root)
        except hypervisor.HypervisorError:
            host = None  # nothing was started there
        try:
            if host is not None:
                hypervisor.stop(host)
        except hypervisor.HypervisorError as error:
            left.append(str(error))
            continue
        if link.is_symlink():  # the short directory goes with the host it held
            keep_logs(root, cell_dir / "hosts" / link.name / "var" / "log" / "libvirt")
            shutil.rmtree(root, ignore_errors=True)
            link.unlink()
    shared = _short_dir(cell_dir) / "shared"
    if shared.is_dir():  # after the hosts: their QEMUs held files open on it
        if still := shared_storage.unmount(shared):
            left += still
        else:
            shutil.rmtree(shared, ignore_errors=True)
    with contextlib.suppress(OSError):
        shared.parent.rmdir()  # once its hosts and shared storage are gone
    bridge_dir = cell_dir / "bridge"
    if bridge_dir.is_dir():
        try:
            bridge.LabBridge.load(bridge_dir).destroy()
        except bridge.BridgeError as error:
            left.append(str(error))
    if not left:  # the data behind volumes and images goes with the loop devices
        for data in ("volumes", "images"):
            shutil.rmtree(cell_dir / data, ignore_errors=True)
    (cell_dir / CONFIG_FILE).unlink(missing_ok=True)
    return left


HOST_LOGS = ("libvirtd.log", "virtlogd.log", "log/qemu")
"""What of a host's short directory outlives it: libvirtd's and virtlogd's logs and QEMU's
per-domain logs, the first things to read when a migration or a guest failed."""


def keep_logs(root: Path, into: Path) -> None:
    """Copy a host's logs into the cell directory (where devstack keeps them, under the
    host's var/log) before its short directory is removed."""
    for name in HOST_LOGS:
        source = root / name
        with contextlib.suppress(OSError):
            if source.is_dir():
                shutil.copytree(source, into / source.name, dirs_exist_ok=True)
            elif source.is_file():
                into.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, into / source.name)


def _remove_taps(noted: Path) -> list[str]:
    """Delete the taps the cell noted that still exist (Nova removes them when it deletes a
    server; a cell that died first leaves them). Only names the cell wrote are touched."""
    try:
        names = sorted(set(noted.read_text().split()))
    except FileNotFoundError:
        return []
    left = []
    for name in names:
        if not TAP_NAME.fullmatch(name) or not Path("/sys/class/net", name).exists():
            continue
        done = subprocess.run(["ip", "link", "delete", name], capture_output=True, text=True)
        if done.returncode != 0 and Path("/sys/class/net", name).exists():
            left.append(f"tap {name}: {done.stderr.strip()}")
    noted.unlink()
    return left


def _remove_loops(noted: Path) -> list[str]:
    """Detach the loop devices the cell noted, only while each still backs the file the cell
    gave it (a loop device number is reused once it is free)."""
    try:
        lines = noted.read_text().splitlines()
    except FileNotFoundError:
        return []
    left = []
    for line in lines:
        device, _, backing = line.partition(" ")
        if not LOOP_NAME.fullmatch(device) or not backing:
            continue
        if _loop_backing(device) != backing:
            continue  # already detached (Nova or a reboot), maybe reused by someone else
        done = subprocess.run(["losetup", "--detach", device], capture_output=True, text=True)
        if done.returncode != 0:
            left.append(f"loop device {device} ({backing}): {done.stderr.strip()}")
    noted.unlink()
    return left


def _loop_backing(device: str) -> str | None:
    try:
        return Path(f"/sys/block/{Path(device).name}/loop/backing_file").read_text().strip()
    except OSError:
        return None


def config_of(cell_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((cell_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
