"""The history: every ingested run record, in SQLite (default results/history.sqlite).

Ingest is idempotent by run id and all-or-nothing per run: a record is validated completely
before anything is written, then its header, results and facts go in one transaction, so a
malformed or interrupted ingest leaves no trace. Several processes may ingest at once: WAL
mode lets readers go on, writers wait their turn (busy timeout), and the run id's primary
key decides who wins when two ingest the same run.
"""

from __future__ import annotations

import os
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from harness.errors import BadInput
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

ARCHIVE_MEMBERS = 20_000  # a run directory has five files: 4,000 runs per archive
ARCHIVE_BYTES = 1 << 30  # unpacked, all members together
MEMBER_BYTES = 256 << 20  # one file of a run directory

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
    rejected: list[str] = field(default_factory=list)  # "path: why"
    results: int = 0


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
    return str(error).splitlines()[0]


def ingest_run(connection: sqlite3.Connection, header: RunHeader, results: list[Result]) -> bool:
    """Store one validated run; False when that run id is already in the history."""
    provenance = header.provenance
    connection.execute("BEGIN IMMEDIATE")
    try:
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
        if not inserted:
            connection.execute("ROLLBACK")
            return False
        connection.executemany(
            INSERT_RESULT,
            [
                (
                    header.run_id, seq, r.feature, r.scenario, r.outcome, r.skip_category,
                    r.duration_s, r.message, r.microversion, r.api_requests, r.finished_at,
                    r.proof,
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
        connection.execute("COMMIT")
        return True
    except BaseException as error:
        if connection.in_transaction:  # SQLite has already rolled back after a full disk
            connection.execute("ROLLBACK")
        if isinstance(error, sqlite3.OperationalError):
            raise HistoryWriteError(
                f"the history could not store run {header.run_id}: {error} "
                "(nothing of that run was written)"
            ) from None
        raise


def run_dirs(paths: Iterable[Path]) -> Iterator[Path]:
    """Run directories found in the paths given (a run dir, a folder of them, or deeper)."""
    for path in paths:
        if (path / RUN_FILE).exists():
            yield path
        else:
            yield from sorted(p.parent for p in path.rglob(RUN_FILE))


@contextmanager
def unpacked(path: Path) -> Iterator[Path]:
    """A tarball of run directories, unpacked safely and within bounds: tarfile's data filter
    refuses absolute paths, links out and devices; members, bytes and file sizes are counted
    from the headers before anything is written. Raises MalformedRecord saying why."""
    with tempfile.TemporaryDirectory(prefix="matrix-ingest-") as tmp:
        try:
            with tarfile.open(path) as tar:
                total = 0
                for count, member in enumerate(tar, start=1):
                    total += member.size
                    if count > ARCHIVE_MEMBERS:
                        raise MalformedRecord(f"more than {ARCHIVE_MEMBERS} members")
                    if member.size > MEMBER_BYTES:
                        raise MalformedRecord(
                            f"{member.name}: {member.size} bytes, over the {MEMBER_BYTES} a "
                            "run's file may have"
                        )
                    if total > ARCHIVE_BYTES:
                        raise MalformedRecord(f"unpacks to more than {ARCHIVE_BYTES} bytes")
                    tar.extract(member, tmp, filter="data")
        except tarfile.FilterError as error:
            raise MalformedRecord(f"unsafe member: {error}") from None
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise MalformedRecord(f"not a readable tarball: {error}") from None
        yield Path(tmp)


def ingest(db: Path, paths: Iterable[Path]) -> IngestReport:
    """Ingest each path; an artifact that cannot be read is a rejected line, and the rest goes
    on (only a history that cannot be written stops it: HistoryWriteError)."""
    report = IngestReport()
    connection = connect(db)
    try:
        for path in paths:
            if path.is_file() and _is_tarball(path):
                try:
                    with unpacked(path) as folder:
                        _ingest_dirs(connection, run_dirs([folder]), report, path, shown_as=path)
                except MalformedRecord as error:
                    report.rejected.append(f"{path}: {error}")
            elif path.is_dir():
                for link in _linked_dirs(path):
                    report.rejected.append(
                        f"{link}: a symbolic link to a directory, not followed "
                        "(ingest what it points to instead)"
                    )
                _ingest_dirs(connection, run_dirs([path]), report, path)
            else:
                report.rejected.append(
                    f"{path}: not a run directory, a folder of runs or a tarball"
                )
    except HistoryWriteError as error:
        raise HistoryWriteError(f"{db}: {error}; {len(report.added)} run(s) added before") from None
    finally:
        connection.close()
    return report


def _linked_dirs(folder: Path) -> list[Path]:
    """Symbolic links to directories below `folder`, which the search for runs does not
    follow (a link could lead out of the folder, or round in a loop)."""
    found = []
    for directory, subdirs, _files in os.walk(folder):
        for name in subdirs:
            if Path(directory, name).is_symlink():
                found.append(Path(directory, name))
    return sorted(found)


def _is_tarball(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _ingest_dirs(
    connection: sqlite3.Connection,
    dirs: Iterable[Path],
    report: IngestReport,
    origin: Path,
    shown_as: Path | None = None,
) -> None:
    found = False
    for run_dir in dirs:
        found = True
        try:
            header = load_header(run_dir)
            stored = stored_header(connection, header.run_id)
            if stored is not None:  # re-ingesting a results folder reads headers only
                if stored == header.model_dump_json():
                    report.already.append(header.run_id)
                else:
                    report.rejected.append(
                        f"{run_dir / RUN_FILE}: conflict: run {header.run_id} is in the history "
                        "with a different header (a run id used twice, or a record changed "
                        "after it was ingested); the history keeps the first"
                    )
                continue
            results = load_results(run_dir)
        except (MalformedRecord, OSError) as error:
            message = str(error) if isinstance(error, MalformedRecord) else f"{run_dir}: {error}"
            if shown_as is not None:  # name the tarball, not the temporary folder
                message = f"{shown_as}: {message.split('/matrix-ingest-', 1)[-1].split('/', 1)[-1]}"
            report.rejected.append(message)
            continue
        if ingest_run(connection, header, results):
            report.added.append(header.run_id)
            report.results += len(results)
        else:
            report.already.append(header.run_id)
    if not found:
        report.rejected.append(f"{origin}: no run record ({RUN_FILE}) found")
