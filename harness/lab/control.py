"""Start, watch and stop embedded-lab cells: one background process each, tracked by pid files.

Cells choose their own free port (they bind port 0) and report it in endpoint.json, so two
labs never fight over a fixed port. `down` stops exactly the processes `up` started: a pid
is only signalled if that process is still a cell server for that very cell directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import Failure
from harness.lab import libvirt_cells
from harness.lab.cells import CellSpec
from harness.lab.environment import CELL_SERVER, ensure_libvirt_binding
from harness.lab.state import Endpoint, LabState

STARTUP_TIMEOUT = 180.0  # seconds; a cell boots in about 4 s, far slower on a loaded CI machine
STOP_TIMEOUT = 10.0
Progress = Callable[[str], None]

_started: dict[int, subprocess.Popen[bytes]] = {}
"""Processes this interpreter started, so stopping them also reaps them (no zombies)."""


class LabStartError(Failure):
    """One or more cells did not come up; the message has each one's log tail."""


class LabStopError(Failure):
    """Something a cell started would not stop; the message names it."""


@dataclass(frozen=True)
class CellStatus:
    name: str
    combination: str
    pid: int | None
    health: str  # up | not responding | dead | stopped
    endpoint: Endpoint | None


def up(
    state: LabState,
    cells: Sequence[CellSpec],
    python: Path,
    progress: Progress = lambda _: None,
    timeout: float = STARTUP_TIMEOUT,
) -> list[CellStatus]:
    """Start the cells that are not running, wait until each answers, write the client files.

    A cell on the real libvirt driver that this machine cannot run (no root, no libvirt) is
    skipped with what it needs, and the other cells still start."""
    waiting: dict[str, subprocess.Popen[bytes]] = {}
    failures = []
    try:
        for cell in cells:
            if status(state, cell.name).health == "up":
                progress(f"{cell.name}: already up")
                continue
            stop(state, cell.name)  # a stale or half-started earlier run
            if cell.real_hypervisor:
                if missing := libvirt_cells.missing_requirements():
                    progress(f"{cell.name}: not started, it needs {'; '.join(missing)}")
                    continue
                ensure_libvirt_binding(python, progress)
            try:
                waiting[cell.name] = _spawn(state, cell, python, progress)
            except Failure as error:
                failures.append(f"cell '{cell.name}' could not be prepared: {error}")
                continue
            progress(f"{cell.name}: starting {cell.combination} with {len(cell.hosts)} computes")
    except KeyboardInterrupt:
        for name in waiting:
            stop(state, name)
        raise

    deadline = time.monotonic() + timeout
    try:
        for name, process in waiting.items():
            problem = _wait_ready(state, name, process, deadline, timeout)
            if problem:
                log = state.log_tail(name)
                failures.append(f"cell '{name}' {problem}; the end of its log:\n{log}")
                stop(state, name)
            else:
                endpoint = state.endpoint(name)
                assert endpoint is not None
                progress(f"{name}: up in {endpoint.ready_seconds:.1f} s at {endpoint.url}")
    except KeyboardInterrupt:
        for name in waiting:  # interrupted: leave nothing half-started behind
            stop(state, name)
        state.write_client_files(s.name for s in statuses(state) if s.health == "up")
        raise

    running = [s.name for s in statuses(state) if s.health == "up"]
    state.write_client_files(running)
    if failures:
        raise LabStartError("\n\n".join(failures))
    return [status(state, cell.name) for cell in cells]


def _spawn(
    state: LabState, cell: CellSpec, python: Path, progress: Progress
) -> subprocess.Popen[bytes]:
    directory = state.prepare_cell(cell, secrets.token_urlsafe(24))
    extra: list[str] = []
    if cell.real_hypervisor:
        extra = ["--libvirt", str(libvirt_cells.prepare(directory, cell, progress))]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env |= {"OS_NOVA_DISABLE_EVENTLET_PATCHING": "true", "PYTHONUNBUFFERED": "1"}
    command = [
        str(python),
        str(CELL_SERVER),
        "--name", cell.name,
        "--state-dir", str(directory.resolve()),
        "--token-file", str((directory / "token").resolve()),
        "--hosts", ",".join(cell.hosts),
        "--live-migration", "yes" if cell.live_migration else "no",
        "--shared-storage", "yes" if cell.shared_storage else "no",
        *extra,
    ]  # fmt: skip
    with (directory / "cell.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the command that started it; ^C here spares it
        )
    (directory / "pid").write_text(f"{process.pid}\n")
    _started[process.pid] = process
    return process


def _wait_ready(
    state: LabState, name: str, process: subprocess.Popen[bytes], deadline: float, timeout: float
) -> str | None:
    """None once the cell answers; otherwise what went wrong."""
    interval = 0.1
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            return f"exited with status {code} while starting"
        endpoint = state.endpoint(name)
        if endpoint is not None and endpoint.pid == process.pid and answers(endpoint.url):
            return None
        time.sleep(interval)
        interval = min(interval * 1.5, 1.0)
    return f"did not answer within {timeout:.0f} s"


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when the cell's version document answers (no token needed for discovery)."""
    try:
        with urllib.request.urlopen(url + "/", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def status(state: LabState, name: str) -> CellStatus:
    pid = state.pid(name)
    endpoint = state.endpoint(name)
    combination = str(state.spec(name).get("combination", "?"))
    if pid is None:
        health = "stopped"
    elif not is_cell_process(pid, state.cell_dir(name)):
        health = "dead"
    elif endpoint is not None and endpoint.pid == pid and answers(endpoint.url):
        health = "up"
    else:
        health = "not responding"
    return CellStatus(name, combination, pid, health, endpoint if health == "up" else None)


def statuses(state: LabState) -> list[CellStatus]:
    return [status(state, name) for name in state.cell_names()]


def down(state: LabState, names: Sequence[str] = ()) -> list[str]:
    """Stop the named cells (all when none are named); returns the ones that were running."""
    stopped = [name for name in (names or state.cell_names()) if stop(state, name)]
    state.write_client_files(s.name for s in statuses(state) if s.health == "up")
    return stopped


def stop(state: LabState, name: str) -> bool:
    """Stop one cell if its process is still ours; forget its pid either way."""
    pid = state.pid(name)
    was_running = pid is not None and is_cell_process(pid, state.cell_dir(name))
    if pid is not None and was_running:
        _terminate(pid)
    left = libvirt_cells.teardown(state.cell_dir(name))  # after Nova: it holds connections
    state.forget(name)
    if left:
        raise LabStopError(f"cell '{name}' left behind: " + "; ".join(left))
    return was_running


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process = _started.pop(pid, None)
    if process is not None:
        process.wait(timeout=STOP_TIMEOUT)


def _alive(pid: int) -> bool:
    process = _started.get(pid)
    if process is not None:
        return process.poll() is None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited already


def is_cell_process(pid: int, cell_dir: Path) -> bool:
    """Is `pid` a live cell server for this cell directory? Guards against reused pids."""
    if not _alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [a.decode(errors="replace") for a in argv]
    return str(CELL_SERVER) in words and str(cell_dir.resolve()) in words
