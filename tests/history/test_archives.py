"""What CI engines hand a publish job: zip files (GitHub's artifacts), tarballs, and trees of
downloaded artifact folders holding run directories and archives at any depth (a Zuul log
directory, GitLab's artifacts), ingested twice and by two processes at once; and hostile zips
and tarballs, refused whole and named by the path inside them (docs/security.md)."""

from __future__ import annotations

import io
import re
import sqlite3
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from harness.history import archives
from harness.history.store import ingest
from tests.history.test_ingest import make_run

MATRIX = Path(sys.executable).parent / "matrix"
SUMMARY = re.compile(
    r"added (\d+) run\(s\) with (\d+) result\(s\); (\d+) already there; (\d+) rejected"
)


def run_files(tmp_path: Path, run_id: str, under: str = "runs") -> dict[str, bytes]:
    """A run directory's two files, as members under `under`/<run id>/."""
    run_dir = make_run(tmp_path / "sources" / run_id, run_id, ["passed", "failed"])
    return {
        f"{under}/{run_id}/{name}": (run_dir / name).read_bytes()
        for name in ("run.json", "results.jsonl")
    }


def zip_of(path: Path, members: dict[str, bytes] | list[tuple[zipfile.ZipInfo, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        items = members.items() if isinstance(members, dict) else members
        for name, data in items:
            archive.writestr(name, data, zipfile.ZIP_DEFLATED)
    return path


def tar_of(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def runs_in(db: Path) -> list[str]:
    with sqlite3.connect(db) as history:
        return [row[0] for row in history.execute("SELECT run_id FROM runs ORDER BY run_id")]


def matrix_ingest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MATRIX), "ingest", *args], capture_output=True, text=True, timeout=120, check=False
    )


# --- what arrives ----------------------------------------------------------------------------


def test_a_zip_of_run_directories_is_ingested(tmp_path: Path) -> None:
    archive = zip_of(
        tmp_path / "matrix-runs.zip",
        {**run_files(tmp_path, "run-1"), **run_files(tmp_path, "run-2")},
    )
    report = ingest(tmp_path / "h.sqlite", [archive])
    assert (sorted(report.added), report.results, report.rejected) == (["run-1", "run-2"], 4, [])


def test_a_zip_holding_a_tarball_is_ingested(tmp_path: Path) -> None:
    """GitHub zips every artifact: a job that uploaded runs.tar.gz arrives as a zip holding it."""
    inner = tar_of(tmp_path / "inner" / "runs.tar.gz", run_files(tmp_path, "run-inner"))
    archive = zip_of(tmp_path / "artifact.zip", {"runs.tar.gz": inner.read_bytes()})
    assert ingest(tmp_path / "h.sqlite", [archive]).added == ["run-inner"]


def tree(tmp_path: Path) -> tuple[Path, list[str]]:
    """Downloaded artifacts of several engines' jobs, and the run ids they hold."""
    root = tmp_path / "artifacts"
    for name, data in {
        **run_files(tmp_path, "run-zuul", "zuul/build-1/logs/matrix/runs"),  # Zuul's log dir
        **run_files(tmp_path, "run-gitlab", "gitlab/matrix-kvm/results/runs"),  # GitLab's
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    tar_of(root / "github" / "matrix-runs-kvm" / "runs.tar.gz",
           {**run_files(tmp_path, "run-tar-1"), **run_files(tmp_path, "run-tar-2")})  # fmt: skip
    zip_of(
        root / "github" / "deep" / "a" / "b" / "runs.zip",
        run_files(tmp_path, "run-zip", "results/runs"),
    )
    inner = tar_of(tmp_path / "inner" / "runs.tar.gz", run_files(tmp_path, "run-zip-tar"))
    zip_of(root / "github" / "matrix-runs-qemu.zip", {"runs.tar.gz": inner.read_bytes()})
    tar_of(
        root / "zuul" / "build-1" / "logs" / "etc.tar.gz", {"etc/nova/nova.conf": b"[DEFAULT]\n"}
    )  # no run
    return root, ["run-gitlab", "run-tar-1", "run-tar-2", "run-zip", "run-zip-tar", "run-zuul"]


def test_a_tree_of_runs_and_archives_at_any_depth_is_ingested_once(tmp_path: Path) -> None:
    root, expected = tree(tmp_path)
    db = tmp_path / "h.sqlite"
    first = matrix_ingest(str(root), "--db", str(db))
    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    found = SUMMARY.search(first.stdout)
    assert found is not None and found.groups() == ("6", "12", "0", "0"), first.stdout
    assert runs_in(db) == expected

    second = matrix_ingest(str(root), "--db", str(db))
    assert (second.returncode, second.stderr) == (0, ""), second.stderr
    found = SUMMARY.search(second.stdout)
    assert found is not None and found.groups() == ("0", "0", "6", "0"), second.stdout
    assert runs_in(db) == expected


def test_two_publish_jobs_ingesting_one_tree_at_once_store_every_run_once(tmp_path: Path) -> None:
    root, expected = tree(tmp_path)
    for i in range(20):  # more runs, so the two really overlap
        make_run(root / "more", f"run-more-{i:02}", ["passed"] * 10)
    db = tmp_path / "h.sqlite"
    processes = [
        subprocess.Popen([str(MATRIX), "ingest", str(root), "--db", str(db)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    added = already = 0
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert (process.returncode, err) == (0, ""), err
        found = SUMMARY.search(out)
        assert found is not None and found.group(4) == "0", out
        added, already = added + int(found.group(1)), already + int(found.group(3))
    assert (added, already) == (26, 26)  # each run went in once, and the other saw it there
    assert runs_in(db) == sorted([*expected, *(f"run-more-{i:02}" for i in range(20))])
    with sqlite3.connect(db) as history:
        assert history.execute("SELECT count(*) FROM results").fetchone() == (6 * 2 + 20 * 10,)


# --- hostile zips ------------------------------------------------------------------------------


def entry(name: str, mode: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    if mode:
        info.create_system, info.external_attr = 3, mode << 16
    return info


def bomb(path: Path, name: str, declared: int, actual: int) -> Path:
    """A member whose directory entry (and local header) declares `declared` bytes but whose
    deflated data inflates to `actual`."""
    zip_of(path, {name: b"\0" * actual})
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):  # uncompressed size
        at = data.index(signature)
        data[at + offset : at + offset + 4] = struct.pack("<L", declared)
    path.write_bytes(bytes(data))
    return path


HOSTILE = {
    "absolute path": (
        [(entry("/tmp/evil/run.json"), b"{}")],
        "unsafe member '/tmp/evil/run.json': an absolute path",
    ),
    "drive letter": (
        [(entry("C:/evil/run.json"), b"{}")],
        "unsafe member 'C:/evil/run.json': an absolute path",
    ),
    "dot-dot": (
        [(entry("runs/../../escape.txt"), b"x")],
        "unsafe member 'runs/../../escape.txt': leaves the folder",
    ),
    "backslash dot-dot": (
        [(entry("..\\escape.txt"), b"x")],
        "unsafe member '..\\\\escape.txt': leaves the folder",
    ),
    "symlink": (
        [(entry("runs/link", stat.S_IFLNK | 0o777), b"/etc/passwd")],
        "unsafe member 'runs/link': a symbolic link (a zip may hold files and folders only)",
    ),
    "device": (
        [(entry("runs/dev", stat.S_IFCHR | 0o644), b"")],
        "unsafe member 'runs/dev': a device, FIFO or socket",
    ),
}


@pytest.mark.parametrize(("evil", "expected"), HOSTILE.values(), ids=HOSTILE.keys())
def test_an_unsafe_zip_is_refused_whole_by_name_before_anything_is_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    evil: list[tuple[zipfile.ZipInfo, bytes]],
    expected: str,
) -> None:
    written: list[str] = []
    original = archives._write
    monkeypatch.setattr(
        archives, "_write", lambda a, info, t: (written.append(info.filename), original(a, info, t))
    )
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    bad = zip_of(
        tmp_path / "bad.zip",
        [*((entry(n), d) for n, d in run_files(tmp_path, "run-in-bad").items()), *evil],
    )
    good = zip_of(tmp_path / "good.zip", run_files(tmp_path, "run-in-good"))
    report = ingest(tmp_path / "h.sqlite", [bad, good])
    assert report.added == ["run-in-good"]
    assert len(report.rejected) == 1 and report.rejected[0].startswith(f"{bad}: {expected}"), (
        report.rejected
    )
    assert "run-in-bad/run.json" not in " ".join(written)  # checked whole before writing
    assert not (tmp_path / "escape.txt").exists() and not Path("/tmp/evil").exists()
    assert list((tmp_path / "tmp").iterdir()) == []  # and the temporary folders are gone


def test_a_zip_bomb_is_refused_after_one_byte_past_its_declared_size(tmp_path: Path) -> None:
    bad = bomb(tmp_path / "bomb.zip", "runs/run-bomb/results.jsonl", declared=100, actual=20 << 20)
    report = ingest(tmp_path / "h.sqlite", [bad])
    assert report.rejected == [
        f"{bad}: runs/run-bomb/results.jsonl: inflates past the 100 bytes it declares (a zip bomb)"
    ]
    assert report.added == []


def test_a_member_shorter_than_it_declares_is_refused(tmp_path: Path) -> None:
    bad = bomb(tmp_path / "short.zip", "runs/run-short/run.json", declared=5000, actual=100)
    [rejected] = ingest(tmp_path / "h.sqlite", [bad]).rejected
    assert rejected.startswith(f"{bad}: ") and "run.json" in rejected


def test_a_zip_over_the_member_bound_is_refused_from_its_central_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "ARCHIVE_MEMBERS", 5)
    written: list[str] = []
    monkeypatch.setattr(archives, "_write", lambda a, info, t: written.append(info.filename))
    many = {f"runs/pad/{i:03}": b"x" for i in range(10)}
    bad = zip_of(tmp_path / "many.zip", {**run_files(tmp_path, "run-first"), **many})
    report = ingest(tmp_path / "h.sqlite", [bad])
    assert (report.added, report.rejected, written) == ([], [f"{bad}: more than 5 members"], [])


@pytest.mark.parametrize("limit", ["ARCHIVE_BYTES", "MEMBER_BYTES"])
def test_a_zip_declaring_too_many_bytes_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    monkeypatch.setattr(archives, limit, 3000 if limit == "ARCHIVE_BYTES" else 900)
    written: list[str] = []
    monkeypatch.setattr(archives, "_write", lambda a, info, t: written.append(info.filename))
    pad = {f"runs/pad/{i:03}": b"\0" * 1000 for i in range(10)}
    bad = zip_of(tmp_path / "big.zip", {**run_files(tmp_path, "run-first"), **pad})
    [rejected] = ingest(tmp_path / "h.sqlite", [bad]).rejected
    assert rejected.startswith(f"{bad}: ") and (
        "more than 3000 bytes" in rejected or "over the 900 bytes" in rejected
    )
    assert written == []


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda data: data[: len(data) // 2], "not a readable zip file"),
        (
            lambda data: data.replace(b"runs/run-z/run.json", b"runs/run-z/RUN.json", 1),
            "not a readable zip file",
        ),
    ],
    ids=["truncated", "local header disagrees with the directory"],
)
def test_a_damaged_zip_is_a_rejected_line(tmp_path: Path, damage, expected: str) -> None:  # type: ignore[no-untyped-def]
    whole = zip_of(tmp_path / "whole.zip", run_files(tmp_path, "run-z"))
    whole.write_bytes(damage(whole.read_bytes()))
    report = ingest(tmp_path / "h.sqlite", [whole])
    assert report.added == [] and len(report.rejected) == 1
    assert report.rejected[0].startswith(f"{whole}: ") and expected in report.rejected[0], (
        report.rejected
    )


def test_an_encrypted_or_bzip2_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("runs/run-b/run.json", b"{}")
    assert ingest(tmp_path / "h.sqlite", [path]).rejected == [
        f"{path}: unsafe member 'runs/run-b/run.json': compression method 12 (only stored and deflate are read)"
    ]
    locked = zip_of(tmp_path / "locked.zip", {"runs/run-e/run.json": b"{}"})
    data = bytearray(locked.read_bytes())
    for signature, offset in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):  # general purpose flags
        at = data.index(signature)
        data[at + offset] |= 0x1
    locked.write_bytes(bytes(data))
    [rejected] = ingest(tmp_path / "h.sqlite", [locked]).rejected
    assert rejected == f"{locked}: unsafe member 'runs/run-e/run.json': encrypted"


def test_a_member_twice_is_refused(tmp_path: Path) -> None:
    files = run_files(tmp_path, "run-twice")
    twice = [(entry(n), d) for n, d in files.items()] + [(entry("runs/run-twice/run.json"), b"{}")]
    with pytest.warns(UserWarning, match="Duplicate name"):
        bad = zip_of(tmp_path / "twice.zip", twice)
    [rejected] = ingest(tmp_path / "h.sqlite", [bad]).rejected
    assert rejected == f"{bad}: runs/run-twice/run.json: in the zip file twice, or under a file"


# --- archives inside archives, and what is named ---------------------------------------------


def test_an_archive_three_deep_is_rejected_by_name_and_the_rest_goes_in(tmp_path: Path) -> None:
    deepest = zip_of(tmp_path / "parts" / "deep.zip", run_files(tmp_path, "run-deepest"))
    middle = tar_of(
        tmp_path / "parts" / "runs.tar.gz",
        {**run_files(tmp_path, "run-middle"), "more/deep.zip": deepest.read_bytes()},
    )
    outer = zip_of(
        tmp_path / "outer.zip",
        {**run_files(tmp_path, "run-outer"), "runs.tar.gz": middle.read_bytes()},
    )
    report = ingest(tmp_path / "h.sqlite", [outer])
    assert sorted(report.added) == ["run-middle", "run-outer"]
    assert report.rejected == [
        f"{outer}: runs.tar.gz: more/deep.zip: an archive inside an archive inside an archive is "
        "not unpacked (unpack the outer ones and ingest the folder)"
    ]


def test_archives_inside_an_artifact_share_its_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "ARCHIVE_MEMBERS", 6)
    inner = tar_of(
        tmp_path / "parts" / "runs.tar.gz",
        {**run_files(tmp_path, "run-a"), **run_files(tmp_path, "run-b")},
    )
    outer = zip_of(
        tmp_path / "outer.zip", {**run_files(tmp_path, "run-c"), "runs.tar.gz": inner.read_bytes()}
    )
    report = ingest(tmp_path / "h.sqlite", [outer])
    assert report.rejected == [f"{outer}: runs.tar.gz: more than 6 members"]
    assert report.added == ["run-c"]  # the outer archive's own runs were within the bound


