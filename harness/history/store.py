"""The history: every ingested run record, in SQLite (default results/history.sqlite).

Ingest takes what a CI engine hands a publish job: run directories, folders searched at any
depth for run directories and archives (a tree of downloaded artifacts, a Zuul log directory),
and archives (`archives`: tar or zip, and archives one level inside them). Each artifact that
cannot be read is one rejected line naming it (and the path inside an archive), and the rest
goes on; an archive found in a folder that holds no run record is someone else's and passed
over, one given by name is rejected.

Ingest is idempotent by run id and all-or-nothing per run: a record is validated completely
before anything is written, then runs go in a batch at a time (`Batch`: one transaction for
hundreds of runs, since a commit waits for the disk), so a malformed or interrupted ingest
leaves no trace of a run half stored; a batch that cannot be written (a full disk) is retried
run by run, so what fits stays. Records are read and validated in worker processes when
there are many (`rundirs`). Several processes may ingest at once: WAL mode lets readers go
on, writers wait their turn (busy timeout), and the run id's unique key decides who wins
when two ingest the same run.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness.history import archives
from harness.history.database import HistoryWriteError, connect
from harness.history.rows import FACT_COLUMNS, RESULT_COLUMNS, RUN_COLUMNS, StoredRun, rows_of
from harness.history.rundirs import Known, Rejected, RunReader, reason
from harness.run.records import RESULTS_FILE, RUN_FILE, Result, RunHeader


def _insert(table: str, columns: tuple[str, ...], suffix: str = "") -> str:
    """An INSERT naming its columns, so a value can never land in the wrong one."""
    places = ",".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({places}){suffix}"


INSERT_RUN = _insert("runs", RUN_COLUMNS, " ON CONFLICT DO NOTHING")
INSERT_RESULT = _insert("results", ("run", *RESULT_COLUMNS))
INSERT_FACT = _insert("facts", ("run", *FACT_COLUMNS))


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # "path: why", one line each
    results: int = 0

    def reject(self, message: str) -> None:
        self.rejected.append(one_line(message))


def stored_header(connection: sqlite3.Connection, run_id: str) -> str | None:
    """The header the history holds for a run id, as it was ingested (None: not there)."""
    row = connection.execute("SELECT header FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return str(row[0]) if row else None


def one_line(text: str) -> str:
    """A message on one line: a newline in it (in a field name from the record, a path inside
    an archive) shown as `\\n`. Whoever prints it shows the other control characters
    (`cli.output.printable`)."""
    return text.replace("\n", "\\n")


BATCH_RESULTS = 20_000
"""Results stored in one transaction: a commit waits for the disk, so a big ingest commits a
batch of runs at a time (and holds at most this many results in memory meanwhile)."""
BATCH_RUNS = 500


def store_runs(connection: sqlite3.Connection, runs: Sequence[StoredRun]) -> list[bool]:
    """Store runs in one transaction: all of them or, on an error, none. For each, in order,
    whether it was added (False: its run id was in the history already)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        added = [_insert_run(connection, run) for run in runs]
        connection.execute("COMMIT")
        return added
    except BaseException as error:
        if connection.in_transaction:  # SQLite has already rolled back after a full disk
            connection.execute("ROLLBACK")
        if isinstance(error, sqlite3.OperationalError):
            which = f"run {runs[0].run_id}" if len(runs) == 1 else f"{len(runs)} runs"
            raise HistoryWriteError(
                f"the history could not store {which}: {error} (nothing of "
                + ("that run" if len(runs) == 1 else "those runs")
                + " was written)"
            ) from None
        raise


def ingest_run(connection: sqlite3.Connection, header: RunHeader, results: list[Result]) -> bool:
    """Store one validated run; False when that run id is already in the history."""
    return store_runs(connection, [rows_of(header, results)])[0]


def _insert_run(connection: sqlite3.Connection, run: StoredRun) -> bool:
    cursor = connection.execute(INSERT_RUN, run.run)
    if not cursor.rowcount:  # another ingest stored it first: ours adds nothing
        return False
    key = cursor.lastrowid
    connection.executemany(INSERT_RESULT, [(key, *row) for row in run.results])
    connection.executemany(INSERT_FACT, [(key, *row) for row in run.facts])
    return True


