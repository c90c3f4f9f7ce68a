"""Targets' pytest processes, started before they are needed and told what to run and when.

`matrix run` starts its first one as soon as the command is chosen, before the command's own
module is imported (`start_ahead`, the command's prelude in `harness.cli.registry`), so that
process's imports (pytest, openstacksdk: half a second) overlap everything the run does before
its first scenario; each later one starts beside its target's preflight. A process is told in
two steps on a pipe (`harness.run.scenario_process` reads them): what to run (`Order.what`),
once the target is planned, so pytest configures and collects meanwhile; then go, once the
preflight passed (`Order.close(go=True)`), with the image, flavors and network the preflight
found, so the session does not look them up again. A pipe closed without go ends it, having
run and recorded nothing.

Imported by every `matrix run` before anything else: it imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click

GO = b"go\n"
AHEAD = "harness.run.launcher:ahead"  # where the prelude leaves its processes: click's ctx.meta


class Order:
    """The writing end of one process's pipe."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def what(self, cwd: Path, args: list[str]) -> None:
        """The pytest arguments, and the directory to run them in (the checkout)."""
        self._send(json.dumps({"cwd": str(cwd), "args": args}).encode() + b"\n")

    def close(self, go: bool, found: Mapping[str, Any] | None = None) -> None:
        """Let the session run (go), or end the process without running anything. `found`:
        the lab file's names as the preflight found them (field -> openstacksdk resource)."""
        if self._fd is None:
            return
        try:
            if go:
                self._send(GO + json.dumps(described(found or {})).encode() + b"\n")
        finally:
            os.close(self._fd)
            self._fd = None

    def _send(self, data: bytes) -> None:
        assert self._fd is not None, "the order was closed already"
        rest = memoryview(data)
        with contextlib.suppress(BrokenPipeError):  # it ended already, and its log says why
            while rest:  # a signal may cut a write short
                rest = rest[os.write(self._fd, rest) :]


def described(found: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Resources as JSON: each one's class ("module:Class") and attributes, which is all
    `Resource.existing` needs to make it again (`harness.scenario.resources.provided_from`)."""
    return {
        field: {
            "class": f"{type(resource).__module__}:{type(resource).__qualname__}",
            "attrs": resource.to_dict(computed=False),
        }
        for field, resource in found.items()
    }


class ScenarioProcesses:
    """Started pytest processes (`harness.run.scenario_process`), handed out one per target.

    `ahead` are started at once; every later one when a target takes it. A process nobody
    took is stopped at `close` (it has run nothing)."""

    def __init__(self, ahead: int = 0) -> None:
        self._ready = [self._start() for _ in range(ahead)]
        self._lock = threading.Lock()

    def take(self) -> tuple[subprocess.Popen[str], Order]:
        """A started process and its order: tell it what to run, then close the order."""
        with self._lock:
            if self._ready:
                return self._ready.pop()
        return self._start()

    def __enter__(self) -> ScenarioProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the processes nobody took (they are still importing or waiting: nothing to
        clean up) and wait for them, so none is left behind."""
        with self._lock:
            ready, self._ready = self._ready, []
        for child, order in ready:
            order.close(go=False)
            child.kill()
            assert child.stdout is not None
            child.stdout.close()
            child.wait()

    @staticmethod
    def _start() -> tuple[subprocess.Popen[str], Order]:
        order_read, order_write = os.pipe()
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "harness.run.scenario_process", str(order_read)],
                env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(order_read,),
                text=True,
                start_new_session=True,
            )
        except BaseException:
            os.close(order_write)
            raise
        finally:
            os.close(order_read)
        return child, Order(order_write)


def start_ahead(ctx: click.Context) -> None:
    """`matrix run`'s prelude: its first pytest process, stopped with the command if unused."""
    _kept(ctx, ahead=1)


def started_ahead(ctx: click.Context) -> ScenarioProcesses:
    """The processes the prelude started (new ones if it did not run), closed with `ctx`."""
    return _kept(ctx, ahead=0)


def _kept(ctx: click.Context, ahead: int) -> ScenarioProcesses:
    """The context's processes, made (`ahead` started) and closed with it the first time."""
    if AHEAD not in ctx.meta:
        processes = ScenarioProcesses(ahead)
        ctx.meta[AHEAD] = processes
        ctx.call_on_close(processes.close)
    processes = ctx.meta[AHEAD]
    assert isinstance(processes, ScenarioProcesses)
    return processes
