"""The history's SQLite file: its schema and its version, and opening it.

A history records the version of the schema that wrote it (the `meta` table); a harness
refuses one of another version before reading or writing anything in it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness.errors import BadInput, Failure

DEFAULT_DB = Path("results") / "history.sqlite"
SCHEMA_VERSION = 1

META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    combination TEXT NOT NULL,
    embedded INTEGER NOT NULL,
    target TEXT NOT NULL,
    lab TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    kind TEXT NOT NULL,
    voting INTEGER NOT NULL,
    job_url TEXT,
    harness_version TEXT NOT NULL,
    scenarios_revision TEXT,
    preflight TEXT NOT NULL,
    forced INTEGER NOT NULL,
    header TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    seq INTEGER NOT NULL,
    feature TEXT NOT NULL,
    scenario TEXT NOT NULL,
    outcome TEXT NOT NULL,
    skip_category TEXT,
    duration_s REAL NOT NULL,
    message TEXT,
    microversion TEXT,
    api_requests INTEGER,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS facts (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    host TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, host, name)
);
CREATE INDEX IF NOT EXISTS runs_by_combination ON runs (combination, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at, run_id);
-- no index by feature: nothing reads results by feature, and it made ingest five times slower
DROP INDEX IF EXISTS results_by_feature;
"""


class HistoryVersionError(BadInput):
    """The database was written by a harness with another schema; nothing was changed."""


class HistoryWriteError(Failure):
    """The history could not be written (a full disk, a read-only file system)."""


def connect(db: Path) -> sqlite3.Connection:
    db.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(db, timeout=60, isolation_level=None)  # explicit transactions
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.executescript(META)
    try:
        check_schema(connection, db)
    except HistoryVersionError:
        connection.close()
        raise
    connection.executescript(SCHEMA)
    connection.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
    )
    return connection


def check_schema(connection: sqlite3.Connection, db: Path) -> None:
    """Refuse a history another schema wrote, before reading or writing anything in it."""
    try:
        found = connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.OperationalError:  # no meta table: not written by the harness at all
        raise HistoryVersionError(f"{db}: not a matrix history (no schema version)") from None
    if found is not None and found[0] != str(SCHEMA_VERSION):
        raise HistoryVersionError(
            f"{db}: the history's schema is version {found[0]} and this harness reads version "
            f"{SCHEMA_VERSION}; ingest the run records into a new database instead "
            "(matrix ingest results/runs --db NEW.sqlite)"
        )
