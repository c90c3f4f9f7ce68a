"""What the history says about each cell: valid results, streamed once, summarised per cell.

A result is valid evidence only when its run proved its target (preflight passed, not forced)
and, for embedded-lab runs, only for the embedded combinations the run declared; everything
else is counted as ignored, with the reason, so an explanation can say what was left out.
Passes count for a cell; failures and errors count against it; skips are not evidence, but a
skip because of a declared known bug marks the cell as flagged.

The history is read in one pass in run order (the runs index plus the results' primary key,
so SQLite never sorts a million rows) and each cell keeps running counts, a bounded window of
recent results and weekly buckets: memory grows with cells, not with history.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from harness.matrix import Matrix
from harness.records import utc

PASSED = "passed"
FAILED_OUTCOMES = ("failed", "error")
CI_KINDS = ("gate", "periodic", "third-party")
MAX_JOB_URLS = 5


@dataclass(frozen=True)
class Evidence:
    """One valid result. `message` and `job_url` come from clouds and CI: escape them."""

    run_id: str
    started_at: str  # the run's start, ISO 8601 in UTC
    outcome: str  # passed | failed | error | skipped
    scenario: str
    duration_s: float
    message: str | None
    microversion: str | None
    kind: str  # gate | periodic | third-party | manual | embedded
    voting: bool
    lab: str
    target: str
    job_url: str | None
    versions: str  # the run's facts, "nova 34.0.0, libvirt 9.0.0"; "" when none

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
    window_run_ids: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    window_labs: set[str] = field(default_factory=set)  # labs with a pass in the window
    labs: set[str] = field(default_factory=set)
    versions: dict[str, list[str]] = field(default_factory=dict)  # fact -> values, newest last
    job_urls: list[str] = field(default_factory=list)
    recent: deque[Evidence] = field(default_factory=deque)
    weeks: dict[str, tuple[int, int]] = field(default_factory=dict)
    _last_run: str = ""

    @property
    def window_rate(self) -> float:
        total = self.window_passed + self.window_failed
        return self.window_passed / total if total else 0.0

    @property
    def window_runs(self) -> tuple[str, ...]:
        return tuple(reversed(self.window_run_ids))

    def add(self, evidence: Evidence, facts: tuple[tuple[str, str], ...]) -> None:
        passed = evidence.passed
        if passed:
            self.passed += 1
            self.last_pass = evidence
        else:
            self.failed += 1
            self.last_failure = evidence
        self.latest = evidence
        if evidence.run_id != self._last_run:
            self._last_run = evidence.run_id
            self.runs += 1
            for name, value in facts:
                seen = self.versions.setdefault(name, [])
                if value in seen:
                    seen.remove(value)
                seen.append(value)
            if evidence.job_url:
                if evidence.job_url in self.job_urls:
                    self.job_urls.remove(evidence.job_url)
                self.job_urls.append(evidence.job_url)
                del self.job_urls[:-MAX_JOB_URLS]
        self.labs.add(evidence.lab)
        if evidence.started_at >= self.window_start:
            if passed:
                self.window_passed += 1
                self.window_labs.add(evidence.lab)
            else:
                self.window_failed += 1
            if not self.window_run_ids or self.window_run_ids[-1] != evidence.run_id:
                self.window_run_ids.append(evidence.run_id)
        self.recent.append(evidence)
        week = _week(evidence.started_at)
        p, f = self.weeks.get(week, (0, 0))
        self.weeks[week] = (p + 1, f) if passed else (p, f + 1)

    def newest_first(self) -> list[Evidence]:
        return list(reversed(self.recent))


@dataclass(frozen=True)
class RunVerdict:
    started_at: str  # normalised to UTC
    ignored_why: str | None  # None when the run's results are valid evidence
    versions: tuple[tuple[str, str], ...]


def read_observations(
    matrix: Matrix,
    db: Path,
    combinations: Iterable[str],
    features: Iterable[str],
    *,
    keep: int,
    window_start: str,
) -> dict[tuple[str, str], Observation]:
    """Each asked-for cell's observation, keyed (feature, combination); cells never run are
    absent. `window_start` (ISO 8601, UTC) opens the consistency window. A missing history
    file is an empty history."""
    if not db.exists():
        return {}
    wanted_combinations = set(combinations)
    wanted_features = set(features)
    return _stream(
        matrix, db, wanted_combinations, wanted_features, keep=keep, window_start=window_start
    )


def _stream(
    matrix: Matrix,
    db: Path,
    wanted_combinations: set[str],
    wanted_features: set[str],
    *,
    keep: int,
    window_start: str,
) -> dict[tuple[str, str], Observation]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        verdicts = _run_verdicts(connection, matrix)
        observations: dict[tuple[str, str], Observation] = {}
        rows = connection.execute(
            "SELECT r.run_id, r.combination, r.kind, r.voting, r.lab, r.target, r.job_url,"
            " x.feature, x.scenario, x.outcome, x.skip_category, x.duration_s, x.message,"
            " x.microversion"
            " FROM runs r JOIN results x ON x.run_id = r.run_id"
            " ORDER BY r.started_at, r.run_id, x.seq"
        )
        for (
            run_id, combination, kind, voting, lab, target, job_url,
            feature, scenario, outcome, skip_category, duration_s, message, microversion,
        ) in rows:  # fmt: skip
            if combination not in wanted_combinations or feature not in wanted_features:
                continue
            key = (feature, combination)
            seen = observations.get(key)
            if seen is None:
                seen = observations[key] = Observation(window_start, recent=deque(maxlen=keep))
            run = verdicts[run_id]
            if run.ignored_why is not None:
                seen.ignored += 1
                seen.ignored_why.add(run.ignored_why)
                continue
            if outcome == "skipped":
                if skip_category == "flagged":
                    seen.flagged += 1
                continue
            seen.add(
                Evidence(
                    run_id, run.started_at, outcome, scenario, duration_s, message, microversion,
                    kind, bool(voting), lab, target, job_url,
                    ", ".join(f"{name} {value}" for name, value in run.versions),
                ),
                run.versions,
            )  # fmt: skip
        return observations
    finally:
        connection.close()


def _run_verdicts(connection: sqlite3.Connection, matrix: Matrix) -> dict[str, RunVerdict]:
    facts: dict[str, dict[str, str]] = {}
    for run_id, name, value in connection.execute(
        "SELECT run_id, name, value FROM facts ORDER BY run_id, host"
    ):
        facts.setdefault(run_id, {}).setdefault(name, value)  # the first host's value
    verdicts = {}
    for run_id, combination, embedded, status, started_at, preflight, forced in connection.execute(
        "SELECT run_id, combination, embedded, status, started_at, preflight, forced FROM runs"
    ):
        verdicts[run_id] = RunVerdict(
            utc(started_at),
            _why_ignored(matrix, combination, bool(embedded), status, preflight, bool(forced)),
            tuple(sorted(facts.get(run_id, {}).items())),
        )
    return verdicts


def _why_ignored(
    matrix: Matrix, combination: str, embedded: bool, status: str, preflight: str, forced: bool
) -> str | None:
    if forced:
        return "forced past preflight"
    if status == "preflight-failed" or preflight == "failed":
        return "preflight failed"
    if preflight != "passed" or status == "unverified":
        return "target not verified"
    declared = matrix.combinations.get(combination)
    if declared is not None and embedded and not declared.embedded:
        return "embedded-lab run of a real combination"
    if declared is not None and not embedded and declared.embedded:
        return "embedded combination claimed by a real lab"
    return None


def _week(started_at: str) -> str:
    day = date.fromisoformat(started_at[:10])
    return (day - timedelta(days=day.weekday())).isoformat()
