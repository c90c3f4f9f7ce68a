"""The lab's guest network: a Linux bridge with an address, and dnsmasq handing out leases.

Nova's libvirt driver plugs guests as taps (`vif_type: tap`); a hook enslaves each tap to
this bridge, and dnsmasq on the bridge gives the guest an address, as Neutron's DHCP agent
would. Everything stays on the bridge: dnsmasq answers DHCP only (no DNS, `--port=0`),
offers no router or DNS server, and the subnet must be private and unused on this machine.

A host with a network namespace of its own (each libvirt cell host, hypervisor.py) is reached by
an uplink: a veth pair whose outer end is a port of this bridge and whose inner end is a port
of a bridge inside the namespace (`INNER_BRIDGE`), which holds the host's address and which
its guests' taps join. Both ends go when the namespace does; `destroy` checks they did.

Every bridge gets a MAC address of its own (`stable_mac`). A Linux bridge left to choose takes
the lowest of its ports' and changes it whenever a port comes or goes: a guest's tap joining
or leaving a host's bridge would move the host's address to another MAC, and the other host,
still sending to the old one, lost its migration connection for the half minute its ARP entry
took to go stale (a live migration that libvirt then gave up on).

State lives in `state_dir` (bridge.json, dnsmasq's pid, lease and log files), so `matrix lab
down` in another process can `LabBridge.load(state_dir).destroy()`. dnsmasq is signalled only
while its /proc cmdline is the one recorded when it was started.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import Failure
from harness.lab.hypervisor import (
    RecordedProcess,
    live_processes,
    mentions,
    read_cmdline,
    terminate,
)

DNSMASQ = "/usr/sbin/dnsmasq"
IP = "ip"
STATE_FILE = "bridge.json"
LEASE_TIME = "1h"
INNER_BRIDGE = "br-lab"  # inside a host's network namespace: its guests' taps join it
INNER_UPLINK = "lab0"  # the namespace's end of the veth pair to the lab bridge
NSENTER = "nsenter"
_LINK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")  # IFNAMSIZ is 16 with the NUL


class BridgeError(Failure):
    """The lab bridge or its dnsmasq could not be created, used or removed."""


def stable_mac(address: ipaddress.IPv4Address) -> str:
    """The MAC address of the bridge holding `address`: locally administered, unicast, and
    different for every address (02:00 and the address's four bytes)."""
    return "02:00:" + ":".join(f"{byte:02x}" for byte in address.packed)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([IP, *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise BridgeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _link(name: str) -> dict[str, Any] | None:
    """`ip -d -j link show NAME`, or None when there is no such link."""
    result = _ip("-d", "-j", "link", "show", "dev", name, check=False)
    if result.returncode != 0:
        return None
    links = json.loads(result.stdout or "[]")
    return links[0] if links else None


def _kind(link: dict[str, Any] | None) -> str | None:
    """'bridge', 'veth', ... of a link `_link` found (None: no such link, or a plain one)."""
    kind = (link or {}).get("linkinfo", {}).get("info_kind")
    return str(kind) if kind else None


def _is_bridge(link: dict[str, Any] | None) -> bool:
    return _kind(link) == "bridge"


def _check_name(name: str, what: str) -> None:
    if not _LINK_NAME.match(name):
        raise BridgeError(f"'{name}' is not a valid {what} name (at most 15 letters, digits, -_.)")


def networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network this machine has an address or a route in."""
    used = []
    for entry in json.loads(_ip("-j", "-4", "addr", "show").stdout or "[]"):
        for info in entry.get("addr_info", []):
            used.append(ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
    for route in json.loads(_ip("-j", "-4", "route", "show", "table", "all").stdout or "[]"):
        destination = route.get("dst", "")
        if destination and destination != "default":
            with contextlib.suppress(ValueError):
                used.append(ipaddress.IPv4Network(destination, strict=False))
    return used


@dataclass(frozen=True)
class LabBridge:
    """A bridge this lab created, with the dnsmasq that serves DHCP on it."""

    name: str
    subnet: ipaddress.IPv4Network
    state_dir: Path
    dnsmasq: RecordedProcess | None = None
    uplinks: tuple[str, ...] = ()  # outer ends of the veth pairs made by `reach_into`

    @property
    def address(self) -> ipaddress.IPv4Address:
        """The bridge's own address (.1): dnsmasq answers from it; guests get no router."""
        return self.subnet.network_address + 1

    @property
    def lease_file(self) -> Path:
        return self.state_dir / "dnsmasq.leases"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "dnsmasq.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "dnsmasq.pid"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subnet": str(self.subnet),
            "state_dir": str(self.state_dir),
            "dnsmasq": self.dnsmasq.to_json() if self.dnsmasq else None,
            "uplinks": list(self.uplinks),
        }

    def _save(self) -> None:
        scratch = self.state_dir / (STATE_FILE + ".tmp")
        scratch.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        scratch.replace(self.state_dir / STATE_FILE)

    @classmethod
    def load(cls, state_dir: Path) -> LabBridge:
        """The bridge `create` recorded in `state_dir`, for another process (`lab down`)."""
        path = Path(state_dir).resolve() / STATE_FILE
        try:
            data = json.loads(path.read_text())
            return cls(
                name=str(data["name"]),
                subnet=ipaddress.IPv4Network(data["subnet"]),
                state_dir=Path(data["state_dir"]),
                dnsmasq=RecordedProcess.from_json(data["dnsmasq"]) if data["dnsmasq"] else None,
                uplinks=tuple(str(name) for name in data.get("uplinks", ())),
            )
        except FileNotFoundError:
            raise BridgeError(f"no lab bridge was created in {state_dir} ({path})") from None
        except (ValueError, KeyError, TypeError) as error:
            raise BridgeError(f"{path} is not a lab bridge record: {error}") from None

    @classmethod
    def create(cls, name: str, subnet: str, state_dir: Path) -> LabBridge:
        """Create bridge `name` with the subnet's .1 address and start dnsmasq on it.

        `subnet` is e.g. "10.213.7.0/24": private and not used on this machine. On failure
        nothing is left behind.
        """
        _check_name(name, "bridge")
        try:
            network = ipaddress.IPv4Network(subnet)
        except ValueError as error:
            raise BridgeError(f"'{subnet}' is not an IPv4 subnet: {error}") from None
        if not network.is_private or network.prefixlen > 29:
            raise BridgeError(f"{network} must be a private IPv4 subnet of at least 8 addresses")
        if _link(name) is not None:
            raise BridgeError(f"a link named {name} exists already (a lab not taken down?)")
        if clash := next((n for n in networks_in_use() if n.overlaps(network)), None):
            raise BridgeError(f"{network} overlaps {clash}, which this machine already uses")
        state_dir = Path(state_dir).resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        bridge = cls(name, network, state_dir)
        bridge._save()  # before creating anything: a failure below can be cleaned up
        try:
            _ip("link", "add", "name", name, "address", stable_mac(bridge.address),
                "type", "bridge", "stp_state", "0", "forward_delay", "0")  # fmt: skip
            _ip("addr", "add", f"{bridge.address}/{network.prefixlen}", "dev", name)
            _ip("link", "set", "dev", name, "up")
            bridge = bridge._start_dnsmasq()
        except BaseException:
            with contextlib.suppress(BridgeError):
                bridge.destroy()
            raise
        bridge._save()
        return bridge

    def _dnsmasq_argv(self) -> list[str]:
        hosts = list(self.subnet.hosts())
        first, last = hosts[min(9, len(hosts) // 2)], hosts[-1]
        return [
            DNSMASQ,
            "--conf-file=/dev/null",
            f"--interface={self.name}",
            "--bind-interfaces",
            "--except-interface=lo",
            "--port=0",  # no DNS at all
            "--no-resolv",
            "--no-hosts",
            "--no-ping",  # offer at once; the subnet is ours alone
            "--dhcp-authoritative",
            f"--dhcp-range={first},{last},{self.subnet.netmask},{LEASE_TIME}",
            "--dhcp-option=option:router",  # empty: no default route off the bridge
            "--dhcp-option=option:dns-server",
            f"--pid-file={self.pid_file}",
            f"--dhcp-leasefile={self.lease_file}",
            f"--log-facility={self.log_file}",
            "--log-dhcp",
        ]

    def _start_dnsmasq(self) -> LabBridge:
        """dnsmasq daemonises once it listens; its pid file then names the daemon."""
        argv = self._dnsmasq_argv()
        self.pid_file.unlink(missing_ok=True)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise BridgeError(f"dnsmasq on {self.name} did not start: {result.stderr.strip()}")
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                pid = int(self.pid_file.read_text().strip())
                if read_cmdline(pid) == tuple(argv):
                    return dataclasses.replace(self, dnsmasq=_record(pid, argv))
            time.sleep(0.05)
        raise BridgeError(f"dnsmasq on {self.name} wrote no pid file ({self.pid_file})")

    def reach_into(self, namespace: str, uplink: str, address: ipaddress.IPv4Address) -> LabBridge:
        """Join the network namespace at path `namespace` (/proc/<pid>/ns/net) to this bridge:
        a veth pair `uplink` (outer, a port here) and INNER_UPLINK (inner, a port of
        INNER_BRIDGE, which gets `address`). Returns the bridge with the uplink recorded."""
        _check_name(uplink, "uplink")
        if address not in self.subnet or address in (self.address, self.subnet.broadcast_address):
            raise BridgeError(f"{address} is not a free host address of {self.subnet}")
        if _link(uplink) is not None:
            raise BridgeError(f"a link named {uplink} exists already (a lab not taken down?)")
        pid = namespace.split("/")[2] if namespace.startswith("/proc/") else None
        if pid is None or not pid.isdigit():
            raise BridgeError(f"{namespace} is not a /proc/<pid>/ns/net path")
        bridge = dataclasses.replace(self, uplinks=(*self.uplinks, uplink))
        bridge._save()  # before creating it, so that `destroy` removes it even if this fails
        _ip("link", "add", uplink, "type", "veth", "peer", "name", INNER_UPLINK, "netns", pid)
        _ip("link", "set", "dev", uplink, "master", self.name, "up")
        inside = [NSENTER, f"--net={namespace}", IP]
        for args in (
            ("link", "add", "name", INNER_BRIDGE, "address", stable_mac(address),
             "type", "bridge", "stp_state", "0", "forward_delay", "0"),
            ("link", "set", "dev", INNER_UPLINK, "master", INNER_BRIDGE, "up"),
            ("addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", INNER_BRIDGE),
            ("link", "set", "dev", INNER_BRIDGE, "up"),
        ):  # fmt: skip
            done = subprocess.run([*inside, *args], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BridgeError(f"in {namespace}: ip {' '.join(args)}: {done.stderr.strip()}")
        return bridge

    def enslave(self, tap: str) -> None:
        """Make `tap` a port of this bridge and bring it up."""
        _check_name(tap, "tap")
        _ip("link", "set", "dev", tap, "master", self.name, "up")

    def ports(self) -> list[str]:
        """Names of the links enslaved to this bridge."""
        result = _ip("-j", "link", "show", "master", self.name, check=False)
        if result.returncode != 0:
            return []
        return [str(link["ifname"]) for link in json.loads(result.stdout or "[]")]

    def leases(self) -> list[tuple[str, str]]:
        """(MAC, IP) of each DHCP lease dnsmasq has handed out."""
        try:
            lines = self.lease_file.read_text().splitlines()
        except OSError:
            return []
        found = []
        for line in lines:  # "<expiry> <mac> <ip> <hostname> <client-id>"
            fields = line.split()
            if len(fields) >= 3:
                found.append((fields[1].lower(), fields[2]))
        return found

    def destroy(self) -> None:
        """Stop dnsmasq (only if it is still the recorded one), delete the bridge, verify."""
        if self.dnsmasq is not None:
            terminate(self.dnsmasq)
        for uplink in self.uplinks:  # normally gone with its namespace already
            if _kind(_link(uplink)) == "veth":
                _ip("link", "del", "dev", uplink, check=False)
        link = _link(self.name)
        if _is_bridge(link):
            _ip("link", "del", "dev", self.name, check=False)
        if self.dnsmasq is not None and not self.dnsmasq.running():
            self.pid_file.unlink(missing_ok=True)
        if remaining := self.leftovers():
            raise BridgeError(
                f"lab bridge {self.name} is not fully removed: {'; '.join(remaining)}"
            )

    def leftovers(self) -> list[str]:
        """What of this bridge still exists; [] after `destroy`."""
        found = []
        link = _link(self.name)
        if link is not None:
            kind = "bridge" if _is_bridge(link) else "link (not a bridge: left alone)"
            found.append(f"{kind} {self.name} still exists")
        for uplink in self.uplinks:
            if _link(uplink) is not None:
                found.append(f"uplink {uplink} of bridge {self.name} still exists")
        for pid, argv in live_processes():
            if Path(argv[0]).name == "dnsmasq" and mentions(argv, self.state_dir):
                found.append(f"dnsmasq (pid {pid}) still runs: {' '.join(argv)}")
        return found


def _record(pid: int, argv: list[str]) -> RecordedProcess:
    return RecordedProcess("dnsmasq", pid, tuple(argv))
