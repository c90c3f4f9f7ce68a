"""The scenario library on every embedded cell: each scenario passes or skips in a category,
and nothing any scenario created is left in any cell afterwards."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.lab.state import LabState
from harness.scenario import skips
from tests.conftest import REPO
from tests.lab.conftest import connect

CELLS = {
    "live-local": "fake-live-migrate/fake-local/fake-neutron",
    "live-shared": "fake-live-migrate/fake-shared/fake-neutron",
    "nolive-local": "fake-no-live-migrate/fake-local/fake-neutron",
}


def run_scenarios(
    state: LabState, combination: str, junit: Path
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pytest", "scenarios", "-p", "no:cacheprovider", "-q",
        "--lab", str(state.lab_file), "--combination", combination, f"--junitxml={junit}",
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=1800, check=False
    )


def outcomes(junit: Path) -> dict[str, tuple[str, dict[str, str]]]:
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        found[f"{case.get('classname')}::{case.get('name')}"] = (outcome, props)
    return found


def leftovers(state: LabState, cloud: str) -> list[str]:
    conn = connect(state, cloud)
    named = [
        *(f"server {s.name}" for s in conn.compute.servers()),
        *(f"volume {v.name}" for v in conn.block_storage.volumes()),
        *(f"image {i.name}" for i in conn.image.images()),
        *(f"port {p.name}" for p in conn.network.ports()),
    ]
    return [n for n in named if n.split(" ", 1)[1].startswith("matrix-")]


@pytest.mark.parametrize("cell", list(CELLS))
def test_every_scenario_passes_or_skips_in_a_category(
    running_lab: LabState, tmp_path: Path, cell: str
) -> None:
    junit = tmp_path / "junit.xml"
    done = run_scenarios(running_lab, CELLS[cell], junit)
    results = outcomes(junit)
    failed = {name: props for name, (outcome, props) in results.items() if outcome == "failed"}
    assert not failed, done.stdout[-4000:]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    for name, (outcome, props) in results.items():
        assert props.get("combination") == CELLS[cell], name
        if outcome == "skipped":
            assert props.get("skip_category") in skips.CATEGORIES, f"{name}: {props}"
    assert leftovers(running_lab, f"embedded-{cell}") == []
    covered = {props["feature"] for outcome, props in results.values() if outcome == "passed"}
    assert len(covered) >= 20, sorted(covered)
    if cell == "nolive-local":
        live = {p["feature"]: o for o, p in results.values() if p["feature"] == "live-migration"}
        assert live == {"live-migration": "skipped"}
    if cell == "live-shared":
        block = [
            p.get("skip_category")
            for o, p in results.values()
            if p["feature"] == "block-live-migration"
        ]
        assert block and set(block) == {"not-applicable"}


def test_scenarios_cover_at_least_25_features() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    source = "\n".join(p.read_text() for p in (REPO / "scenarios").rglob("test_*.py"))
    features = set(re.findall(r'@pytest\.mark\.feature\("([a-z0-9-]+)"\)', source))
    assert len(features) >= 25, sorted(features)
