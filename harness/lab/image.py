"""The guest image the libvirt lab cells boot, built from Debian packages and cached.

The lab needs a guest that boots in seconds under TCG, takes a DHCP lease, reads a config
drive, answers the QEMU guest agent and powers off on the ACPI button, and that says each of
those on its serial console so a test can tell. No distribution cloud image can be fetched
here (no internet beyond the package mirrors), so it is assembled from what Debian ships:

- the kernel of the current `linux-image-amd64`, fetched with `apt-get download` and unpacked
  with `dpkg -x` (installing it would run update-initramfs for minutes and touch the host);
- an initramfs (gzipped newc cpio, written here) holding busybox-static, the few modules the
  guest needs in dependency order (read from each module's `.modinfo`, not guessed), the
  scripts of `harness/lab/guest/` with `/init` first, and qemu-ga with its shared libraries;
- a 32 MiB FAT16 "superfloppy" made with mkfs.fat and mtools, booted by syslinux, converted to
  qcow2 for Glance. No loop mounts, no root needed except to refresh apt's lists.

The result lives in `guest-<key>/` under the cache, where the key hashes every input (the
guest scripts, the kernel package and version, busybox, qemu-ga and syslinux versions, the
module list, the kernel command line, this builder's format version): a changed input gives a
new directory, an unchanged one is reused without running anything heavy. A build happens in
`guest-<key>.partial/` and is renamed into place only when complete, under a lock, so a
half-built image is never used and two lab cells starting together build it once.

The markers the guest prints are the contract with whoever reads its console; they are the
`MARKER_*` constants below.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import lzma
import os
import re
import shlex
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import Failure

FORMAT_VERSION = 1
"""Bump when the builder changes what it puts in the image: it is part of the cache key."""

GUEST_DIR = Path(__file__).parent / "guest"
KERNEL_METAPACKAGE = "linux-image-amd64"
BUSYBOX_PACKAGE = "busybox-static"
AGENT_PACKAGE = "qemu-guest-agent"
AGENT_BINARY = Path("/usr/sbin/qemu-ga")
BOOTLOADER_PACKAGE = "syslinux"
DISK_MIB = 32
CMDLINE = "console=ttyS0 quiet"
"""ttyS0 is where libvirt's console log and the tests read; quiet because every byte on an
emulated UART costs time under TCG."""

MODULES: tuple[str, ...] = (
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
    "virtio_blk",
    "virtio_console",  # virtio-serial, the guest agent's channel
    "evdev",  # /dev/input/event*, where the power button is read
    "button",  # the ACPI power button
    # a config drive: an ISO on an IDE (pc machine) or SATA (q35) CD-ROM
    "scsi_mod",
    "libata",
    "ata_piix",
    "ata_generic",
    "ahci",
    "cdrom",
    "sr_mod",
    "isofs",
)
"""What the guest loads; their dependencies are added from `.modinfo`, and the order /init
loads them in is computed, so this order is only the reader's."""

OPTIONAL_MODULES = frozenset(
    {
        "virtio_pci_modern_dev",
        "virtio_pci_legacy_dev",
        "failover",
        "net_failover",
        "scsi_mod",
        "libata",
        "ata_piix",
        "ata_generic",
        "ahci",
    }
)
"""Modules other kernels split differently or build in; the rest must exist."""

MODULE_PARAMETERS: Mapping[str, str] = {
    # Scan SCSI hosts during insmod, so /dev/sr0 exists when /init looks for a config drive.
    "scsi_mod": "scan=sync",
}

GUEST_FILES: Mapping[str, tuple[str, int]] = {
    "init": ("init", 0o755),
    "udhcpc.script": ("etc/udhcpc.script", 0o755),
    "shutdown": ("sbin/shutdown", 0o755),
    "chpasswd": ("usr/sbin/chpasswd", 0o755),
    "passwd": ("etc/passwd", 0o644),
    "group": ("etc/group", 0o644),
    "shadow": ("etc/shadow", 0o600),
    "nsswitch.conf": ("etc/nsswitch.conf", 0o644),
}
"""Each text input of `harness/lab/guest/` and where it goes in the initramfs."""