def test_a_bad_run_in_an_archive_in_a_folder_is_named_by_its_path_inside(tmp_path: Path) -> None:
    files = run_files(tmp_path, "run-bad")
    files["runs/run-bad/results.jsonl"] = b'{"feature": 1}\n'
    archive = zip_of(
        tmp_path / "artifacts" / "job-3" / "runs.zip", {**files, **run_files(tmp_path, "run-ok")}
    )
    report = ingest(tmp_path / "h.sqlite", [tmp_path / "artifacts"])
    assert report.added == ["run-ok"]
    assert len(report.rejected) == 1
    assert report.rejected[0].startswith(f"{archive}: runs/run-bad/results.jsonl:1: feature: "), (
        report.rejected
    )


def test_a_bad_archive_in_a_folder_is_named_and_the_folders_runs_go_in(tmp_path: Path) -> None:
    folder = tmp_path / "artifacts"
    make_run(folder / "job-1", "run-fine", ["passed"])
    (folder / "job-2").mkdir()
    (folder / "job-2" / "runs.zip").write_bytes(b"not a zip at all")
    cut = tar_of(folder / "job-3" / "runs.tar.gz", run_files(tmp_path, "run-cut"))
    cut.write_bytes(cut.read_bytes()[:-40])
    report = ingest(tmp_path / "h.sqlite", [folder])
    assert report.added == ["run-fine"]
    assert len(report.rejected) == 2, report.rejected
    assert report.rejected[0] == f"{folder / 'job-2' / 'runs.zip'}: not a tarball or a zip file"
    assert report.rejected[1].startswith(f"{cut}: not a readable tarball: ")


