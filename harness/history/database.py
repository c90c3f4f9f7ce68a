"""The history's SQLite file: its schema and its version, and opening it.

A history records the version of the schema that wrote it (the `meta` table). A writer
(ingest) upgrades an older one in place (`UPGRADES`); any other version, and an older one
opened only to read, is refused before anything in it is read or written.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from pathlib import Path

from harness.errors import BadInput, Failure
from harness.reading import read_start

DEFAULT_DB = Path("results") / "history.sqlite"
SCHEMA_VERSION = 4
RESULT_KEY_BITS = 20
"""A result's key in memory is its run's key shifted by this many bits, plus its place in the
run (`result_key`): one integer, so a pass over a million results keeps no tuples."""
MAX_RESULTS_PER_RUN = 1 << RESULT_KEY_BITS  # 1,048,576: a full Tempest run is about 2,000

_V3_RUN_COLUMNS = (
    "run_id, combination, embedded, target, lab, status, started_at, ended_at, kind, voting,"
    " job_url, harness_version, scenarios_revision, preflight, forced, header, source"
)
_V3_TO_V4 = (
    # Runs get an integer key and results and facts point at it: a text run id repeated in
    # every result made SQLite keep two B-trees per result (the table and its key) and made
    # ingest and every pass compare strings. Copied in start order, so keys follow time.
    # The new tables are written out as version 4 has them, not taken from SCHEMA: a later
    # version's step upgrades from exactly these.
    """CREATE TABLE runs_v4 (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, combination TEXT NOT NULL,
    embedded INTEGER NOT NULL, target TEXT NOT NULL, lab TEXT NOT NULL, status TEXT NOT NULL,
    started_at TEXT NOT NULL, ended_at TEXT, kind TEXT NOT NULL, voting INTEGER NOT NULL,
    job_url TEXT, harness_version TEXT NOT NULL, scenarios_revision TEXT,
    preflight TEXT NOT NULL, forced INTEGER NOT NULL, header TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'scenario')""",
    f"INSERT INTO runs_v4 ({_V3_RUN_COLUMNS}) SELECT {_V3_RUN_COLUMNS} FROM runs"
    " ORDER BY started_at, run_id",
    """CREATE TABLE results_v4 (
    run INTEGER NOT NULL REFERENCES runs_v4(id), seq INTEGER NOT NULL, feature TEXT NOT NULL,
    scenario TEXT NOT NULL, outcome TEXT NOT NULL, skip_category TEXT,
    duration_s REAL NOT NULL, message TEXT, microversion TEXT, api_requests INTEGER,
    finished_at TEXT NOT NULL, proof TEXT, PRIMARY KEY (run, seq)) WITHOUT ROWID""",
    "INSERT INTO results_v4 SELECT r.id, x.seq, x.feature, x.scenario, x.outcome,"
    " x.skip_category, x.duration_s, x.message, x.microversion, x.api_requests, x.finished_at,"
    " x.proof FROM results x JOIN runs_v4 r USING (run_id) ORDER BY r.id, x.seq",
    """CREATE TABLE facts_v4 (
    run INTEGER NOT NULL REFERENCES runs_v4(id), host TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (run, host, name)) WITHOUT ROWID""",
    "INSERT INTO facts_v4 SELECT r.id, f.host, f.name, f.value FROM facts f"
    " JOIN runs_v4 r USING (run_id) ORDER BY r.id, f.host, f.name",
    "DROP TABLE results",
    "DROP TABLE facts",
    "DROP TABLE runs",
    "ALTER TABLE runs_v4 RENAME TO runs",  # renames the references in the other two as well
    "ALTER TABLE results_v4 RENAME TO results",
    "ALTER TABLE facts_v4 RENAME TO facts",
)
UPGRADES: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE results ADD COLUMN proof TEXT",),
    2: ("ALTER TABLE runs ADD COLUMN source TEXT NOT NULL DEFAULT 'scenario'",),
    3: _V3_TO_V4,
}
"""From each older schema version, what brings it to the next, so a history is upgraded in
place by the next ingest and no record is lost or read again (every step keeps every row)."""
SQLITE_MAGIC = b"SQLite format 3\x00"  # how every SQLite 3 database begins
TABLES = {"meta", "runs", "results", "facts"}

META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
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
    header TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'scenario'
);
-- a run's results and facts are stored together under its key, one B-tree each
CREATE TABLE IF NOT EXISTS results (
    run INTEGER NOT NULL REFERENCES runs(id),
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
    proof TEXT,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS facts (
    run INTEGER NOT NULL REFERENCES runs(id),
    host TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run, host, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_combination ON runs (combination, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at, id);
-- no index by feature: nothing reads results by feature, and it made ingest five times slower
"""


def result_key(run: int, seq: int) -> int:
    """One integer for a result (see RESULT_KEY_BITS); SQL computes the same as
    `(run << 20) | seq`."""
    return (run << RESULT_KEY_BITS) | seq


class HistoryVersionError(BadInput):
    """The file is not a history this harness reads (not SQLite, not a matrix history, or of
    another schema version); nothing was changed."""


class HistoryWriteError(Failure):
    """The history could not be written (a full disk, a read-only file system)."""


