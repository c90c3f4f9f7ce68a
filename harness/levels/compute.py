"""Known-to-work levels: each cell's evidence judged by the policy in matrix/levels.yaml.

A cell is one feature on one combination. Its evidence is every valid pass or failure in the
history (see `harness.history.evidence` for what counts); the policy's criteria are judged on it, their
weights add up to a score, and the cell gets the first ladder level whose needs are all met.
Otherwise it is `failing` when the latest valid result failed and `unknown` when there is no
valid evidence newer than the policy's `stale_after_days`. `n/a` comes from the declarations,
never from evidence. Every criterion keeps the runs behind it so a level can be explained.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness.declarations.applicability import verdict
from harness.declarations.matrix import Matrix
from harness.declarations.model import Criterion, Flag, LevelPolicy
from harness.history.evidence import Evidence, Observation, paused_collector, read_observations

LEVEL_FAILING = "failing"
LEVEL_UNKNOWN = "unknown"
LEVEL_NA = "n/a"
COMPUTED_LEVELS = (LEVEL_FAILING, LEVEL_UNKNOWN, LEVEL_NA)
RECENT = 30  # evidence rows kept per cell for explanations and cell pages, newest first
DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True)
class CriterionResult:
    id: str
    name: str
    weight: int
    met: bool
    why: str  # one line, e.g. "4 of 4 valid results passed in the 30 days to 2026-11-21"
    runs: tuple[str, ...] = ()  # run ids behind the judgement, newest first


@dataclass(frozen=True)
class Week:
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
        raise ValueError("the matrix declares no level policy (levels.yaml)")
    policy = matrix.policy
    now = now or datetime.now(timezone.utc)
    combination_ids = list(combinations or matrix.combinations)
    feature_ids = list(features or matrix.features)
    result = LevelMatrix(now.isoformat(timespec="seconds"), policy, feature_ids, combination_ids)
    judge = Judge(policy, now)
    with paused_collector():
        _judge_all(matrix, db, judge, result)
    return result


def _judge_all(matrix: Matrix, db: Path, judge: Judge, result: LevelMatrix) -> None:
    combination_ids, feature_ids = result.combinations, result.features
    observations = read_observations(
        matrix, db, combination_ids, feature_ids, keep=RECENT, window_start=judge.window_start
    )
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
            result.cells[(feature_id, combination_id)] = cell


class Judge:
    """Judges one cell's observations by the policy, as of `now`."""

    def __init__(self, policy: LevelPolicy, now: datetime) -> None:
        self.policy = policy
        self.now = now
        consistent = policy.criteria.get("consistent")
        self.window = timedelta(days=_param(consistent, "window_days", DEFAULT_WINDOW_DAYS))
        fresh = policy.criteria.get("fresh")
        self.fresh_window = timedelta(days=_param(fresh, "window_days", DEFAULT_WINDOW_DAYS))
        self.min_runs = _param(consistent, "min_runs", 1)
        self.min_pass_rate = _param_float(consistent, "min_pass_rate", 1.0)
        self.min_labs = _param(policy.criteria.get("multi-lab"), "min_labs", 2)
        self.stale_before = _iso(now - timedelta(days=policy.stale_after_days))
        self.window_start = _iso(now - self.window)
        self.fresh_start = _iso(now - self.fresh_window)
        self.today = now.date().isoformat()
        self.weeks: dict[tuple[str, int, int], Week] = {}  # shared by cells: they are immutable

    def cell(
        self, feature: str, combination: str, seen: Observation | None, has_tempest: bool
    ) -> Cell:
        cell = Cell(feature, combination, LEVEL_UNKNOWN)
        if seen is not None:
            _fill_evidence(cell, seen, self.weeks)
        judged = {
            criterion_id: self._criterion(criterion_id, seen, has_tempest)
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
                f"the newest valid result ({_day(latest)}) is older than "
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
            cell.reason = f"the latest valid result ({_day(latest)}) {latest.outcome}"
        return cell

    def _criterion(
        self, criterion_id: str, seen: Observation | None, has_tempest: bool
    ) -> tuple[bool, str, tuple[str, ...]]:
        if criterion_id == "tempest":
            if has_tempest:
                return True, "upstream tempest has tests for the feature", ()
            return False, "no tempest test is declared for the feature", ()
        if seen is None or seen.latest is None:
            return False, "no valid evidence" + self._ignored_note(seen), ()
        latest = seen.latest
        days = self.window.days
        if criterion_id == "verified":
            return (
                True,
                f"{seen.runs} verified run(s) with results" + self._ignored_note(seen),
                (latest.run_id,),
            )
        if criterion_id == "passing":
            verb = "passed" if latest.passed else f"{latest.outcome}"
            return latest.passed, f"latest valid result {verb} ({_day(latest)})", (latest.run_id,)
        if criterion_id == "consistent":
            total = seen.window_passed + seen.window_failed
            ok = total >= self.min_runs and seen.window_rate >= self.min_pass_rate
            why = (
                f"{seen.window_passed} of {total} valid result(s) passed in the {days} days "
                f"to {self.today} (needs at least {self.min_runs} and "
                f"{self.min_pass_rate:.0%})"
            )
            return ok, why, seen.window_runs
        if criterion_id == "fresh":
            last = seen.last_pass
            if last is None:
                return False, "never passed", ()
            ok = last.started_at >= self.fresh_start
            return (
                ok,
                f"last pass {_day(last)} (window {self.fresh_window.days} days)",
                (last.run_id,),
            )
        if criterion_id in ("ci", "gated"):
            last = seen.last_pass
            if last is None:
                return False, "never passed", ()
            if criterion_id == "ci":
                ok = last.kind in ("gate", "periodic", "third-party")
                return ok, f"latest pass came from a run of kind {last.kind}", (last.run_id,)
            ok = last.voting and last.kind in ("gate", "periodic", "third-party")
            what = "voting" if last.voting else "non-voting"
            return ok, f"latest pass came from a {what} run of kind {last.kind}", (last.run_id,)
        if criterion_id == "multi-lab":
            labs = sorted(seen.window_labs)
            ok = len(labs) >= self.min_labs
            shown = ", ".join(labs) if labs else "none"
            return (
                ok,
                f"{len(labs)} lab(s) passed in the {days} days to {self.today}: {shown} "
                f"(needs {self.min_labs})",
                (),
            )
        raise AssertionError(f"criterion {criterion_id!r} has no implementation")

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


def _param(criterion: Criterion | None, name: str, default: int) -> int:
    value = getattr(criterion, name, None) if criterion else None
    return int(value) if value is not None else default


def _param_float(criterion: Criterion | None, name: str, default: float) -> float:
    value = getattr(criterion, name, None) if criterion else None
    return float(value) if value is not None else default


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _day(evidence: Evidence) -> str:
    return evidence.started_at[:10]
