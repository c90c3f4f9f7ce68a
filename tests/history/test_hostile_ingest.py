"""Hostile artifacts: one bad record or archive is a rejected line naming it, the rest goes in,
and the history stays readable by levels afterwards (docs/security.md: what ingest checks)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.history import archives
from harness.history.database import HistoryWriteError
from harness.history.store import ingest
from harness.levels.compute import compute_levels
from harness.run import records
from tests.history.test_ingest import make_run

SHIPPED = Path(__file__).parents[2] / "matrix"


def edit_header(run_dir: Path, **fields: object) -> None:
    header = json.loads((run_dir / "run.json").read_text())
    header.update(fields)
    (run_dir / "run.json").write_text(json.dumps(header))


def edit_first_result(run_dir: Path, **fields: object) -> None:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first.update(fields)
    (run_dir / "results.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: edit_header(d, started_at="yesterday-ish"), "started_at: Value error, 'yest"),
        (
            lambda d: edit_header(d, started_at="0001-01-01T00:00:00+14:00"),
            "started_at: Value error, '0001-01-01T00:00:00+14:00' is out of range",
        ),
        (lambda d: edit_header(d, ended_at="2026-11-20T10:05:00"), "has no UTC offset"),
        (lambda d: edit_first_result(d, api_requests=10**30), "results.jsonl:1: api_requests"),
        (lambda d: edit_first_result(d, duration_s="nan"), "results.jsonl:1: duration_s"),
        (lambda d: edit_first_result(d, message="x" * 70_000), "results.jsonl:1: message"),
        (lambda d: edit_header(d, format=2), "run.json: format: Input should be 1"),
        (lambda d: edit_header(d, run_id="../../etc"), "run.json: run_id: String should match"),
        (lambda d: edit_header(d, run_id="a\nb"), "run.json: run_id: String should match"),
        (lambda d: edit_header(d, run_id=""), "run.json: run_id: String should match"),
        (lambda d: edit_first_result(d, message="\udc80"), "results.jsonl:1: Invalid JSON"),
        (
            lambda d: (d / "results.jsonl").write_text("[" * 3000 + "]" * 3000 + "\n"),
            "results.jsonl:1: Invalid JSON: recursion limit exceeded",
        ),
    ],
    ids=[
        "started_at not a time",
        "started_at out of range",
        "naive ended_at",
        "30-digit count",
        "nan duration",
        "huge message",
        "unknown format",
        "run id with ..",
        "run id with newline",
        "empty run id",
        "lone surrogate",
        "nested past the recursion limit",
    ],
)
def test_a_field_out_of_its_grammar_is_rejected_and_levels_still_work(
    tmp_path: Path, damage: Callable[[Path], None], expected: str
) -> None:
    db = tmp_path / "history.sqlite"
    make_run(tmp_path / "runs", "run-good", ["passed"])
    damage(make_run(tmp_path / "runs", "run-bad", ["passed", "failed"]))
    report = ingest(db, [tmp_path / "runs"])
    assert report.added == ["run-good"]
    assert len(report.rejected) == 1 and expected in report.rejected[0], report.rejected
    assert compute_levels(load_matrix(SHIPPED), db) is not None  # the history stays readable


def test_a_result_line_over_the_limit_is_rejected_without_reading_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "RESULT_LINE_LIMIT", 1000)
    run_dir = make_run(tmp_path / "runs", "run-long", ["passed"])
    with (run_dir / "results.jsonl").open("a") as results:
        results.write("x" * 5000 + "\n")
    report = ingest(tmp_path / "h.sqlite", [run_dir])
    assert report.rejected == [f"{run_dir}/results.jsonl:2: a line longer than 1000 bytes"]


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("results.jsonl", os.mkfifo, "a FIFO"),
        ("results.jsonl", lambda path: path.symlink_to("/dev/zero"), "a character device"),
        ("run.json", os.mkfifo, "a FIFO"),
    ],
    ids=["fifo results", "dev-zero results", "fifo header"],
)
def test_a_record_file_that_is_not_a_regular_file_is_rejected_without_reading_it(
    tmp_path: Path, name: str, make: Callable[[Path], None], kind: str
) -> None:
    """A FIFO would block the reader forever; a device never ends (in its own process, so
    a hang fails the test rather than the suite)."""
    runs = tmp_path / "runs"
    bad = make_run(runs, "run-bad", ["passed"])
    (bad / name).unlink()
    make(bad / name)
    make_run(runs, "run-good", ["passed"])
    matrix = Path(sys.executable).parent / "matrix"
    done = subprocess.run(
        [str(matrix), "ingest", str(runs), "--db", str(tmp_path / "h.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"rejected {bad / name}: cannot read: not a regular file ({kind})\n"
    assert "added 1 run(s)" in done.stdout


def test_a_run_json_over_its_bound_is_rejected_saying_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "RUN_FILE_BYTES", 1000)
    run_dir = make_run(tmp_path / "runs", "run-big", ["passed"])
    edit_header(run_dir, facts={"ssh://stack@compute1": {"pad": "x" * 2000}})
    report = ingest(tmp_path / "h.sqlite", [run_dir])
    assert report.rejected == [
        f"{run_dir}/run.json: cannot read: larger than 1000 bytes, the most run.json may hold"
    ]


def _tarball(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _run_members(tmp_path: Path, run_id: str) -> list[tuple[tarfile.TarInfo, bytes]]:
    run_dir = make_run(tmp_path / "source", run_id, ["passed"])
    return [
        (_member(f"runs/{run_id}/{name}"), (run_dir / name).read_bytes())
        for name in ("run.json", "results.jsonl")
    ]


@pytest.mark.parametrize(
    ("evil", "expected"),
    [
        ([(_member("../escape.txt"), b"x")], "unsafe member"),
        ([(_member("runs/link", tarfile.SYMTYPE, "/etc/passwd"), b"")], "unsafe member"),
        ([(_member("runs/hard", tarfile.LNKTYPE, "../../etc/passwd"), b"")], "unsafe member"),
        ([(_member("runs/dev", tarfile.CHRTYPE), b"")], "unsafe member"),
    ],
    ids=["dot-dot", "absolute symlink", "hardlink out", "device"],
)
def test_an_unsafe_archive_is_rejected_by_name_and_the_others_go_in(
    tmp_path: Path, evil: list[tuple[tarfile.TarInfo, bytes]], expected: str
) -> None:
    bad = _tarball(tmp_path / "bad.tar.gz", [*_run_members(tmp_path, "run-in-bad"), *evil])
    good = _tarball(tmp_path / "good.tar.gz", _run_members(tmp_path, "run-in-good"))
    report = ingest(tmp_path / "h.sqlite", [bad, good])
    assert report.added == ["run-in-good"]  # read after the bad one
    assert len(report.rejected) == 1 and report.rejected[0].startswith(f"{bad}: {expected}")
    assert not (tmp_path / "escape.txt").exists()


def test_a_truncated_archive_and_a_results_directory_are_rejected_lines(tmp_path: Path) -> None:
    whole = _tarball(tmp_path / "whole.tar.gz", _run_members(tmp_path, "run-cut"))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    odd = make_run(tmp_path / "runs", "run-odd", [])
    (odd / "results.jsonl").mkdir()
    make_run(tmp_path / "runs", "run-fine", ["passed"])
    matrix = Path(sys.executable).parent / "matrix"
    done = subprocess.run(
        [str(matrix), "ingest", str(cut), str(tmp_path / "runs"), "--db", str(tmp_path / "h.db")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    rejected = [line for line in done.stderr.splitlines() if line.startswith("rejected ")]
    assert len(rejected) == 2, done.stderr
    assert rejected[0].startswith(f"rejected {cut}: not a readable tarball")
    assert rejected[1] == (
        f"rejected {odd / 'results.jsonl'}: cannot read: not a regular file (a directory)"
    )
    assert "added 1 run(s) with 1 result(s); 0 already there; 2 rejected" in done.stdout


@pytest.mark.parametrize("limit", ["ARCHIVE_MEMBERS", "ARCHIVE_BYTES", "MEMBER_BYTES"])
def test_an_archive_over_a_bound_is_rejected_before_it_is_written_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    monkeypatch.setattr(
        archives, limit, {"ARCHIVE_MEMBERS": 5, "ARCHIVE_BYTES": 3000}.get(limit, 900)
    )
    bomb = [(_member(f"runs/pad/{i:03}"), b"\0" * 1000) for i in range(10)]
    archive = _tarball(tmp_path / "bomb.tar.gz", [*bomb, *_run_members(tmp_path, "run-late")])
    written: list[str] = []
    original = tarfile.TarFile.extract
    monkeypatch.setattr(
        tarfile.TarFile,
        "extract",
        lambda self, member, *a, **k: (
            written.append(member.name),
            original(self, member, *a, **k),
        ),
    )
    report = ingest(tmp_path / "h.sqlite", [archive])
    assert report.added == [] and len(report.rejected) == 1
    assert report.rejected[0].startswith(f"{archive}: "), report.rejected
    assert len(written) <= 5  # stopped at the bound, not after unpacking everything
    assert "run-late" not in " ".join(written)


def test_a_full_disk_says_so_and_keeps_what_went_in(tmp_path: Path) -> None:
    """On a real 300 KiB tmpfs (root: the lab's tests need it too)."""
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)], check=True)
    try:
        runs = tmp_path / "runs"
        make_run(runs, "run-000", ["passed"])
        for i in range(1, 40):
            make_run(runs, f"run-{i:03}", ["passed"] * 100)
        with pytest.raises(HistoryWriteError) as caught:
            ingest(disk / "h.sqlite", sorted(runs.iterdir()))
        message = str(caught.value)
        assert "database or disk is full" in message and "cannot rollback" not in message
        assert "run(s) added before" in message
        with contextlib.closing(sqlite3.connect(disk / "h.sqlite")) as history:
            (kept,) = history.execute("SELECT count(*) FROM runs").fetchone()
        assert kept >= 1  # the runs that finished going in stay
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert not os.path.ismount(disk)


