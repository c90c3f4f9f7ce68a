"""The process that forks the lab's cells (cell/launcher.py), seen from the harness.

It is started before the cells are prepared, so it imports Nova while the harness writes
their configuration, starts their libvirtd and Keystone boots; each cell is then handed to it
as soon as its directory is ready. Cells forked from it share those imports: three fake cells
boot in about the time one took on its own. It lives as long as a cell it started does
(reaping them), and `LAUNCHER_PID` in each cell directory names it, so that a stopped lab
can be checked for it too.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from harness.lab import processes
from harness.lab.environment import CELL_LAUNCHER, CELL_SERVER

ARGS_FILE = "server-args.json"  # cell/launcher.py reads a cell's server arguments here
EXIT_FILE = "exit-status"  # and writes the status of a cell it reaped here
LAUNCHER_PID = "launcher.pid"
LOG_NAME = "launcher.log"


class Launcher:
    """One cell/launcher.py process, told which of its cells to start."""

    def __init__(self, python: Path, root: Path, directories: Sequence[Path], libvirt: bool):
        """Start it for cells that may live in `directories`, its log in `root`."""
        self.root = root
        command = [
            str(python), str(CELL_LAUNCHER), "--server", str(CELL_SERVER),
            *(["--libvirt"] if libvirt else []),
            *(str(d.resolve()) for d in directories),
        ]  # fmt: skip
        self.process = processes.spawn(command, root, LOG_NAME, fed=True)

    def start(self, directory: Path, server_args: Sequence[str]) -> None:
        """Have the cell of `directory` started with these server.py arguments."""
        (directory / ARGS_FILE).write_text(json.dumps(list(server_args)) + "\n")
        (directory / LAUNCHER_PID).write_text(f"{self.process.pid}\n")
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it ended: the cell's wait says so
            self.process.stdin.write(f"{directory.resolve()}\n".encode())
            self.process.stdin.flush()

    def close(self) -> None:
        """No more cells: it reaps the ones it started, and ends with the last of them."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()

    def stop(self) -> None:
        """Stop it and every cell it started (cell/launcher.py does on SIGTERM), at once."""
        self.close()
        if self.process.poll() is None:
            self.process.terminate()
        try:  # longer than processes.terminate waits: it gives its cells STOP_TIMEOUT first
            self.process.wait(timeout=processes.STOP_TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        processes.reap(self.process.pid)

    def ended(self) -> str | None:
        """Why it can start no cell any more (it exited), or None while it runs."""
        code = self.process.poll()
        if code is None:
            return None
        return (
            f"the cell launcher exited with status {code}; the end of its log:\n"
            + processes.log_tail(self.root, LOG_NAME)
        )


def exit_status(directory: Path, wait: float = 1.0) -> int | None:
    """The status a cell of `directory` exited with, as its launcher recorded it on reaping
    it (which may take a moment after the cell is gone); None if it was not recorded."""
    deadline = time.monotonic() + wait
    while True:
        with contextlib.suppress(OSError, ValueError):
            return int((directory / EXIT_FILE).read_text().strip())
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def stop_launchers(directories: Sequence[Path]) -> list[str]:
    """Once no cell of theirs runs, the launchers named in `directories` have ended or are
    ended; what would not end. Their pid files are removed."""
    left = []
    for pid in {p for d in directories if (p := processes.read_pid(d, LAUNCHER_PID))}:
        ours = any(processes.is_ours(pid, CELL_LAUNCHER, d) for d in directories)
        if ours and not processes.stopped(pid, processes.STOP_TIMEOUT):
            processes.terminate(pid)
            if processes.alive(pid):
                left.append(f"cell launcher (pid {pid})")
        processes.reap(pid)
    for directory in directories:
        (directory / LAUNCHER_PID).unlink(missing_ok=True)
    return left