def test_an_archive_given_that_holds_no_run_is_rejected_but_one_found_is_not(
    tmp_path: Path,
) -> None:
    logs = tar_of(tmp_path / "logs" / "etc.tar.gz", {"etc/nova.conf": b"[DEFAULT]\n"})
    make_run(tmp_path / "logs", "run-1", ["passed"])
    report = ingest(tmp_path / "h.sqlite", [logs, tmp_path / "logs"])
    assert report.rejected == [f"{logs}: no run record (run.json) found"]
    assert report.added == ["run-1"]


def test_a_file_that_is_no_archive_is_rejected_saying_what_ingest_takes(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    assert ingest(tmp_path / "h.sqlite", [junk]).rejected == [
        f"{junk}: not a run directory, a folder of runs or an archive (tar or zip)"
    ]


def test_a_name_inside_an_archive_is_shown_on_one_line_without_its_controls(tmp_path: Path) -> None:
    files = {
        name.replace("run-x/", "run-\x1b[2Jx\n/"): b"{" if name.endswith("run.json") else data
        for name, data in run_files(tmp_path, "run-x").items()
    }
    archive = zip_of(tmp_path / "odd.zip", files)
    [rejected] = ingest(tmp_path / "h.sqlite", [archive]).rejected
    assert rejected.startswith(f"{archive}: runs/run-\x1b[2Jx\\n/run.json: ")  # one line
    done = matrix_ingest(str(archive), "--db", str(tmp_path / "h.sqlite"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"rejected {archive}: runs/run-\\x1b[2Jx\\n/run.json: ")
    assert done.stderr.count("\n") == 1 and "\x1b" not in done.stderr


# --- hostile tarballs ---------------------------------------------------------------------------


def test_a_tarball_with_a_huge_pax_header_is_refused_without_reading_it_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pax.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("runs/run-pax/run.json")
        info.pax_headers = {"comment": "x" * (2 << 20)}
        tar.addfile(info, io.BytesIO(b""))
    assert ingest(tmp_path / "h.sqlite", [path]).rejected == [
        f"{path}: a pax or long-name header of more than 1 MiB"
    ]


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tarballs_of_each_compression_are_ingested(tmp_path: Path, mode: str) -> None:
    path = tar_of(tmp_path / "runs.tar", run_files(tmp_path, "run-t"), mode)
    assert ingest(tmp_path / "h.sqlite", [path]).added == ["run-t"]
