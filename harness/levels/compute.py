"""Known-to-work levels: each cell's evidence judged by the policy in matrix/levels.yaml.

A cell is one feature on one combination. Its evidence is every valid pass or failure in the
history (`harness.history.evidence` says what counts); the policy's criteria are judged on it
(`harness.levels.criteria`), their weights add up to a score, and the cell gets the first
ladder level whose needs are all met.
Otherwise it is `failing` when the latest valid result failed and `unknown` when there is no
valid evidence newer than the policy's `stale_after_days`. `n/a` comes from the declarations,
never from evidence. Every criterion keeps the runs behind it so a level can be explained.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

from harness.declarations.applicability import verdict
from harness.declarations.matrix import Matrix
from harness.declarations.model import (
    COMPUTED_LEVELS,
    LEVEL_FAILING,
    LEVEL_NA,
    LEVEL_UNKNOWN,
    Flag,
    LevelPolicy,
)
from harness.errors import BadInput
from harness.history.evidence import (
    Evidence,
    Observation,
    paused_collector,
    read_observations,
    snapshot,
)
from harness.levels.criteria import Case, Parameters, day, iso, judge
from harness.parallel import available_cpus, can_fork, forked

__all__ = ["COMPUTED_LEVELS", "LEVEL_FAILING", "LEVEL_NA", "LEVEL_UNKNOWN"]  # spelt in the model

RECENT = 30  # evidence rows kept per cell for explanations and cell pages, newest first


class CriterionResult(NamedTuple):  # named tuples: cheap to build and pickle by the thousand
    id: str
    name: str
    weight: int
    met: bool
    why: str  # one line, e.g. "4 of 4 valid results passed in the 30 days to 2026-11-21"
    runs: tuple[str, ...] = ()  # run ids behind the judgement, newest first


class Week(NamedTuple):
    """Valid results of one cell in one ISO week: what the pass-rate plot is drawn from."""

    start: str  # the Monday, YYYY-MM-DD
    passed: int
    failed: int


@dataclass
class Cell:
    feature: str
    combination: str
    level: str  # a ladder level id, or failing / unknown / n/a
    score: int = 0
    reason: str = ""  # one line: why this level, e.g. "the newest valid result is stale"
    criteria: tuple[CriterionResult, ...] = ()  # empty for n/a
    flaky: bool = False  # latest passes, but the window holds failures below the pass rate
    flags: tuple[Flag, ...] = ()  # declared known bugs that match this combination
    flagged_results: int = 0  # valid results skipped as flagged
    why_not_applicable: str | None = None
    passed: int = 0  # valid passes over the whole history
    failed: int = 0  # valid failures and errors over the whole history
    last_pass: Evidence | None = None
    last_failure: Evidence | None = None
    versions: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # fact -> values, newest first
    job_urls: tuple[str, ...] = ()  # distinct CI job links, newest first (at most 5)
    labs: tuple[str, ...] = ()  # labs with valid evidence
    recent: tuple[Evidence, ...] = ()  # newest first, at most RECENT
    weeks: tuple[Week, ...] = ()  # oldest first
    ignored: int = 0  # results from runs that count for nothing (unverified, forced, ...)
    tempest: tuple[Evidence, ...] = ()  # Tempest's newest results (source tempest), newest first

    @property
    def flagged(self) -> bool:
        return bool(self.flags) or self.flagged_results > 0

    @property
    def pass_rate(self) -> float | None:
        total = self.passed + self.failed
        return self.passed / total if total else None


@dataclass
class LevelMatrix:
    """Every cell of the declared matrix, with the policy and moment it was computed for."""

    computed_at: str  # ISO 8601, UTC
    policy: LevelPolicy
    features: list[str]  # declaration order
    combinations: list[str]  # declaration order
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)  # (feature, combination)

    def cell(self, feature: str, combination: str) -> Cell:
        return self.cells[(feature, combination)]

    @property
    def levels(self) -> list[str]:
        """Every level a cell can have, best first: the ladder, then the computed ones."""
        return [level.id for level in self.policy.ladder] + list(COMPUTED_LEVELS)


def compute_levels(
    matrix: Matrix,
    db: Path,
    *,
    now: datetime | None = None,
    combinations: Iterable[str] | None = None,
    features: Iterable[str] | None = None,
) -> LevelMatrix:
    """Levels of every declared cell (or of the combinations and features asked for)."""
    if matrix.policy is None:
        raise BadInput("the matrix declares no level policy: add levels.yaml to compute levels")
    policy = matrix.policy
    now = now or datetime.now(timezone.utc)
    combination_ids = list(combinations or matrix.combinations)
    feature_ids = list(features or matrix.features)
    result = LevelMatrix(now.isoformat(timespec="seconds"), policy, feature_ids, combination_ids)
    judge = Judge(policy, now)
    with paused_collector():
        _judge_all(matrix, db, judge, result)
    return result


PARALLEL_FROM_RUNS = 2_000
"""Runs in the history from which each CPU computes the levels of a share of the
combinations in a forked process: below, forking and sending the cells back cost more than
the shares save. (At 25,000 runs and a million results: 4.1 s alone, 2.4 s on 2 CPUs.)"""


def _judge_all(
    matrix: Matrix, db: Path, judge: Judge, result: LevelMatrix, parts: int | None = None
) -> None:
    combinations, features = result.combinations, result.features
    through_run, runs = snapshot(db)
    if parts is None:
        big = runs >= PARALLEL_FROM_RUNS and len(combinations) > 1 and can_fork()
        parts = min(available_cpus(), len(combinations)) if big else 1

    shares = _shares(combinations, parts)

    def share(part: int, parts: int) -> dict[tuple[str, str], Cell]:
        return _judge_share(matrix, db, judge, shares[part], features, through_run)

    if parts < 2:
        cells = share(0, 1)
    else:  # the other shares in forked children, while this process judges the first
        with forked(share, range(1, parts), parts) as others:
            cells = share(0, parts)
        for other in others:
            cells.update(other.result())
    for combination_id in combinations:  # declaration order, whoever judged the cell
        for feature_id in features:
            result.cells[(feature_id, combination_id)] = cells[(feature_id, combination_id)]


OWN_SHARE = 1.3
"""How much more this process judges than each forked one: a forked share's cells are then
pickled to it (a fifth of the time the share took), and this process unpickles them."""


def _shares(combinations: list[str], parts: int) -> list[list[str]]:
    """The combinations in `parts` shares, the first (this process's) OWN_SHARE times as
    big as each other one, every share spread over the declaration order."""
    weights = [OWN_SHARE] + [1.0] * (parts - 1)
    shares: list[list[str]] = [[] for _ in range(parts)]
    for combination in combinations:
        emptiest = min(range(parts), key=lambda k: len(shares[k]) / weights[k])
        shares[emptiest].append(combination)
    return shares


def _judge_share(
    matrix: Matrix,
    db: Path,
    judge: Judge,
    combination_ids: list[str],
    feature_ids: list[str],
    through_run: int,
) -> dict[tuple[str, str], Cell]:
    observations = read_observations(
        matrix, db, combination_ids, feature_ids, keep=RECENT,
        window_start=judge.window_start, until=iso(judge.now), through_run=through_run,
    )  # fmt: skip
    cells = {}
    for combination_id in combination_ids:
        combination = matrix.combinations[combination_id]
        for feature_id in feature_ids:
            feature = matrix.features[feature_id]
            seen = observations.get((feature_id, combination_id))
            applies = verdict(matrix, feature_id, feature, combination)
            if not applies.applicable:
                cell = Cell(
                    feature_id,
                    combination_id,
                    LEVEL_NA,
                    reason="not applicable by design",
                    why_not_applicable=applies.why,
                )
                if seen is not None:
                    _fill_evidence(cell, seen, judge.weeks)
            else:
                cell = judge.cell(feature_id, combination_id, seen, bool(feature.tempest))
            cell.flags = applies.flags
            cells[(feature_id, combination_id)] = cell
    return cells


class Judge:
    """Judges one cell's observations by the policy, as of `now`."""

    def __init__(self, policy: LevelPolicy, now: datetime) -> None:
        self.policy = policy
        self.now = now
        self.parameters = Parameters.of(policy, now)
        self.min_pass_rate = self.parameters.min_pass_rate
        self.stale_before = iso(now - timedelta(days=policy.stale_after_days))
        self.window_start = self.parameters.window_start
        self.weeks: dict[tuple[str, int, int], Week] = {}  # shared by cells: they are immutable

    def cell(
        self, feature: str, combination: str, seen: Observation | None, has_tempest: bool
    ) -> Cell:
        cell = Cell(feature, combination, LEVEL_UNKNOWN)
        if seen is not None:
            _fill_evidence(cell, seen, self.weeks)
        case = Case(seen, has_tempest, self._ignored_note(seen))
        judged = {
            criterion_id: judge(criterion_id, self.parameters, case)
            for criterion_id in self.policy.criteria
        }
        cell.criteria = tuple(
            CriterionResult(cid, c.name, c.weight, met, why, runs)
            for (cid, c), (met, why, runs) in zip(
                self.policy.criteria.items(), judged.values(), strict=True
            )
        )
        cell.score = sum(c.weight for c in cell.criteria if c.met)
        met = {c.id for c in cell.criteria if c.met}
        latest = seen.latest if seen else None
        stale = latest is None or latest.started_at < self.stale_before
        cell.flaky = bool(
            seen
            and latest is not None
            and latest.passed
            and seen.window_failed
            and seen.window_rate < self.min_pass_rate
        )
        if latest is None:
            cell.level = LEVEL_UNKNOWN
            cell.reason = "no valid evidence" + self._ignored_note(seen)
            return cell
        if stale:
            cell.level = LEVEL_UNKNOWN
            cell.reason = (
                f"the newest valid result ({day(latest)}) is older than "
                f"{self.policy.stale_after_days} days"
            )
            return cell
        for level in self.policy.ladder:
            if set(level.needs) <= met and cell.score >= (level.min_score or 0):
                cell.level = level.id
                cell.reason = f"meets every criterion {level.id} needs"
                return cell
        if latest.passed:
            cell.level = LEVEL_UNKNOWN
            cell.reason = "the evidence meets no level's needs"
        else:
            cell.level = LEVEL_FAILING
            cell.reason = f"the latest valid result ({day(latest)}) {latest.outcome}"
        return cell

    @staticmethod
    def _ignored_note(seen: Observation | None) -> str:
        if seen is None or not seen.ignored:
            return ""
        return f"; {seen.ignored} result(s) ignored ({', '.join(sorted(seen.ignored_why))})"


def _fill_evidence(cell: Cell, seen: Observation, weeks: dict[tuple[str, int, int], Week]) -> None:
    cell.passed, cell.failed = seen.passed, seen.failed
    cell.last_pass, cell.last_failure = seen.last_pass, seen.last_failure
    cell.versions = {name: tuple(reversed(values)) for name, values in seen.versions.items()}
    cell.job_urls = tuple(reversed(seen.job_urls))
    cell.labs = tuple(sorted(seen.labs))
    cell.recent = tuple(seen.newest_first())
    # Most cells have the same few weeks (one or two runs a week): sharing them saves building
    # and keeping hundreds of thousands of objects at a million results.
    cell.weeks = tuple(
        weeks.get(key) or weeks.setdefault(key, Week(*key))
        for key in sorted((start, p, f) for start, (p, f) in seen.weeks.items())
    )
    cell.flagged_results = seen.flagged
    cell.ignored = seen.ignored
    if seen.tempest is not None:
        cell.tempest = tuple(seen.tempest.newest_first())