def test_the_same_run_id_with_another_header_is_a_conflict_not_already_there(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite"
    first = make_run(tmp_path / "one", "run-1", ["passed"])
    assert ingest(db, [first]).added == ["run-1"]
    assert ingest(db, [first]).already == ["run-1"]  # the very same record: nothing to say
    second = make_run(tmp_path / "two", "run-1", ["failed"], combination="libvirt-kvm/nfs/ovn")
    report = ingest(db, [second])
    assert (report.added, report.already) == ([], [])
    assert len(report.rejected) == 1 and "conflict: run run-1" in report.rejected[0]
    assert rows_of(db, "SELECT combination FROM runs") == [("libvirt-qemu/ceph-rbd/ovn",)]


def test_a_symlinked_run_directory_is_named_not_skipped_silently(tmp_path: Path) -> None:
    real = make_run(tmp_path / "elsewhere", "run-far", ["passed"])
    runs = tmp_path / "runs"
    make_run(runs, "run-near", ["passed"])
    (runs / "linked").symlink_to(real, target_is_directory=True)
    report = ingest(tmp_path / "h.sqlite", [runs])
    assert report.added == ["run-near"]
    assert report.rejected == [
        f"{runs / 'linked'}: a symbolic link to a directory, not followed "
        "(ingest what it points to instead)"
    ]


def rows_of(db: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as history:
        return history.execute(sql).fetchall()
