"""Two states of the known-to-work matrix compared: which cells moved, and which way.

A `Snapshot` is what a comparison needs of one state: each cell's level, reason, flaky and
stale marks and newest failure, with the moment and policy it was judged by. It is read from
a `LevelMatrix` (a history judged at some moment) or from a `matrix.json` export, so a CI job
can compare a pull request's published matrix with the main branch's, or a history with
itself a week ago. `compare` is pure: two snapshots in, a `LevelDiff` out.

Which way is down: the policy's ladder, best first, then `unknown`, then `failing`. `unknown`
sits below every ladder level (a rating that was earned and is no longer, say because its
evidence went stale, is coverage lost and counts as a regression) and above `failing` (no
evidence says less than evidence of a failure). `n/a` is on no ladder: it comes from the
declarations, never from evidence, so a cell moving to or from it is `reclassified`, neither
a regression nor an improvement. A cell only one side has is `added` or `removed`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from harness.declarations.model import (
    COMPUTED_LEVELS,
    LEVEL_FAILING,
    LEVEL_NA,
    LEVEL_UNKNOWN,
    Criterion,
    Level,
)
from harness.errors import BadInput
from harness.history.evidence import Evidence
from harness.levels.compute import Cell, LevelMatrix

CellKey = tuple[str, str]  # (feature, combination)
HISTORY: Final = "history"
EXPORT: Final = "matrix.json"
SECTIONS = (
    "regressions",
    "improvements",
    "reclassified",
    "new_failures",
    "became_flaky",
    "no_longer_flaky",
    "became_stale",
    "no_longer_stale",
    "added",
    "removed",
)
"""The kinds of change, in the order they are reported: regressions first."""


# --- snapshots -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureSeen:
    """A cell's newest valid failure: the message a new failure is reported with."""

    run_id: str
    started_at: str
    outcome: str  # failed | error
    message: str | None
    job_url: str | None


@dataclass(frozen=True)
class CellState:
    """What a comparison looks at in one cell."""

    level: str
    reason: str
    flaky: bool
    stale: bool  # it has valid evidence, all older than the policy's stale_after_days
    failure: FailureSeen | None  # the newest valid failure, whatever the level


@dataclass(frozen=True)
class Rung:
    id: str
    needs: tuple[str, ...]
    min_score: int | None


@dataclass(frozen=True)
class PolicyShape:
    """What of a level policy decides levels: enough to tell two policies apart."""

    ladder: tuple[Rung, ...]
    criteria: tuple[tuple[str, int, tuple[Any, ...]], ...]  # id, weight, parameters
    stale_after_days: int

    @property
    def ladder_ids(self) -> tuple[str, ...]:
        return tuple(rung.id for rung in self.ladder)


@dataclass(frozen=True)
class Snapshot:
    """One state of the matrix, and where it was read from (for headings and messages)."""

    source: str  # the file, as the user named it
    kind: Literal["history", "matrix.json"]
    computed_at: str  # ISO 8601: the moment the levels were judged as of
    policy: PolicyShape
    cells: dict[CellKey, CellState] = field(default_factory=dict)  # declaration order


def snapshot_of_levels(levels: LevelMatrix, source: str) -> Snapshot:
    """A history's levels, as `compute_levels` judged them."""
    policy = levels.policy
    stale_before = _moment(levels.computed_at) - timedelta(days=policy.stale_after_days)
    shape = _shape(policy.ladder, policy.criteria.items(), policy.stale_after_days)
    cells = {key: _state_of_cell(cell, stale_before) for key, cell in levels.cells.items()}
    return Snapshot(source, HISTORY, levels.computed_at, shape, cells)


def _shape(
    ladder: Iterable[Level | _LevelIn],
    criteria: Iterable[tuple[str, Criterion | _CriterionIn]],
    stale_after_days: int,
) -> PolicyShape:
    return PolicyShape(
        ladder=tuple(Rung(level.id, tuple(level.needs), level.min_score) for level in ladder),
        criteria=tuple(
            (cid, c.weight, (c.window_days, c.min_runs, c.min_pass_rate, c.min_labs))
            for cid, c in criteria
        ),
        stale_after_days=stale_after_days,
    )


def _state_of_cell(cell: Cell, stale_before: datetime) -> CellState:
    newest = [e.started_at for e in (cell.last_pass, cell.last_failure) if e is not None]
    return CellState(
        level=cell.level,
        reason=cell.reason,
        flaky=cell.flaky,
        stale=_stale(cell.level, [_moment(t) for t in newest], stale_before),
        failure=_failure_of_evidence(cell.last_failure),
    )


