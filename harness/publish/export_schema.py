"""The shape of every JSON output, as pydantic models: the single source of their schemas.

`matrix.json` (`matrix publish`, `matrix levels --json`) is `MatrixExport`; `matrix check
--json` is `CheckExport` and `matrix levels --explain ... --json` is `ExplainedCellOut`; all
three describe a cell with the same `CellOut`. `matrix diff --json` is `DiffExport`: each
changed cell before and after, in the few fields a comparison reads (`DiffCellOut`).
`harness.publish.json_export` and `diff_report` write the documents from plain dicts (fast at
thousands of cells); these models only describe them.
Every key is always present (null or empty when there is nothing to say), so a consumer never
has to guess. Bump `FORMAT` on any change that is not a pure addition.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

FORMAT = 1
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_DATE_TIME: dict[str, Any] = {"format": "date-time"}


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CriterionOut(_Out):
    """A criterion of the level policy and the parameters it is judged with."""

    id: str = Field(description="Criterion id, e.g. 'consistent'.")
    name: str = Field(description="Human name.")
    weight: int = Field(description="Points a cell scores when it meets the criterion.")
    description: str = Field(description="What the criterion asks for.")
    window_days: int | None = Field(description="Window in days, for windowed criteria.")
    min_runs: int | None = Field(description="Fewest valid results in the window.")
    min_pass_rate: float | None = Field(description="Lowest pass rate in the window, 0 to 1.")
    min_labs: int | None = Field(description="Fewest distinct labs passing in the window.")


class LevelOut(_Out):
    """A rung of the ladder, highest first."""

    id: str = Field(description="Level id, e.g. 'gated'.")
    title: str = Field(description="Human title.")
    nova_rating: str | None = Field(
        description="The deployment rating of Nova's feature classification it stands for."
    )
    needs: list[str] = Field(description="Criterion ids a cell must meet for this level.")
    min_score: int | None = Field(description="Lowest score for this level, if any.")


class PolicyOut(_Out):
    """The level policy (matrix/levels.yaml) the cells were judged by."""

    criteria: list[CriterionOut] = Field(description="Every criterion, in declaration order.")
    ladder: list[LevelOut] = Field(description="Declared levels, highest first.")
    stale_after_days: int = Field(description="Evidence older than this counts for nothing.")
    max_score: int = Field(description="Sum of every criterion's weight.")
    levels: list[str] = Field(
        description="Every level a cell can have, best first: the ladder, then the computed "
        "'failing' (latest valid evidence fails), 'unknown' (no valid or only stale evidence) "
        "and 'n/a' (not applicable by design)."
    )


class AxisValueOut(_Out):
    id: str = Field(description="Value id, e.g. 'ceph-rbd'.")
    title: str = Field(description="Human title.")
    embedded: bool = Field(description="A value of the embedded lab (Nova's fake drivers).")


class AxisOut(_Out):
    """An axis of the matrix (hypervisor, storage, network...), in declaration order."""

    id: str = Field(description="Axis id.")
    values: list[AxisValueOut] = Field(description="Its values, in declaration order.")


class CombinationOut(_Out):
    """A column: one value per axis."""

    id: str = Field(description="Combination id: the value ids joined by '/', in axis order.")
    values: dict[str, str] = Field(description="Axis id -> value id.")
    title: str | None = Field(description="Human title, if declared.")
    description: str | None = Field(description="What is deployed, if declared.")
    reference: str | None = Field(description="The CI job it is modelled on, if declared.")
    embedded: bool = Field(
        description="An embedded-lab combination; its evidence never counts for real ones."
    )


class FeatureOut(_Out):
    """A row: a feature the harness proves with scenarios."""

    id: str = Field(description="Feature id.")
    title: str = Field(description="Human title.")
    family: str = Field(description="Feature family, e.g. 'migration'.")
    nova: str | None = Field(description="Operation key in Nova's support-matrix.ini, if any.")
    tempest: list[str] = Field(description="Idempotent ids of upstream tempest tests.")
    status: str = Field(
        description="Nova's status: mandatory, optional, choice(group) or condition(expr)."
    )
    microversion: str | None = Field(description="Compute API microversion the feature needs.")
    notes: str | None = Field(description="Free-text notes.")


class EvidenceOut(_Out):
    """One valid result: the run it came from and where to look (the run's kind, lab and
    message are in the history: `matrix levels --explain`)."""

    run_id: str = Field(description="The run id.")
    started_at: str = Field(description="When the run started (UTC).", json_schema_extra=_DATE_TIME)
    outcome: Literal["passed", "failed", "error"] = Field(description="The result.")
    job_url: str | None = Field(description="The CI job's page, if any.")
    message: str | None = Field(description="What the scenario said (why it failed), if anything.")
    proof: str | None = Field(
        description="How a pass showed the feature's defining property, where its scenario says."
    )


class TempestEvidenceOut(EvidenceOut):
    """One of Tempest's results: the test that gave it."""

    test: str = Field(description="Tempest's test id (with its idempotent id).")