class Batch:
    """Validated runs waiting to be stored, a transaction's worth at a time. It knows every
    header it was given, so a run found twice in one ingest is told apart like one stored.
    (Writing in a thread of its own while the next batch is validated was measured slower:
    binding each row's values holds the GIL the validation needs. Validating in worker
    processes is what works: `rundirs.RunReader`.)"""

    def __init__(self, connection: sqlite3.Connection, report: IngestReport) -> None:
        self.connection = connection
        self.report = report
        self.runs: list[StoredRun] = []
        self.results = 0
        self.headers: dict[str, str] = {}  # every run given, stored or waiting
        self.known = frozenset(row[0] for row in connection.execute("SELECT run_id FROM runs"))
        """The run ids in the history when the ingest began; one stored meanwhile by another
        ingest is found at insert instead."""
        self.reader = RunReader(self.known)  # what reads the runs this batch is given

    def stored_header(self, run_id: str) -> str | None:
        """The header stored (or given to this ingest) for a run id."""
        if run_id in self.headers:
            return self.headers[run_id]
        return stored_header(self.connection, run_id) if run_id in self.known else None

    def add(self, run: StoredRun) -> None:
        self.runs.append(run)
        self.headers[run.run_id] = run.header
        self.results += len(run.results)
        if self.results >= BATCH_RESULTS or len(self.runs) >= BATCH_RUNS:
            self.flush()

    def flush(self) -> None:
        """Store what waits, in one transaction; if that fails (a full disk), run by run, so
        every run that fits goes in before the error is raised."""
        runs, self.runs, self.results = self.runs, [], 0
        if not runs:
            return
        try:
            self._stored(runs, store_runs(self.connection, runs))
        except HistoryWriteError:
            if len(runs) == 1:
                raise
            for run in runs:
                self._stored([run], store_runs(self.connection, [run]))

    def _stored(self, runs: list[StoredRun], added: list[bool]) -> None:
        for run, new in zip(runs, added, strict=True):
            if new:
                self.report.added.append(run.run_id)
                self.report.results += len(run.results)
            else:
                self.report.already.append(run.run_id)


NESTED = 1
"""Archives inside an archive that are unpacked: one level. GitHub serves every artifact as a
zip, so a job that uploaded runs.tar.gz arrives as a zip holding it; an archive inside that is
rejected by name, not unpacked."""


def ingest(db: Path, paths: Iterable[Path]) -> IngestReport:
    """Ingest each path: a run directory, a folder searched for run directories and archives at
    any depth, or an archive (tar or zip). An artifact that cannot be read is a rejected line,
    and the rest goes on (only a history that cannot be written stops it: HistoryWriteError)."""
    report = IngestReport()
    connection = connect(db)
    try:
        batch = Batch(connection, report)
        try:
            given: list[Path] = []  # run directories named one by one (`runs/*`): read together
            for path in paths:
                if (path / RUN_FILE).exists():
                    given.append(path)
                    continue
                _ingest_dirs(batch, given, report, _GIVEN)
                given = []
                _ingest_path(batch, path, report)
            _ingest_dirs(batch, given, report, _GIVEN)
            batch.flush()
        finally:
            batch.reader.close()
    except HistoryWriteError as error:
        raise HistoryWriteError(f"{db}: {error}; {len(report.added)} run(s) added before") from None
    finally:
        connection.close()
    return report


def _ingest_path(batch: Batch, path: Path, report: IngestReport) -> None:
    if path.is_dir():
        if not _ingest_folder(batch, _Place(path), report):
            report.reject(f"{path}: no run record ({RUN_FILE}) found")
        return
    try:
        kind = archives.kind_of(path) if path.is_file() else None  # by content, not by name
    except OSError as error:
        report.reject(f"{path}: cannot read: {reason(error)}")
        return
    if kind is None:
        report.reject(f"{path}: not a run directory, a folder of runs or an archive (tar or zip)")
    elif not _ingest_archive(batch, path, str(path), 0, archives.Budget(), report):
        report.reject(f"{path}: no run record ({RUN_FILE}) found")