def _failure_of_evidence(evidence: Evidence | None) -> FailureSeen | None:
    if evidence is None:
        return None
    return FailureSeen(
        evidence.run_id, evidence.started_at, evidence.outcome, evidence.message, evidence.job_url
    )


def _stale(level: str, seen: list[datetime], stale_before: datetime) -> bool:
    """As the judge has it: evidence there is, and the newest is older than the policy allows.
    Levels of n/a cells do not depend on evidence, so they are never stale."""
    return level != LEVEL_NA and bool(seen) and max(seen) < stale_before


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- matrix.json, read leniently -------------------------------------------------------------
# Only what a comparison needs, and unknown keys ignored: within one `format`, matrix.json
# may gain keys (docs/exports.md), and an export from another version of the harness must
# still compare. `harness.publish.export_schema.MatrixExport` is the full, strict shape.


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _EvidenceIn(_In):
    run_id: str
    started_at: AwareDatetime
    outcome: Literal["passed", "failed", "error"]
    job_url: str | None = None
    message: str | None = None


class _FailureIn(_EvidenceIn):
    outcome: Literal["failed", "error"]


class _CellIn(_In):
    feature: str
    combination: str
    level: str
    reason: str = ""
    flaky: bool = False
    last_pass: _EvidenceIn | None = None
    last_failure: _FailureIn | None = None


class _CriterionIn(_In):
    id: str
    weight: int
    window_days: int | None = None
    min_runs: int | None = None
    min_pass_rate: float | None = None
    min_labs: int | None = None


class _LevelIn(_In):
    id: str
    needs: list[str] = []
    min_score: int | None = None


class _PolicyIn(_In):
    criteria: list[_CriterionIn]
    ladder: list[_LevelIn] = Field(min_length=1)
    stale_after_days: int = Field(ge=1)


class _ExportIn(_In):
    format: Literal[1]
    computed_at: AwareDatetime
    policy: _PolicyIn
    cells: list[_CellIn]


def snapshot_of_export(data: bytes, source: str) -> Snapshot:
    """A matrix.json's levels (from `matrix publish` or `matrix levels --json`); BadInput,
    in one line naming `source`, for anything else."""
    try:
        export = _ExportIn.model_validate_json(data)
    except ValidationError as error:
        raise BadInput(f"{source}: {_why_not_an_export(error)}") from None
    policy = export.policy
    criteria = ((c.id, c) for c in policy.criteria)
    shape = _shape(policy.ladder, criteria, policy.stale_after_days)
    stale_before = export.computed_at - timedelta(days=policy.stale_after_days)
    known = set(shape.ladder_ids) | set(COMPUTED_LEVELS)
    cells: dict[CellKey, CellState] = {}
    for index, cell in enumerate(export.cells):
        if cell.level not in known:
            raise BadInput(
                f"{source}: cells.{index}.level: {cell.level!r} is not one of its policy's "
                f"levels ({', '.join([*shape.ladder_ids, *COMPUTED_LEVELS])})"
            )
        key = (cell.feature, cell.combination)
        if key in cells:
            raise BadInput(f"{source}: cells.{index}: the cell {_name(key)!r} appears twice")
        cells[key] = _state_of_export_cell(cell, stale_before)
    return Snapshot(source, EXPORT, export.computed_at.isoformat(), shape, cells)


def _state_of_export_cell(cell: _CellIn, stale_before: datetime) -> CellState:
    seen = [e.started_at for e in (cell.last_pass, cell.last_failure) if e is not None]
    return CellState(
        level=cell.level,
        reason=cell.reason,
        flaky=cell.flaky,
        stale=_stale(cell.level, seen, stale_before),
        failure=_failure_of_export(cell.last_failure),
    )


def _failure_of_export(failure: _FailureIn | None) -> FailureSeen | None:
    if failure is None:
        return None
    started = failure.started_at.isoformat()
    return FailureSeen(failure.run_id, started, failure.outcome, failure.message, failure.job_url)


def _why_not_an_export(error: ValidationError) -> str:
    """One line: not JSON at all, JSON of another kind, another format, or what is wrong."""
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    neither = "neither a matrix history (SQLite) nor a matrix.json export"
    if first["type"] == "json_invalid":
        return f"{neither}: not JSON ({first['msg']})"
    if first["loc"] == () or (where == "format" and first["type"] == "missing"):
        return f"{neither}: JSON without matrix.json's 'format'"
    if where == "format":
        return "a matrix.json of another format; this harness reads format 1"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"not a valid matrix.json export: {where}: {first['msg']}{more}"


def _name(key: CellKey) -> str:
    return f"{key[0]}@{key[1]}"


