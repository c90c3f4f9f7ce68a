"""A history written by an older harness is upgraded in place by the next ingest, keeping
every run, result and fact; a reader never upgrades one, it says how."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.history.database import SCHEMA_VERSION, HistoryVersionError
from harness.history.store import ingest
from harness.levels.compute import compute_levels
from harness.run.records import Result, append_result
from tests.history.test_ingest import make_run, rows

MATRIX = Path(__file__).parents[2] / "matrix"
VERSION_3 = Path(__file__).parents[1] / "data" / "history" / "schema-v3.sql"
CELL = ("live-snapshot", "libvirt-qemu/ceph-rbd/ovn")


def as_version_3(db: Path) -> None:
    """Rewrite a history as version 3 of the schema stored it: results and facts keyed by the
    run id's text, runs by their rowid."""
    old = db.with_name("v3.sqlite")
    with contextlib.closing(sqlite3.connect(old)) as raw:
        raw.executescript(VERSION_3.read_text())
        raw.execute("ATTACH ? AS new", (str(db),))
        columns = (
            "run_id, combination, embedded, target, lab, status, started_at, ended_at, kind,"
            " voting, job_url, harness_version, scenarios_revision, preflight, forced, header,"
            " source"
        )
        raw.executescript(
            f"""BEGIN;
            INSERT INTO runs ({columns}) SELECT {columns} FROM new.runs ORDER BY run_id DESC;
            INSERT INTO results SELECT r.run_id, x.seq, x.feature, x.scenario, x.outcome,
                x.skip_category, x.duration_s, x.message, x.microversion, x.api_requests,
                x.finished_at, x.proof FROM new.results x JOIN new.runs r ON x.run = r.id;
            INSERT INTO facts SELECT r.run_id, f.host, f.name, f.value
                FROM new.facts f JOIN new.runs r ON f.run = r.id;
            COMMIT;"""
        )
    old.replace(db)


def as_version_1(db: Path) -> None:
    """Rewrite a history as version 1 of the schema stored it (version 3 before results had a
    proof and runs a source)."""
    as_version_3(db)
    with contextlib.closing(sqlite3.connect(db)) as raw:
        raw.execute("ALTER TABLE results DROP COLUMN proof")
        raw.execute("ALTER TABLE runs DROP COLUMN source")
        raw.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
        raw.commit()


def everything(db: Path) -> list[list[tuple[object, ...]]]:
    """Every run, result and fact, by run id (the key they are stored under may change)."""
    return [
        rows(db, "SELECT run_id, started_at, header FROM runs ORDER BY run_id"),
        rows(
            db,
            "SELECT run_id, seq, feature, scenario, outcome, duration_s, finished_at, proof"
            " FROM results JOIN runs ON run = id ORDER BY run_id, seq",
        ),
        rows(
            db,
            "SELECT run_id, host, name, value FROM facts JOIN runs ON run = id"
            " ORDER BY run_id, host, name",
        ),
    ]


def test_a_version_3_history_is_upgraded_in_place_keeping_every_row(tmp_path: Path) -> None:
    db, runs = tmp_path / "history.sqlite", tmp_path / "runs"
    started = ["2026-11-20T10:00:00+00:00", "2026-11-18T10:00:00+00:00", "2026-11-19T09:00:00Z"]
    ingest(db, [make_run(runs, f"run-{i}", ["passed", "failed"], started_at=when)
                for i, when in enumerate(started)])  # fmt: skip
    matrix = load_matrix(MATRIX)
    levels_before = compute_levels(matrix, db).cell(*CELL)
    kept = everything(db)
    as_version_3(db)
    assert rows(db, "SELECT value FROM meta") == [("3",)]
    with pytest.raises(HistoryVersionError, match="version 3, older than this harness's"):
        compute_levels(matrix, db)

    assert ingest(db, [make_run(runs, "run-3", ["passed"])]).added == ["run-3"]
    assert rows(db, "SELECT value FROM meta") == [(str(SCHEMA_VERSION),)]
    after = everything(db)
    assert [[row for row in table if row[0] != "run-3"] for table in after] == kept
    # keys follow start order, so a pass in key order is a pass in time order
    assert rows(db, "SELECT run_id FROM runs ORDER BY id") == [
        ("run-1",), ("run-2",), ("run-0",), ("run-3",)
    ]  # fmt: skip
    assert rows(db, "PRAGMA foreign_key_check") == []
    assert {name for (name,) in rows(db, "SELECT name FROM sqlite_master")} >= {
        "runs", "results", "facts", "runs_by_start", "runs_by_combination"
    }  # fmt: skip
    levels_after = compute_levels(matrix, db).cell(*CELL)
    assert levels_after.recent[1:] == levels_before.recent  # run-3's pass is the newest
    assert levels_after.recent[0].run_id == "run-3"


def test_a_version_1_history_is_upgraded_in_place_by_the_next_ingest(tmp_path: Path) -> None:
    db, runs = tmp_path / "history.sqlite", tmp_path / "runs"
    ingest(db, [make_run(runs, "old", ["passed", "failed"])])
    as_version_1(db)
    matrix = load_matrix(MATRIX)
    with pytest.raises(HistoryVersionError, match="any `matrix ingest` into it upgrades it"):
        compute_levels(matrix, db)  # a reader never writes: it says how to upgrade

    new = make_run(runs, "new", [])
    append_result(
        new,
        Result(
            feature="live-snapshot", scenario="s::live", outcome="passed", duration_s=2.0,
            finished_at="2026-11-20T10:02:00+00:00", proof="compute log: live snapshot line",
        ),
    )  # fmt: skip
    assert ingest(db, [new]).added == ["new"]
    assert rows(db, "SELECT value FROM meta WHERE key = 'schema'") == [(str(SCHEMA_VERSION),)]
    assert rows(
        db, "SELECT run_id, outcome, proof FROM results JOIN runs ON run = id ORDER BY run_id, seq"
    ) == [
        ("new", "passed", "compute log: live snapshot line"),
        ("old", "passed", None),
        ("old", "failed", None),
    ]
    assert rows(db, "SELECT run_id, source FROM runs ORDER BY run_id") == [
        ("new", "scenario"),
        ("old", "scenario"),
    ]
    cell = compute_levels(matrix, db).cell(*CELL)
    assert [e.proof for e in cell.recent if e.run_id == "new"] == [
        "compute log: live snapshot line"
    ]
