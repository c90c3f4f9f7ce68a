"""Options that name the wrong thing: a --db that is no history, an --at out of range, an
output under a file or on a read-only file system. Each is one line naming the path and the
cause, exit 2, and nothing is changed (docs/security.md: what options are checked for)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.cli import options
from harness.history.database import SCHEMA_VERSION
from tests.builder import History
from tests.conftest import Result

COMBINATION = "libvirt-kvm/ceph-rbd/ovs"
READERS = [
    ["levels"],
    ["check", COMBINATION],
    ["publish", "--out", "{tmp}/site"],
]
EVERY_DB_COMMAND = [["ingest", "{tmp}/runs"], *READERS]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    from tests.history.test_ingest import make_run

    make_run(tmp_path / "runs", "run-1", ["passed"], combination=COMBINATION)
    return tmp_path / "runs"


def listing(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` with its bytes: what 'nothing changed' compares."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def other_sqlite(path: Path, statements: list[str]) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        for statement in statements:
            db.execute(statement)
    return path


NOT_HISTORIES: dict[str, tuple[Callable[[Path], object], str]] = {
    "not sqlite": (lambda p: p.write_text("hello\n"), "not a SQLite database"),
    "empty": (lambda p: p.write_bytes(b""), "an empty file, not a matrix history"),
    "another schema": (
        lambda p: other_sqlite(p, ["CREATE TABLE notes (id INTEGER, body TEXT)"]),
        "not a matrix history (no schema version)",
    ),
    "a meta table of its own": (
        lambda p: other_sqlite(
            p,
            [
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                "INSERT INTO meta VALUES ('name', 'tiles')",
            ],
        ),
        "not a matrix history (no schema version)",
    ),
    "another schema version": (
        lambda p: other_sqlite(
            p,
            [
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                "INSERT INTO meta VALUES ('schema', '99')",
            ],
        ),
        f"the history's schema is version 99 and this harness reads version {SCHEMA_VERSION}",
    ),
}


@pytest.mark.parametrize("command", EVERY_DB_COMMAND, ids=lambda c: c[0])
@pytest.mark.parametrize("kind", list(NOT_HISTORIES))
def test_a_db_that_is_no_history_is_one_line_exit_2_and_left_as_it_was(
    run: Callable[..., Result],
    matrix_dir: Path,
    runs: Path,
    tmp_path: Path,
    command: list[str],
    kind: str,
) -> None:
    make, cause = NOT_HISTORIES[kind]
    (tmp_path / "dbs").mkdir()
    db = tmp_path / "dbs" / "h.sqlite"
    make(db)
    before = listing(tmp_path / "dbs")
    args = [part.format(tmp=tmp_path) for part in command]
    result = run("--matrix", str(matrix_dir), *args, "--db", str(db))
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and result.err.startswith(f"matrix: {db}: "), result.err
    assert cause in result.err
    assert listing(tmp_path / "dbs") == before  # no tables added, no -wal or -shm beside it
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("at", "cause"),
    [
        ("99999-01-01", "expected an ISO 8601 time"),
        ("garbage", "expected an ISO 8601 time"),
        ("0001-01-01", "'0001-01-01' is not between 1970 and 9999"),
        ("0001-01-01T00:00:00+14:00", "'0001-01-01T00:00:00+14:00' is out of range"),
        ("9999-12-31T23:59:59-12:00", "'9999-12-31T23:59:59-12:00' is out of range"),
        ("1960-01-01", "'1960-01-01' is not between 1970 and 9999"),
    ],
)
def test_an_at_out_of_range_is_a_usage_error(
    run: Callable[..., Result],
    matrix_dir: Path,
    tmp_path: Path,
    command: list[str],
    at: str,
    cause: str,
) -> None:
    History(tmp_path / "h.sqlite").run(COMBINATION, {"live-snapshot": "passed"})
    args = [part.format(tmp=tmp_path) for part in command]
    result = run("--matrix", str(matrix_dir), *args, "--db", str(tmp_path / "h.sqlite"), "--at", at)
    assert result.code == 2, result.err
    assert result.err == f"matrix: Invalid value for '--at': {cause}\n" or (
        result.err.startswith(f"matrix: Invalid value for '--at': '{at}': {cause}")
    ), result.err


def test_a_policy_window_too_long_for_the_calendar_is_a_located_problem(
    run: Callable[..., Result], matrix_dir: Path
) -> None:
    levels = matrix_dir / "levels.yaml"
    levels.write_text(
        levels.read_text().replace("stale_after_days: 90", "stale_after_days: 1000000")
    )
    result = run("--matrix", str(matrix_dir), "levels", "--db", str(matrix_dir / "none.sqlite"))
    assert result.code == 2, result.err
    assert "levels.yaml:" in result.err and "stale_after_days" in result.err


OUTPUTS = {
    "ingest --db": ["ingest", "{runs}", "--db", "{at}/h.sqlite"],
    "publish --out": ["publish", "--out", "{at}/site", "--db", "{tmp}/none.sqlite"],
    "schema --out": ["schema", "--out", "{at}/schemas"],
    "run --out": ["run", "--lab", "{tmp}/lab.yaml", "--out", "{at}/results"],
}


@pytest.fixture
def lab_file(tmp_path: Path) -> Path:
    """A lab whose cloud is missing: `matrix run` stops at it unless --out stops it first."""
    (tmp_path / "clouds.yaml").write_text("clouds: {other: {auth_type: none}}\n")
    lab = tmp_path / "lab.yaml"
    lab.write_text(
        f"clouds_yaml: {tmp_path / 'clouds.yaml'}\ntargets:\n"
        f"  - {{combination: {COMBINATION}, cloud: devstack-admin}}\n"
    )
    return lab


@pytest.mark.parametrize("option", list(OUTPUTS))
def test_writing_under_a_regular_file_is_refused_before_any_work(
    run: Callable[..., Result],
    matrix_dir: Path,
    runs: Path,
    lab_file: Path,
    tmp_path: Path,
    option: str,
) -> None:
    somefile = tmp_path / "somefile"
    somefile.write_text("mine\n")
    args = [a.format(runs=runs, at=somefile, tmp=tmp_path) for a in OUTPUTS[option]]
    result = run("--matrix", str(matrix_dir), *args)
    assert result.code == 2, result.err
    name = option.split()[1]
    assert result.err == (
        f"matrix: Invalid value for '{name}': {args[args.index(name) + 1]!r}: "
        f"{somefile} is a file, not a directory\n"
    )
    assert somefile.read_text() == "mine\n"


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A real read-only file system (a tmpfs mounted ro; root, as the lab's tests are)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        History(mount / "history.sqlite").run(COMBINATION, {"live-snapshot": "passed"})
        with contextlib.closing(sqlite3.connect(mount / "history.sqlite")) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for sidecar in mount.glob("history.sqlite-*"):
            sidecar.unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("option", [*OUTPUTS, "ingest into a history there"])
def test_writing_on_a_read_only_file_system_is_refused_before_any_work(
    run: Callable[..., Result],
    matrix_dir: Path,
    runs: Path,
    lab_file: Path,
    tmp_path: Path,
    read_only: Path,
    option: str,
) -> None:
    before = listing(read_only)
    command = OUTPUTS.get(option, ["ingest", "{runs}", "--db", "{at}/history.sqlite"])
    args = [a.format(runs=runs, at=read_only, tmp=tmp_path) for a in command]
    result = run("--matrix", str(matrix_dir), *args)
    assert result.code == 2, result.err
    name = next(a for a in args if a in ("--db", "--out"))
    target = args[args.index(name) + 1]
    nearest = target if Path(target).exists() else read_only
    assert result.err == (
        f"matrix: Invalid value for '{name}': {target!r}: {nearest} is on a read-only file system\n"
    )
    assert listing(read_only) == before


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
def test_a_history_on_a_read_only_file_system_can_still_be_read(
    run: Callable[..., Result],
    matrix_dir: Path,
    tmp_path: Path,
    read_only: Path,
    command: list[str],
) -> None:
    args = [part.format(tmp=tmp_path) for part in command]
    db = str(read_only / "history.sqlite")
    result = run("--matrix", str(matrix_dir), *args, "--db", db)
    assert result.code == 0, result.err
    assert "live-snapshot" in result.out or command[0] != "check"


@pytest.mark.parametrize("option", ["ingest --db", "publish --out", "schema --out"])
def test_a_write_that_fails_after_the_check_is_still_one_line_exit_1(
    run: Callable[..., Result],
    matrix_dir: Path,
    runs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    option: str,
) -> None:
    """The place is checked while the options are read; should it change before the write
    (another process, a disk filling up), the write's own error is the explained failure."""
    monkeypatch.setattr(options, "unwritable", lambda path: None)
    somefile = tmp_path / "somefile"
    somefile.write_text("mine\n")
    args = [a.format(runs=runs, at=somefile, tmp=tmp_path) for a in OUTPUTS[option]]
    result = run("--matrix", str(matrix_dir), *args)
    assert result.code == 1, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("matrix: ")]
    assert len(errors) == 1 and str(somefile) in errors[0], result.err  # publish says progress
    assert "internal error" not in result.err
    assert somefile.read_text() == "mine\n"
