"""A cell host's own libvirt: a private libvirtd and virtlogd in a mount and UTS namespace.

libvirt refuses to migrate to itself, so every lab host gets a libvirtd of its own, with its
own hostname (Nova's nodename), host UUID, configuration and state. One long-lived holder
process owns a new mount and UTS namespace; in it the host's private directories are bind
mounted over the ones libvirt hard-codes, then virtlogd and libvirtd run as its children:

    <root>/etc        -> /etc/libvirt        libvirtd.conf, qemu.conf, virtlogd.conf
    <root>/run        -> /run                (so /run/libvirt is <root>/run/libvirt; the
                                              machine's /run, e.g. /run/systemd, is hidden)
    <root>/lib        -> /var/lib/libvirt
    <root>/log        -> /var/log/libvirt    QEMU's per-domain logs, written by virtlogd
    <root>/cache      -> /var/cache/libvirt  QEMU capability cache
    <root>/hosts      -> /etc/hosts          the host's name resolves to itself
    <root>/sock/      libvirtd's sockets: not bind mounted, so Nova outside connects here
    <root>/instances/ Nova's instances_path for this host (same path in and outside)
    <root>/host.json  what `start` recorded, so another process can `load` and `stop` it

With `own_network`, the holder also owns a new network namespace (loopback only, until the
lab bridge reaches into it, see bridge.py): a second host's guests then get taps of the same
names as the first host's, which a live migration between them needs.

Binding all of /run (not /run/libvirt) means nothing is ever created in the machine's own
/run, which need not have a /run/libvirt to mount over. Mounts made outside after `start`
do not propagate in (the namespace is private): mount shared storage before starting.

Like the lab's cell control, a recorded pid is only signalled while /proc/<pid>/cmdline is
still exactly the recorded command line; other processes (QEMU) are only signalled when
their mount namespace holds this host's bind mounts, which no unrelated process can have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import Failure

LIBVIRTD = "/usr/sbin/libvirtd"
VIRTLOGD = "/usr/sbin/virtlogd"
VIRSH = "virsh"
UNSHARE = "unshare"
STATE_FILE = "host.json"
START_TIMEOUT = 60.0  # seconds; libvirtd answered in 1.4 s here, ~10 s seen on a loaded machine
STOP_TIMEOUT = 15.0  # per process: libvirtd waits up to 10 s for a QEMU before SIGKILL
VIRSH_TIMEOUT = 60.0
_SUN_PATH_MAX = 107  # bytes in a unix socket path, without the terminating NUL
_LONGEST_SOCKET = "libvirt-admin-sock"
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_SYS_MODULES = Path("/sys/module")
_KVM_FAILURES = ("emulation failure", "KVM internal error", "failed to set MSR", "kvm run failed")

BIND_TARGETS: dict[str, str] = {
    "etc": "/etc/libvirt",
    "run": "/run",
    "lib": "/var/lib/libvirt",
    "log": "/var/log/libvirt",
    "cache": "/var/cache/libvirt",
    "hosts": "/etc/hosts",
}
"""Private entry under the host's root -> the path it is bind mounted over in the namespace."""

_started: dict[int, subprocess.Popen[bytes]] = {}
"""Holders this interpreter started, so stopping them also reaps them (no zombies)."""


class HypervisorError(Failure):
    """A private libvirt host could not be started, used or fully stopped."""


# ---------------------------------------------------------------------------------------------
# Processes identified by their command line


@dataclass(frozen=True)
class RecordedProcess:
    """A process the lab started: signalled only while its command line is still this one."""

    role: str
    pid: int
    cmdline: tuple[str, ...]

    def running(self) -> bool:
        """Is this pid alive and still the very process that was recorded (not a reused pid)?"""
        return read_cmdline(self.pid) == self.cmdline

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "pid": self.pid, "cmdline": list(self.cmdline)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedProcess:
        return cls(str(data["role"]), int(data["pid"]), tuple(str(a) for a in data["cmdline"]))