class CriteriaOut(_Out):
    """Every criterion of the policy judged on one cell, in policy order; both empty for n/a.
    Why a missed criterion is missed is kept; why a met one holds, and the runs behind every
    judgement, are what `matrix levels --explain FEATURE@COMBINATION` prints."""

    met: list[str] = Field(description="Ids of the criteria the cell meets.")
    missed: dict[str, str] = Field(
        description="Criterion id -> one line saying why the cell misses it."
    )


class FlagOut(_Out):
    """A declared known bug that matches the cell's combination."""

    bug: str = Field(description="The bug's URL.")
    why: str = Field(description="What goes wrong.")


class CellOut(_Out):
    """One feature on one combination, with its level and a summary of the evidence."""

    feature: str = Field(description="Feature id (see features).")
    combination: str = Field(description="Combination id (see combinations).")
    level: str = Field(description="One of policy.levels.")
    score: int = Field(description="Sum of the weights of the criteria met (0 for n/a).")
    reason: str = Field(description="One line: why this level.")
    flaky: bool = Field(
        description="The latest result passes but the window's pass rate is below the policy's."
    )
    flagged: bool = Field(
        description="A declared known bug matches, or results were skipped as flagged."
    )
    flags: list[FlagOut] = Field(description="The declared known bugs that match.")
    not_applicable: str | None = Field(
        description="Why the feature cannot work here by design (level 'n/a'), else null."
    )
    criteria: CriteriaOut
    passed: int = Field(description="Valid passes over the whole history.")
    failed: int = Field(description="Valid failures and errors over the whole history.")
    pass_rate: float | None = Field(description="passed / (passed + failed); null without results.")
    ignored: int = Field(description="Results of runs that count for nothing (e.g. unverified).")
    last_pass: EvidenceOut | None = Field(description="The newest valid pass.")
    last_failure: EvidenceOut | None = Field(description="The newest valid failure or error.")
    versions: dict[str, list[str]] = Field(
        description="Recorded fact (nova, libvirt, qemu...) -> values seen, newest first."
    )
    labs: list[str] = Field(description="Labs with valid evidence, sorted.")
    job_urls: list[str] = Field(description="Distinct CI job pages of the evidence, newest first.")
    tempest_latest: TempestEvidenceOut | None = Field(
        description="Tempest's newest result for the cell (source tempest): it counts only for "
        "the `tempest` criterion, never as the harness's own evidence."
    )


class MatrixExport(_Out):
    """The known-to-work matrix of the feature-support harness, as written by `matrix publish`."""

    format: Literal[1] = Field(description="Version of this format.")
    computed_at: str = Field(
        description="The moment the levels were judged as of (UTC).", json_schema_extra=_DATE_TIME
    )
    policy: PolicyOut
    axes: list[AxisOut] = Field(description="The axes of the matrix, in declaration order.")
    combinations: list[CombinationOut] = Field(description="The columns, in declaration order.")
    features: list[FeatureOut] = Field(description="The rows, in declaration order.")
    cells: list[CellOut] = Field(
        description="Every feature x combination, combination by combination, features in order."
    )


class CheckDeclaredOut(_Out):
    """`matrix check COMBINATION --json` for a declared combination: its cells."""

    combination: str = Field(description="The combination asked about.")
    declared: Literal[True]
    embedded: bool = Field(description="An embedded-lab combination.")
    computed_at: str = Field(description="The moment judged as of.", json_schema_extra=_DATE_TIME)
    cells: list[CellOut] = Field(description="Its cells, features in declaration order.")


class DifferenceOut(_Out):
    axis: str = Field(description="The axis on which the two differ.")
    value: str = Field(description="The declared combination's value.")
    asked: str = Field(description="The value asked about.")


class NeighbourOut(_Out):
    """A declared combination near the one asked about."""

    combination: str = Field(description="Its id.")
    shared_axes: list[str] = Field(description="Axes on which it has the value asked about.")
    differs: list[DifferenceOut] = Field(description="Where it differs.")
    levels: dict[str, str] = Field(description="Feature id -> its level there.")


class CheckUndeclaredOut(_Out):
    """`matrix check COMBINATION --json` for an undeclared combination: nothing has tested it;
    the nearest declared combinations, best tested first."""

    combination: str = Field(description="The combination asked about.")
    declared: Literal[False]
    computed_at: str = Field(description="The moment judged as of.", json_schema_extra=_DATE_TIME)
    nearest: list[NeighbourOut]


class CheckExport(RootModel[CheckDeclaredOut | CheckUndeclaredOut]):
    """What `matrix check --json` prints."""


class CriterionJudgedOut(_Out):
    id: str = Field(description="Criterion id.")
    met: bool
    weight: int
    why: str = Field(description="One line: why it is met or missed.")
    runs: list[str] = Field(description="Run ids behind the judgement, newest first.")


class RecentOut(EvidenceOut):
    """A recent valid result, with the run's provenance and lab."""

    kind: str = Field(description="The run's provenance kind.")
    voting: bool = Field(description="Whether the run's CI job votes.")
    lab: str = Field(description="The lab the run's target is in.")


