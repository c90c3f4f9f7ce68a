"""Private libvirt hosts and the lab bridge, against real libvirtd, QEMU (TCG) and dnsmasq.

No mocks: each test starts what it needs under tmp_path and takes it down in a `finally`,
then checks independently (ps, /proc/*/mountinfo, ip link) that nothing is left.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.lab import hypervisor, shared_storage
from harness.lab.bridge import INNER_BRIDGE, INNER_UPLINK, BridgeError, LabBridge, stable_mac
from harness.lab.hypervisor import HypervisorError, LibvirtHost

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("libvirtd") is None or shutil.which("dnsmasq") is None,
    reason="needs root, libvirt-daemon-system, qemu-system-x86 and dnsmasq-base",
)

SYSTEM_SOCKET = Path("/run/libvirt/libvirt-sock")


def tiny_domain(name: str, serial: Path, extra: str = "", boot: str = "") -> str:
    """A TCG guest with no disk: firmware only, 64 MiB, serial console to a file."""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type>{boot}</os>
  <devices>
    <serial type='file'><source path='{serial}'/></serial>
    <memballoon model='none'/>
    {extra}
  </devices>
</domain>
"""


def create_domain(host: LibvirtHost, xml: str, *, persistent: bool = False) -> None:
    path = host.root.parent / f"{secrets.token_hex(4)}.xml"
    path.write_text(xml)
    if persistent:
        hypervisor.virsh(host, "define", str(path))
    else:
        hypervisor.virsh(host, "create", str(path))


def domains(host: LibvirtHost) -> list[str]:
    return sorted(hypervisor.virsh(host, "list", "--all", "--name").stdout.split())


def start_host(tmp_path: Path, label: str, **kwargs: str) -> LibvirtHost:
    name = f"mlab-{label}-{secrets.token_hex(2)}"
    host = hypervisor.start(tmp_path / "libvirt" / label, name, **kwargs)  # type: ignore[arg-type]
    print(f"\nlibvirtd of {name} answered in {host.ready_seconds:.2f} s")
    return host


def assert_nothing_left(root: Path) -> None:
    """Checks that do not use the module's own `leftovers`."""
    ps = subprocess.run(["ps", "-ww", "-eo", "args="], capture_output=True, text=True, check=True)
    lines = [line for line in ps.stdout.splitlines() if str(root) in line]
    assert lines == [], f"processes naming {root}: {lines}"
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            text = mountinfo.read_text()
        except OSError:
            continue  # the process ended meanwhile
        assert str(root) not in text, f"{mountinfo} still shows a mount of {root}"
    sockets = [p for p in root.rglob("*") if p.is_socket()]
    assert sockets == [], f"socket files left: {sockets}"


def test_a_host_has_its_own_name_and_uuid_and_leaves_the_system_libvirt_alone(
    tmp_path: Path,
) -> None:
    system_socket_before = SYSTEM_SOCKET.exists()
    system_run_before = SYSTEM_SOCKET.parent.exists()
    host_uuid = "5d1b6c4e-8f0a-4b7e-9c2d-1a3b5c7d9e0f"
    host = start_host(tmp_path, "ident", host_uuid=host_uuid)
    try:
        started = time.monotonic()
        capabilities = hypervisor.virsh(host, "capabilities").stdout
        print(f"first virsh capabilities took {time.monotonic() - started:.2f} s")
        assert f"<uuid>{host_uuid}</uuid>" in capabilities
        hostname = hypervisor.virsh(host, "hostname").stdout.strip()
        assert hostname == host.name != socket.gethostname()
        assert host.uri == f"qemu+unix:///system?socket={host.root}/sock/libvirt-sock"
        assert host.socket.is_socket() and host.instances_path.is_dir()
        assert set(host.pids) == {"holder", "virtlogd", "libvirtd"}
        for process in host.processes:
            assert process.running() and hypervisor.mentions(process.cmdline, host.root)
        assert LibvirtHost.load(host.root) == host  # what `lab down` in another process sees
        assert SYSTEM_SOCKET.exists() == system_socket_before
    finally:
        hypervisor.stop(host)
    assert hypervisor.leftovers(host) == []
    assert_nothing_left(host.root)
    assert SYSTEM_SOCKET.exists() == system_socket_before
    assert SYSTEM_SOCKET.parent.exists() == system_run_before


def test_a_guest_runs_and_stop_leaves_no_process_socket_or_mount(tmp_path: Path) -> None:
    host = start_host(tmp_path, "guest")
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        serial = tmp_path / "serial.log"
        create_domain(host, tiny_domain("tiny", serial))
        assert hypervisor.virsh(host, "domstate", "tiny").stdout.strip() == "running"
        qemu = [line for line in hypervisor.leftovers(host) if "qemu-system" in line]
        assert qemu, "the guest's QEMU runs in the host's namespace"
        # a pid file naming an unrelated process must not get it killed
        (host.run_dir / "qemu" / "bogus.pid").write_text(f"{bystander.pid}\n")
        time.sleep(2)
        assert hypervisor.virsh(host, "domstate", "tiny").stdout.strip() == "running"
        started = time.monotonic()
        hypervisor.stop(LibvirtHost.load(host.root))  # as `matrix lab down` would
        print(f"stop with a running guest took {time.monotonic() - started:.2f} s")
    finally:
        hypervisor.stop(host)
        alive = bystander.poll() is None
        bystander.kill()
        bystander.wait()
    assert alive, "stop signalled a process it did not start"
    assert hypervisor.leftovers(host) == []
    assert_nothing_left(host.root)


def test_two_hosts_coexist_and_each_sees_only_its_own_domains(tmp_path: Path) -> None:
    first = start_host(tmp_path, "one")
    try:
        second = start_host(tmp_path, "two")
        try:
            assert first.name != second.name and first.host_uuid != second.host_uuid
            disk = tmp_path / "one.qcow2"
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True
            )
            with_disk = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                         f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>")  # fmt: skip
            one = tiny_domain("only-on-one", tmp_path / "one.log", extra=with_disk)
            create_domain(first, one, persistent=True)
            create_domain(second, tiny_domain("only-on-two", tmp_path / "two.log"))
            hypervisor.virsh(first, "start", "only-on-one")
            hypervisor.virsh(first, "snapshot-create-as", "only-on-one", "snap1")
            hypervisor.virsh(first, "managedsave", "only-on-one")
            assert domains(first) == ["only-on-one"]
            assert domains(second) == ["only-on-two"]
            assert hypervisor.virsh(first, "hostname").stdout.strip() == first.name
            assert hypervisor.virsh(second, "hostname").stdout.strip() == second.name
            assert first.host_uuid in hypervisor.virsh(first, "capabilities").stdout
            assert second.host_uuid in hypervisor.virsh(second, "capabilities").stdout
        finally:
            hypervisor.stop(second)
        assert_nothing_left(second.root)
        assert domains(first) == ["only-on-one"]  # stopping one host left the other alone
    finally:
        hypervisor.stop(first)  # also undefines the persistent domain
    assert_nothing_left(first.root)
    # stop undefined the persistent domain with its snapshot and managed save
    assert not list((first.root / "etc" / "qemu").glob("*.xml"))
    assert not list((first.root / "lib" / "qemu").glob("save/*"))
    assert not list((first.root / "lib" / "qemu").glob("snapshot/*/*"))