def read_cmdline(pid: int) -> tuple[str, ...] | None:
    """The argv of a live, non-zombie process; None when it is gone (or a zombie)."""
    process = _started.get(pid)
    if process is not None and process.poll() is not None:
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return None
    if state in ("Z", "X") or not raw:
        return None
    return tuple(a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0"))


def live_processes() -> Iterator[tuple[int, tuple[str, ...]]]:
    """Every live user-space process but this one, with its argv."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            argv = read_cmdline(int(entry.name))
            if argv is not None:
                yield int(entry.name), argv


def terminate(process: RecordedProcess, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, then SIGKILL after `timeout`, a recorded process that is still itself.

    Returns whether it was running. The command line is checked again before each signal.
    """
    if not process.running():
        _reap(process.pid)
        return False
    _signal_if(process.pid, signal.SIGTERM, process.running)
    if not _wait_gone(process.running, timeout):
        _signal_if(process.pid, signal.SIGKILL, process.running)
        _wait_gone(process.running, 5.0)
    _reap(process.pid)
    return True


def _signal_if(pid: int, signum: int, still_ours: Callable[[], bool]) -> None:
    if still_ours():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _wait_gone(alive: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    process = _started.pop(pid, None)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5.0)


def mentions(argv: Sequence[str], path: Path) -> bool:
    """Does a command line name `path` or something under it (not merely a longer sibling)?"""
    text = str(path)
    for word in argv:
        start = word.find(text)
        while start >= 0:
            after = word[start + len(text) : start + len(text) + 1]
            if not after or not (after.isalnum() or after in "-_."):
                return True
            start = word.find(text, start + 1)
    return False


# ---------------------------------------------------------------------------------------------
# Mount namespaces identified by what is mounted in them


def unescape_mount_field(field: str) -> str:
    """/proc mount tables write space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(pid: int | str = "self") -> list[tuple[str, str, str]]:
    """(device, path inside that file system, mount point) of each mount `pid` sees."""
    try:
        lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) >= 5:
            fs_root, target = unescape_mount_field(fields[3]), unescape_mount_field(fields[4])
            mounts.append((fields[2], fs_root, target))
    return mounts


def _fs_location(path: Path) -> tuple[str, str]:
    """(device, path inside its file system) of `path`: how a bind mount of it shows up."""
    best: tuple[str, str, str] | None = None
    text = str(path)
    for device, fs_root, target in _mounts():
        inside = text == target or text.startswith(target.rstrip("/") + "/")
        if inside and (best is None or len(target) >= len(best[2])):
            best = (device, fs_root, target)
    if best is None:
        return "", text
    device, fs_root, target = best
    rest = text[len(target) :] if target != "/" else text
    return device, os.path.normpath(fs_root.rstrip("/") + "/" + rest.lstrip("/"))


# ---------------------------------------------------------------------------------------------
# The host


@dataclass(frozen=True)
class LibvirtHost:
    """One running private libvirtd: how Nova reaches it and what must be stopped."""

    name: str
    root: Path
    host_uuid: str
    socket: Path
    instances_path: Path
    processes: tuple[RecordedProcess, ...]
    ready_seconds: float = 0.0
    own_network: bool = False

    @property
    def network_namespace(self) -> str | None:
        """The path of the holder's network namespace (for `nsenter --net=`), if it has one."""
        holder = self.process("holder")
        return f"/proc/{holder.pid}/ns/net" if self.own_network and holder else None

    @property
    def uri(self) -> str:
        """The connection URI for Nova's [libvirt] connection_uri and for virsh -c."""
        return f"qemu+unix:///system?socket={self.socket}"

    @property
    def pids(self) -> dict[str, int]:
        """Recorded pid per role: holder, virtlogd, libvirtd."""
        return {p.role: p.pid for p in self.processes}

    def process(self, role: str) -> RecordedProcess | None:
        return next((p for p in self.processes if p.role == role), None)

    def private(self, entry: str) -> Path:
        """The private directory (or file) that is mounted over BIND_TARGETS[entry]."""
        return self.root / entry

    @property
    def libvirtd_log(self) -> Path:
        return self.root / "libvirtd.log"

    @property
    def run_dir(self) -> Path:
        """libvirt's /run/libvirt as seen from outside the namespace."""
        return self.root / "run" / "libvirt"

    def domain_log(self, domain: str) -> Path:
        """QEMU's log of a domain (virtlogd writes /var/log/libvirt/qemu/<domain>.log)."""
        return self.root / "log" / "qemu" / f"{domain}.log"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "root": str(self.root),
            "host_uuid": self.host_uuid,
            "socket": str(self.socket),
            "uri": self.uri,
            "instances_path": str(self.instances_path),
            "processes": [p.to_json() for p in self.processes],
            "ready_seconds": self.ready_seconds,
            "own_network": self.own_network,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LibvirtHost:
        return cls(
            name=str(data["name"]),
            root=Path(data["root"]),
            host_uuid=str(data["host_uuid"]),
            socket=Path(data["socket"]),
            instances_path=Path(data["instances_path"]),
            processes=tuple(RecordedProcess.from_json(p) for p in data["processes"]),
            ready_seconds=float(data.get("ready_seconds", 0.0)),
            own_network=bool(data.get("own_network", False)),
        )

    @classmethod
    def load(cls, root: Path) -> LibvirtHost:
        """The host `start` recorded under `root`: `lab down` runs in another process than `up`."""
        path = Path(root).resolve() / STATE_FILE
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise HypervisorError(
                f"no libvirt host was started under {root} ({path} is missing)"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise HypervisorError(f"{path} is not a libvirt host record: {error}") from None

    def save(self) -> None:
        path = self.root / STATE_FILE
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        scratch.replace(path)


def virsh(
    host: LibvirtHost, *args: str, timeout: float = VIRSH_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `virsh -c <host's uri> ARGS`; with `check`, a failure raises with virsh's words."""
    command = [VIRSH, "-q", "-c", host.uri, *args]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=_env(), check=False
        )
    except subprocess.TimeoutExpired:
        if not check:
            return subprocess.CompletedProcess(command, 124, "", f"timed out after {timeout} s")
        raise HypervisorError(
            f"virsh {' '.join(args)} on {host.name}: no answer in {timeout} s"
        ) from None
    if check and result.returncode != 0:
        raise HypervisorError(
            f"virsh {' '.join(args)} on {host.name} failed: {result.stderr.strip()}"
        )
    return result


def _env() -> dict[str, str]:
    """A plain environment: C locale for parseable output, no session libvirt URI."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL": "C",
        "HOME": os.environ.get("HOME", "/root"),
    }


def start(
    root: Path,
    name: str,
    *,
    host_uuid: str | None = None,
    timeout: float = START_TIMEOUT,
    migration_host: str | None = None,
    migration_ports: tuple[int, int] | None = None,
    display_ports: tuple[int, int] | None = None,
    own_network: bool = False,
) -> LibvirtHost:
    """Start a private libvirtd named `name` under `root`; returns once it answers virsh.

    `migration_host` (qemu.conf) is the address other hosts migrate to; the port ranges keep
    two hosts' migration and VNC ports apart; `own_network` gives the host a network namespace
    of its own. On failure nothing is left running.
    """
    root = Path(root).resolve()
    _check_arguments(root, name)
    try:
        host_uuid = str(uuid.UUID(host_uuid)) if host_uuid else str(uuid.uuid4())
    except ValueError:
        raise HypervisorError(f"host_uuid '{host_uuid}' is not a UUID") from None
    if (root / STATE_FILE).exists():
        stop(LibvirtHost.load(root))  # a stale or half-started earlier run under this root
    _prepare(root, name, host_uuid, migration_host, migration_ports, display_ports, own_network)

    host = LibvirtHost(
        name=name,
        root=root,
        host_uuid=host_uuid,
        socket=root / "sock" / "libvirt-sock",
        instances_path=root / "instances",
        processes=(),
        own_network=own_network,
    )
    t0 = time.monotonic()
    holder = _spawn_holder(host, timeout)
    host = dataclasses.replace(host, processes=(holder,))
    host.save()  # before waiting: a `stop` from elsewhere can clean up a half-started host
    try:
        host = _wait_ready(host, holder, t0 + timeout, timeout)
    except BaseException:
        with contextlib.suppress(HypervisorError):
            stop(host)
        raise
    host = dataclasses.replace(host, ready_seconds=round(time.monotonic() - t0, 2))
    host.save()
    return host


def _check_arguments(root: Path, name: str) -> None:
    if not _HOSTNAME.match(name):
        raise HypervisorError(f"'{name}' is not a valid host name (letters, digits, '-')")
    for target in {*BIND_TARGETS.values(), "/var/run"}:
        real = Path(target).resolve()
        if root == real or real in root.parents:
            raise HypervisorError(f"{root} is under {target}, which the namespace mounts over")
    socket_path = root / "sock" / _LONGEST_SOCKET
    if len(os.fsencode(socket_path)) > _SUN_PATH_MAX:
        raise HypervisorError(
            f"{root} is too long for libvirt's sockets ({socket_path} exceeds "
            f"{_SUN_PATH_MAX} bytes): use a shorter lab directory"
        )
    if any(c in str(root) for c in '"\n\\'):
        raise HypervisorError(f"{root}: quotes, backslashes and newlines are not supported")
    for program in (UNSHARE, LIBVIRTD, VIRTLOGD, VIRSH):
        if shutil.which(program) is None:
            raise HypervisorError(
                f"{program} is not installed (Debian: libvirt-daemon-system, libvirt-clients)"
            )


def _prepare(
    root: Path,
    name: str,
    host_uuid: str,
    migration_host: str | None,
    migration_ports: tuple[int, int] | None,
    display_ports: tuple[int, int] | None,
    own_network: bool,
) -> None:
    """The private directories, libvirt's configuration and the holder's instructions."""
    for entry in ("etc", "run/libvirt", "lib", "log", "cache", "sock", "instances"):
        (root / entry).mkdir(parents=True, exist_ok=True)
    (root / "run" / "lock").mkdir(exist_ok=True)
    (root / "run" / "lock").chmod(0o1777)
    with contextlib.suppress(FileExistsError):
        (root / "run" / "shm").symlink_to("/dev/shm")
    for stale in (root / "sock").iterdir():  # from a host that was killed, not stopped
        if stale.is_socket():
            stale.unlink()

    etc = root / "etc"
    _write_conf(
        etc / "libvirtd.conf",
        unix_sock_dir=str(root / "sock"),
        unix_sock_group="root",
        unix_sock_ro_perms="0777",
        unix_sock_rw_perms="0770",
        unix_sock_admin_perms="0700",
        auth_unix_ro="none",
        auth_unix_rw="none",
        listen_tls=0,
        listen_tcp=0,
        host_uuid=host_uuid,
        log_outputs=f"3:file:{root / 'libvirtd.log'}",
    )
    qemu: dict[str, str | int | list[str]] = {
        "user": "root",
        "group": "root",
        "dynamic_ownership": 0,
        "remember_owner": 0,
        "security_driver": "none",
        "cgroup_controllers": [],  # no systemd, no cgroup delegation in this container
        "namespaces": [],  # QEMU in libvirtd's mount namespace: sees the same paths
        "clear_emulator_capabilities": 0,
        "stdio_handler": "logd",  # console and QEMU logs through virtlogd
        "vnc_listen": "127.0.0.1",
        "spice_listen": "127.0.0.1",
    }
    if migration_host:
        qemu["migration_host"] = migration_host
    if migration_ports:
        qemu["migration_port_min"], qemu["migration_port_max"] = migration_ports
    if display_ports:
        qemu["remote_display_port_min"], qemu["remote_display_port_max"] = display_ports
    _write_conf(etc / "qemu.conf", **qemu)
    _write_conf(
        etc / "virtlogd.conf",
        log_outputs=f"3:file:{root / 'virtlogd.log'}",
        max_size=2 * 1024 * 1024,
        max_backups=3,
    )
    for sub in ("qemu", "qemu/networks", "hooks", "nwfilter"):
        (etc / sub).mkdir(parents=True, exist_ok=True)

    # The host's name resolves to itself, so libvirt's canonical hostname (Nova's nodename)
    # is exactly `name` whatever DNS says.
    address = migration_host if migration_host and _is_ipv4(migration_host) else "127.0.1.1"
    try:
        machine_hosts = Path("/etc/hosts").read_text()
    except OSError:
        machine_hosts = "127.0.0.1 localhost\n"
    (root / "hosts").write_text(f"{address}\t{name}\n{machine_hosts}")

    spec = {
        "hostname": name,
        "loopback": own_network,  # a new network namespace has lo down: VNC and consoles need it
        "binds": [[str(root / entry), target] for entry, target in BIND_TARGETS.items()],
        "daemons": [
            {"argv": _daemon_argv(root, "virtlogd"), "ready": "/run/libvirt/virtlogd-sock"},
            {"argv": _daemon_argv(root, "libvirtd"), "ready": str(root / "sock" / "libvirt-sock")},
        ],
    }
    (root / "namespace.json").write_text(json.dumps(spec, indent=2) + "\n")
    (root / "holder.py").write_text(_HOLDER)


def _is_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def _write_conf(path: Path, **settings: str | int | list[str]) -> None:
    lines = [f"# written by harness.lab.hypervisor for {path.parent.parent}"]
    for key, value in settings.items():
        if isinstance(value, list):
            rendered = "[" + ", ".join(f'"{v}"' for v in value) + "]"
        elif isinstance(value, int):
            rendered = str(value)
        elif any(c in value for c in '"\n\\'):
            raise HypervisorError(f"{key} = {value!r}: quotes, backslashes, newlines unsupported")
        else:
            rendered = f'"{value}"'
        lines.append(f"{key} = {rendered}")
    path.write_text("\n".join(lines) + "\n")


def _daemon_argv(root: Path, daemon: str) -> list[str]:
    """Foreground daemons whose argv names their root, so their pid can be checked."""
    program = LIBVIRTD if daemon == "libvirtd" else VIRTLOGD
    conf = root / "etc" / f"{daemon}.conf"
    return [program, "-f", str(conf), "-p", str(root / f"{daemon}.pid")]


def _holder_argv(root: Path) -> list[str]:
    return [sys.executable, "-I", str(root / "holder.py"), str(root / "namespace.json")]


def _spawn_holder(host: LibvirtHost, timeout: float) -> RecordedProcess:
    argv = _holder_argv(host.root)
    namespaces = ["--mount", "--uts", *(["--net"] if host.own_network else [])]
    command = [UNSHARE, *namespaces, "--propagation", "private", "--", *argv]
    env = _env() | {"MLAB_DAEMON_TIMEOUT": str(timeout)}
    with (host.root / "holder.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=host.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `lab up`; ^C in the terminal spares it
        )
    _started[process.pid] = process
    # unshare execs the holder in place (no --fork): same pid, the holder's argv
    deadline = time.monotonic() + 10.0
    while read_cmdline(process.pid) != tuple(argv):
        if process.poll() is not None or time.monotonic() > deadline:
            _reap(process.pid)
            raise HypervisorError(
                f"could not create the namespace for {host.name} "
                f"(unshare exited {process.poll()}):\n{_tail(host.root / 'holder.log')}"
            )
        time.sleep(0.02)
    return RecordedProcess("holder", process.pid, tuple(argv))


def _wait_ready(
    host: LibvirtHost, holder: RecordedProcess, deadline: float, timeout: float
) -> LibvirtHost:
    """Poll until both daemons run (pid files) and libvirtd answers `virsh version`."""
    interval = 0.1
    recorded: dict[str, RecordedProcess] = {}
    while True:
        if not holder.running():
            raise HypervisorError(_start_failure(host, "its namespace holder exited"))
        for daemon in ("virtlogd", "libvirtd"):
            if daemon not in recorded:
                found = _from_pidfile(host.root, daemon)
                if found is not None:
                    recorded[daemon] = found
                    host = dataclasses.replace(host, processes=(holder, *recorded.values()))
                    host.save()
        if "libvirtd" in recorded and host.socket.is_socket():
            remaining = max(deadline - time.monotonic(), 1.0)
            if virsh(host, "version", timeout=remaining, check=False).returncode == 0:
                return host
        if time.monotonic() > deadline:
            raise HypervisorError(_start_failure(host, f"libvirtd did not answer in {timeout} s"))
        time.sleep(interval)
        interval = min(interval * 1.5, 1.0)


def _from_pidfile(root: Path, daemon: str) -> RecordedProcess | None:
    try:
        pid = int((root / f"{daemon}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    expected = tuple(_daemon_argv(root, daemon))
    return RecordedProcess(daemon, pid, expected) if read_cmdline(pid) == expected else None


def _start_failure(host: LibvirtHost, problem: str) -> str:
    return (
        f"libvirt host '{host.name}' under {host.root} did not start: {problem}\n"
        f"the end of {host.libvirtd_log}:\n{_tail(host.libvirtd_log)}\n"
        f"the end of {host.root / 'holder.log'}:\n{_tail(host.root / 'holder.log')}"
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty)"


# ---------------------------------------------------------------------------------------------
# KVM or TCG


@dataclass(frozen=True)
class VirtProbe:
    """Which `[libvirt] virt_type` Nova should use on a host, and why."""

    virt_type: str  # kvm | qemu
    reason: str


def detect_virt_type(host: LibvirtHost, *, kernel: Path | None = None) -> str:
    """'kvm' only if KVM guests really run on `host`, else 'qemu' (TCG); see probe_virt_type."""
    return probe_virt_type(host, kernel=kernel).virt_type


def probe_virt_type(
    host: LibvirtHost,
    *,
    kernel: Path | None = None,
    probe_seconds: float = 4.0,
    boot_timeout: float = 30.0,
) -> VirtProbe:
    """Boot a throwaway KVM domain on `host`: 'kvm' only if it really runs, else 'qemu'.

    /dev/kvm and libvirt's capabilities are not enough. A nested PVM /dev/kvm (kvm_pvm
    module) is listed as usable, but it runs only PVM-aware guest kernels: a stock Linux
    guest hangs right after decompressing, while firmware alone runs fine. So PVM counts as
    no KVM; and with `kernel` (a guest kernel) the probe also requires that kernel to print
    "Linux version" on the serial console within `boot_timeout`. Without it, a domain with
    no disk must stay 'running' for `probe_seconds` with no KVM error in QEMU's log.
    """
    if not Path("/dev/kvm").exists():
        return VirtProbe("qemu", "no /dev/kvm")
    modules = _SYS_MODULES
    if (modules / "kvm_pvm").exists() and not any(
        (modules / m).exists() for m in ("kvm_intel", "kvm_amd")
    ):
        return VirtProbe("qemu", "/dev/kvm is PVM (kvm_pvm), which cannot run stock guest kernels")
    if virsh(host, "domcapabilities", "--virttype", "kvm", check=False).returncode != 0:
        return VirtProbe("qemu", "libvirt offers no kvm domain type")
    domain = f"mlab-kvm-probe-{secrets.token_hex(3)}"
    xml = host.root / f"{domain}.xml"
    serial = host.root / f"{domain}.serial"
    boot = (
        f"<kernel>{kernel.resolve()}</kernel><cmdline>console=ttyS0 panic=0</cmdline>"
        if kernel
        else ""
    )
    xml.write_text(
        f"""<domain type='kvm'>
  <name>{domain}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type>{boot}</os>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'><source path='{serial}'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""
    )
    try:
        created = virsh(host, "create", str(xml), check=False)
        if created.returncode != 0:
            return VirtProbe("qemu", f"a KVM domain does not start: {created.stderr.strip()}")
        started = time.monotonic()
        while True:
            problem = _probe_problem(host, domain)
            if problem:
                return VirtProbe("qemu", problem)
            elapsed = time.monotonic() - started
            if kernel is None and elapsed >= probe_seconds:
                return VirtProbe("kvm", f"a KVM domain ran for {probe_seconds:.0f} s")
            if kernel is not None and "Linux version" in _read(serial):
                return VirtProbe("kvm", f"{kernel.name} booted under KVM")
            if kernel is not None and elapsed > boot_timeout:
                return VirtProbe("qemu", f"{kernel} printed nothing under KVM in {boot_timeout} s")
            time.sleep(0.5)
    finally:
        virsh(host, "destroy", domain, check=False)
        xml.unlink(missing_ok=True)
        serial.unlink(missing_ok=True)