class TempestResultOut(_Out):
    """One of Tempest's recent results for the cell."""

    run_id: str = Field(description="The Tempest run's id.")
    started_at: str = Field(description="When it started (UTC).", json_schema_extra=_DATE_TIME)
    outcome: Literal["passed", "failed", "error"] = Field(description="The result.")
    test: str = Field(description="Tempest's test id (with its idempotent id).")
    kind: str = Field(description="The run's provenance kind.")
    message: str | None = Field(description="Tempest's traceback or reason, if any.")


class ExplanationOut(_Out):
    criteria: list[CriterionJudgedOut] = Field(description="Every criterion, in policy order.")
    recent: list[RecentOut] = Field(description="The newest valid results, newest first.")
    tempest: list[TempestResultOut] = Field(
        description="Tempest's newest results (they count for the `tempest` criterion only)."
    )


class ExplainedCellOut(CellOut):
    """`matrix levels --explain FEATURE@COMBINATION --json`: the cell, and why."""

    explained: ExplanationOut


class DiffSideOut(_Out):
    """One of the two states `matrix diff` compared."""

    source: str = Field(description="The file it was read from, as given.")
    kind: Literal["history", "matrix.json"] = Field(
        description="A history judged by the declarations' policy, or a matrix.json export."
    )
    computed_at: str = Field(
        description="The moment its levels were judged as of.", json_schema_extra=_DATE_TIME
    )
    cells: int = Field(description="How many cells it holds.")


class DiffFailureOut(_Out):
    """A cell's newest valid failure."""

    run_id: str = Field(description="The run id.")
    started_at: str = Field(description="When the run started.", json_schema_extra=_DATE_TIME)
    outcome: Literal["failed", "error"] = Field(description="The result.")
    job_url: str | None = Field(description="The CI job's page, if any.")
    message: str | None = Field(description="What the scenario said, whole; escape it.")


class DiffCellOut(_Out):
    """A cell on one side of the comparison."""

    level: str = Field(description="One of the levels (or 'n/a').")
    reason: str = Field(description="One line: why this level.")
    flaky: bool = Field(description="The latest result passes but the window holds failures.")
    stale: bool = Field(
        description="It has valid evidence, all older than the policy's stale_after_days."
    )
    last_failure: DiffFailureOut | None = Field(description="The newest valid failure, if any.")


class CellChangeOut(_Out):
    """One feature on one combination, before and after."""

    feature: str = Field(description="Feature id.")
    combination: str = Field(description="Combination id.")
    old: DiffCellOut | None = Field(description="The cell in OLD; null when it was added.")
    new: DiffCellOut | None = Field(description="The cell in NEW; null when it was removed.")


class DiffExport(_Out):
    """`matrix diff --json`: what changed between two states of the matrix. A cell can be in
    several lists (a regression that is also a new failure and became flaky)."""

    format: Literal[1] = Field(description="Version of this format.")
    old: DiffSideOut
    new: DiffSideOut
    levels: list[str] = Field(
        description="The levels a cell moves between, best first: the ladder, 'unknown', "
        "'failing'. 'n/a' is on no ladder: moves to or from it are 'reclassified'."
    )
    notes: list[str] = Field(description="Caveats, e.g. the two policies differ.")
    changed: bool = Field(description="Whether any list below is non-empty.")
    counts: dict[str, int] = Field(description="List name -> how many cells it holds.")
    regressions: list[CellChangeOut] = Field(
        description="Cells whose level went down the order of `levels`, worst new level first."
    )
    improvements: list[CellChangeOut] = Field(description="Cells whose level went up.")
    reclassified: list[CellChangeOut] = Field(description="Cells whose level became or was n/a.")
    new_failures: list[CellChangeOut] = Field(
        description="Cells failing in NEW that were not failing (or not there) in OLD."
    )
    became_flaky: list[CellChangeOut] = Field(description="Cells flaky in NEW, not in OLD.")
    no_longer_flaky: list[CellChangeOut] = Field(description="Cells flaky in OLD, not in NEW.")
    became_stale: list[CellChangeOut] = Field(description="Cells stale in NEW, not in OLD.")
    no_longer_stale: list[CellChangeOut] = Field(description="Cells stale in OLD, not in NEW.")
    added: list[CellChangeOut] = Field(description="Cells only NEW has.")
    removed: list[CellChangeOut] = Field(description="Cells only OLD has.")


JSON_OUTPUTS: dict[str, type[BaseModel]] = {
    "matrix": MatrixExport,
    "check": CheckExport,
    "explain": ExplainedCellOut,
    "diff": DiffExport,
}
"""Every JSON document the harness prints or writes, by name."""


def json_schema(kind: str = "matrix") -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one JSON output (matrix.json by default)."""
    schema = JSON_OUTPUTS[kind].model_json_schema()
    return {"$schema": SCHEMA_DIALECT, **schema}
