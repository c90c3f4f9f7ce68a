"""Ingest into the SQLite history: idempotent, all-or-nothing per run, tarballs, concurrent."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.history import store
from harness.history.database import SCHEMA_VERSION, connect
from harness.history.store import ingest
from harness.levels.compute import compute_levels
from harness.run.records import Provenance, Result, RunHeader, append_result, write_header


def make_run(
    root: Path,
    run_id: str,
    outcomes: list[str],
    combination: str = "libvirt-qemu/ceph-rbd/ovn",
    started_at: str = "2026-11-20T10:00:00+00:00",
) -> Path:
    run_dir = root / run_id
    header = RunHeader(
        run_id=run_id, status="complete", started_at=started_at,
        ended_at="2026-11-20T10:05:00+00:00", combination=combination, embedded=False,
        target="ceph-lab", lab="mylab", provenance=Provenance(kind="periodic", voting=False, harness_version="0.1.0"),
        preflight={"status": "passed"}, facts={"ssh://stack@compute1": {"libvirt": "10.0.0"}},
    )  # fmt: skip
    write_header(run_dir, header)
    for i, outcome in enumerate(outcomes):
        append_result(
            run_dir,
            Result(
                feature="live-snapshot",
                scenario=f"s::t{i}",
                outcome=outcome,
                duration_s=1.5,
                finished_at="2026-11-20T10:01:00+00:00",
            ),
        )  # type: ignore[arg-type]
    return run_dir


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def test_ingest_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    runs = tmp_path / "runs"
    make_run(runs, "run-1", ["passed", "failed"])
    make_run(runs, "run-2", ["passed"])
    first = ingest(db, [runs])
    assert (sorted(first.added), first.results, first.already) == (["run-1", "run-2"], 3, [])
    second = ingest(db, [runs, runs / "run-1"])
    assert (second.added, sorted(second.already)) == ([], ["run-1", "run-1", "run-2"])
    assert rows(db, "SELECT count(*) FROM results") == [(3,)]
    assert rows(db, "SELECT run_id, preflight, kind FROM runs ORDER BY run_id") == [
        ("run-1", "passed", "periodic"),
        ("run-2", "passed", "periodic"),
    ]
    assert rows(
        db, "SELECT name, value FROM facts JOIN runs ON run = id WHERE run_id = 'run-1'"
    ) == [("libvirt", "10.0.0")]


def test_a_run_found_twice_in_one_ingest_is_stored_once(tmp_path: Path) -> None:
    """Runs are stored a batch at a time: the second copy is told apart before its batch is
    written, as if the first were in the history already."""
    db = tmp_path / "history.sqlite"
    make_run(tmp_path / "a", "run-1", ["passed"])
    make_run(tmp_path / "b", "run-1", ["passed"])
    changed = make_run(tmp_path / "c", "run-1", ["passed"])
    (changed / "run.json").write_text(
        (changed / "run.json").read_text().replace('"target": "ceph-lab"', '"target": "other"')
    )
    report = ingest(db, [tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    assert (report.added, report.already) == (["run-1"], ["run-1"])
    assert len(report.rejected) == 1 and "conflict: run run-1" in report.rejected[0]
    assert rows(db, "SELECT target, count(*) FROM runs") == [("ceph-lab", 1)]


def test_a_big_ingest_commits_batch_by_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch is one transaction; every run of every batch arrives, in order."""
    monkeypatch.setattr(store, "BATCH_RUNS", 3)
    commits: list[int] = []
    original = store.store_runs
    monkeypatch.setattr(
        store, "store_runs", lambda c, runs: (commits.append(len(runs)), original(c, runs))[1]
    )
    runs = tmp_path / "runs"
    for i in range(8):
        make_run(runs, f"run-{i}", ["passed", "failed"])
    report = ingest(tmp_path / "h.sqlite", [runs])
    assert commits == [3, 3, 2]
    assert report.added == [f"run-{i}" for i in range(8)] and report.results == 16
    assert rows(tmp_path / "h.sqlite", "SELECT count(*) FROM results") == [(16,)]