MARKER_BOOTED = "MATRIX-GUEST-BOOTED"
MARKER_DHCP = "MATRIX-GUEST-DHCP"
MARKER_CONFIG_DRIVE = "MATRIX-CONFIG-DRIVE"
MARKER_AGENT = "MATRIX-GUEST-AGENT"
MARKER_POWEROFF = "MATRIX-GUEST-POWEROFF"
MARKER_REBOOT = "MATRIX-GUEST-REBOOT"
MARKER_PASSWORD = "MATRIX-GUEST-PASSWORD"
MARKER_MODULE_FAILED = "MATRIX-GUEST-MODULE-FAILED"

TOOLS: Mapping[str, str] = {
    "apt-cache": "apt",
    "apt-get": "apt",
    "dpkg": "dpkg",
    "dpkg-query": "dpkg",
    "mkfs.fat": "dosfstools",
    "mcopy": "mtools",
    "syslinux": "syslinux",
    "qemu-img": "qemu-utils",
}
"""Every command the build runs and the Debian package that has it."""

MANIFEST = "image.json"
COMMAND_TIMEOUT = 900.0
_TAIL_LINES = 15

Progress = Callable[[str], None]


class GuestImageError(Failure):
    """The guest image could not be built; the message names the command and its last words."""


@dataclass(frozen=True)
class GuestImage:
    """A built guest image: what to upload to Glance and what the guest will say it is.

    `path` is the qcow2 Nova should get (`disk_format`/`container_format`, with `properties`
    as the image's properties); `raw_path` is the same disk raw, and `kernel_path` plus
    `initrd_path` boot the same guest directly (`qemu -kernel`, or Glance AKI/ARI images).
    """

    path: Path
    disk_format: str
    container_format: str
    size: int
    sha256: str
    virtual_size: int
    raw_path: Path
    kernel_path: Path
    initrd_path: Path
    kernel_version: str
    kernel_package: str
    cmdline: str
    agent: bool
    key: str
    properties: Mapping[str, str] = field(hash=False)


@dataclass(frozen=True)
class Inputs:
    """Everything the image is made of; its `key` names the cache directory."""

    guest_files: tuple[tuple[str, str], ...]
    kernel_package: str
    kernel_package_version: str
    busybox_version: str
    agent_version: str
    bootloader_version: str
    modules: tuple[str, ...]
    module_parameters: tuple[tuple[str, str], ...]
    cmdline: str
    disk_mib: int
    format_version: int

    @property
    def key(self) -> str:
        encoded = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]


def _quiet(_: str) -> None:
    pass


def build(
    cache_dir: Path | None = None,
    progress: Progress = _quiet,
    *,
    guest_dir: Path | None = None,
) -> GuestImage:
    """Return the guest image, building it first if no complete one matches the inputs.

    `cache_dir` holds `guest-<key>/` directories (default: $MATRIX_GUEST_IMAGE_DIR as the
    image directory itself, else $XDG_CACHE_HOME or ~/.cache, under matrix-harness/).
    `guest_dir` replaces `harness/lab/guest/` (another /init, for instance).
    """
    _require_tools()
    guest = guest_dir or GUEST_DIR
    # apt's lists may be missing or older than the mirror (a superseded kernel is gone from
    # it): as root, refresh them once and start again; otherwise say how.
    may_update = os.geteuid() == 0
    try:
        inputs = _gather(guest, MODULES, may_update)
        return _build_or_reuse(inputs, cache_dir, progress, may_update)
    except _ListsOutdated:
        _apt_update(progress)
    inputs = _gather(guest, MODULES, may_update=False)
    return _build_or_reuse(inputs, cache_dir, progress, may_update=False)


def location(key: str, cache_dir: Path | None = None) -> Path:
    """Where the image of `key` lives: see `build` for the order of precedence."""
    if cache_dir is not None:
        return cache_dir / f"guest-{key}"
    if explicit := os.environ.get("MATRIX_GUEST_IMAGE_DIR"):
        return Path(explicit)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "matrix-harness" / f"guest-{key}"