def _probe_problem(host: LibvirtHost, domain: str) -> str | None:
    state = virsh(host, "domstate", "--reason", domain, check=False).stdout.strip()
    log = _read(host.domain_log(domain))
    if marker := next((m for m in _KVM_FAILURES if m in log), None):
        return f"the KVM guest failed: '{marker}' in {host.domain_log(domain)}"
    if not state.startswith("running"):
        return f"the KVM guest is {state or 'gone'}"
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# Stopping


def stop(host: LibvirtHost) -> None:
    """Remove every domain, stop libvirtd, virtlogd, leftover QEMUs and the holder; verify.

    Safe to call again, on a half-started host, or from another process (`LibvirtHost.load`).
    Raises HypervisorError naming whatever is still there.
    """
    problems: list[str] = []
    libvirtd = host.process("libvirtd")
    if libvirtd is not None and libvirtd.running():
        problems += _remove_domains(host)
    for role in ("libvirtd", "virtlogd"):
        recorded = host.process(role)
        if recorded is not None:
            terminate(recorded)
    _kill_host_processes(host)
    holder = host.process("holder")
    if holder is not None:
        terminate(holder)
    if not _wait_gone(lambda: bool(_namespace_members(host) or _stray_qemus(host)), 10.0):
        _kill_host_processes(host)  # a straggler the holder left (it reaps, we kill)
    if not _namespace_members(host) and not _recorded_running(host):
        for path in _sockets(host.root):  # inert now: nothing listens on them
            path.unlink(missing_ok=True)
        for pidfile in [host.root / "libvirtd.pid", host.root / "virtlogd.pid"]:
            pidfile.unlink(missing_ok=True)
        for pidfile in (host.root / "run").rglob("*.pid"):
            pidfile.unlink(missing_ok=True)
    remaining = problems + leftovers(host)
    if remaining:
        raise HypervisorError(
            f"libvirt host '{host.name}' under {host.root} is not fully stopped:\n  "
            + "\n  ".join(remaining)
        )


