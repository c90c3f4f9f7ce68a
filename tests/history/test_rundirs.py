"""Reading run directories for ingest: worker processes give exactly what reading in the
process gives, in the order given, rejections included."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from harness.history import rows, rundirs
from harness.history.database import connect
from harness.history.rows import StoredRun
from harness.history.rundirs import PARALLEL_FROM, Known, Rejected, RunReader, read_run
from harness.history.store import ingest, ingest_run
from harness.run.records import read_header, read_results
from tests.history.test_ingest import make_run
from tests.history.test_ingest import rows as rows_in


@pytest.fixture
def many(tmp_path: Path) -> list[Path]:
    """More run directories than are read in the process, one of them malformed."""
    dirs = [
        make_run(tmp_path / "runs", f"run-{i:03}", ["passed", "failed", "skipped"][: 1 + i % 3])
        for i in range(PARALLEL_FROM + 9)
    ]
    with (dirs[17] / "results.jsonl").open("a") as handle:
        handle.write('{"feature": "x"}\n')
    return dirs


def test_workers_read_what_the_process_reads_in_the_same_order(many: list[Path]) -> None:
    known = frozenset({"run-005", "run-030"})
    serial = list(RunReader(known, workers=1).read(many))
    reader = RunReader(known, workers=2)
    try:
        parallel = list(reader.read(many))
        assert reader._pool is not None  # the workers did read them
        worker_pids = set(reader._pool._processes)
    finally:
        reader.close()
    assert os.getpid() not in worker_pids
    assert parallel == serial
    assert [run_dir for run_dir, _ in parallel] == many
    assert isinstance(serial[5][1], Known) and isinstance(serial[30][1], Known)
    assert isinstance(serial[17][1], Rejected)
    assert "results.jsonl:4: scenario: Field required" in serial[17][1].message
    stored = [read for _, read in serial if isinstance(read, StoredRun)]
    assert len(stored) == len(many) - 3
    assert [len(run.results) for run in stored[:3]] == [1, 2, 3]


def test_an_ingest_of_many_runs_stores_each_once_and_rejects_the_malformed_one(
    tmp_path: Path, many: list[Path]
) -> None:
    db = tmp_path / "history.sqlite"
    report = ingest(db, [tmp_path / "runs"])
    assert len(report.added) == len(many) - 1
    assert len(report.rejected) == 1 and "run-017/results.jsonl:4" in report.rejected[0]
    assert rows_in(db, "SELECT count(*) FROM results") == [(report.results,)]
    again = ingest(db, [tmp_path / "runs"])  # headers only, and the same rejection
    assert (again.added, len(again.already), again.rejected) == ([], len(many) - 1, report.rejected)


def test_run_directories_named_one_by_one_are_ingested_as_a_folder_of_them_is(
    tmp_path: Path, many: list[Path]
) -> None:
    """`matrix ingest results/runs/*`: the same runs, results and rejection, in the order given;
    a path that is no run record between them is rejected in its place."""
    by_folder = ingest(tmp_path / "folder.sqlite", [tmp_path / "runs"])
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    one_by_one = ingest(tmp_path / "named.sqlite", [*many[:20], not_a_run, *many[20:]])
    assert one_by_one.added == by_folder.added
    assert one_by_one.results == by_folder.results
    assert one_by_one.rejected == [
        by_folder.rejected[0],
        f"{not_a_run}: no run record (run.json) found",
    ]


def test_a_run_with_more_results_than_a_key_holds_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rundirs, "MAX_RESULTS_PER_RUN", 2)
    read = read_run(make_run(tmp_path, "big", ["passed"] * 3), frozenset())
    assert isinstance(read, Rejected)
    assert read.message.endswith("big/results.jsonl:3: more than 2 results in one run")


def test_a_run_given_whole_with_more_results_than_a_key_holds_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path that does not read files (a Tempest output's run) is bounded too, before
    anything of it is stored."""
    monkeypatch.setattr(rows, "MAX_RESULTS_PER_RUN", 2)
    run_dir = make_run(tmp_path, "big", ["passed"] * 3)
    header, results = read_header(run_dir), list(read_results(run_dir))
    with (
        contextlib.closing(connect(tmp_path / "h.sqlite")) as connection,
        pytest.raises(rows.TooManyResults, match="run big has 3 results; a run holds"),
    ):
        ingest_run(connection, header, results)
    assert rows_in(tmp_path / "h.sqlite", "SELECT count(*) FROM runs") == [(0,)]
