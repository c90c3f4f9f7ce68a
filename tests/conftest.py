"""Shared helpers: a disposable copy of a small matrix, exact text edits, and a CLI runner."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from harness.cli.main import main
from harness.run.provenance import ENGINES, OWN_VARIABLES

# `HYPOTHESIS_PROFILE=thorough tox` hunts longer than the everyday run.
settings.register_profile("default", max_examples=150)
settings.register_profile("thorough", max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

pytest_plugins = ["pytester"]

# No test may stall the suite: one that hangs (a cell that stops answering, a process never
# reaped) fails after this long, with every thread's stack, and the suite goes on
# (pytest-timeout). The longest test, lab fixtures included, takes about five minutes.
TEST_TIMEOUT = 1200

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent
SHIPPED = REPO / "matrix"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test gets TEST_TIMEOUT unless it names its own (a mark, not an ini option: the
    scenarios' pytest reads the same pyproject.toml without this plugin)."""
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.fixture(autouse=True)
def no_ci_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests run outside any CI engine, also when CI runs them: a record's kind and job
    URL come from what a test gives, never from the job running the tests."""
    for engine in ENGINES.values():
        for name in (*engine.reads, *(variable for variable, _ in engine.detects)):
            monkeypatch.delenv(name, raising=False)
    for name in OWN_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A writable copy of tests/data/small: 3 axes, 3 features, 7 combinations, 1 lab."""
    target = tmp_path / "matrix"
    shutil.copytree(DATA / "small", target)
    return target


@pytest.fixture
def matrix_dir(small: Path) -> Path:
    """The small matrix judged by the shipped policy (all eight criteria, 90-day staleness)."""
    return with_shipped_policy(small)


def with_shipped_policy(root: Path) -> Path:
    """A copy of a matrix at `root`, its levels.yaml replaced by the shipped one."""
    shutil.copy(SHIPPED / "levels.yaml", root / "levels.yaml")
    return root


HOSTLESS_COMBINATION = "libvirt-kvm/local-qcow2/ovs"


def hostless_lab(directory: Path) -> Path:
    """A lab file in `directory` with one target, `t` of HOSTLESS_COMBINATION in the small
    matrix, that declares no hosts and no image, flavors or network, and a clouds.yaml whose
    entry needs no auth: preflight skips it without asking a cloud, so `matrix run` and a
    scenario session run scenarios that need no cloud."""
    (directory / "clouds.yaml").write_text("clouds: {lab-cloud: {auth_type: none}}\n")
    path = directory / "lab.yaml"
    path.write_text(
        f"clouds_yaml: {directory / 'clouds.yaml'}\ntargets:\n"
        f"  - {{name: t, combination: {HOSTLESS_COMBINATION}, cloud: lab-cloud}}\n"
    )
    return path


def edit(path: Path, old: str, new: str) -> None:
    """Replace text that must occur exactly once, so a test cannot silently edit nothing."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the `matrix` command in-process and return its exit code and output."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke
