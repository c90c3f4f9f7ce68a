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
run by run, so what fits stays. Several processes may ingest at once: WAL
mode lets readers go on, writers wait their turn (busy timeout), and the run id's primary
key decides who wins when two ingest the same run.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from harness.errors import BadInput
from harness.history import archives
from harness.history.database import HistoryWriteError, connect
from harness.run.records import (
    RESULTS_FILE,
    RUN_FILE,
    Result,
    RunHeader,
    read_header,
    read_results,
    utc,
)

RUN_COLUMNS = (
    "run_id", "combination", "embedded", "target", "lab", "status", "started_at", "ended_at",
    "kind", "voting", "job_url", "harness_version", "scenarios_revision", "preflight", "forced",
    "header", "source",
)  # fmt: skip
RESULT_COLUMNS = (
    "run_id", "seq", "feature", "scenario", "outcome", "skip_category", "duration_s", "message",
    "microversion", "api_requests", "finished_at", "proof",
)  # fmt: skip
FACT_COLUMNS = ("run_id", "host", "name", "value")


def _insert(table: str, columns: tuple[str, ...], suffix: str = "") -> str:
    """An INSERT naming its columns, so a value can never land in the wrong one."""
    places = ",".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({places}){suffix}"


INSERT_RUN = _insert("runs", RUN_COLUMNS, " ON CONFLICT DO NOTHING")
INSERT_RESULT = _insert("results", RESULT_COLUMNS)
INSERT_FACT = _insert("facts", FACT_COLUMNS)


class MalformedRecord(BadInput):
    """A run directory that is not a valid run record; the message says where and why."""


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # "path: why", one line each
    results: int = 0

    def reject(self, message: str) -> None:
        self.rejected.append(one_line(message))


def load_header(run_dir: Path) -> RunHeader:
    """Read and validate a run's header, or say precisely what is wrong with it."""
    if not (run_dir / RUN_FILE).exists():
        raise MalformedRecord(f"{run_dir}: no {RUN_FILE}")
    try:
        return read_header(run_dir)
    except OSError as error:  # not a regular file, over its bound, unreadable
        raise MalformedRecord(f"{run_dir / RUN_FILE}: cannot read: {_reason(error)}") from None
    except (ValidationError, ValueError) as error:
        raise MalformedRecord(f"{run_dir / RUN_FILE}: {_first_error(error)}") from None


