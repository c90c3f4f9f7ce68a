"""`matrix ingest --tempest`: a real Tempest run's output (trimmed) into the history, marked
as Tempest's, shown with its source by levels --explain and on the published site."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.conftest import SHIPPED, Result
from tests.tempest.test_results import JUNIT, SUBUNIT

EMBEDDED = "fake-live-migrate/fake-local/fake-neutron"
ABOUT = (
    "--combination", EMBEDDED, "--target", "live-local", "--lab", "embedded", "--kind", "embedded",
    "--job-url", "https://ci.example.org/tempest/1",
)  # fmt: skip


def rows(db: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return list(connection.execute(query))


def test_a_subunit_stream_becomes_one_tempest_run_once(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    db = tmp_path / "history.sqlite"
    first = run(
        "--matrix", str(SHIPPED), "ingest", "--tempest", str(SUBUNIT), *ABOUT, "--db", str(db)
    )
    assert first.code == 0, first.err
    assert (
        "added Tempest run" in first.out
        and "7 result(s) of declared features (1 other" in first.out
    )
    ((run_id, source, combination, preflight),) = rows(
        db, "SELECT run_id, source, combination, preflight FROM runs"
    )
    assert (source, combination, preflight) == ("tempest", EMBEDDED, "not-run")
    assert run_id.endswith("-tempest-live-local")
    outcomes = rows(
        db, "SELECT feature, outcome FROM results WHERE feature = 'launch' ORDER BY seq"
    )
    assert sorted(o for _, o in outcomes) == ["failed", "passed", "passed"]
    again = run(
        "--matrix", str(SHIPPED), "ingest", "--tempest", str(SUBUNIT), *ABOUT, "--db", str(db)
    )
    assert again.code == 0 and "already there" in again.out
    assert rows(db, "SELECT count(*) FROM runs") == [(1,)]


def test_junit_with_a_sidecar_gives_the_same_results(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_bytes(JUNIT.read_bytes())
    (tmp_path / "junit.xml.yaml").write_text(
        f"combination: {EMBEDDED}\ntarget: live-local\nlab: embedded\n"
        "provenance: {kind: embedded}\nstarted_at: '2026-12-05T18:25:56+00:00'\n"
    )
    db, other = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    assert (
        run("--matrix", str(SHIPPED), "ingest", "--tempest", str(junit), "--db", str(db)).code == 0
    )
    assert (
        run(
            "--matrix",
            str(SHIPPED),
            "ingest",
            "--tempest",
            str(SUBUNIT),
            *ABOUT,
            "--db",
            str(other),
        ).code
        == 0
    )
    query = (
        "SELECT feature, scenario, outcome, skip_category FROM results ORDER BY feature, scenario"
    )
    assert rows(db, query) == rows(other, query)


def test_what_it_ran_on_must_be_said_and_fit(run: Callable[..., Result], tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    missing = run("--matrix", str(SHIPPED), "ingest", "--tempest", str(SUBUNIT), "--db", str(db))
    assert missing.code == 2
    assert (
        "combination: Field required (give it with a flag or in tempest.subunit.yaml)"
        in missing.err
    )
    typo = run(
        "--matrix", str(SHIPPED), "ingest", "--tempest", str(SUBUNIT), *ABOUT[:-2],
        "--combination", "fake-live-migrate/fake-local/fake-neutrn", "--db", str(db),
    )  # fmt: skip
    assert typo.code == 2 and "did you mean 'fake-live-migrate/fake-local/fake-neutron'" in typo.err
    real = run(
        "--matrix", str(SHIPPED), "ingest", "--tempest", str(SUBUNIT), *ABOUT[:6],
        "--kind", "periodic", "--db", str(db),
    )  # fmt: skip
    assert (
        real.code == 2
        and "provenance kind 'periodic' does not fit an embedded combination" in real.err
    )
    assert not db.exists()  # nothing was written


def test_tempest_results_show_with_their_source(run: Callable[..., Result], tmp_path: Path) -> None:
    db, site = tmp_path / "history.sqlite", tmp_path / "site"
    assert (
        run(
            "--matrix", str(SHIPPED), "ingest", "--tempest", str(SUBUNIT), *ABOUT, "--db", str(db)
        ).code
        == 0
    )
    explained = run(
        "--matrix", str(SHIPPED), "levels", "--db", str(db), "--at", "2026-12-06T00:00:00Z",
        "--explain", f"pause-unpause@{EMBEDDED}", "--json",
    )  # fmt: skip
    assert explained.code == 0, explained.err
    cell = json.loads(explained.out)
    assert cell["level"] == "unknown" and cell["passed"] == 0  # Tempest never stands in
    (tempest,) = cell["explained"]["tempest"]
    assert tempest["outcome"] == "passed" and "test_pause_unpause_server" in tempest["test"]
    assert "tempest" in cell["criteria"]["met"]
    published = run(
        "--matrix",
        str(SHIPPED),
        "publish",
        "--db",
        str(db),
        "--out",
        str(site),
        "--at",
        "2026-12-06T00:00:00Z",
    )
    assert published.code == 0, published.err
    matrix_json = json.loads((site / "matrix.json").read_text())
    (launch,) = [
        c for c in matrix_json["cells"] if c["feature"] == "launch" and c["combination"] == EMBEDDED
    ]
    assert launch["tempest_latest"]["outcome"] in ("passed", "failed")
    assert (
        "tempest.api.compute" in launch["tempest_latest"]["test"]
        or "tempest.scenario" in launch["tempest_latest"]["test"]
    )
    pages = list((site / "cells" / "pause-unpause").glob("*.html"))
    page = next(p.read_text() for p in pages if "fake-live-migrate" in p.read_text())
    assert '<h2 id="tempest">Tempest</h2>' in page and "test_pause_unpause_server" in page