def gather_inputs(guest_dir: Path = GUEST_DIR, modules: Sequence[str] = MODULES) -> Inputs:
    """Read every input of the image (cheap: apt-cache and dpkg-query, no download)."""
    return _gather(guest_dir, modules, may_update=False)


def _gather(guest_dir: Path, modules: Sequence[str], may_update: bool) -> Inputs:
    texts = []
    for name in sorted(GUEST_FILES):
        try:
            texts.append((name, (guest_dir / name).read_text()))
        except OSError as error:
            raise GuestImageError(f"guest file {guest_dir / name} unreadable: {error}") from None
    package, version = _kernel_package(may_update)
    busybox = _installed_version(BUSYBOX_PACKAGE)
    if busybox is None:
        raise GuestImageError(
            f"the guest image needs {BUSYBOX_PACKAGE}: install it (apt-get install "
            f"{BUSYBOX_PACKAGE}, or run scripts/system-packages.sh)"
        )
    bootloader = _installed_version(BOOTLOADER_PACKAGE) or ""
    agent = _installed_version(AGENT_PACKAGE) if AGENT_BINARY.is_file() else None
    return Inputs(
        guest_files=tuple(texts),
        kernel_package=package,
        kernel_package_version=version,
        busybox_version=busybox,
        agent_version=agent or "",
        bootloader_version=bootloader,
        modules=tuple(modules),
        module_parameters=tuple(sorted(MODULE_PARAMETERS.items())),
        cmdline=CMDLINE,
        disk_mib=DISK_MIB,
        format_version=FORMAT_VERSION,
    )


