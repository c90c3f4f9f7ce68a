"""What the history says about each cell: valid results, streamed once, summarised per cell.

A result is valid evidence only when its run proved its target (preflight passed, not forced)
and, for embedded-lab runs, only for the embedded combinations the run declared; everything
else is counted as ignored, with the reason, so an explanation can say what was left out.
Passes count for a cell; failures and errors count against it; skips are not evidence, but a
skip because of a declared known bug marks the cell as flagged. Tempest's results (runs of
source `tempest`) are summarised apart, as the cell's `tempest` observation: they stand
beside the harness's own evidence (the `tempest` criterion), never in its place.

The history is read in one pass in run order (the runs index plus the results' primary key,
so SQLite never sorts a million rows), within one read transaction. Each cell keeps running
counts, the keys of its newest results, weekly buckets and a pointer per run it has valid
results from; only the results cells keep are read whole and made Evidence, at the end. So
memory grows with cells (and by a pointer per run), and a million results take seconds.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from harness.declarations.matrix import Matrix
from harness.history.database import RESULT_KEY_BITS, connect_read_only, result_key
from harness.run.records import FLAGGED, TEMPEST, utc

WINDOW_RUNS_KEPT = 50
"""Run ids of the window kept per cell: what the `consistent` criterion cites."""

PASSED = "passed"
MAX_JOB_URLS = 5


class Evidence(NamedTuple):
    """One valid result. `message` and `job_url` come from clouds and CI: escape them.

    A named tuple, immutable like a frozen dataclass but built and pickled several times
    faster: a levels pass over a big history makes a quarter of a million of them."""

    run_id: str
    started_at: str  # the run's start, ISO 8601 in UTC
    outcome: str  # passed | failed | error | skipped
    scenario: str
    duration_s: float
    message: str | None
    microversion: str | None
    kind: str  # gate | check | periodic | third-party | manual | embedded
    voting: bool
    lab: str
    target: str
    job_url: str | None
    versions: str  # the run's facts, "nova 34.0.0, libvirt 9.0.0"; "" when none
    proof: str | None = None  # how a pass showed the feature (the scenario's words); escape it

    @property
    def passed(self) -> bool:
        return self.outcome == PASSED


@dataclass
class Observation:
    """One cell's valid evidence, summarised as the history streams past (oldest first)."""

    window_start: str
    passed: int = 0
    failed: int = 0
    flagged: int = 0
    ignored: int = 0
    ignored_why: set[str] = field(default_factory=set)
    runs: int = 0
    latest: Evidence | None = None
    last_pass: Evidence | None = None
    last_failure: Evidence | None = None
    window_passed: int = 0
    window_failed: int = 0
    window_run_ids: deque[str] = field(default_factory=lambda: deque(maxlen=WINDOW_RUNS_KEPT))
    window_labs: set[str] = field(default_factory=set)  # labs with a pass in the window
    labs: set[str] = field(default_factory=set)
    versions: dict[str, list[str]] = field(default_factory=dict)  # fact -> values, newest last
    job_urls: list[str] = field(default_factory=list)
    recent: deque[Evidence] = field(default_factory=deque)
    weeks: dict[str, tuple[int, int]] = field(default_factory=dict)
    tempest: Observation | None = None  # the cell's Tempest results, summarised the same way

    @property
    def window_rate(self) -> float:
        total = self.window_passed + self.window_failed
        return self.window_passed / total if total else 0.0

    @property
    def window_runs(self) -> tuple[str, ...]:
        return tuple(reversed(self.window_run_ids))

    def newest_first(self) -> list[Evidence]:
        return list(reversed(self.recent))


def read_observations(
    matrix: Matrix,
    db: Path,
    combinations: Iterable[str],
    features: Iterable[str],
    *,
    keep: int,
    window_start: str,
    until: str | None = None,
    through_run: int | None = None,
) -> dict[tuple[str, str], Observation]:
    """Each asked-for cell's observation, keyed (feature, combination); cells never run are
    absent. `window_start` (ISO 8601, UTC) opens the consistency window; runs that started
    after `until` are not read at all, so levels `--at` a past moment are what they were
    then. Only runs of the asked-for combinations are read, and only those stored up to the
    run key `through_run` (of a `snapshot`), when given: processes that each read a share of
    the combinations then read the same history, whoever ingests meanwhile. A missing
    history file is an empty history."""
    if not db.exists():
        return {}
    wanted_combinations = set(combinations)
    wanted_features = set(features)
    with paused_collector():
        return _stream(
            matrix, db, wanted_combinations, wanted_features, keep=keep,
            window_start=window_start, until=until, through_run=through_run,
        )  # fmt: skip


@contextmanager
def paused_collector() -> Iterator[None]:
    """Pause the cyclic garbage collector while building the many objects a pass over the
    history keeps (none of them in cycles). Left on, it walks all of them again each time
    their number grows by a quarter: seconds at a million results. Cycles made meanwhile are
    collected once it is back on, as it was before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


EVERY_RUN = (1 << 63) - 1  # the largest run key SQLite can store

_WANTED_RUNS = "+r.combination IN (SELECT value FROM json_each(:combinations)) AND r.id <= :through"
"""Runs of the wanted combinations, up to a run key (the unary + keeps SQLite from walking
runs_by_combination, which would need a sort)."""

STREAM_QUERY = (
    f"SELECT r.id, (x.run << {RESULT_KEY_BITS}) | x.seq, x.feature,"
    " CASE x.outcome WHEN 'passed' THEN 0 WHEN 'skipped' THEN"
    f" (CASE x.skip_category WHEN '{FLAGGED}' THEN 2 ELSE 3 END) ELSE 1 END"
    " FROM runs r CROSS JOIN results x ON x.run = r.id"
    f" WHERE {_WANTED_RUNS} ORDER BY r.started_at, r.id, x.seq"
)
"""Every result of the wanted combinations' runs in run order, as (run key, result key,
feature, what it says: 0 passed, 1 failed or error, 2 skipped as flagged, 3 skipped
otherwise). CROSS JOIN keeps runs the outer loop (walking runs_by_start) and results the inner
one (their primary key, which keeps a run's results together), so the order needs no sort at
all. The rest of a result is read only for the few each cell keeps (_DETAILS_QUERY): turning a
million rows into Python objects is most of the cost of a pass."""

_DETAILS_QUERY = (
    "SELECT x.run, x.seq, x.outcome, x.scenario, x.duration_s, x.message, x.microversion,"
    " x.proof FROM json_each(?) wanted CROSS JOIN results x"
    f" ON x.run = wanted.value >> {RESULT_KEY_BITS}"
    f" AND x.seq = wanted.value & {(1 << RESULT_KEY_BITS) - 1}"
)
"""The results kept, by their keys given as one JSON array: one query, each result found by
its primary key (a list of (run, seq) pairs in SQL would be scanned for instead)."""


def _stream(
    matrix: Matrix,
    db: Path,
    wanted_combinations: set[str],
    wanted_features: set[str],
    *,
    keep: int,
    window_start: str,
    until: str | None,
    through_run: int | None,
) -> dict[tuple[str, str], Observation]:
    connection = connect_read_only(db)
    try:
        connection.execute("BEGIN")  # one snapshot for every query, whoever ingests meanwhile
        # without a snapshot, the transaction's own view is the bound: every run in it
        through = EVERY_RUN if through_run is None else through_run
        cells_by_combination: dict[str, dict[str, _Cell]] = {c: {} for c in wanted_combinations}
        tempest_by_combination: dict[str, dict[str, _Cell]] = {c: {} for c in wanted_combinations}
        wanted = {"combinations": json.dumps(sorted(wanted_combinations)), "through": through}
        runs = _runs(
            connection, matrix, (cells_by_combination, tempest_by_combination), window_start,
            until, wanted,
        )  # fmt: skip
        order: list[tuple[tuple[str, str], _Cell]] = []  # cells as first seen
        current = None  # the first row sets run, cells, ignored_why and in_window
        for run_key, result, feature, says in connection.execute(STREAM_QUERY, wanted):
            if run_key != current:  # (locals, not attributes or globals, in this hot loop)
                current = run_key
                run, cells = runs[run_key]
                ignored_why, in_window = run.ignored_why, run.in_window
            if cells is None:
                continue
            cell = cells.get(feature)
            if cell is None:
                if feature not in wanted_features:
                    continue
                cell = cells[feature] = _Cell(keep)
                if cells is not tempest_by_combination.get(run.combination):
                    order.append(((feature, run.combination), cell))
            if ignored_why is not None:
                cell.ignored += 1
                cell.ignored_why.add(ignored_why)
                continue
            if says > 1:  # skipped: 2 because of a known bug, 3 for any other reason
                if says == 2:
                    cell.flagged += 1
                continue
            if cell.run is not run:  # the cell's first valid result of this run
                cell.run = run
                cell.runs.append(run)
                week = run.week or _week(run.started_at)
                if week != cell.week:  # close the week counted so far
                    if cell.week is not None:
                        p, f = cell.weeks.get(cell.week, (0, 0))
                        cell.weeks[cell.week] = (
                            p + cell.passed - cell.week_passed,
                            f + cell.failed - cell.week_failed,
                        )
                    cell.week, cell.week_passed, cell.week_failed = week, cell.passed, cell.failed
            cell.recent.append(result)
            if says == 0:  # passed
                cell.passed += 1
                cell.last_pass = result
                if in_window:
                    cell.window_passed += 1
                    cell.window_labs.add(run.lab)
            else:  # failed or error
                cell.failed += 1
                cell.last_failure = result
                if in_window:
                    cell.window_failed += 1
        tempest = [
            ((feature, combination), cell)
            for combination, cells in tempest_by_combination.items()
            for feature, cell in cells.items()
        ]
        evidence = _evidence(connection, runs, [cell for _, cell in order + tempest])
        facts = _facts_table(runs)
        found = {key: cell.observation(evidence, facts, window_start, keep) for key, cell in order}
        for key, cell in tempest:
            if key not in found:  # Tempest's results only: the cell has no evidence of its own
                found[key] = _Cell(keep).observation(evidence, facts, window_start, keep)
            found[key].tempest = cell.observation(evidence, facts, window_start, keep)
        return found
    finally:
        connection.close()


class Snapshot(NamedTuple):
    """How far a history goes: the key of its newest run, and how many runs it holds."""

    through_run: int
    runs: int


def snapshot(db: Path) -> Snapshot:
    """The history as it is now, to read up to (`read_observations(through_run=)`)."""
    if not db.exists():
        return Snapshot(0, 0)
    connection = connect_read_only(db)
    try:
        row = connection.execute("SELECT coalesce(max(id), 0), count(*) FROM runs").fetchone()
        return Snapshot(int(row[0]), int(row[1]))
    finally:
        connection.close()


class _Run:
    """One run as the stream needs it: read once, shared by all its results."""

    __slots__ = (
        "_text", "combination", "facts_key", "ignored_why", "in_window", "job_url", "kind", "lab",
        "run_id", "started_at", "target", "versions", "voting", "week",
    )  # fmt: skip

    def __init__(
        self,
        run_id: str,
        combination: str,
        started_at: str,
        ignored_why: str | None,
        versions: tuple[tuple[str, str], ...],
        facts_key: int,
        row: tuple[str, int, str, str, str | None],
        window_start: str,
        week: str | None,
    ) -> None:
        self.run_id, self.combination, self.started_at = run_id, combination, started_at
        self.ignored_why, self.versions, self.facts_key = ignored_why, versions, facts_key
        self.kind, voting, self.lab, self.target, self.job_url = row
        self.voting = bool(voting)
        self.in_window = started_at >= window_start
        self.week = week  # None when started_at is no date: _week says why, if it is needed
        self._text: str | None = None

    @property
    def versions_text(self) -> str:
        if self._text is None:
            self._text = ", ".join(f"{name} {value}" for name, value in self.versions)
        return self._text


class _Cell:
    """One cell's running summary while streaming; `observation()` gives the public form.
    Per result it keeps counts and, for the
    newest few, the result's key; per run, only the run: what depends on runs alone (facts,
    job URLs, labs, the window's runs) is worked out at the end from the list of runs."""

    __slots__ = (
        "failed", "flagged", "ignored", "ignored_why", "last_failure", "last_pass", "passed",
        "recent", "run", "runs", "week", "week_failed", "week_passed", "weeks", "window_failed",
        "window_labs", "window_passed",
    )  # fmt: skip

    def __init__(self, keep: int) -> None:
        self.passed = self.failed = self.flagged = self.ignored = 0
        self.window_passed = self.window_failed = 0
        self.ignored_why: set[str] = set()
        self.last_pass: int | None = None  # results' keys
        self.last_failure: int | None = None
        self.recent: deque[int] = deque(maxlen=max(keep, 1))  # the latest too
        self.run: _Run | None = None
        self.runs: list[_Run] = []  # with valid results in this cell, oldest first
        self.window_labs: set[str] = set()  # labs with a pass in the window
        self.week: str | None = None  # the week being counted (runs come in time order)
        self.week_passed = self.week_failed = 0  # passed and failed when it began
        self.weeks: dict[str, tuple[int, int]] = {}

    def close_week(self) -> None:
        """Count the week counted so far (as the stream does when a new week begins)."""
        if self.week is not None:
            p, f = self.weeks.get(self.week, (0, 0))
            passed, failed = self.passed - self.week_passed, self.failed - self.week_failed
            self.weeks[self.week] = (p + passed, f + failed)
        self.week = None

    def kept(self) -> Iterator[int]:
        """The results this cell keeps as Evidence."""
        yield from self.recent
        for result in (self.last_pass, self.last_failure):
            if result is not None:
                yield result

    def observation(
        self,
        evidence: dict[int, Evidence],
        facts: list[tuple[tuple[str, str], ...]],
        window_start: str,
        keep: int,
    ) -> Observation:
        self.close_week()
        runs = self.runs
        latest = self.recent[-1] if self.recent else None
        recent = list(self.recent)[-keep:] if keep else []
        return Observation(
            window_start,
            passed=self.passed,
            failed=self.failed,
            flagged=self.flagged,
            ignored=self.ignored,
            ignored_why=self.ignored_why,
            runs=len(runs),
            latest=None if latest is None else evidence[latest],
            last_pass=None if self.last_pass is None else evidence[self.last_pass],
            last_failure=None if self.last_failure is None else evidence[self.last_failure],
            window_passed=self.window_passed,
            window_failed=self.window_failed,
            window_run_ids=_window_run_ids(runs),
            window_labs=self.window_labs,
            labs={run.lab for run in runs},
            versions=_versions(runs, facts),
            job_urls=_job_urls(runs),
            recent=deque((evidence[result] for result in recent), maxlen=keep),
            weeks=self.weeks,
        )


_Runs = dict[int, tuple[_Run, dict[str, _Cell] | None]]


def _evidence(
    connection: sqlite3.Connection, runs: _Runs, cells: list[_Cell]
) -> dict[int, Evidence]:
    """Evidence for every result some cell keeps, by the result's key."""
    wanted = sorted({result for cell in cells for result in cell.kept()})
    found = {}
    for (
        run_key, seq, outcome, scenario, duration_s, message, microversion, proof,
    ) in connection.execute(_DETAILS_QUERY, (json.dumps(wanted),)):  # fmt: skip
        run = runs[run_key][0]
        found[result_key(run_key, seq)] = Evidence(
            run.run_id, run.started_at, outcome, scenario, duration_s, message, microversion,
            run.kind, run.voting, run.lab, run.target, run.job_url, run.versions_text, proof,
        )  # fmt: skip
    return found


def _window_run_ids(runs: list[_Run]) -> deque[str]:
    """The newest runs in the window (at most WINDOW_RUNS_KEPT), oldest first."""
    newest: list[str] = []
    for run in reversed(runs):
        if run.in_window:
            newest.append(run.run_id)
            if len(newest) == WINDOW_RUNS_KEPT:
                break
    return deque(reversed(newest), maxlen=WINDOW_RUNS_KEPT)


def _job_urls(runs: list[_Run]) -> list[str]:
    """The last MAX_JOB_URLS distinct job URLs, oldest first."""
    newest: dict[str, None] = {}
    for run in reversed(runs):
        if run.job_url:
            newest.setdefault(run.job_url)
            if len(newest) == MAX_JOB_URLS:
                break
    return list(reversed(newest))


_FACTS_KEY = attrgetter("facts_key")


def _facts_table(runs: _Runs) -> list[tuple[tuple[str, str], ...]]:
    """Each distinct set of facts, at its key."""
    table: dict[int, tuple[tuple[str, str], ...]] = {}
    for run, _ in runs.values():
        table.setdefault(run.facts_key, run.versions)
    return [table[key] for key in range(len(table))]


def _versions(runs: list[_Run], facts: list[tuple[tuple[str, str], ...]]) -> dict[str, list[str]]:
    """fact -> its values, newest last; facts in the order they first appeared: what adding
    each run's facts in turn (moving a value seen again to the end) gives, but walking each
    distinct set of facts once, in the order of its first and of its last run."""
    newest_first: dict[str, dict[str, None]] = {}
    for key in dict.fromkeys(map(_FACTS_KEY, runs)):
        for name, _ in facts[key]:
            newest_first.setdefault(name, {})
    for key in dict.fromkeys(map(_FACTS_KEY, reversed(runs))):
        for name, value in facts[key]:
            newest_first[name].setdefault(value)
    return {name: list(reversed(values)) for name, values in newest_first.items()}


def _runs(
    connection: sqlite3.Connection,
    matrix: Matrix,
    cells_by_source: tuple[dict[str, dict[str, _Cell]], dict[str, dict[str, _Cell]]],
    window_start: str,
    until: str | None,
    wanted: dict[str, object],
) -> _Runs:
    """Every run of the wanted combinations (up to the wanted run key) by its key, with its
    verdict and facts, and the cells of its combination (None when it started after `until`; a
    run does not point at its cells, so that cells and runs are freed without waiting for the
    garbage collector): the scenario cells or, for a Tempest run, the Tempest ones."""
    facts: dict[int, dict[str, str]] = {}
    current, of_run = None, {}
    for key, name, value in connection.execute(
        "SELECT f.run, f.name, f.value FROM runs r CROSS JOIN facts f ON f.run = r.id"
        f" WHERE {_WANTED_RUNS} ORDER BY r.id, f.host",
        wanted,
    ):
        if key != current:
            current, of_run = key, facts.setdefault(key, {})
        of_run.setdefault(name, value)  # the first host's value
    shared: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
    keys: dict[tuple[tuple[str, str], ...], int] = {}
    weeks: dict[str, str | None] = {}
    runs = {}
    for (
        key, run_id, combination, embedded, status, started_at, preflight, forced,
        kind, voting, lab, target, job_url, source,
    ) in connection.execute(
        "SELECT id, run_id, combination, embedded, status, started_at, preflight, forced,"
        f" kind, voting, lab, target, job_url, source FROM runs r WHERE {_WANTED_RUNS}",
        wanted,
    ):  # fmt: skip
        versions = tuple(sorted(facts.get(key, {}).items()))
        started_at = utc(started_at)
        day = started_at[:10]
        if day not in weeks:
            try:
                weeks[day] = _week(day)
            except ValueError:
                weeks[day] = None
        run = _Run(
            run_id,
            combination,
            started_at,
            why_ignored(
                matrix, combination, bool(embedded), kind, status, preflight, bool(forced), source
            ),
            versions := shared.setdefault(versions, versions),
            keys.setdefault(versions, len(keys)),
            (kind, voting, lab, target, job_url),
            window_start,
            weeks[day],
        )
        later = until is not None and started_at > until  # not yet run at that moment
        cells = cells_by_source[source == TEMPEST].get(combination)
        runs[key] = (run, None if later else cells)
    return runs


def why_ignored(
    matrix: Matrix,
    combination: str,
    embedded: bool,
    kind: str,
    status: str,
    preflight: str,
    forced: bool,
    source: str = "scenario",
) -> str | None:
    """The evidence rules, in one place: why a run's results count for nothing, or None when
    they count. Only a run whose preflight passed proved its target; a preflight not run (a
    bare pytest session) or skipped (no hosts to check) proved nothing. A Tempest run is the
    exception: it may come from anywhere with no preflight of ours, and counts only for the
    `tempest` criterion, never for what the harness's own evidence must show (a failed
    preflight still voids it). Embedded-lab evidence (by the header's flag or by its
    provenance kind) never stands for a real combination, nor a real lab's for an embedded
    one."""
    if forced:
        return "forced past preflight"
    if status == "preflight-failed" or preflight == "failed":
        return "preflight failed"
    if (preflight != "passed" or status == "unverified") and source != TEMPEST:
        return f"target not verified (preflight {preflight})"
    declared = matrix.combinations.get(combination)
    if declared is not None and (embedded or kind == "embedded") and not declared.embedded:
        return "embedded-lab run of a real combination"
    if declared is not None and not embedded and declared.embedded:
        return "embedded combination claimed by a real lab"
    return None


def _week(started_at: str) -> str:
    day = date.fromisoformat(started_at[:10])
    return (day - timedelta(days=day.weekday())).isoformat()