def _remove_domains(host: LibvirtHost) -> list[str]:
    """Destroy and undefine every domain, with its managed save, snapshots and nvram."""
    listed = virsh(host, "list", "--all", "--name", check=False)
    if listed.returncode != 0:
        return [f"could not list domains: {listed.stderr.strip()}"]
    for domain in listed.stdout.split():
        virsh(host, "destroy", domain, check=False)  # also fails when it is not running
        flags = ["--managed-save", "--snapshots-metadata", "--checkpoints-metadata"]
        if virsh(host, "undefine", domain, *flags, "--nvram", check=False).returncode != 0:
            virsh(host, "undefine", domain, *flags, check=False)  # transient: already gone
    after = virsh(host, "list", "--all", "--name", check=False).stdout.split()
    return [f"domain {d} could not be removed" for d in after]


def _recorded_running(host: LibvirtHost) -> list[RecordedProcess]:
    return [p for p in host.processes if p.running()]


def _signatures(host: LibvirtHost) -> set[tuple[str, str]]:
    """How this host's bind mounts look in a mountinfo: (device, path in its file system)."""
    return {_fs_location(host.private(entry)) for entry in BIND_TARGETS}


def _namespace_members(host: LibvirtHost) -> list[tuple[int, tuple[str, ...]]]:
    """Processes whose mount namespace holds this host's bind mounts (all of them are ours)."""
    signatures = _signatures(host)
    verdicts: dict[str, bool] = {}
    members = []
    own = _namespace_of("self")
    for pid, argv in live_processes():
        namespace = _namespace_of(pid)
        if namespace is None or namespace == own:
            continue
        if namespace not in verdicts:
            verdicts[namespace] = any(
                (device, fs_root) in signatures and target in BIND_TARGETS.values()
                for device, fs_root, target in _mounts(pid)
            )
        if verdicts[namespace]:
            members.append((pid, argv))
    return members