@dataclass(frozen=True)
class _Place:
    """A folder searched for runs: one given, or an archive's temporary folder, whose paths
    are shown as the archive's name and the path inside it."""

    folder: Path
    archive: str | None = None  # how the archive is shown ("a.zip", "a.zip: runs.tar.gz")
    depth: int = 0  # archives around the folder
    budget: archives.Budget | None = None  # theirs, shared by every archive inside them

    def show(self, path: Path) -> str:
        if self.archive is None:
            return str(path)
        inside = path.relative_to(self.folder).as_posix()
        return self.archive if inside == "." else f"{self.archive}: {inside}"

    def shown(self, message: str) -> str:
        """A message naming paths in the temporary folder, naming them in the archive."""
        if self.archive is None:
            return message
        return message.replace(f"{self.folder}/", f"{self.archive}: ").replace(
            str(self.folder), self.archive
        )


_GIVEN = _Place(Path())  # where the paths given by name are: shown as they were given


def _ingest_folder(batch: Batch, place: _Place, report: IngestReport) -> bool:
    """The runs and archives below one folder; whether any run record was found there."""
    runs, found, links = _search(place.folder)
    for link in links:
        report.reject(
            f"{place.show(link)}: a symbolic link to a directory, not followed "
            "(ingest what it points to instead)"
        )
    any_run = _ingest_dirs(batch, runs, report, place)
    for archive in found:
        shown = place.show(archive)
        if place.depth > NESTED:
            report.reject(
                f"{shown}: an archive inside an archive inside an archive is not unpacked "
                "(unpack the outer ones and ingest the folder)"
            )
            any_run = True
            continue
        budget = place.budget if place.budget is not None else archives.Budget()
        any_run |= _ingest_archive(batch, archive, shown, place.depth, budget, report)
    return any_run


def _ingest_archive(
    batch: Batch,
    path: Path,
    shown: str,
    depth: int,
    budget: archives.Budget,
    report: IngestReport,
) -> bool:
    """An archive's runs (and those of the archives in it); whether it held any run record. An
    archive refused whole counts as holding one: it is a rejected line already."""
    try:
        with archives.unpacked(path, _wanted, budget) as folder:
            place = _Place(folder, shown, depth + 1, budget)
            return _ingest_folder(batch, place, report)
    except archives.BadArchive as error:
        report.reject(f"{shown}: {error}")
        return True


def _wanted(name: PurePosixPath) -> bool:
    """The members of an archive that ingest reads: a run's two files, and archives."""
    return name.name in (RUN_FILE, RESULTS_FILE) or archives.named_like_archive(name.name)


def _search(folder: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Run directories, archives (by name) and symbolic links to directories below `folder`;
    the links are not followed (one could lead out of the folder, or round in a loop). A run
    directory given as the folder is searched no further."""
    if (folder / RUN_FILE).exists():
        return [folder], [], []
    runs, found, links = [], [], []
    for directory, subdirs, files in os.walk(folder):
        here = Path(directory)
        links += [here / name for name in subdirs if (here / name).is_symlink()]
        if RUN_FILE in files or RUN_FILE in subdirs:
            runs.append(here)
        found += [here / name for name in files if archives.named_like_archive(name)]
    return sorted(runs), sorted(found), sorted(links)


def _ingest_dirs(batch: Batch, dirs: list[Path], report: IngestReport, place: _Place) -> bool:
    for run_dir, read in batch.reader.read(dirs):
        if isinstance(read, Rejected):
            report.reject(place.shown(read.message))
            continue
        stored = batch.stored_header(read.run_id)
        if stored is None:
            assert not isinstance(read, Known)  # a run id known is one stored
            batch.add(read)
        elif stored == read.header:  # re-ingesting a results folder reads headers only
            report.already.append(read.run_id)
        else:
            report.reject(
                f"{place.show(run_dir / RUN_FILE)}: conflict: run {read.run_id} is in "
                "the history with a different header (a run id used twice, or a record "
                "changed after it was ingested); the history keeps the first"
            )
    return bool(dirs)
