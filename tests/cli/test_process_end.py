"""How `matrix` ends its process: at once, output flushed and exit code kept, unless a thread
the interpreter would wait for still runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import __version__

MATRIX = Path(sys.executable).parent / "matrix"


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_process_ends_with_its_code_and_everything_it_printed() -> None:
    done = python(
        "import sys; from harness.ending import end_process\n"
        "print('to stdout, still buffered', end='')\n"
        "print('to stderr', file=sys.stderr, end='')\n"
        "end_process(3)\n"
        "print('never reached')"
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        3,
        "to stdout, still buffered",
        "to stderr",
    )


def test_a_thread_still_running_gets_the_usual_exit_which_waits_for_it() -> None:
    done = python(
        "import threading, time; from harness.ending import end_process\n"
        "worker = threading.Thread(target=lambda: (time.sleep(0.3), print('worker done')))\n"
        "worker.start()\n"
        "end_process(3)\n"
        "print('went on')"
    )
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["went on", "worker done"]


def test_the_console_script_keeps_its_exit_code_and_output() -> None:
    bad = subprocess.run(
        [str(MATRIX), "levels", "--no-such-option"], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "No such option" in bad.stderr
    version = subprocess.run(
        [str(MATRIX), "--version"], capture_output=True, text=True, check=False
    )
    assert (version.returncode, version.stdout) == (0, f"matrix, version {__version__}\n")
