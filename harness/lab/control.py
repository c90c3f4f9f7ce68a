"""Start, watch and stop the embedded lab: its Keystone and one background process per cell,
each tracked by a pid file. The cells are forked by a launcher that imported Nova once for
them all (launching.py).

Cells choose their own free port (they bind port 0) and report it in endpoint.json, so two
labs never fight over a fixed port. `down` stops exactly the processes `up` started: a pid
is only signalled if that process is still a cell server for that very cell directory
(processes.py). Keystone starts first and goes last: every cell validates its tokens. It
binds its port before anything else, so the cells are given its URL and boot while it does
(a cell needs it only at the end of its boot, to register its endpoints).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import Failure
from harness.lab import keystone, launching, libvirt_cells, processes
from harness.lab.cells import CellSpec
from harness.lab.environment import CELL_LAUNCHER, ensure_libvirt_binding
from harness.lab.launching import Launcher
from harness.lab.state import Endpoint, LabState

READY_POLL = 0.1  # seconds between looks at a starting cell
STARTUP_TIMEOUT = 180.0  # seconds; a cell boots in about 4 s, far slower on a loaded CI machine
Progress = Callable[[str], None]


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
    skipped with what it needs, and the other cells still start. Keystone starts before the
    first cell that does; cells that outlived their Keystone are restarted (a new one knows
    neither their endpoints nor their service user). The cells are forked by one launcher
    (launching.py), which imports Nova while they are prepared."""
    failures = []
    if keystone.status(state).health != "up":
        for orphan in (s.name for s in statuses(state) if s.health == "up"):
            progress(f"{orphan}: restarting, its Keystone is gone")
            stop(state, orphan)
    wanted = []
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
        wanted.append(cell)
    if not wanted:
        _settle(state)
        return [status(state, cell.name) for cell in cells]

    handed: list[str] = []  # cells given to the launcher
    launcher = None
    try:
        identity = keystone.start(state, python, progress)  # first: cells need its URL
        launcher = Launcher(
            python, state.root, [state.cell_dir(c.name) for c in wanted],
            libvirt=any(c.real_hypervisor for c in wanted),
        )  # fmt: skip
        for cell in wanted:
            try:
                directory, server_args = _prepare(state, cell, progress)
            except Failure as error:
                failures.append(f"cell '{cell.name}' could not be prepared: {error}")
                continue
            launcher.start(directory, server_args)
            handed.append(cell.name)
            progress(f"{cell.name}: starting {cell.combination} with {len(cell.hosts)} computes")
        launcher.close()
        if identity is not None:
            keystone.wait_up(state, identity, progress)
    except BaseException:  # interrupted, or Keystone would not start: nothing half-started left
        if launcher is not None:
            launcher.stop()
        for name in handed:
            stop(state, name)
        _settle(state)
        raise

    deadline = time.monotonic() + timeout
    try:
        for name in handed:
            problem = _wait_ready(state, name, launcher, deadline, timeout)
            if problem:
                log = state.log_tail(name)
                failures.append(f"cell '{name}' {problem}; the end of its log:\n{log}")
                stop(state, name)
            else:
                endpoint = state.endpoint(name)
                assert endpoint is not None
                progress(f"{name}: up in {endpoint.ready_seconds:.1f} s at {endpoint.url}")
    except KeyboardInterrupt:
        launcher.stop()  # interrupted: leave nothing half-started behind
        for name in handed:
            stop(state, name)
        _settle(state)
        raise

    _settle(state)
    if failures:
        raise LabStartError("\n\n".join(failures))
    return [status(state, cell.name) for cell in cells]


def _prepare(state: LabState, cell: CellSpec, progress: Progress) -> tuple[Path, list[str]]:
    """The cell's directory, made ready, and the arguments of its server.py."""
    directory = state.prepare_cell(cell)
    extra: list[str] = []
    if cell.real_hypervisor:
        extra = ["--libvirt", str(libvirt_cells.prepare(directory, cell, progress))]
    server_args = [
        "--name", cell.name,
        "--state-dir", str(directory.resolve()),
        "--identity", str((directory / "identity.json").resolve()),
        "--hosts", ",".join(cell.hosts),
        "--live-migration", "yes" if cell.live_migration else "no",
        "--shared-storage", "yes" if cell.shared_storage else "no",
        *extra,
    ]  # fmt: skip
    return directory, server_args


def _wait_ready(
    state: LabState, name: str, launcher: Launcher, deadline: float, timeout: float
) -> str | None:
    """None once the cell answers; otherwise what went wrong. It is looked at every tenth of
    a second (a file read; it is asked over HTTP only once it wrote its endpoint): a growing
    interval saw a cell up to a second after it was ready."""
    directory = state.cell_dir(name)
    while time.monotonic() < deadline:
        pid = state.pid(name)
        if pid is None:  # not forked yet: unless its launcher is gone
            if (ended := launcher.ended()) is not None and state.pid(name) is None:
                return f"was never started: {ended}"
        elif not processes.alive(pid):
            code = launching.exit_status(directory)
            return f"exited with status {'?' if code is None else code} while starting"
        else:
            endpoint = state.endpoint(name)
            if endpoint is not None and endpoint.pid == pid and processes.answers(endpoint.url):
                return None
        time.sleep(READY_POLL)
    return f"did not answer within {timeout:.0f} s"


def status(state: LabState, name: str) -> CellStatus:
    pid = state.pid(name)
    endpoint = state.endpoint(name)
    combination = str(state.spec(name).get("combination", "?"))
    if pid is None:
        health = "stopped"
    elif not is_cell_process(pid, state.cell_dir(name)):
        health = "dead"
    elif endpoint is not None and endpoint.pid == pid and processes.answers(endpoint.url):
        health = "up"
    else:
        health = "not responding"
    return CellStatus(name, combination, pid, health, endpoint if health == "up" else None)


def statuses(state: LabState) -> list[CellStatus]:
    return [status(state, name) for name in state.cell_names()]


def down(state: LabState, names: Sequence[str] = ()) -> list[str]:
    """Stop the named cells (all when none are named), and Keystone once no cell is left;
    returns the ones that were running."""
    stopped = [name for name in (names or state.cell_names()) if stop(state, name)]
    _settle(state)
    return stopped


def _settle(state: LabState) -> None:
    """Client files for exactly the running cells; no Keystone or launcher kept for no cell."""
    running = [s.name for s in statuses(state) if s.health == "up"]
    processes.reap_ended()
    if not running:
        keystone.stop(state)
        left = launching.stop_launchers([state.cell_dir(n) for n in state.cell_names()])
        if left:
            raise LabStopError("the lab left behind: " + "; ".join(left))
    state.write_client_files(running)


def stop(state: LabState, name: str) -> bool:
    """Stop one cell if its process is still ours; forget its pid either way."""
    pid = state.pid(name)
    was_running = pid is not None and is_cell_process(pid, state.cell_dir(name))
    if pid is not None and was_running:
        processes.terminate(pid)
    left = libvirt_cells.teardown(state.cell_dir(name))  # after Nova: it holds connections
    state.forget(name)
    if left:
        raise LabStopError(f"cell '{name}' left behind: " + "; ".join(left))
    return was_running


def is_cell_process(pid: int, cell_dir: Path) -> bool:
    """Is `pid` a live cell server for this cell directory? Guards against reused pids."""
    return processes.is_ours(pid, CELL_LAUNCHER, cell_dir)