def load(directory: Path, key: str | None = None) -> GuestImage | None:
    """The complete image in `directory` (of `key`, if given), or None if there is none."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        if key is not None and manifest["key"] != key:
            return None
        image = GuestImage(
            path=directory / manifest["path"],
            disk_format=manifest["disk_format"],
            container_format=manifest["container_format"],
            size=int(manifest["size"]),
            sha256=manifest["sha256"],
            virtual_size=int(manifest["virtual_size"]),
            raw_path=directory / manifest["raw_path"],
            kernel_path=directory / manifest["kernel_path"],
            initrd_path=directory / manifest["initrd_path"],
            kernel_version=manifest["kernel_version"],
            kernel_package=manifest["kernel_package"],
            cmdline=manifest["cmdline"],
            agent=bool(manifest["agent"]),
            key=manifest["key"],
            properties=dict(manifest["properties"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    files = (image.raw_path, image.kernel_path, image.initrd_path)
    if not all(path.is_file() for path in files) or not image.path.is_file():
        return None
    return image if image.path.stat().st_size == image.size else None


class _ListsOutdated(Exception):
    """apt could not name or fetch the kernel, which a fresh `apt-get update` may cure."""


def _build_or_reuse(
    inputs: Inputs, cache_dir: Path | None, progress: Progress, may_update: bool
) -> GuestImage:
    key = inputs.key
    target = location(key, cache_dir)
    if image := load(target, key):
        return image
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.with_name(f"{target.name}.lock")):
        if image := load(target, key):  # built by whoever held the lock before us
            return image
        partial = target.with_name(f"{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)  # left by a build that died; we hold the lock
        partial.mkdir()
        progress(f"building the guest image in {target} (once; well under a minute)")
        try:
            _build_into(partial, inputs, progress, may_update)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if target.exists():  # a stale image at an explicit $MATRIX_GUEST_IMAGE_DIR
            old = target.with_name(f"{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        partial.rename(target)
    image = load(target, key)
    if image is None:
        raise GuestImageError(f"the guest image built in {target} cannot be read back")
    progress(f"guest image ready: {image.path} ({image.size / 2**20:.1f} MiB)")
    return image


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_into(partial: Path, inputs: Inputs, progress: Progress, may_update: bool) -> None:
    work = partial / "work"
    work.mkdir()
    deb = _download_kernel(inputs, work, progress, may_update)
    progress(f"unpacking {deb.name}")
    unpacked = work / "root"
    _run(["dpkg", "-x", str(deb), str(unpacked)], f"unpack {deb.name}")
    kernel_version, vmlinuz = _find_kernel(unpacked, inputs.kernel_package)
    module_dir = unpacked / "lib" / "modules" / kernel_version
    modules = _resolve_modules(module_dir, inputs.modules, inputs.kernel_package)
    agent_files = _agent_files(progress) if inputs.agent_version else {}
    progress(
        f"packing the initramfs ({len(modules)} modules, "
        f"{'with' if agent_files else 'without'} qemu-ga)"
    )
    initrd = _initramfs(inputs, kernel_version, modules, agent_files)
    kernel_path = partial / "vmlinuz"
    shutil.copyfile(vmlinuz, kernel_path)
    initrd_path = partial / "initrd.gz"
    initrd_path.write_bytes(initrd)
    shutil.rmtree(work)

    progress(f"making the {inputs.disk_mib} MiB FAT16 disk")
    raw = partial / "disk.raw"
    _make_disk(raw, kernel_path, initrd_path, inputs)
    qcow2 = partial / "disk.qcow2"
    _run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
        "convert the disk to qcow2",
    )
    properties = {
        "hw_disk_bus": "virtio",
        "hw_vif_model": "virtio",
        # SeaBIOS runs the FAT boot sector syslinux wrote; there is no EFI loader.
        "hw_firmware_type": "bios",
        "os_type": "linux",
    }
    if agent_files:
        properties["hw_qemu_guest_agent"] = "yes"
    manifest = {
        "key": inputs.key,
        "path": qcow2.name,
        "disk_format": "qcow2",
        "container_format": "bare",
        "size": qcow2.stat().st_size,
        "sha256": hashlib.sha256(qcow2.read_bytes()).hexdigest(),
        "virtual_size": raw.stat().st_size,
        "raw_path": raw.name,
        "kernel_path": kernel_path.name,
        "initrd_path": initrd_path.name,
        "kernel_version": kernel_version,
        "kernel_package": f"{inputs.kernel_package}={inputs.kernel_package_version}",
        "cmdline": inputs.cmdline,
        "agent": bool(agent_files),
        "properties": properties,
        "inputs": {k: v for k, v in asdict(inputs).items() if k != "guest_files"},
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


# --- apt and dpkg ------------------------------------------------------------------------


def _kernel_package(may_update: bool) -> tuple[str, str]:
    """The package `linux-image-amd64` depends on now, and its candidate version."""
    argv = ["apt-cache", "depends", KERNEL_METAPACKAGE]
    done = _call(argv, "find the current kernel")
    match = re.search(r"^\s*Depends:\s*(linux-image-\S+)", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:  # "E: No packages found": no lists yet
        if may_update:
            raise _ListsOutdated
        raise GuestImageError(_failed("find the current kernel", argv, done) + _LISTS_HINT)
    package = match.group(1)
    policy = _run(["apt-cache", "policy", package], f"find the version of {package}")
    candidate = re.search(r"^\s*Candidate:\s*(\S+)", policy, re.MULTILINE)
    if candidate is None or candidate.group(1) == "(none)":
        if may_update:
            raise _ListsOutdated
        raise GuestImageError(f"apt knows no installable version of {package}{_LISTS_HINT}")
    return package, candidate.group(1)


_LISTS_HINT = "\n(are apt's package lists missing or outdated? run `apt-get update` as root)"


def _installed_version(package: str) -> str | None:
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}\t${Version}", package],
            capture_output=True,
            text=True,
            check=False,
            env=_environment(),
        )
    except FileNotFoundError:
        raise GuestImageError("dpkg-query is missing: the guest image needs dpkg") from None
    status, _, version = done.stdout.partition("\t")
    if done.returncode != 0 or not status.endswith(" installed") or not version:
        return None
    return version.strip()


def _download_kernel(inputs: Inputs, work: Path, progress: Progress, may_update: bool) -> Path:
    spec = f"{inputs.kernel_package}={inputs.kernel_package_version}"
    progress(f"downloading {spec}")
    argv = ["apt-get", "download", "-q", spec]
    done = _call(argv, "download the kernel", cwd=work)
    if done.returncode != 0:
        if may_update:
            raise _ListsOutdated  # build() runs apt-get update and starts again, once
        raise GuestImageError(_failed("download the kernel", argv, done) + _LISTS_HINT)
    debs = sorted(work.glob(f"{inputs.kernel_package}_*.deb"))
    if not debs:
        raise GuestImageError(f"`{shlex.join(argv)}` succeeded but left no .deb in {work}")
    return debs[0]


def _apt_update(progress: Progress) -> None:
    progress("refreshing apt's package lists (apt-get update)")
    _run(["apt-get", "update", "-q"], "refresh the package lists")


# --- the kernel and its modules ----------------------------------------------------------


def _find_kernel(unpacked: Path, package: str) -> tuple[str, Path]:
    versions = sorted(p.name for p in (unpacked / "lib" / "modules").glob("*") if p.is_dir())
    if len(versions) != 1:
        raise GuestImageError(f"{package} holds {len(versions)} module trees, expected one")
    version = versions[0]
    vmlinuz = unpacked / "boot" / f"vmlinuz-{version}"
    if not vmlinuz.is_file():
        raise GuestImageError(f"{package} has no /boot/vmlinuz-{version}")
    return version, vmlinuz


def _module_name(filename: str) -> str:
    return filename.split(".ko", 1)[0].replace("-", "_")


def _resolve_modules(
    module_dir: Path, wanted: Sequence[str], package: str
) -> list[tuple[str, bytes]]:
    """The wanted modules and their dependencies, each after what it depends on."""
    index = {
        _module_name(path.name): path
        for path in sorted((module_dir / "kernel").rglob("*.ko*"))
        if re.search(r"\.ko(\.xz|\.gz|\.zst)?$", path.name)
    }
    builtin_file = module_dir / "modules.builtin"
    builtin = (
        {_module_name(Path(line).name) for line in builtin_file.read_text().split()}
        if builtin_file.is_file()
        else set()
    )
    ordered: list[tuple[str, bytes]] = []
    seen: set[str] = set()

    def visit(name: str, needed_by: str | None) -> None:
        name = name.replace("-", "_")
        if name in seen or name in builtin:
            return
        seen.add(name)
        path = index.get(name)
        if path is None:
            if needed_by is None and name in OPTIONAL_MODULES:
                return
            why = f" (needed by {needed_by})" if needed_by else ""
            raise GuestImageError(
                f"kernel module {name}{why} not found in {package} "
                f"(looked under lib/modules/{module_dir.name}/kernel/)"
            )
        data = _decompress_module(path)
        for depends in _modinfo(data, path.name).get("depends", []):
            for dependency in filter(None, depends.split(",")):
                visit(dependency, name)
        ordered.append((name, data))

    for name in wanted:
        visit(name, None)
    return ordered


def _decompress_module(path: Path) -> bytes:
    data = path.read_bytes()
    try:
        if path.name.endswith(".xz"):
            return lzma.decompress(data)
        if path.name.endswith(".gz"):
            return gzip.decompress(data)
    except (lzma.LZMAError, OSError, EOFError) as error:
        raise GuestImageError(f"kernel module {path.name} does not decompress: {error}") from None
    if path.name.endswith(".zst"):
        if shutil.which("zstd") is None:
            raise GuestImageError(f"kernel module {path.name} is zstd-compressed: install zstd")
        done = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            raise GuestImageError(f"`zstd -dc {path}` failed: {_tail(done.stderr.decode())}")
        return done.stdout
    return data


def _modinfo(data: bytes, what: str) -> dict[str, list[str]]:
    """The key=value pairs of an ELF64 module's .modinfo section (what `modinfo -F` reads)."""
    section = _elf_section(data, ".modinfo", what)
    info: dict[str, list[str]] = {}
    for entry in section.split(b"\0"):
        key, sep, value = entry.decode(errors="replace").partition("=")
        if sep:
            info.setdefault(key, []).append(value)
    return info


