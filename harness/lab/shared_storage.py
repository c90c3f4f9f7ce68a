"""Instance storage two lab hosts share: a directory libvirt accepts as shared storage.

libvirt lets a live migration go without copying disks only when the disks are on a file
system it knows to be shared (NFS, GlusterFS, Ceph, ...); on a plain local directory it says
"Unsafe migration: Migration without shared storage is unsafe". bindfs mirrors a directory as
a FUSE file system whose subtype is glusterfs (`fuse.glusterfs`), which libvirt counts as
shared, and Nova's own check (a file made on one host, seen on the other) holds because both
hosts see the same directory. It must be mounted before the hosts' namespaces are made (their
mounts are private copies taken at that moment; see hypervisor.py).

bindfs runs in the foreground, started here, and is recorded by pid and command line
(shared.json beside the data), so `unmount` from another process stops exactly it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import Failure
from harness.lab.hypervisor import RecordedProcess, terminate, unescape_mount_field

BINDFS = "bindfs"
FS_TYPE = "fuse.glusterfs"  # what libvirt's virFileIsSharedFS counts as shared
STATE_FILE = "shared.json"
MOUNT_TIMEOUT = 10.0


class SharedStorageError(Failure):
    """The shared instance storage could not be mounted or removed."""


@dataclass(frozen=True)
class SharedInstances:
    """A mounted shared directory: `mountpoint` is every host's instances_path."""

    data: Path
    mountpoint: Path
    bindfs: RecordedProcess

    @property
    def state_file(self) -> Path:
        return self.data.parent / STATE_FILE

    def save(self) -> None:
        record = {
            "data": str(self.data),
            "mountpoint": str(self.mountpoint),
            "bindfs": self.bindfs.to_json(),
        }
        self.state_file.write_text(json.dumps(record, indent=2) + "\n")


def mount(root: Path) -> SharedInstances:
    """Mirror `root`/data on `root`/instances as fuse.glusterfs; wait until it is mounted."""
    if shutil.which(BINDFS) is None:
        raise SharedStorageError("bindfs is not installed (Debian: bindfs)")
    if not Path("/dev/fuse").exists():
        raise SharedStorageError("/dev/fuse is missing: shared instance storage needs FUSE")
    root = Path(root).resolve()
    data, mountpoint = root / "data", root / "instances"
    for directory in (data, mountpoint):
        directory.mkdir(parents=True, exist_ok=True)
    if fs_type(mountpoint) == FS_TYPE:
        raise SharedStorageError(f"{mountpoint} is mounted already (a lab not taken down?)")
    argv = [BINDFS, "-f", "-o", "subtype=glusterfs", str(data), str(mountpoint)]
    with (root / "bindfs.log").open("ab") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `lab up`, like the hosts it serves
        )  # fmt: skip
    shared = SharedInstances(data, mountpoint, RecordedProcess("bindfs", process.pid, tuple(argv)))
    shared.save()
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while fs_type(mountpoint) != FS_TYPE:
        if process.poll() is not None or time.monotonic() > deadline:
            unmount(root)
            log_text = (root / "bindfs.log").read_text(errors="replace").strip()
            raise SharedStorageError(f"bindfs did not mount {mountpoint}: {log_text or 'no log'}")
        time.sleep(0.05)
    return shared


def unmount(root: Path) -> list[str]:
    """Unmount what `mount` made under `root` and stop its bindfs; what is left ([] if all)."""
    root = Path(root).resolve()
    try:
        record = json.loads((root / STATE_FILE).read_text())
        mountpoint = Path(record["mountpoint"])
        bindfs = RecordedProcess.from_json(record["bindfs"])
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError) as error:
        return [f"{root / STATE_FILE} is not a shared storage record: {error}"]
    if fs_type(mountpoint) == FS_TYPE:
        subprocess.run(["umount", str(mountpoint)], capture_output=True, check=False)
    if bindfs.running():
        deadline = time.monotonic() + MOUNT_TIMEOUT  # bindfs exits once unmounted
        while bindfs.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        terminate(bindfs)
    left = []
    if fs_type(mountpoint) == FS_TYPE:
        left.append(f"{mountpoint} is still mounted ({FS_TYPE})")
    if bindfs.running():
        left.append(f"bindfs (pid {bindfs.pid}) still runs: {' '.join(bindfs.cmdline)}")
    if not left:
        (root / STATE_FILE).unlink()
    return left


def fs_type(path: Path) -> str | None:
    """The type of the file system mounted exactly at `path` (None: nothing mounted there)."""
    found = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and unescape_mount_field(fields[1]) == str(path):
                found = fields[2]  # the last one mounted there is the one seen
    return found
