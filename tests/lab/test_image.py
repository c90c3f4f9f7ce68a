"""The lab's guest image, built from Debian packages and booted under real QEMU (TCG).

No mocks: the image is built once for this module into a temporary cache, then booted the
way a lab cell's libvirt would (virtio disk and NIC, the agent's virtio-serial channel, a
config drive on an IDE or SATA CD-ROM), and everything is judged by the marker lines the
guest prints on its serial console, by QMP and by the guest agent's answers. Timings are
printed, never asserted: this machine is shared.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import json
import lzma
import re
import shutil
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.errors import Failure
from harness.lab import image
from harness.lab.image import GuestImage, GuestImageError

BOOT_TIMEOUT = 120.0
POWEROFF_TIMEOUT = 60.0


@dataclass(frozen=True)
class Built:
    image: GuestImage
    cache: Path
    seconds: float
    messages: list[str]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    cache = tmp_path_factory.mktemp("guest-cache")
    messages: list[str] = []
    started = time.monotonic()
    guest = image.build(cache, messages.append)
    seconds = time.monotonic() - started
    print(
        f"\nguest image built in {seconds:.1f} s: {guest.path.name} {guest.size / 2**20:.1f} MiB"
        f" (raw {guest.virtual_size // 2**20} MiB, initramfs "
        f"{guest.initrd_path.stat().st_size / 2**20:.1f} MiB), kernel {guest.kernel_version}, "
        f"agent {'yes' if guest.agent else 'no'}"
    )
    return Built(guest, cache, seconds, messages)


class Guest:
    """One QEMU process booting the image, its serial log, QMP and guest-agent sockets."""

    def __init__(
        self,
        built: Built,
        workdir: Path,
        *,
        machine: str = "pc",
        cdrom: Path | None = None,
    ) -> None:
        self.log = workdir / "serial.log"
        self.qmp_path = workdir / "qmp.sock"
        self.agent_path = workdir / "agent.sock"
        argv = [
            "qemu-system-x86_64",
            "-machine", f"{machine},accel=tcg",
            "-m", "128",
            "-nographic", "-monitor", "none",
            "-serial", f"file:{self.log}",
            # snapshot=on: the cached image is never written, as Nova's backing file is not
            "-drive", f"file={built.image.path},format=qcow2,if=virtio,snapshot=on",
            "-netdev", "user,id=n0",
            "-device", "virtio-net-pci,netdev=n0",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=ga0,path={self.agent_path},server=on,wait=off",
            "-device", "virtserialport,chardev=ga0,name=org.qemu.guest_agent.0",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-no-reboot",
        ]  # fmt: skip
        if cdrom is not None and machine == "q35":  # no IDE on q35: its AHCI (SATA) bus
            argv += ["-drive", f"file={cdrom},format=raw,media=cdrom,if=none,id=cd0"]
            argv += ["-device", "ide-cd,drive=cd0,bus=ide.1"]
        elif cdrom is not None:
            argv += ["-drive", f"file={cdrom},format=raw,media=cdrom,if=ide"]
        self.started = time.monotonic()
        self.qemu_output = workdir / "qemu.out"
        with self.qemu_output.open("wb") as output:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
        self._qmp: _JsonLines | None = None
        self._agent: _JsonLines | None = None
        self._ids = itertools.count(int(time.time()) % 100000)

    def close(self) -> None:
        for channel in (self._qmp, self._agent):
            if channel is not None:
                channel.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def describe(self) -> str:
        qemu = self.qemu_output.read_text(errors="replace").strip()
        serial = "\n".join(self.output().splitlines()[-40:])
        return f"QEMU exit {self.process.poll()} {qemu}\n--- serial console (tail) ---\n{serial}"

    def wait_for(self, pattern: str, timeout: float = BOOT_TIMEOUT) -> tuple[re.Match[str], float]:
        """The first line matching `pattern`, and seconds since QEMU started."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern, re.MULTILINE)
        while True:
            if match := compiled.search(self.output()):
                return match, time.monotonic() - self.started
            if self.process.poll() is not None:
                raise AssertionError(f"QEMU exited before {pattern!r}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in {timeout:.0f} s\n{self.describe()}")
            time.sleep(0.2)

    def wait_exit(self, timeout: float = POWEROFF_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"QEMU still running {timeout:.0f} s after the shutdown\n{self.describe()}"
            ) from None

    def qmp(self, command: str) -> Any:
        if self._qmp is None:
            self._qmp = _JsonLines(self.qmp_path)
            self._qmp.read(lambda message: "QMP" in message)
            self._qmp.send({"execute": "qmp_capabilities"})
            self._qmp.read(_answer)
        self._qmp.send({"execute": command})
        reply = self._qmp.read(_answer)
        assert "error" not in reply, reply
        return reply["return"]

    def agent(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """One guest-agent command's answer, after a guest-sync (the agent may be starting)."""
        channel = self._agent_channel()
        request: dict[str, Any] = {"execute": command}
        if arguments is not None:
            request["arguments"] = arguments
        channel.send(request)
        reply = channel.read(_answer)
        assert "error" not in reply, reply
        return reply["return"]

    def agent_send(self, command: str, arguments: dict[str, Any]) -> None:
        """A command that does not answer on success (guest-shutdown)."""
        self._agent_channel().send({"execute": command, "arguments": arguments})

    def _agent_channel(self) -> _JsonLines:
        if self._agent is not None:
            return self._agent
        channel = _JsonLines(self.agent_path)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            token = next(self._ids)
            channel.send({"execute": "guest-sync", "arguments": {"id": token}})
            try:
                channel.read(functools.partial(_synced, token), timeout=3)
            except TimeoutError:
                continue
            self._agent = channel
            return channel
        channel.close()
        raise AssertionError(f"the guest agent never answered guest-sync\n{self.describe()}")


class _JsonLines:
    """A QMP or guest-agent socket: JSON objects out, JSON lines in (events are skipped)."""

    def __init__(self, path: Path) -> None:
        deadline = time.monotonic() + 30
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, message: dict[str, Any], newline: bool = True) -> None:
        self.sock.sendall(json.dumps(message).encode() + (b"\n" if newline else b""))

    def read(self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> Any:
        """The next JSON line for which `wanted` is true; TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                try:  # 0xff: the agent's resync byte
                    message = json.loads(line.replace(b"\xff", b"").decode(errors="replace"))
                except ValueError:
                    continue
                if isinstance(message, dict) and wanted(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)  # socket.timeout is TimeoutError
            if not chunk:
                raise AssertionError("the socket closed")
            self._buffer += chunk


def _synced(token: int, message: dict[str, Any]) -> bool:
    return bool(message.get("return") == token)


def _answer(message: dict[str, Any]) -> bool:
    return "return" in message or "error" in message


@pytest.fixture
def guest_factory(built: Built, tmp_path: Path) -> Iterator[Callable[..., Guest]]:
    guests: list[Guest] = []

    def start(**options: Any) -> Guest:
        workdir = tmp_path / f"guest{len(guests)}"
        workdir.mkdir()
        guest = Guest(built, workdir, **options)
        guests.append(guest)
        return guest

    try:
        yield start
    finally:
        for guest in guests:
            guest.close()


def _config_drive(directory: Path, instance: str) -> Path:
    latest = directory / "drive" / "openstack" / "latest"
    latest.mkdir(parents=True)
    meta = {"uuid": instance, "hostname": "matrix-test", "name": "t", "launch_index": 0}
    (latest / "meta_data.json").write_text(json.dumps(meta))
    iso = directory / "config.iso"
    genisoimage = ["genisoimage", "-quiet", "-V", "config-2", "-r", "-J", "-o", str(iso)]
    subprocess.run([*genisoimage, str(latest.parent.parent)], check=True)
    return iso


def test_the_image_is_what_its_description_says(built: Built) -> None:
    guest = built.image
    assert guest.disk_format == "qcow2" and guest.container_format == "bare"
    assert guest.path.stat().st_size == guest.size
    assert hashlib.sha256(guest.path.read_bytes()).hexdigest() == guest.sha256
    assert guest.raw_path.stat().st_size == guest.virtual_size == 32 * 2**20
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(guest.path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert info["virtual-size"] == guest.virtual_size
    assert guest.properties["hw_disk_bus"] == "virtio"
    assert guest.properties["hw_vif_model"] == "virtio"
    assert guest.properties["os_type"] == "linux"
    assert guest.properties.get("hw_qemu_guest_agent") == ("yes" if guest.agent else None)
    assert guest.path.parent.name == f"guest-{guest.key}"
    assert not list(built.cache.glob("*.partial"))
    assert any("building" in message for message in built.messages)


def test_boots_takes_a_lease_and_powers_off_on_the_acpi_button(
    built: Built, guest_factory: Callable[..., Guest]
) -> None:
    guest = guest_factory()
    booted, boot_seconds = guest.wait_for(rf"^{image.MARKER_BOOTED} (\S+)")
    assert booted.group(1) == built.image.kernel_version
    lease, lease_seconds = guest.wait_for(rf"^{image.MARKER_DHCP} (\S+) eth0")
    assert lease.group(1) == "10.0.2.15"  # QEMU user networking's first lease
    guest.wait_for(rf"^{image.MARKER_CONFIG_DRIVE} none")
    agent, _ = guest.wait_for(rf"^{image.MARKER_AGENT} (\S+)")
    assert agent.group(1) == ("started" if built.image.agent else "absent")
    assert image.MARKER_MODULE_FAILED not in guest.output()
    print(
        f"\nboot to {image.MARKER_BOOTED}: {boot_seconds:.1f} s, to the lease {lease_seconds:.1f} s"
    )

    if built.image.agent:
        started = time.monotonic()
        assert guest.agent("guest-ping") == {}
        print(f"guest-ping answered {time.monotonic() - started:.1f} s after the marker")
        # What Nova's set-admin-password becomes: libvirt's guest-set-user-password.
        password = base64.b64encode(b"matrix-S3cret!").decode()
        arguments = {"username": "root", "password": password, "crypted": False}
        assert guest.agent("guest-set-user-password", arguments) == {}
        guest.wait_for(rf"^{image.MARKER_PASSWORD} root", timeout=30)
        handle = guest.agent("guest-file-open", {"path": "/etc/shadow"})
        shadow = base64.b64decode(guest.agent("guest-file-read", {"handle": handle})["buf-b64"])
        guest.agent("guest-file-close", {"handle": handle})
        assert shadow.decode().startswith("root:$6$")

    pressed = time.monotonic()
    guest.qmp("system_powerdown")
    assert guest.wait_exit() == 0
    print(f"ACPI power button to QEMU's exit: {time.monotonic() - pressed:.1f} s")
    assert re.search(rf"^{image.MARKER_POWEROFF}", guest.output(), re.MULTILINE)


@pytest.mark.parametrize(("machine", "bus"), [("pc", "ide"), ("q35", "sata")])
def test_reads_the_config_drive_and_stops_through_the_agent(
    built: Built, guest_factory: Callable[..., Guest], tmp_path: Path, machine: str, bus: str
) -> None:
    instance = str(uuid.uuid4())
    guest = guest_factory(machine=machine, cdrom=_config_drive(tmp_path, instance))
    drive, seconds = guest.wait_for(rf"^{image.MARKER_CONFIG_DRIVE} (\S+)")
    assert drive.group(1) == instance
    print(f"\nconfig drive on {machine}/{bus} read {seconds:.1f} s after QEMU started")
    guest.wait_for(rf"^{image.MARKER_DHCP} ")

    asked = time.monotonic()
    if built.image.agent:  # libvirt's virDomainShutdown prefers the agent when there is one
        assert guest.agent("guest-ping") == {}
        guest.agent_send("guest-shutdown", {"mode": "powerdown"})
    else:
        guest.qmp("system_powerdown")
    assert guest.wait_exit() == 0
    print(f"shutdown to QEMU's exit: {time.monotonic() - asked:.1f} s")
    assert re.search(rf"^{image.MARKER_POWEROFF}", guest.output(), re.MULTILINE)


def test_a_second_build_reuses_the_cache_and_inputs_make_the_key(
    built: Built, tmp_path: Path
) -> None:
    manifest = built.image.path.parent / image.MANIFEST
    before = manifest.stat().st_mtime_ns, built.image.path.stat().st_mtime_ns
    messages: list[str] = []
    started = time.monotonic()
    again = image.build(built.cache, messages.append)
    print(f"\ncached build() answered in {time.monotonic() - started:.2f} s")
    assert again == built.image
    assert messages == []
    assert (manifest.stat().st_mtime_ns, again.path.stat().st_mtime_ns) == before

    inputs = image.gather_inputs()
    assert inputs.key == built.image.key
    changed = tmp_path / "guest"
    shutil.copytree(image.GUEST_DIR, changed)
    with (changed / "init").open("a") as init:
        init.write("# another /init\n")
    other = image.gather_inputs(changed)
    assert other.key != inputs.key
    assert image.location(other.key, built.cache) != built.image.path.parent
    assert image.gather_inputs(modules=(*image.MODULES, "vfat")).key != inputs.key
    assert image.load(image.location(other.key, built.cache)) is None


def test_the_cache_location_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MATRIX_GUEST_IMAGE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert image.location("k") == tmp_path / "xdg" / "matrix-harness" / "guest-k"
    monkeypatch.setenv("MATRIX_GUEST_IMAGE_DIR", str(tmp_path / "mine"))
    assert image.location("k") == tmp_path / "mine"
    assert image.location("k", tmp_path / "arg") == tmp_path / "arg" / "guest-k"


def _elf_module(modinfo: dict[str, str]) -> bytes:
    """The smallest ELF64 a module reader accepts: a .modinfo and the section-name table."""
    info = b"".join(f"{key}={value}".encode() + b"\0" for key, value in modinfo.items())
    names = b"\0.modinfo\0.shstrtab\0"
    info_offset = 64
    names_offset = info_offset + len(info)
    table_offset = names_offset + len(names)
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, table_offset, 0, 64, 0, 0, 64, 3, 2)
    sections = b"\0" * 64
    sections += struct.pack("<IIQQQQIIQQ", 1, 1, 0, 0, info_offset, len(info), 0, 0, 1, 0)
    sections += struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, names_offset, len(names), 0, 0, 1, 0)
    return header + info + names + sections


def test_modules_come_in_dependency_order_and_a_missing_one_is_named(tmp_path: Path) -> None:
    kernel = tmp_path / "6.1.0-test" / "kernel" / "drivers"
    kernel.mkdir(parents=True)
    (kernel / "leaf.ko").write_bytes(_elf_module({"depends": "", "name": "leaf"}))
    (kernel / "mid-dle.ko.xz").write_bytes(lzma.compress(_elf_module({"depends": "leaf"})))
    (kernel / "top.ko").write_bytes(_elf_module({"depends": "mid_dle,leaf"}))
    (kernel / "needy.ko").write_bytes(_elf_module({"depends": "absent_dep"}))
    (tmp_path / "6.1.0-test" / "modules.builtin").write_text("kernel/drivers/inside.ko\n")
    module_dir = tmp_path / "6.1.0-test"

    ordered = image._resolve_modules(module_dir, ["top", "inside", "ahci"], "linux-image-test")
    assert [name for name, _ in ordered] == ["leaf", "mid_dle", "top"]
    assert ordered[1][1].startswith(b"\x7fELF")  # decompressed from .ko.xz

    with pytest.raises(GuestImageError, match=r"kernel module absent_dep \(needed by needy\)"):
        image._resolve_modules(module_dir, ["needy"], "linux-image-test")
    with pytest.raises(GuestImageError, match=r"kernel module virtio_net not found"):
        image._resolve_modules(module_dir, ["virtio_net"], "linux-image-test")


def test_a_failing_command_is_reported_with_its_stderr(tmp_path: Path) -> None:
    with pytest.raises(GuestImageError) as raised:
        image._run(["sh", "-c", "echo first >&2; echo last words >&2; exit 3"], "do a thing")
    message = str(raised.value)
    assert "could not do a thing" in message and "exited with 3" in message
    assert "sh -c" in message and "last words" in message
    assert isinstance(raised.value, Failure)
    with pytest.raises(
        GuestImageError, match=r"qemu-img is not installed \(Debian package qemu-utils\)"
    ):
        image._run([str(tmp_path / "qemu-img")], "convert")
    empty = tmp_path / "guest"
    empty.mkdir()
    with pytest.raises(GuestImageError, match=r"guest file .*/guest/\w+ unreadable"):
        image.gather_inputs(empty)


def test_without_package_lists_it_says_to_run_apt_get_update(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lists = tmp_path / "lists"
    (lists / "partial").mkdir(parents=True)
    config = tmp_path / "apt.conf"
    config.write_text(
        f'Dir::State::Lists "{lists}";\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
    )
    monkeypatch.setenv("APT_CONFIG", str(config))  # apt as on a machine never updated
    with pytest.raises(GuestImageError) as raised:
        image.gather_inputs()
    message = str(raised.value)
    assert "apt-cache depends linux-image-amd64" in message
    assert "No packages found" in message and "apt-get update" in message
