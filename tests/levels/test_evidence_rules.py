"""The evidence rules, each pinned by a record the harness really writes: `matrix run` on a
target it could not verify, and a bare pytest session, record runs marked `complete`; only a
passed preflight makes their results count. `--kind embedded` is refused for a real
combination, and a record that claims it anyway counts for nothing.

Each test ingests the record as written, then the same record with only the one field the rule
reads changed: the level moves with that field alone, so a rule that stopped reading it fails.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.history.store import ingest
from harness.levels.compute import compute_levels
from harness.run.records import RUN_FILE, read_header
from tests.conftest import HOSTLESS_COMBINATION, Result, hostless_lab, with_shipped_policy

KVM = HOSTLESS_COMBINATION
FEATURE = "live-snapshot"  # no requirements in the small matrix: the scenario needs no cloud
SCENARIO = """
import pytest

@pytest.mark.feature("live-snapshot")
def test_live_snapshot(proof):
    '''Passes only when it runs.'''
"""


@pytest.fixture
def lab(small: Path, tmp_path: Path) -> Path:
    """A target of a real combination with no hosts (nothing to verify it on) and no names to
    look up, and a clouds.yaml entry so the record's secrets can be masked."""
    with_shipped_policy(small)
    path = hostless_lab(tmp_path)  # provenance kind: manual, the default
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "test_it.py").write_text(SCENARIO)
    return path


def matrix_run(run: Callable[..., Result], small: Path, lab: Path, *args: str) -> Result:
    out = lab.parent / "out"
    return run(
        "--matrix", str(small), "run", "--lab", str(lab), "--out", str(out),
        "--scenarios", str(lab.parent / "scenarios"), *args,
    )  # fmt: skip


def level_of(small: Path, run_dir: Path, db: Path, **header_changes: object) -> tuple[str, str]:
    """Ingest `run_dir` (a copy, with `header_changes` made to its run.json) into `db`, and
    return the level and reason of the feature's cell on KVM."""
    copy = db.parent / f"{db.stem}-run" / run_dir.name
    shutil.copytree(run_dir, copy)
    header = json.loads((copy / RUN_FILE).read_text())
    for dotted, value in header_changes.items():
        *parents, last = dotted.split("__")
        node = header
        for part in parents:
            node = node[part]
        node[last] = value
    (copy / RUN_FILE).write_text(json.dumps(header))
    assert ingest(db, [copy]).added == [header["run_id"]]
    cell = compute_levels(load_matrix(small), db).cell(FEATURE, KVM)
    return cell.level, cell.reason


def test_a_run_whose_preflight_was_skipped_counts_for_nothing(
    run: Callable[..., Result], small: Path, lab: Path, tmp_path: Path
) -> None:
    done = matrix_run(run, small, lab)
    assert done.code == 0, done.err
    [run_dir] = (tmp_path / "out" / "runs").iterdir()
    header = read_header(run_dir)
    assert (header.status, header.preflight["status"]) == ("complete", "skipped")

    level, reason = level_of(small, run_dir, tmp_path / "as-written.sqlite")
    assert level == "unknown"
    assert "target not verified (preflight skipped)" in reason
    verified = level_of(small, run_dir, tmp_path / "verified.sqlite", preflight__status="passed")
    assert verified[0] == "reported"  # the preflight status alone made the difference


def test_a_bare_pytest_sessions_run_counts_for_nothing(
    pytester: pytest.Pytester, small: Path, lab: Path, tmp_path: Path
) -> None:
    pytester.makepyfile(test_it=SCENARIO)
    record = tmp_path / "bare"
    result = pytester.runpytest_subprocess(
        "--matrix-dir", str(small), "--lab", str(lab), "--record-dir", str(record),
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    header = read_header(record)
    assert (header.status, header.preflight) == ("complete", {"status": "not-run"})

    level, reason = level_of(small, record, tmp_path / "as-written.sqlite")
    assert level == "unknown" and "target not verified (preflight not-run)" in reason
    verified = level_of(small, record, tmp_path / "verified.sqlite", preflight__status="passed")
    assert verified[0] == "reported"


def test_kind_embedded_is_refused_for_a_real_combination_and_ignored_if_recorded(
    run: Callable[..., Result], small: Path, lab: Path, tmp_path: Path
) -> None:
    refused = matrix_run(run, small, lab, "--kind", "embedded")
    assert refused.code == 2
    assert refused.err == (
        f"matrix: target 't' ({KVM}) is a real combination: provenance kind 'embedded' "
        "(--kind) 'embedded' is only for the embedded lab\n"
    )
    assert not (tmp_path / "out").exists()  # refused before anything ran

    assert matrix_run(run, small, lab).code == 0
    [run_dir] = (tmp_path / "out" / "runs").iterdir()
    changes = {"preflight__status": "passed"}  # verified, so only the kind can make it not count
    claimed = level_of(
        small, run_dir, tmp_path / "claimed.sqlite", provenance__kind="embedded", **changes
    )
    assert claimed == ("unknown", claimed[1])
    assert "embedded-lab run of a real combination" in claimed[1]
    assert level_of(small, run_dir, tmp_path / "manual.sqlite", **changes)[0] == "reported"
