"""`matrix tempest` for real: upstream Tempest 47 (its own virtualenv) against a running lab
cell through Keystone, beside the harness's own scenarios, over the idempotent ids
features.yaml lists; its record ingests as Tempest's evidence."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.declarations.applicability import verdicts
from harness.declarations.loading import load_matrix
from harness.lab.state import LabState
from harness.run.records import read_header, read_results
from tests.conftest import SHIPPED
from tests.lab.conftest import matrix_cli

FEATURES = ("launch", "pause-unpause", "suspend-resume", "cold-migration", "rescue")
"""Some of the features whose Tempest tests pass on a fake cell (the run covers every one)."""


def test_tempest_beside_the_scenarios_on_a_cell(running_lab: LabState, tmp_path: Path) -> None:
    """Every feature with Tempest ids that applies to live-local, as `tox -e tempest` runs."""
    done = matrix_cli(
        "tempest", "--lab", str(running_lab.lab_file), "--target", "live-local",
        "--out", str(tmp_path),
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    matrix = load_matrix(SHIPPED)
    combination = matrix.combinations["fake-live-migrate/fake-local/fake-neutron"]
    applies = {v.feature for v in verdicts(matrix, combination) if v.applicable}
    listed = [f for f, feature in matrix.features.items() if feature.tempest and f in applies]
    assert len(listed) > 20
    for feature in listed:  # every feature has its row: both verdicts and theirs
        assert re.search(rf"│ {feature} +│ \w", output), feature
    for feature in FEATURES:
        assert re.search(rf"│ {feature} +│ passed +│ passed +│ \d+/\d+ passed │ agree", output), (
            feature
        )
    summary = re.search(r"Tempest: (\d+) passed, (\d+) failed, (\d+) skipped", output)
    assert summary is not None and int(summary[1]) >= len(FEATURES), output
    assert re.search(r"(\d+) agree, (\d+) disagree", output)

    runs = {read_header(d).source: d for d in (tmp_path / "runs").iterdir()}
    assert set(runs) == {"scenario", "tempest"}
    tempest = read_header(runs["tempest"])
    assert tempest.preflight == read_header(runs["scenario"]).preflight  # the same target, checked
    results = list(read_results(runs["tempest"]))
    assert {r.feature for r in results} >= set(FEATURES)
    assert all(re.search(r"[\[,]id-[0-9a-f]{8}-", r.scenario) for r in results)
    assert (runs["tempest"] / "tempest.subunit").stat().st_size > 0
    clouds = running_lab.clouds_file.read_text()
    password = re.search(r"password: (\S+)", clouds)
    assert password is not None
    for path in runs["tempest"].iterdir():  # the admin's password went into tempest.conf only
        assert password[1].encode() not in path.read_bytes(), path

    db = tmp_path / "history.sqlite"
    ingested = matrix_cli("ingest", str(tmp_path / "runs"), "--db", str(db))
    assert ingested.returncode == 0 and "added 2 run(s)" in ingested.stdout
    explained = matrix_cli(
        "levels", "--db", str(db), "--explain",
        "launch@fake-live-migrate/fake-local/fake-neutron", "--json",
    )  # fmt: skip
    cell = json.loads(explained.stdout)
    assert cell["explained"]["tempest"], "Tempest's results show beside the scenario's"
