"""A small history over tests/data/small, built through the real ingest path, and its site.

Levels are judged as of NOW. On `libvirt-kvm/local-qcow2/ovs`, live-migration passes in a
voting gate job every week for six weeks (gated) and live-snapshot's latest run failed with a
message that tries to inject a script and a `javascript:` job link (failing).
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from harness.history.database import connect
from harness.history.store import ingest_run
from harness.levels.compute import LevelMatrix, compute_levels
from harness.publish import publish
from harness.run.records import Provenance, Result, RunHeader

DATA = Path(__file__).parent.parent / "data" / "small"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
GATED = "libvirt-kvm/local-qcow2/ovs"
BROKEN = "libvirt-kvm/ceph-rbd/ovs"
SCRIPT = "<script>alert(1)</script>"
EVIL_LINK = "javascript:alert(2)"
JOB = "https://ci.example.org/job/42"
PROOF = "the migration record says completed & the server moved"


def add_run(
    db: Path,
    run_id: str,
    combination: str,
    started: datetime,
    outcomes: dict[str, str],
    *,
    message: str | None = None,
    job_url: str | None = JOB,
    kind: str = "gate",
) -> None:
    header = RunHeader(
        run_id=run_id, status="complete", started_at=started.isoformat(),
        ended_at=(started + timedelta(minutes=5)).isoformat(), combination=combination,
        embedded=False, target="t1", lab="lab-a",
        provenance=Provenance(kind=kind, voting=kind == "gate", job_url=job_url, harness_version="0.1.0"),
        preflight={"status": "passed"}, facts={"ssh://stack@compute1": {"nova": "34.0.0", "libvirt": "10.0.0"}},
    )  # fmt: skip
    results = [
        Result(
            feature=feature, scenario=f"scenarios/test_{feature}.py::test_it", outcome=outcome,
            duration_s=12.5, message=message if outcome != "passed" else None,
            microversion="2.95", finished_at=started.isoformat(),
            proof=PROOF if outcome == "passed" else None,
        )  # type: ignore[arg-type]
        for feature, outcome in outcomes.items()
    ]  # fmt: skip
    connection = connect(db)
    try:
        ingest_run(connection, header, results)
    finally:
        connection.close()


def build_history(db: Path) -> None:
    for week in range(6):
        started = NOW - timedelta(days=7 * (6 - week), hours=3)
        both = {"live-migration": "passed", "live-snapshot": "passed"}
        add_run(db, f"gate-{week}", GATED, started, both)
        outcome = "failed" if week == 5 else "passed"
        add_run(
            db, f"periodic-{week}", BROKEN, started, {"live-snapshot": outcome},
            message=f"server went ERROR: {SCRIPT}", job_url=EVIL_LINK, kind="periodic",
        )  # fmt: skip


def levels_and_matrix(root: Path) -> tuple[LevelMatrix, Matrix]:
    matrix_dir = root / "matrix"
    if not matrix_dir.exists():
        shutil.copytree(DATA, matrix_dir)
    db = root / "history.sqlite"
    if not db.exists():
        build_history(db)
    matrix = load_matrix(matrix_dir)
    return compute_levels(matrix, db, now=NOW), matrix


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published site's directory (built once per test module)."""
    root = tmp_path_factory.mktemp("publish")
    levels, matrix = levels_and_matrix(root)
    return publish(levels, matrix, root / "site").parent