def test_detect_virt_type_says_kvm_or_qemu_and_leaves_no_domain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = start_host(tmp_path, "virt")
    try:
        started = time.monotonic()
        probe = hypervisor.probe_virt_type(host)
        print(
            f"virt_type here: {probe.virt_type} ({probe.reason}), {time.monotonic() - started:.1f} s"
        )
        assert probe.virt_type in ("kvm", "qemu")
        assert hypervisor.detect_virt_type(host) == probe.virt_type
        if not Path("/dev/kvm").exists():
            assert probe.virt_type == "qemu"
        else:  # what booting alone says, without the PVM check (the throwaway domain path)
            monkeypatch.setattr(hypervisor, "_SYS_MODULES", tmp_path / "no-modules")
            booted = hypervisor.probe_virt_type(host)
            print(f"a firmware-only KVM boot alone would say: {booted.virt_type} ({booted.reason})")
            assert booted.virt_type in ("kvm", "qemu")
        assert domains(host) == []
        assert not list(host.root.glob("mlab-kvm-probe-*"))
    finally:
        hypervisor.stop(host)
    assert_nothing_left(host.root)


def test_bad_arguments_are_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(HypervisorError, match="not a valid host name"):
        hypervisor.start(tmp_path / "h", "not_a_hostname")
    with pytest.raises(HypervisorError, match="too long for libvirt's sockets"):
        hypervisor.start(tmp_path / ("x" * 100), "mlab-long")
    with pytest.raises(HypervisorError, match="is under /etc/libvirt"):
        hypervisor.start(Path("/etc/libvirt/mlab-nope"), "mlab-nope")
    with pytest.raises(HypervisorError, match="not a UUID"):
        hypervisor.start(tmp_path / "h", "mlab-uuid", host_uuid="nope")
    with pytest.raises(HypervisorError, match="no libvirt host was started"):
        LibvirtHost.load(tmp_path / "nothing")
    assert not Path("/etc/libvirt/mlab-nope").exists()


def test_a_start_that_times_out_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "libvirt" / "slow"
    with pytest.raises(HypervisorError, match="did not start") as raised:
        hypervisor.start(root, f"mlab-slow-{secrets.token_hex(2)}", timeout=0.05)
    assert "libvirtd.log" in str(raised.value)
    assert hypervisor.leftovers(LibvirtHost.load(root)) == []
    assert_nothing_left(root.resolve())


def test_a_host_whose_daemons_were_killed_still_stops_clean(tmp_path: Path) -> None:
    """libvirtd and the holder die with a guest running: stop still finds and ends its QEMU."""
    host = start_host(tmp_path, "crash")
    try:
        create_domain(host, tiny_domain("orphan", tmp_path / "orphan.log"))
        for role in ("libvirtd", "holder"):
            recorded = host.process(role)
            assert recorded is not None and recorded.running()
            os.kill(recorded.pid, signal.SIGKILL)
        time.sleep(0.5)
        assert any("qemu-system" in line for line in hypervisor.leftovers(host))
    finally:
        hypervisor.stop(LibvirtHost.load(host.root))
    assert hypervisor.leftovers(host) == []
    assert_nothing_left(host.root)


