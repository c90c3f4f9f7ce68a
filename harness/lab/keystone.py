"""The lab's one Keystone: started before the cells (which boot while it does), stopped after
the last of them.

Every cell is a region of it: it validates tokens with keystonemiddleware and registers its
own endpoints (harness/lab/cell/identity.py), so clients reach the lab the way they reach a
real cloud: password auth, a service catalog, real roles and real policy. Keystone itself
runs in the lab's virtualenv (harness/lab/identity/server.py) from a seed database made
once per virtualenv.

    .lab/keystone/credentials.json   the passwords of this start (0600; fresh every start)
    .lab/keystone/address.json       written by Keystone once it has bound its port (its URL)
    .lab/keystone/endpoint.json      written by Keystone once it serves
    .lab/keystone/pid, keystone.log  as for a cell
    .lab/cells/<cell>/identity.json  the cell's service user and region (0600)

A restarted Keystone has a fresh database and fresh passwords, so cells that outlived the
previous one are restarted with it (control.up does that).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import Failure
from harness.lab import processes
from harness.lab.environment import KEYSTONE_SERVER, keystone_seed
from harness.lab.private_files import write_private
from harness.lab.virtualenvs import Progress

if TYPE_CHECKING:
    from harness.lab.state import LabState

STARTUP_TIMEOUT = 120.0
READY_POLL = 0.05  # seconds between looks at a starting Keystone (a file read, then one request)
DOMAIN = "Default"
USERS: dict[str, dict[str, Any]] = {
    # who: user, project and roles; the admin's roles come from bootstrap
    "admin": {"username": "admin", "project": "admin"},
    "service": {"username": "lab-service", "project": "service", "roles": ["admin", "service"]},
    "member": {"username": "member", "project": "member", "roles": ["member", "reader"]},
}
CLOUD_USERS = {"": "admin", "-member": "member"}  # clouds.yaml entry suffix -> user


class KeystoneStartError(Failure):
    """Keystone did not come up; the message has its log tail."""


@dataclass(frozen=True)
class KeystoneStatus:
    pid: int | None
    health: str  # up | not responding | dead | stopped
    url: str | None


def directory_of(state: LabState) -> Path:
    return state.root / "keystone"


def status(state: LabState) -> KeystoneStatus:
    directory = directory_of(state)
    pid = processes.read_pid(directory)
    url = _url(directory)
    if pid is None:
        health = "stopped"
    elif not processes.is_ours(pid, KEYSTONE_SERVER, directory):
        health = "dead"
    elif url is not None and processes.answers(url):
        health = "up"
    else:
        health = "not responding"
    return KeystoneStatus(pid, health, url if health == "up" else None)


def start(
    state: LabState, python: Path, progress: Progress = lambda _: None
) -> subprocess.Popen[bytes] | None:
    """Keystone started (from the seed, with fresh passwords) unless it is up already. Returns
    as soon as it has bound its port, so cells can be given its URL and boot meanwhile: the
    process to `wait_up` for, or None when it was up."""
    if status(state).health == "up":
        return None
    stop(state)
    directory = directory_of(state)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("endpoint.json", "address.json", "keystone.log"):
        (directory / stale).unlink(missing_ok=True)
    credentials = {who: {**user, "password": secrets.token_urlsafe(18)} for who, user in
                   USERS.items()}  # fmt: skip
    write_private(directory / "credentials.json", json.dumps(credentials, indent=2) + "\n")
    seed = keystone_seed(python)
    process = processes.spawn(
        [str(python), str(KEYSTONE_SERVER), "--state-dir", str(directory.resolve()),
         "--seed", str(seed)],
        directory,
        "keystone.log",
    )  # fmt: skip
    _wait(state, process, lambda: _address(directory) is not None, "bind its port")
    return process


def wait_up(
    state: LabState, process: subprocess.Popen[bytes], progress: Progress = lambda _: None
) -> None:
    """Until the Keystone `start` started answers; if it exits or never answers, it is stopped
    and KeystoneStartError says why."""
    directory = directory_of(state)

    def answers() -> bool:
        url = _url(directory)
        return url is not None and processes.answers(url)

    _wait(state, process, answers, "answer")
    progress(f"keystone: up at {_url(directory)}")


def _wait(
    state: LabState, process: subprocess.Popen[bytes], done: Callable[[], bool], what: str
) -> None:
    directory = directory_of(state)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if (code := process.poll()) is not None:
            stop(state)
            raise KeystoneStartError(
                f"keystone exited with status {code} while starting; the end of its log:\n"
                + processes.log_tail(directory, "keystone.log")
            )
        if done():
            return
        time.sleep(READY_POLL)
    stop(state)
    raise KeystoneStartError(
        f"keystone did not {what} within {STARTUP_TIMEOUT:.0f} s; the end of its log:\n"
        + processes.log_tail(directory, "keystone.log")
    )


def stop(state: LabState) -> bool:
    """Stop Keystone if its process is still ours; forget its pid and passwords either way."""
    directory = directory_of(state)
    pid = processes.read_pid(directory)
    was_running = pid is not None and processes.is_ours(pid, KEYSTONE_SERVER, directory)
    if pid is not None and was_running:
        processes.terminate(pid)
    for stale in ("pid", "credentials.json", "address.json", "address.json.tmp",
                  "endpoint.json", "endpoint.json.tmp"):  # fmt: skip
        (directory / stale).unlink(missing_ok=True)
    return was_running


def write_cell_identity(state: LabState, cell: str) -> Path:
    """The cell's service user and region, for the cell to validate tokens and register."""
    url, credentials = _running(state)
    service = credentials["service"]
    path = state.cell_dir(cell) / "identity.json"
    identity = {
        "auth_url": url,
        "region": cell,
        "username": service["username"],
        "password": service["password"],
        "project": service["project"],
    }
    write_private(path, json.dumps(identity, indent=2) + "\n")
    return path


def cloud_entries(state: LabState, cloud: str, region: str) -> dict[str, dict[str, Any]]:
    """clouds.yaml entries for one cell: `cloud` as admin, `cloud`-member as a project member,
    both with password auth in the cell's region, as a devstack's are."""
    url, credentials = _running(state)
    entries = {}
    for suffix, who in CLOUD_USERS.items():
        user = credentials[who]
        entries[cloud + suffix] = {
            "auth_type": "password",
            "auth": {
                "auth_url": url,
                "username": user["username"],
                "password": user["password"],
                "project_name": user["project"],
                "user_domain_name": DOMAIN,
                "project_domain_name": DOMAIN,
            },
            "region_name": region,
            "identity_api_version": "3",
            "interface": "public",
        }
    return entries


def _running(state: LabState) -> tuple[str, dict[str, Any]]:
    """Keystone's URL (known once it has bound its port) and the passwords of this start."""
    directory = directory_of(state)
    url = _address(directory)
    try:
        credentials = json.loads((directory / "credentials.json").read_text())
    except (OSError, ValueError):
        credentials = None
    if url is None or not isinstance(credentials, dict):
        raise KeystoneStartError(f"the lab's keystone is not running ({directory})")
    return url, credentials


def _url(directory: Path) -> str | None:
    """Where Keystone serves, once it does."""
    return _read_url(directory / "endpoint.json")


def _address(directory: Path) -> str | None:
    """Where Keystone will serve, as soon as it has bound the port."""
    return _read_url(directory / "address.json")


def _read_url(path: Path) -> str | None:
    try:
        return str(json.loads(path.read_text())["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
