"""Ending a process at once: the interpreter's teardown of everything a command or a scenario
session imported (openstacksdk, pytest, rich, pydantic) takes a tenth to a quarter of a
second, paid at the end of every `matrix` command and every target, with nothing gained."""

from __future__ import annotations

import contextlib
import os
import sys
import threading


def end_process(code: int) -> None:
    """Flush the output and exit with `code`, skipping the teardown. Returns instead (the
    caller then exits as usual, which waits) while a non-daemon thread still runs. Only for a
    process whose work is on disk already: exit handlers do not run."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):  # fmt: skip
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head), a closed file
            stream.flush()
    os._exit(code)