def free_subnet() -> str:
    """A 10.213.x.0/24 that nothing on this machine uses."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for third in range(200, 250):
        if f"10.213.{third}." not in used:
            return f"10.213.{third}.0/24"
    raise AssertionError("no free 10.213.x.0/24")


def links() -> list[str]:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True)
    return [link["ifname"] for link in json.loads(out.stdout)]


def link_mac(name: str) -> str:
    out = subprocess.run(["ip", "-j", "link", "show", "dev", name], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return str(json.loads(out)[0]["address"])


def dnsmasq_processes(state_dir: Path) -> list[str]:
    ps = subprocess.run(["ps", "-ww", "-eo", "args="], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if "dnsmasq" in line and str(state_dir) in line]


def test_bridge_with_dnsmasq_takes_a_tap_and_is_removed_completely(tmp_path: Path) -> None:
    name, tap = f"mlab-t{secrets.token_hex(2)}", f"mlabtap{secrets.token_hex(2)}"
    state_dir = tmp_path / "bridge"
    subnet = free_subnet()
    bridge = LabBridge.create(name, subnet, state_dir)
    try:
        subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
        assert bridge.address == ipaddress.IPv4Network(subnet).network_address + 1
        addresses = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", name],
                                   capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert f"{bridge.address}/24" in addresses
        assert bridge.dnsmasq is not None and bridge.dnsmasq.running()
        assert len(dnsmasq_processes(state_dir)) == 1
        mac = stable_mac(bridge.address)
        assert link_mac(name) == mac
        # a port with a lower MAC than the bridge's would have taken the bridge's place, and
        # given it back when it left: the address would have moved under its peers' ARP caches
        subprocess.run(["ip", "link", "set", tap, "address", "02:00:00:00:00:01"], check=True)
        bridge.enslave(tap)
        assert bridge.ports() == [tap]
        assert link_mac(name) == mac
        assert bridge.leases() == []
        assert LabBridge.load(state_dir) == bridge
        with pytest.raises(Exception, match="exists already"):
            LabBridge.create(name, free_subnet(), tmp_path / "again")
        LabBridge.load(state_dir).destroy()  # as `matrix lab down` would
    finally:
        bridge.destroy()
        subprocess.run(["ip", "link", "del", "dev", tap], capture_output=True, check=False)
    assert name not in links() and tap not in links()
    assert dnsmasq_processes(state_dir) == []
    assert bridge.leftovers() == []


def test_a_host_with_its_own_network_is_reached_by_an_uplink_that_goes_with_it(
    tmp_path: Path,
) -> None:
    bridge = LabBridge.create(f"mlab-n{secrets.token_hex(2)}", free_subnet(), tmp_path / "br")
    host = start_host(tmp_path, "netns", own_network=True)
    uplink = f"mlabup{secrets.token_hex(2)}"
    try:
        namespace = host.network_namespace
        assert namespace is not None
        assert os.readlink(namespace) != os.readlink("/proc/self/ns/net")
        with pytest.raises(BridgeError, match="not a free host address"):
            bridge.reach_into(namespace, uplink, bridge.address)  # the bridge's own
        assert uplink not in links()
        bridge = bridge.reach_into(namespace, uplink, bridge.address + 1)
        assert bridge.ports() == [uplink] and LabBridge.load(tmp_path / "br") == bridge

        def inside(*args: str) -> str:
            return subprocess.run(["nsenter", f"--net={namespace}", "ip", "-o", *args],
                                  capture_output=True, text=True, check=True).stdout  # fmt: skip

        assert f"{bridge.address + 1}/24" in inside("-4", "addr", "show", "dev", INNER_BRIDGE)
        assert f"master {INNER_BRIDGE}" in inside("link", "show", "dev", INNER_UPLINK)
        assert f"link/ether {stable_mac(bridge.address + 1)} " in inside(
            "link", "show", "dev", INNER_BRIDGE
        )
        assert "UP" in inside("link", "show", "dev", "lo")  # VNC and consoles listen there
        hypervisor.stop(host)  # the namespace goes, and both ends of the uplink with it
        deadline = time.monotonic() + 10.0  # the kernel frees a namespace asynchronously
        while uplink in links() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert uplink not in links()
    finally:
        hypervisor.stop(host)
        bridge.destroy()
    assert bridge.leftovers() == []
    assert_nothing_left(host.root)


def test_shared_storage_is_what_libvirt_calls_shared_and_unmounts_completely(
    tmp_path: Path,
) -> None:
    root = tmp_path / "shared"
    shared = shared_storage.mount(root)
    try:
        assert shared_storage.fs_type(shared.mountpoint) == "fuse.glusterfs"
        (shared.mountpoint / "disk").write_text("written through the mount")
        assert (shared.data / "disk").read_text() == "written through the mount"
        with pytest.raises(shared_storage.SharedStorageError, match="mounted already"):
            shared_storage.mount(root)
        assert shared.bindfs.running()
    finally:
        left = shared_storage.unmount(root)
    assert left == []
    assert shared_storage.fs_type(shared.mountpoint) is None
    assert not shared.bindfs.running()
    assert shared_storage.unmount(root) == []  # again: nothing recorded, nothing to do


def test_a_guest_on_the_bridge_gets_a_lease_from_dnsmasq(tmp_path: Path) -> None:
    """iPXE in the NIC's option ROM asks for DHCP: the path a Nova tap VIF takes."""
    name, tap = f"mlab-l{secrets.token_hex(2)}", f"mlabtap{secrets.token_hex(2)}"
    mac = "52:54:00:21:3a:01"
    bridge = LabBridge.create(name, free_subnet(), tmp_path / "bridge")
    host = None
    try:
        subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
        bridge.enslave(tap)
        host = start_host(tmp_path, "lease")
        nic = (f"<interface type='ethernet'><mac address='{mac}'/>"
               f"<target dev='{tap}' managed='no'/><model type='virtio'/></interface>")  # fmt: skip
        xml = tiny_domain("pxe", tmp_path / "pxe.log", extra=nic, boot="<boot dev='network'/>")
        create_domain(host, xml)
        started = time.monotonic()
        while not bridge.leases() and time.monotonic() - started < 120:
            time.sleep(0.5)
        print(f"lease after {time.monotonic() - started:.1f} s: {bridge.leases()}")
        ((leased_mac, address),) = bridge.leases()
        assert leased_mac == mac and ipaddress.ip_address(address) in bridge.subnet
    finally:
        if host is not None:
            hypervisor.stop(host)
        subprocess.run(["ip", "link", "del", "dev", tap], capture_output=True, check=False)
        bridge.destroy()
    assert host is not None
    assert_nothing_left(host.root)
    assert name not in links()