def _elf_section(data: bytes, wanted: str, what: str) -> bytes:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise GuestImageError(f"{what} is not a 64-bit little-endian ELF module")
    try:
        (section_offset,) = struct.unpack_from("<Q", data, 0x28)
        entry_size, count, names_index = struct.unpack_from("<HHH", data, 0x3A)

        def header(index: int) -> tuple[int, ...]:
            return struct.unpack_from("<IIQQQQIIQQ", data, section_offset + index * entry_size)

        names_offset = header(names_index)[4]
        for index in range(count):
            fields = header(index)
            start = names_offset + fields[0]
            name = data[start : data.index(b"\0", start)].decode()
            if name == wanted:
                return data[fields[4] : fields[4] + fields[5]]
    except (struct.error, ValueError, UnicodeDecodeError) as error:
        raise GuestImageError(f"{what}: unreadable ELF section table ({error})") from None
    raise GuestImageError(f"{what} has no {wanted} section")


# --- the guest agent ---------------------------------------------------------------------


def _agent_files(progress: Progress) -> dict[str, Path]:
    """qemu-ga and every shared library it loads (dynamic loader included), by image path."""
    if shutil.which("ldd") is None:
        progress("leaving qemu-ga out: ldd (libc-bin) is missing to find its libraries")
        return {}
    done = _call(["ldd", str(AGENT_BINARY)], "list qemu-ga's libraries")
    if done.returncode != 0:
        progress(f"leaving qemu-ga out: `ldd {AGENT_BINARY}` failed: {_tail(done.stderr)}")
        return {}
    files = {str(AGENT_BINARY).lstrip("/"): AGENT_BINARY}
    for line in done.stdout.splitlines():
        if "=>" in line:
            target = line.split("=>", 1)[1].split()
            if not target or target[0] == "not":
                progress(f"leaving qemu-ga out: a library is missing ({line.strip()})")
                return {}
            path = target[0]
        else:
            path = line.split()[0] if line.split() else ""
        if path.startswith("/"):
            files[path.lstrip("/")] = Path(path)
    return files