def load_results(run_dir: Path) -> list[Result]:
    """Every result of a run, validated; a bad line is named by its number."""
    results: list[Result] = []
    try:
        for result in read_results(run_dir):  # one by one: the error can name its line
            results.append(result)
    except OSError as error:
        raise MalformedRecord(f"{run_dir / RESULTS_FILE}: cannot read: {_reason(error)}") from None
    except (ValidationError, ValueError) as error:
        where = f"{run_dir / RESULTS_FILE}:{len(results) + 1}"
        raise MalformedRecord(f"{where}: {_first_error(error)}") from None
    return results


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def stored_header(connection: sqlite3.Connection, run_id: str) -> str | None:
    """The header the history holds for a run id, as it was ingested (None: not there)."""
    row = connection.execute("SELECT header FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return str(row[0]) if row else None


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        return f"{location}: {first['msg']}" if location else first["msg"]
    return (str(error).splitlines() or [type(error).__name__])[0]


def one_line(text: str) -> str:
    """A message on one line: a newline in it (in a field name from the record, a path inside
    an archive) shown as `\\n`. Whoever prints it shows the other control characters
    (`cli.output.printable`)."""
    return text.replace("\n", "\\n")


BATCH_RESULTS = 20_000
"""Results stored in one transaction: a commit waits for the disk, so a big ingest commits a
batch of runs at a time (and holds at most this many results in memory meanwhile)."""
BATCH_RUNS = 500


def store_runs(
    connection: sqlite3.Connection, runs: Sequence[tuple[RunHeader, Sequence[Result]]]
) -> list[bool]:
    """Store validated runs in one transaction: all of them or, on an error, none. For each, in
    order, whether it was added (False: its run id was in the history already)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        added = [_insert_run(connection, header, results) for header, results in runs]
        connection.execute("COMMIT")
        return added
    except BaseException as error:
        if connection.in_transaction:  # SQLite has already rolled back after a full disk
            connection.execute("ROLLBACK")
        if isinstance(error, sqlite3.OperationalError):
            which = f"run {runs[0][0].run_id}" if len(runs) == 1 else f"{len(runs)} runs"
            raise HistoryWriteError(
                f"the history could not store {which}: {error} (nothing of "
                + ("that run" if len(runs) == 1 else "those runs")
                + " was written)"
            ) from None
        raise


def ingest_run(connection: sqlite3.Connection, header: RunHeader, results: list[Result]) -> bool:
    """Store one validated run; False when that run id is already in the history."""
    return store_runs(connection, [(header, results)])[0]


def _insert_run(
    connection: sqlite3.Connection, header: RunHeader, results: Sequence[Result]
) -> bool:
    provenance = header.provenance
    inserted = connection.execute(
        INSERT_RUN,
        (
            header.run_id, header.combination, int(header.embedded), header.target,
            header.lab, header.status, utc(header.started_at), header.ended_at, provenance.kind,
            int(provenance.voting), provenance.job_url, provenance.harness_version,
            provenance.scenarios_revision, str(header.preflight.get("status", "not-run")),
            int(header.forced), header.model_dump_json(), header.source,
        ),
    ).rowcount  # fmt: skip
    if not inserted:  # another ingest stored it first: ours adds nothing
        return False
    connection.executemany(
        INSERT_RESULT,
        [
            (
                header.run_id, seq, r.feature, r.scenario, r.outcome, r.skip_category,
                r.duration_s, r.message, r.microversion, r.api_requests, r.finished_at, r.proof,
            )
            for seq, r in enumerate(results)
        ],
    )  # fmt: skip
    connection.executemany(
        INSERT_FACT,
        [
            (header.run_id, host, name, value)
            for host, facts in header.facts.items()
            for name, value in facts.items()
        ],
    )
    return True


class Batch:
    """Validated runs waiting to be stored, a transaction's worth at a time. It knows every
    header it was given, so a run found twice in one ingest is told apart like one stored.
    (Writing in a thread of its own while the next batch is validated was measured slower:
    binding each row's values holds the GIL the validation needs.)"""

    def __init__(self, connection: sqlite3.Connection, report: IngestReport) -> None:
        self.connection = connection
        self.report = report
        self.runs: list[tuple[RunHeader, list[Result]]] = []
        self.results = 0
        self.headers: dict[str, str] = {}  # every run given, stored or waiting
        self.known: set[str] | None = None  # the run ids in the history when first asked

    def stored_header(self, run_id: str) -> str | None:
        """The header stored (or given to this ingest) for a run id. The history's run ids are
        read once: a run stored meanwhile by another ingest is found at insert instead."""
        if run_id in self.headers:
            return self.headers[run_id]
        if self.known is None:
            self.known = {row[0] for row in self.connection.execute("SELECT run_id FROM runs")}
        return stored_header(self.connection, run_id) if run_id in self.known else None

    def add(self, header: RunHeader, results: list[Result]) -> None:
        self.runs.append((header, results))
        self.headers[header.run_id] = header.model_dump_json()
        self.results += len(results)
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

    def _stored(self, runs: list[tuple[RunHeader, list[Result]]], added: list[bool]) -> None:
        for (header, results), new in zip(runs, added, strict=True):
            if new:
                self.report.added.append(header.run_id)
                self.report.results += len(results)
            else:
                self.report.already.append(header.run_id)


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
    batch = Batch(connection, report)
    try:
        for path in paths:
            _ingest_path(batch, path, report)
        batch.flush()
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
        report.reject(f"{path}: cannot read: {_reason(error)}")
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


def _ingest_dirs(batch: Batch, dirs: Iterable[Path], report: IngestReport, place: _Place) -> bool:
    found = False
    for run_dir in dirs:
        found = True
        try:
            header = load_header(run_dir)
            stored = batch.stored_header(header.run_id)
            if stored is not None:  # re-ingesting a results folder reads headers only
                if stored == header.model_dump_json():
                    report.already.append(header.run_id)
                else:
                    report.reject(
                        f"{place.show(run_dir / RUN_FILE)}: conflict: run {header.run_id} is in "
                        "the history with a different header (a run id used twice, or a record "
                        "changed after it was ingested); the history keeps the first"
                    )
                continue
            results = load_results(run_dir)
        except (MalformedRecord, OSError) as error:
            message = str(error) if isinstance(error, MalformedRecord) else f"{run_dir}: {error}"
            report.reject(place.shown(message))
            continue
        batch.add(header, results)
    return found
