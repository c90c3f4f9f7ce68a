"""The lab's background processes (cells, Keystone): started, recognised and stopped by pid.

A pid file alone is not proof: pids are reused. A process is the lab's only while its
command line still names the server script and the directory it was started for, so `down`
never signals anything else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

STOP_TIMEOUT = 10.0
PID_FILE = "pid"

started: dict[int, subprocess.Popen[bytes]] = {}
"""Processes this interpreter started, so stopping them also reaps them (no zombies)."""


def spawn(
    command: Sequence[str], directory: Path, log_name: str, *, fed: bool = False
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session, output to DIR/log_name; its pid to DIR/pid, or,
    when it is `fed` (its standard input a pipe of ours), nowhere: the caller records it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env |= {"OS_NOVA_DISABLE_EVENTLET_PATCHING": "true", "PYTHONUNBUFFERED": "1"}
    with (directory / log_name).open("ab") as log:
        process = subprocess.Popen(
            list(command),
            cwd=directory,
            env=env,
            stdin=subprocess.PIPE if fed else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the command that started it; ^C here spares it
        )
    if not fed:
        (directory / PID_FILE).write_text(f"{process.pid}\n")
    started[process.pid] = process
    return process


def log_tail(directory: Path, log_name: str, lines: int = 25) -> str:
    """The last `lines` of the log `spawn` writes in `directory`: what a failure shows."""
    try:
        text = (directory / log_name).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"


def read_pid(directory: Path, name: str = PID_FILE) -> int | None:
    try:
        return int((directory / name).read_text().strip())
    except (OSError, ValueError):
        return None


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when the version document at `url` answers (no token needed for discovery)."""
    try:
        with urllib.request.urlopen(url + "/", timeout=timeout) as response:
            return bool(response.status in (200, 300))
    except urllib.error.HTTPError as error:
        return error.code == 300  # Keystone's root: "multiple choices"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; reaps the process if we started it."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not stopped(pid, STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    reap(pid)


def stopped(pid: int, timeout: float) -> bool:
    """Whether `pid` has ended within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    return not alive(pid)


def reap(pid: int) -> None:
    """Wait for a process this interpreter started (a no-op for any other): no zombie left."""
    process = started.pop(pid, None)
    if process is not None:
        process.wait(timeout=STOP_TIMEOUT)


def reap_ended() -> None:
    """Reap every process this interpreter started that has ended (a launcher ends on its
    own, with the last cell it started)."""
    for pid, process in list(started.items()):
        if process.poll() is not None:
            del started[pid]


def alive(pid: int) -> bool:
    process = started.get(pid)
    if process is not None:
        return process.poll() is None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited already


def is_ours(pid: int, script: Path, directory: Path) -> bool:
    """Is `pid` a live `script` server started for `directory`? Guards against reused pids."""
    if not alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [a.decode(errors="replace") for a in argv]
    return str(script) in words and str(directory.resolve()) in words