# --- the initramfs -----------------------------------------------------------------------


class _Cpio:
    """A newc ("070701") archive as the kernel unpacks it: parents before children."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._inode = 0
        self.names: set[str] = set()

    def _entry(
        self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
    ) -> None:
        self._inode += 1
        encoded = name.encode() + b"\0"
        # inode, mode, uid, gid, nlink, mtime, size, dev major/minor, rdev major/minor,
        # name size, checksum
        fields = (self._inode, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(encoded), 0)
        self._out += b"070701" + "".join(f"{value:08X}" for value in fields).encode()
        self._out += encoded + b"\0" * (-(110 + len(encoded)) % 4)
        self._out += data + b"\0" * (-len(data) % 4)

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            self.directory("/".join(parts[:depth]))

    def directory(self, name: str, permissions: int = 0o755) -> None:
        if name in self.names:
            return
        self._parents(name)
        self.names.add(name)
        self._entry(name, 0o040000 | permissions)

    def file(self, name: str, data: bytes, permissions: int = 0o644) -> None:
        self._parents(name)
        self.names.add(name)
        self._entry(name, 0o100000 | permissions, data)

    def symlink(self, name: str, target: str) -> None:
        self._parents(name)
        self.names.add(name)
        self._entry(name, 0o120777, target.encode())

    def char_device(self, name: str, major: int, minor: int, permissions: int) -> None:
        self._parents(name)
        self.names.add(name)
        self._entry(name, 0o020000 | permissions, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return bytes(self._out)


def _initramfs(
    inputs: Inputs,
    kernel_version: str,
    modules: Sequence[tuple[str, bytes]],
    agent_files: Mapping[str, Path],
) -> bytes:
    cpio = _Cpio()
    for name in ("proc", "sys", "dev", "run", "root", "etc", "mnt/config", "lib/modules"):
        cpio.directory(name)
    cpio.directory("tmp", 0o1777)
    cpio.symlink("var/run", "../run")
    # Open before devtmpfs is mounted: the kernel gives /init its stdio from /dev/console.
    cpio.char_device("dev/console", 5, 1, 0o600)
    cpio.char_device("dev/null", 1, 3, 0o666)
    texts = dict(inputs.guest_files)
    for source, (destination, permissions) in GUEST_FILES.items():
        cpio.file(destination, texts[source].encode(), permissions)
    lines = []
    for name, data in modules:
        cpio.file(f"lib/modules/{name}.ko", data)
        lines.append(f"{name} {MODULE_PARAMETERS.get(name, '')}".rstrip())
    cpio.file("etc/modules", ("\n".join(lines) + "\n").encode())
    cpio.file("etc/matrix-guest", f"key={inputs.key}\nkernel={kernel_version}\n".encode())
    busybox = _busybox_path()
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    applets = _run([str(busybox), "--list-full"], "list busybox's applets").split()
    for applet in applets:
        if applet not in cpio.names and applet not in ("linuxrc", "bin/busybox"):
            cpio.symlink(applet, "/bin/busybox")
    for name, path in sorted(agent_files.items()):
        cpio.file(name, path.resolve().read_bytes(), 0o755)
    return gzip.compress(cpio.finish(), compresslevel=9, mtime=0)


def _busybox_path() -> Path:
    listing = _run(["dpkg-query", "-L", BUSYBOX_PACKAGE], f"list {BUSYBOX_PACKAGE}'s files")
    for line in listing.splitlines():
        if line.endswith("/bin/busybox") and Path(line).is_file():
            return Path(line)
    raise GuestImageError(f"{BUSYBOX_PACKAGE} is installed but has no bin/busybox")


# --- the disk ----------------------------------------------------------------------------


def _make_disk(raw: Path, kernel: Path, initrd: Path, inputs: Inputs) -> None:
    needed = kernel.stat().st_size + initrd.stat().st_size + 512 * 1024
    if needed > inputs.disk_mib * 2**20 * 0.97:
        raise GuestImageError(
            f"kernel ({kernel.stat().st_size} bytes) and initramfs ({initrd.stat().st_size} "
            f"bytes) do not fit on the {inputs.disk_mib} MiB disk"
        )
    config = raw.with_name("syslinux.cfg")
    config.write_text(
        "DEFAULT matrix\nPROMPT 0\nTIMEOUT 0\n"
        f"LABEL matrix\n  KERNEL vmlinuz\n  INITRD initrd.gz\n  APPEND {inputs.cmdline}\n"
    )
    size_kib = str(inputs.disk_mib * 1024)
    mkfs = ["mkfs.fat", "-C", "-F", "16", "-n", "MATRIXGUEST", "-i", inputs.key[:8]]
    _run([*mkfs, str(raw), size_kib], "make the FAT16 file system")
    _run(
        ["mcopy", "-i", str(raw), str(kernel), str(initrd), str(config), "::/"],
        "copy the kernel and initramfs onto the disk",
    )
    config.unlink()
    _run(["syslinux", "--install", str(raw)], "install syslinux on the disk")


# --- running commands --------------------------------------------------------------------


def _require_tools() -> None:
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise GuestImageError(
            f"the guest image needs the Debian packages {' '.join(missing)}: install them "
            f"(apt-get install {' '.join(missing)}, or run scripts/system-packages.sh)"
        )


def _environment() -> dict[str, str]:
    # C locale for output we parse; mtools must not refuse a disk without a partition table.
    return {**os.environ, "LC_ALL": "C", "MTOOLS_SKIP_CHECK": "1"}


def _call(
    argv: Sequence[str], what: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv),
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            env=_environment(),
            timeout=COMMAND_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        package = TOOLS.get(Path(argv[0]).name, "")
        hint = f" (Debian package {package})" if package else ""
        raise GuestImageError(f"{what}: {argv[0]} is not installed{hint}") from None
    except subprocess.TimeoutExpired:
        raise GuestImageError(
            f"{what}: `{shlex.join(argv)}` did not finish in {COMMAND_TIMEOUT:.0f} s"
        ) from None


def _run(argv: Sequence[str], what: str, cwd: Path | None = None) -> str:
    done = _call(argv, what, cwd)
    if done.returncode != 0:
        raise GuestImageError(_failed(what, argv, done))
    return done.stdout


def _failed(what: str, argv: Sequence[str], done: subprocess.CompletedProcess[str]) -> str:
    return (
        f"could not {what}: `{shlex.join(argv)}` exited with {done.returncode}\n"
        f"{_tail(done.stderr or done.stdout)}"
    )


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-_TAIL_LINES:]) or "(no output)"