def _namespace_of(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _stray_qemus(host: LibvirtHost) -> list[tuple[int, tuple[str, ...]]]:
    """QEMUs of this host by other evidence: libvirt's pid files, or a command line naming root."""
    found: dict[int, tuple[str, ...]] = {}
    for pidfile in sorted(host.run_dir.glob("qemu/*.pid")):
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
        argv = read_cmdline(pid)
        name = f"guest={pidfile.stem}"
        if argv and _is_qemu(argv) and any(w == name or w.startswith(name + ",") for w in argv):
            found[pid] = argv
    for pid, argv in live_processes():
        if _is_qemu(argv) and mentions(argv, host.root):
            found[pid] = argv
    return sorted(found.items())


def _is_qemu(argv: Sequence[str]) -> bool:
    return Path(argv[0]).name.startswith("qemu-system")


def _kill_host_processes(host: LibvirtHost) -> None:
    """SIGTERM, then SIGKILL, what still runs in the namespace (but its holder) and QEMUs."""
    holder = host.process("holder")
    spared = {holder.pid} if holder is not None and holder.running() else set()
    found = dict(_namespace_members(host)) | dict(_stray_qemus(host))
    victims = [RecordedProcess("member", pid, argv) for pid, argv in found.items()]
    victims = [v for v in victims if v.pid not in spared]
    for victim in victims:
        _signal_if(victim.pid, signal.SIGTERM, victim.running)
    deadline = time.monotonic() + 10.0
    while any(v.running() for v in victims) and time.monotonic() < deadline:
        time.sleep(0.05)
    for victim in victims:
        _signal_if(victim.pid, signal.SIGKILL, victim.running)
    _wait_gone(lambda: any(v.running() for v in victims), 5.0)


def _sockets(root: Path) -> list[Path]:
    found = []
    for directory, _subdirs, files in os.walk(root):
        for file in files:
            path = Path(directory, file)
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    found.append(path)
    return found


def leftovers(host: LibvirtHost) -> list[str]:
    """What of this host still exists: processes, QEMUs, namespace, mounts, socket files.

    [] once `stop` succeeded. Each entry says what it is, so it can be reported as is.
    """
    found = [
        f"{p.role} (pid {p.pid}) still runs: {' '.join(p.cmdline)}" for p in _recorded_running(host)
    ]
    seen = {p.pid for p in _recorded_running(host)}
    for pid, argv in _namespace_members(host):
        seen.add(pid)
        found.append(f"pid {pid} still runs in the host's mount namespace: {' '.join(argv)}")
    for pid, argv in live_processes():
        if pid not in seen and mentions(argv, host.root):
            seen.add(pid)
            found.append(f"pid {pid} names {host.root}: {' '.join(argv)}")
    for pid, argv in _stray_qemus(host):
        if pid not in seen:
            seen.add(pid)
            found.append(f"QEMU pid {pid} of this host still runs: {' '.join(argv)}")
    signatures = _signatures(host)
    for device, fs_root, target in _mounts():
        if (device, fs_root) in signatures:
            found.append(f"{fs_root} is mounted on {target} in this mount namespace")
    found += [f"socket file {path}" for path in _sockets(host.root)]
    return found


# ---------------------------------------------------------------------------------------------
# The holder: runs inside the new namespaces with the interpreter that started it (-I)

_HOLDER = '''\
"""Holds a lab libvirt host's mount and UTS namespace (written by harness.lab.hypervisor).

Bind mounts the host's private directories, sets its hostname, starts virtlogd and libvirtd
as children, then reaps children (and, as a subreaper, orphaned QEMUs) until it is stopped.
"""
import ctypes, json, os, socket, subprocess, sys, time

PR_SET_CHILD_SUBREAPER = 36
MS_BIND = 4096


def say(message):
    print(f"holder {os.getpid()}: {message}", flush=True)


def main():
    spec = json.load(open(sys.argv[1]))
    timeout = float(os.environ.get("MLAB_DAEMON_TIMEOUT", "60"))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    for source, target in spec["binds"]:
        if libc.mount(source.encode(), target.encode(), None, MS_BIND, None) != 0:
            error = ctypes.get_errno()
            say(f"cannot bind {source} over {target}: {os.strerror(error)}")
            sys.exit(1)
    socket.sethostname(spec["hostname"])
    if spec.get("loopback"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    started = []
    for daemon in spec["daemons"]:
        process = subprocess.Popen(daemon["argv"], stdin=subprocess.DEVNULL, cwd="/")
        started.append(process)
        deadline = time.monotonic() + timeout
        while not os.path.exists(daemon["ready"]):
            if process.poll() is not None or time.monotonic() > deadline:
                say(f"{daemon['argv'][0]} did not come up (exit status {process.poll()})")
                for other in started:
                    other.terminate()
                sys.exit(1)
            time.sleep(0.05)
        say(f"{daemon['argv'][0]} runs as pid {process.pid}")
    say(f"ready as host {spec['hostname']}")
    daemons = {process.pid: process.args[0] for process in started}
    while True:
        try:
            pid, status = os.wait()  # reaps helpers and orphaned QEMUs too (subreaper)
            if pid in daemons:
                say(f"{daemons[pid]} (pid {pid}) ended with wait status {status}")
        except ChildProcessError:
            time.sleep(1.0)
        except InterruptedError:
            pass


main()
'''
