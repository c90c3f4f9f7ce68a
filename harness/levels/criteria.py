"""The level criteria: one judge per criterion id the policy schema accepts.

`CRITERIA` maps each id of `harness.declarations.model.CriterionId` to the function that
judges it on one cell's observation, as of a moment, with the policy's parameters (a test
holds the mapping's keys equal to the schema's ids, so a criterion can be neither declared
without a judge nor judged without being declarable). Each judge says whether the criterion
is met, why in one line, and which runs that rests on, so every level can be explained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from harness.declarations.model import CI_KINDS, GATING_KINDS, Criterion, LevelPolicy
from harness.history.evidence import Evidence, Observation

DEFAULT_WINDOW_DAYS = 30

Judgement = tuple[bool, str, tuple[str, ...]]
"""Met or not, why in one line, and the run ids behind it (newest first)."""


@dataclass(frozen=True)
class Parameters:
    """The policy's parameters, resolved to moments as of `now` (shared by every cell)."""

    window: timedelta
    fresh_window: timedelta
    min_runs: int
    min_pass_rate: float
    min_labs: int
    window_start: str
    fresh_start: str
    today: str

    @classmethod
    def of(cls, policy: LevelPolicy, now: datetime) -> Parameters:
        consistent = policy.criteria.get("consistent")
        fresh = policy.criteria.get("fresh")
        window = timedelta(days=_param(consistent, "window_days", DEFAULT_WINDOW_DAYS))
        fresh_window = timedelta(days=_param(fresh, "window_days", DEFAULT_WINDOW_DAYS))
        return cls(
            window=window,
            fresh_window=fresh_window,
            min_runs=_param(consistent, "min_runs", 1),
            min_pass_rate=_param_float(consistent, "min_pass_rate", 1.0),
            min_labs=_param(policy.criteria.get("multi-lab"), "min_labs", 2),
            window_start=iso(now - window),
            fresh_start=iso(now - fresh_window),
            today=now.date().isoformat(),
        )


@dataclass(frozen=True)
class Case:
    """What a judge looks at: one cell's observation (None: no valid evidence at all)."""

    seen: Observation | None
    has_tempest: bool
    ignored_note: str  # "; 3 result(s) ignored (...)" or ""


def tempest(p: Parameters, case: Case) -> Judgement:
    """Tempest agrees: the newest Tempest run with results for the cell, within the window,
    passed every one of them. Tempest never stands in for the harness's own evidence; this
    is what a peer suite adds to it."""
    if not case.has_tempest:
        return False, "features.yaml lists no Tempest test for the feature", ()
    seen = case.seen.tempest if case.seen else None
    latest = seen.latest if seen else None
    if seen is None or latest is None:
        return False, "no Tempest result for the cell", ()
    test = latest.scenario.rsplit(".", 1)[-1].split("[", 1)[0]
    if latest.started_at < p.window_start:
        why = f"the newest Tempest result ({day(latest)}) is older than {p.window.days} days"
        return False, why, (latest.run_id,)
    failure = seen.last_failure
    if failure is not None and failure.run_id == latest.run_id:
        failed = failure.scenario.rsplit(".", 1)[-1].split("[", 1)[0]
        return False, f"Tempest's {failed} {failure.outcome} ({day(failure)})", (latest.run_id,)
    return True, f"Tempest's {test} passed ({day(latest)})", (latest.run_id,)


def verified(p: Parameters, case: Case) -> Judgement:
    seen, latest = _evidence(case)
    return True, f"{seen.runs} verified run(s) with results{case.ignored_note}", (latest.run_id,)


def passing(p: Parameters, case: Case) -> Judgement:
    _, latest = _evidence(case)
    verb = "passed" if latest.passed else latest.outcome
    return latest.passed, f"latest valid result {verb} ({day(latest)})", (latest.run_id,)


def consistent(p: Parameters, case: Case) -> Judgement:
    seen, _ = _evidence(case)
    total = seen.window_passed + seen.window_failed
    ok = total >= p.min_runs and seen.window_rate >= p.min_pass_rate
    why = (
        f"{seen.window_passed} of {total} valid result(s) passed in the {p.window.days} days "
        f"to {p.today} (needs at least {p.min_runs} and {p.min_pass_rate:.0%})"
    )
    return ok, why, seen.window_runs


def fresh(p: Parameters, case: Case) -> Judgement:
    last = _last_pass(case)
    if last is None:
        return False, "never passed", ()
    ok = last.started_at >= p.fresh_start
    return ok, f"last pass {day(last)} (window {p.fresh_window.days} days)", (last.run_id,)


def ci(p: Parameters, case: Case) -> Judgement:
    last = _last_pass(case)
    if last is None:
        return False, "never passed", ()
    ok = last.kind in CI_KINDS
    return ok, f"latest pass came from a run of kind {last.kind}", (last.run_id,)


def gated(p: Parameters, case: Case) -> Judgement:
    last = _last_pass(case)
    if last is None:
        return False, "never passed", ()
    ok = last.voting and last.kind in GATING_KINDS  # a vote gates only in a gate pipeline
    what = "voting" if last.voting else "non-voting"
    return ok, f"latest pass came from a {what} run of kind {last.kind}", (last.run_id,)


def multi_lab(p: Parameters, case: Case) -> Judgement:
    seen, _ = _evidence(case)
    labs = sorted(seen.window_labs)
    shown = ", ".join(labs) if labs else "none"
    why = (
        f"{len(labs)} lab(s) passed in the {p.window.days} days to {p.today}: {shown} "
        f"(needs {p.min_labs})"
    )
    return len(labs) >= p.min_labs, why, ()


CriterionJudge = Callable[[Parameters, Case], Judgement]

CRITERIA: dict[str, CriterionJudge] = {
    "verified": verified,
    "passing": passing,
    "consistent": consistent,
    "fresh": fresh,
    "ci": ci,
    "gated": gated,
    "multi-lab": multi_lab,
    "tempest": tempest,
}
"""Criterion id -> its judge; keys equal the schema's `CriterionId` (tests/levels holds it)."""

NEEDS_EVIDENCE = frozenset(CRITERIA) - {"tempest"}
"""Criteria that are missed outright when a cell has no valid evidence."""


def judge(criterion_id: str, p: Parameters, case: Case) -> Judgement:
    latest = case.seen.latest if case.seen else None
    if criterion_id in NEEDS_EVIDENCE and latest is None:
        return False, "no valid evidence" + case.ignored_note, ()
    return CRITERIA[criterion_id](p, case)


class _NoEvidence(AssertionError):
    """A judge of NEEDS_EVIDENCE was called without evidence: `judge` rules that out."""


def _evidence(case: Case) -> tuple[Observation, Evidence]:
    if case.seen is None or case.seen.latest is None:
        raise _NoEvidence("judge() checks for evidence first")
    return case.seen, case.seen.latest


def _last_pass(case: Case) -> Evidence | None:
    seen, _ = _evidence(case)
    return seen.last_pass


def _param(criterion: Criterion | None, name: str, default: int) -> int:
    value = getattr(criterion, name, None) if criterion else None
    return int(value) if value is not None else default


def _param_float(criterion: Criterion | None, name: str, default: float) -> float:
    value = getattr(criterion, name, None) if criterion else None
    return float(value) if value is not None else default


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def day(evidence: Evidence) -> str:
    return evidence.started_at[:10]