def test_recorded_pids_of_other_processes_are_never_signalled(tmp_path: Path) -> None:
    """Pid files and records naming processes that are not ours: stop reports, never kills."""
    root = (tmp_path / "libvirt" / "fake").resolve()
    (root / "run" / "libvirt" / "qemu").mkdir(parents=True)
    names_root = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", str(root / "instances")]
    )
    unrelated = subprocess.Popen(["sleep", "300"])
    try:
        fake_argv = ("/usr/sbin/libvirtd", "-f", str(root / "etc" / "libvirtd.conf"))
        record = {
            "name": "fake",
            "root": str(root),
            "host_uuid": "7a0b9c2d-1e3f-4a5b-8c6d-0e1f2a3b4c5d",
            "socket": str(root / "sock" / "libvirt-sock"),
            "instances_path": str(root / "instances"),
            "processes": [
                {"role": "holder", "pid": os.getpid(), "cmdline": ["python", str(root)]},
                {"role": "virtlogd", "pid": unrelated.pid, "cmdline": ["virtlogd", str(root)]},
                {"role": "libvirtd", "pid": names_root.pid, "cmdline": list(fake_argv)},
            ],
        }
        (root / "host.json").write_text(json.dumps(record))
        for pidfile in ("libvirtd.pid", "virtlogd.pid", "run/libvirt/qemu/guest.pid"):
            (root / pidfile).write_text(f"{unrelated.pid}\n")
        host = LibvirtHost.load(root)
        with pytest.raises(HypervisorError, match=f"pid {names_root.pid} names {root}"):
            hypervisor.stop(host)  # something still names the root: reported, not killed
        assert names_root.poll() is None and unrelated.poll() is None

        gone = LabBridge.load  # a bridge record whose dnsmasq pid is now someone else's
        (tmp_path / "bridge").mkdir()
        (tmp_path / "bridge" / "bridge.json").write_text(json.dumps({
            "name": f"mlab-x{secrets.token_hex(2)}", "subnet": "10.213.251.0/24",
            "state_dir": str(tmp_path / "bridge"),
            "dnsmasq": {"role": "dnsmasq", "pid": unrelated.pid,
                        "cmdline": ["/usr/sbin/dnsmasq", "--interface=x"]},
        }))  # fmt: skip
        gone(tmp_path / "bridge").destroy()
        assert unrelated.poll() is None
    finally:
        for process in (names_root, unrelated):
            process.kill()
            process.wait()
    hypervisor.stop(LibvirtHost.load(root))  # with the bystanders gone nothing remains