def connect(db: Path) -> sqlite3.Connection:
    """The history, for writing: made whole where no file is (_create); an existing file is
    checked to be a history of this schema version before anything in it is written."""
    try:
        if not db.exists():
            _create(db)
        check_file(db)
        connection = sqlite3.connect(db, timeout=60, isolation_level=None)
    except (OSError, sqlite3.Error) as error:
        raise HistoryWriteError(f"{db}: cannot open the history for writing: {error}") from None
    try:
        check_schema(connection, db, upgrade=True)
        connection.execute("PRAGMA journal_mode=WAL")
        # A commit needs no fsync of its own in WAL mode (checkpoints still sync): the history
        # stays whole through any crash, and a power cut can only take back the last batches
        # of an ingest, which the run records it read still hold.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.executescript(SCHEMA)  # what a newer harness of this version adds or drops
    except sqlite3.Error as error:
        connection.close()
        raise HistoryWriteError(f"{db}: cannot open the history for writing: {error}") from None
    except BaseException:
        connection.close()
        raise
    return connection


def _create(db: Path) -> None:
    """A new history at `db`, unless one appeared meanwhile: built beside it and linked into
    place, so no reader and no concurrent ingest ever sees one half made; an empty or
    half-made file at `db` is then never the harness's own."""
    db.parent.mkdir(parents=True, exist_ok=True)
    name = db.with_name(f".{db.name}.{uuid.uuid4().hex[:12]}.new")  # SQLite's permissions
    try:
        with contextlib.closing(sqlite3.connect(name, isolation_level=None)) as new:
            new.execute("PRAGMA journal_mode=WAL")  # kept in the file's header
            new.executescript(f"BEGIN; {META} {SCHEMA} {_VERSION_ROW}; COMMIT;")
        try:
            os.link(name, db)
        except FileExistsError:  # another ingest made it first: use theirs
            pass
        except OSError:  # a file system without hard links: the same, less strictly
            if not db.exists():
                os.replace(name, db)
    finally:
        name.unlink(missing_ok=True)


_VERSION_ROW = f"INSERT INTO meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}')"


def connect_read_only(db: Path) -> sqlite3.Connection:
    """The history, for reading only, checked as `connect` checks it and never written. On a
    read-only file system it is opened immutable: SQLite cannot make the shared-memory file
    a WAL reader needs beside it there, and nobody can be writing to it."""
    check_file(db)
    uri = f"{db.absolute().as_uri()}?mode=ro"  # as_uri escapes '?' and '#' in the name
    if os.statvfs(db).f_flag & os.ST_RDONLY:
        uri += "&immutable=1"
    connection = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        check_schema(connection, db)
    except BaseException:
        connection.close()
        raise
    return connection


def check_file(db: Path) -> None:
    """Refuse, before SQLite opens it, a file that cannot be a history: SQLite takes an empty
    file for a new database and writes into it, and finds anything else not a database only
    when a query runs. Only a regular file is looked at (harness.reading)."""
    try:
        start = read_start(db, len(SQLITE_MAGIC))
    except OSError as error:
        raise HistoryVersionError(f"{db}: cannot read: {error.strerror or error}") from None
    if not start:
        raise HistoryVersionError(
            f"{db}: an empty file, not a matrix history (ingest makes a new history only where "
            "no file is)"
        )
    if start != SQLITE_MAGIC:
        raise HistoryVersionError(f"{db}: not a SQLite database, so not a matrix history")


def check_schema(connection: sqlite3.Connection, db: Path, *, upgrade: bool = False) -> None:
    """Refuse a database that is not a history of this schema version, before reading or
    writing anything in it; with `upgrade` (a writer), bring an older one up to it first."""
    try:
        tables = {row[0] for row in connection.execute(_TABLES_QUERY)}
        found = (
            connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if "meta" in tables
            else None
        )
    except sqlite3.DatabaseError as error:  # a damaged file, or one SQLite cannot open
        raise HistoryVersionError(f"{db}: not a readable SQLite database: {error}") from None
    if found is None:
        raise HistoryVersionError(f"{db}: not a matrix history (no schema version)")
    older = found[0] in {str(version) for version in UPGRADES} and not TABLES - tables
    if older and upgrade:
        _upgrade(connection)
        found = (str(SCHEMA_VERSION),)
    elif older:
        raise HistoryVersionError(
            f"{db}: the history's schema is version {found[0]}, older than this harness's "
            f"{SCHEMA_VERSION}; any `matrix ingest` into it upgrades it in place "
            f"(matrix ingest results/runs --db {db})"
        )
    if found[0] != str(SCHEMA_VERSION):
        raise HistoryVersionError(
            f"{db}: the history's schema is version {found[0]} and this harness reads version "
            f"{SCHEMA_VERSION}; ingest the run records into a new database instead "
            "(matrix ingest results/runs --db NEW.sqlite)"
        )
    if missing := TABLES - tables:
        raise HistoryVersionError(
            f"{db}: not a matrix history (no table {', '.join(sorted(missing))})"
        )


_TABLES_QUERY = "SELECT name FROM sqlite_master WHERE type = 'table'"


def _upgrade(connection: sqlite3.Connection) -> None:
    """Apply the upgrades from the history's version on, in one transaction with the new
    version row, so a second ingest doing the same meanwhile finds the old or the new one."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        now = connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        for step in range(int(now), SCHEMA_VERSION):  # another writer may have done it first
            for statement in UPGRADES[step]:
                connection.execute(statement)
        connection.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