# --- the comparison --------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One cell on both sides (None where a side does not have it)."""

    feature: str
    combination: str
    old: CellState | None
    new: CellState | None


@dataclass
class LevelDiff:
    """What changed from `old` to `new`, section by section (SECTIONS); a cell can be in
    several (a regression that is also a new failure and became flaky)."""

    old: Snapshot
    new: Snapshot
    order: tuple[str, ...]  # levels best first; n/a is on no ladder, so not here
    notes: list[str] = field(default_factory=list)  # caveats, e.g. the policies differ
    regressions: list[Change] = field(default_factory=list)  # worst new level first
    improvements: list[Change] = field(default_factory=list)
    reclassified: list[Change] = field(default_factory=list)  # to or from n/a
    new_failures: list[Change] = field(default_factory=list)  # failing now, not before
    became_flaky: list[Change] = field(default_factory=list)
    no_longer_flaky: list[Change] = field(default_factory=list)
    became_stale: list[Change] = field(default_factory=list)
    no_longer_stale: list[Change] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)  # in new only
    removed: list[Change] = field(default_factory=list)  # in old only

    def sections(self) -> dict[str, list[Change]]:
        """Every kind of change, in reporting order."""
        return {name: getattr(self, name) for name in SECTIONS}

    def counts(self) -> dict[str, int]:
        return {name: len(changes) for name, changes in self.sections().items()}

    @property
    def changed(self) -> bool:
        return any(self.counts().values())


def level_order(ladder: tuple[str, ...]) -> tuple[str, ...]:
    """The levels a cell can move between, best first (n/a stands apart)."""
    return (*ladder, LEVEL_UNKNOWN, LEVEL_FAILING)


def compare(old: Snapshot, new: Snapshot) -> LevelDiff:
    """Every change from `old` to `new`. BadInput when their ladders differ: a level of one
    policy means nothing on the other's ladder."""
    order = level_order(_same_ladder(old, new))
    diff = LevelDiff(old, new, order, notes=_policy_notes(old.policy, new.policy))
    rank = {level: position for position, level in enumerate(order)}
    for (feature, combination), after in new.cells.items():
        before = old.cells.get((feature, combination))
        change = Change(feature, combination, before, after)
        if before is None:
            diff.added.append(change)
        else:
            _sort_level_change(diff, change, rank)
            _sort_marks(diff, change)
        if after.level == LEVEL_FAILING and (before is None or before.level != LEVEL_FAILING):
            diff.new_failures.append(change)
    diff.removed = [
        Change(feature, combination, before, None)
        for (feature, combination), before in old.cells.items()
        if (feature, combination) not in new.cells
    ]
    diff.regressions.sort(key=lambda c: -rank[c.new.level] if c.new else 0)  # stable: in order
    return diff


def _sort_level_change(diff: LevelDiff, change: Change, rank: dict[str, int]) -> None:
    assert change.old is not None and change.new is not None
    before, after = change.old.level, change.new.level
    if before == after:
        return
    if before == LEVEL_NA or after == LEVEL_NA:
        diff.reclassified.append(change)
    elif rank[after] > rank[before]:
        diff.regressions.append(change)
    else:
        diff.improvements.append(change)


def _sort_marks(diff: LevelDiff, change: Change) -> None:
    assert change.old is not None and change.new is not None
    before, after = change.old, change.new
    if after.flaky != before.flaky:
        (diff.became_flaky if after.flaky else diff.no_longer_flaky).append(change)
    if after.stale != before.stale:
        (diff.became_stale if after.stale else diff.no_longer_stale).append(change)


def _same_ladder(old: Snapshot, new: Snapshot) -> tuple[str, ...]:
    ladder = old.policy.ladder_ids
    if new.policy.ladder_ids != ladder:
        raise BadInput(
            f"{old.source} and {new.source} were judged by different ladders "
            f"({' > '.join(ladder)}; {' > '.join(new.policy.ladder_ids)}), so their levels "
            "cannot be compared: compare states judged by the same levels.yaml ladder"
        )
    return ladder


def _policy_notes(old: PolicyShape, new: PolicyShape) -> list[str]:
    """Differences in the policies beyond the ladder's ids, which levels may follow from."""
    parts = [
        name
        for name, differs in (
            ("the criteria or their weights", old.criteria != new.criteria),
            ("what the ladder's levels need", old.ladder != new.ladder),
            ("stale_after_days", old.stale_after_days != new.stale_after_days),
        )
        if differs
    ]
    if not parts:
        return []
    return [
        f"the two policies differ in {', '.join(parts)}: some changes may come from the "
        "policy rather than from the evidence"
    ]
