"""A running embedded lab (all three shipped cells) for the integration tests of this folder.

The lab's virtualenv is built on first use (CI builds it up front with `matrix lab prepare`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import openstack
import pytest

from harness.declarations.loading import load_matrix
from harness.lab import control, environment, keystone, processes
from harness.lab.cells import cells_from
from harness.lab.environment import CELL_LAUNCHER, KEYSTONE_SERVER
from harness.lab.state import LabState
from harness.run import cloud as cloud_api
from tests.ci.conftest import tools  # noqa: F401  (the CI engines' tools, a fixture)
from tests.conftest import REPO, SHIPPED

T = TypeVar("T")
API_TIMEOUT = 60.0  # seconds for one API call (a live migration is polled, not waited on)


LABS = ("running_lab", "libvirt_lab")  # the session's labs, by fixture name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    """A failed test that used a lab reports what the lab's daemons were doing: each cell's and
    Keystone's log tail, ending with every thread's stack (the daemons write them into their
    logs on SIGUSR1). A hang in CI, a request that timed out, is then diagnosed from CI's
    output alone."""
    report: pytest.TestReport = yield
    if report.failed and report.when == "call":
        for name in LABS:
            state = getattr(item, "funcargs", {}).get(name)
            if isinstance(state, LabState):
                for title, text in lab_logs(state):
                    report.sections.append((f"{name}: {title}", text))
    return report


def lab_logs(state: LabState, lines: int = 400) -> list[tuple[str, str]]:
    """(title, log tail) of each of the lab's daemons, their stacks asked for first."""
    daemons = {
        f"cell {name}": (CELL_LAUNCHER, state.cell_dir(name), "cell.log")
        for name in state.cell_names()
    }
    daemons["keystone"] = (KEYSTONE_SERVER, keystone.directory_of(state), "keystone.log")
    for script, directory, _ in daemons.values():
        pid = processes.read_pid(directory)
        if pid is not None and processes.is_ours(pid, script, directory):  # not a reused pid
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGUSR1)
    time.sleep(1.0)  # faulthandler writes at once; a second is plenty under load
    return [
        (title, processes.log_tail(directory, log_name, lines))
        for title, (_, directory, log_name) in daemons.items()
    ]


@pytest.fixture(scope="session")
def lab_python() -> Path:
    return environment.ensure()


@pytest.fixture(scope="session")
def running_lab(tmp_path_factory: pytest.TempPathFactory, lab_python: Path) -> Iterator[LabState]:
    """The fake-driver cells (the libvirt cell has tests of its own: test_libvirt_cell.py)."""
    matrix = load_matrix(SHIPPED)
    state = LabState(tmp_path_factory.mktemp("lab"))
    fake = [c for c in cells_from(matrix, matrix.labs["embedded"]) if not c.real_hypervisor]
    try:
        control.up(state, fake, lab_python)
        yield state
    finally:
        control.down(state)


@pytest.fixture(scope="session")
def libvirt_lab(tmp_path_factory: pytest.TempPathFactory, lab_python: Path) -> Iterator[LabState]:
    """The one-host cell on Nova's real libvirt driver, with its own libvirtd, bridge and
    guests (the two-host cell has a test of its own). It needs root and the Debian packages
    scripts/system-packages.sh installs: without them the tests fail, they do not skip (CI
    has them)."""
    matrix = load_matrix(SHIPPED)
    state = LabState(tmp_path_factory.mktemp("libvirt-lab"))
    real = [c for c in cells_from(matrix, matrix.labs["embedded"]) if c.name == "libvirt-local"]
    try:
        control.up(state, real, lab_python)
        assert [s.health for s in control.statuses(state)] == ["up"], state.log_tail(real[0].name)
        yield state
    finally:
        control.down(state)


def connect(state: LabState, cloud: str) -> openstack.connection.Connection:
    """openstacksdk from the clouds.yaml the lab wrote, exactly as a user's script would, with
    the harness's own timeout: a cell that stops answering fails the test, not the suite."""
    connection: openstack.connection.Connection = cloud_api.connect(
        state.clouds_file, cloud, api_timeout=API_TIMEOUT
    )
    return connection


def wait_for(probe: Callable[[], T | None], timeout: float = 60.0, what: str = "") -> T:
    """Poll until `probe` returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    interval = 0.1
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(interval)
        interval = min(interval * 1.5, 1.0)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def matrix_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The installed `matrix` console script, run from the checkout as a user would."""
    executable = Path(sys.executable).parent / "matrix"
    return subprocess.run(
        [str(executable), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def live_processes_mentioning(text: str) -> list[str]:
    """Command lines of live (not zombie) processes whose command line contains `text`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in argv and status != "Z":
            found.append(argv)
    return found