def test_a_run_already_in_the_history_is_not_read_again(tmp_path: Path) -> None:
    """Re-ingesting a results folder full of old runs reads only their headers."""
    db = tmp_path / "history.sqlite"
    run_dir = make_run(tmp_path / "runs", "run-1", ["passed"])
    assert ingest(db, [run_dir]).added == ["run-1"]
    (run_dir / "results.jsonl").write_text("not json at all\n")
    again = ingest(db, [run_dir])
    assert (again.added, again.already, again.rejected) == ([], ["run-1"], [])
    assert rows(db, "SELECT outcome FROM results") == [("passed",)]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: (d / "run.json").write_text("{not json"), "run.json: "),
        (
            lambda d: (d / "run.json").write_text(
                (d / "run.json").read_text().replace('"status": "complete"', '"status": "finished"')
            ),
            "run.json: status: Input should be",
        ),
        (
            lambda d: (d / "results.jsonl").write_text(
                (d / "results.jsonl")
                .read_text()
                .replace('"outcome":"failed"', '"outcome":"exploded"')
            ),
            "results.jsonl:2: outcome: Input should be",
        ),
        (lambda d: (d / "run.json").unlink(), "run-bad: no run record (run.json) found"),
    ],
    ids=["bad json", "bad header value", "bad result line", "no header"],
)
def test_a_malformed_run_is_rejected_whole_and_precisely(
    tmp_path: Path, damage, expected: str
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "history.sqlite"
    good = make_run(tmp_path / "runs", "run-good", ["passed"])
    bad = make_run(tmp_path / "runs", "run-bad", ["passed", "failed"])
    damage(bad)
    report = ingest(db, [good.parent] if (bad / "run.json").exists() else [good, bad])
    assert report.added == ["run-good"]
    assert len(report.rejected) == 1 and expected in report.rejected[0], report.rejected
    assert rows(db, "SELECT DISTINCT run_id FROM results JOIN runs ON run = id") == [("run-good",)]


def test_a_tarball_of_runs_is_ingested(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "run-1", ["passed"])
    make_run(runs, "run-2", ["skipped"])
    archive = tmp_path / "artifacts.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(runs, arcname="results/runs")
    report = ingest(tmp_path / "h.sqlite", [archive])
    assert sorted(report.added) == ["run-1", "run-2"] and not report.rejected


def test_concurrent_ingests_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    batches = []
    for b in range(4):
        batch = tmp_path / f"batch{b}"
        for r in range(5):
            make_run(batch, f"run-{b}-{r}", ["passed"] * 20)
        make_run(batch, "run-shared", ["passed"] * 20)  # every process ingests this one too
        batches.append(batch)
    matrix = Path(sys.executable).parent / "matrix"
    processes = [
        subprocess.Popen(
            [str(matrix), "ingest", str(b), "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for b in batches
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert rows(db, "SELECT count(*) FROM runs") == [(21,)]
    assert rows(db, "SELECT count(*) FROM results") == [(21 * 20,)]


def refuse_hard_links(*args: object) -> None:
    raise PermissionError(1, "Operation not permitted")


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_new_history_is_put_in_place_whole_and_leaves_nothing_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    """Built beside its path, then linked (or, without hard links, moved) into place: no
    reader and no other ingest sees it empty or half made."""
    if not hard_links:
        monkeypatch.setattr(os, "link", refuse_hard_links)
    run_dir = make_run(tmp_path / "runs", "run-1", ["passed"])
    assert ingest(tmp_path / "h.sqlite", [run_dir]).added == ["run-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.sqlite", "runs"]
    assert rows(tmp_path / "h.sqlite", "SELECT value FROM meta") == [(str(SCHEMA_VERSION),)]


def test_ingest_command_reports_and_exits_2_on_rejects(tmp_path: Path) -> None:
    make_run(tmp_path / "runs", "run-1", ["passed"])
    (tmp_path / "runs" / "junk").mkdir()
    (tmp_path / "runs" / "junk" / "run.json").write_text("[]")
    matrix = Path(sys.executable).parent / "matrix"
    done = subprocess.run(
        [str(matrix), "ingest", str(tmp_path / "runs"), "--db", str(tmp_path / "h.sqlite")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "rejected" in done.stderr and "junk/run.json" in done.stderr
    assert "added 1 run(s) with 1 result(s); 0 already there; 1 rejected" in done.stdout


def test_a_history_of_another_schema_version_is_refused_unchanged(tmp_path: Path) -> None:
    from harness.history.database import HistoryVersionError

    db = tmp_path / "history.sqlite"
    connect(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    before = db.read_bytes()
    with pytest.raises(HistoryVersionError, match="schema is version 99 and this harness reads"):
        connect(db)
    matrix = load_matrix(Path(__file__).parents[2] / "matrix")
    with pytest.raises(HistoryVersionError, match="version 99"):
        compute_levels(matrix, db)
    assert db.read_bytes() == before
