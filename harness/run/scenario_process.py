"""A target's pytest process, started before `matrix run` knows what it will run.

Started by `harness.run.launcher` (`python -m harness.run.scenario_process FD`), it imports
what every scenario session needs (pytest, openstacksdk, the declarations' models, the
harness's scenario modules) while the run loads the declarations. Then it reads from the pipe
FD what to run (a JSON line: the checkout to run in, the pytest arguments) and starts pytest,
which configures and collects (and starts its xdist workers, which collect too) while the
target's preflight runs, opening the target's cloud in a thread meanwhile; the session then
waits before its first scenario (`Gate`) for go. A pipe closed without go means nothing is
to run (the preflight failed, the run was stopped, no target took it): it ends having run and
recorded nothing.

The harness's plugin modules are not imported here: pytest must import them itself to rewrite
their asserts. Only the modules they import are.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Generator
from typing import BinaryIO

import pytest

from harness.ending import end_process
from harness.run.launcher import GO
from harness.scenario.stash import FOUND

WARM_IMPORTS = (
    "openstack.connection",
    "harness.declarations.loading",
    "harness.run.cloud",
    "harness.run.records",
    "harness.scenario.gate",
    "harness.scenario.recorder",
    "harness.scenario.resources",
    "harness.scenario.target",
    "harness.scenario.waiters",
)
NOT_STARTED = "not started: the preflight did not pass, or the run was stopped"


class Gate:
    """Holds the session once it has collected (and its xdist workers have started and
    collected), with nothing run or recorded, until the run says go; it opens the target's
    cloud meanwhile, from the moment the session starts collecting."""

    def __init__(self, pipe: BinaryIO) -> None:
        self.pipe = pipe
        self.connected: Callable[[], None] = lambda: None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from harness.scenario.fixtures import connect_early  # pytest has imported it by now

        self.connected = connect_early(session.config)  # the first scenario need not wait

    @pytest.hookimpl(wrapper=True)  # before every runtestloop implementation, the record's too
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        try:
            self.connected()
            verdict = self.pipe.read()
        except KeyboardInterrupt:  # `matrix run` was stopped while this waited
            verdict = b""
        if not verdict.startswith(GO):
            pytest.exit(NOT_STARTED, returncode=2)
        config = session.config
        found = config.stash[FOUND] = json.loads(verdict[len(GO) :] or b"{}")
        from harness.scenario.concurrency import found_path, hand_to_workers, is_controller

        if not is_controller(config):
            return (yield)
        path = found_path(config)
        hand_to_workers(path, found)  # before the first scenario is handed out
        try:
            return (yield)
        finally:
            path.unlink(missing_ok=True)


def main(fd: int) -> int:
    for module in WARM_IMPORTS:
        importlib.import_module(module)
    with open(fd, "rb") as pipe:
        try:
            line = pipe.readline()
        except KeyboardInterrupt:
            line = b""
        if not line.endswith(b"\n"):
            print(NOT_STARTED, flush=True)
            return 2
        order = json.loads(line)
        os.chdir(order["cwd"])  # the checkout: its pyproject.toml configures pytest
        return int(pytest.main(order["args"], plugins=[Gate(pipe)]))


if __name__ == "__main__":
    # The record is on disk (fsynced result by result) and the scenarios use no tmp_path (whose
    # lock pytest removes at exit): ending at once loses nothing.
    code = main(int(sys.argv[1]))
    end_process(code)
    sys.exit(code)
