"""`matrix levels`: the known-to-work matrix in the terminal, as JSON, or one cell explained.

The terminal table has to fit 120 columns whatever the size of the lab, so cells are one
letter (plus a mark), combinations are numbered with a key below, and wide matrices are
printed as several tables of as many columns as fit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from harness.cli.options import Settings, axis_filter, axis_option, feature_option, history_options
from harness.cli.output import SafeText as Text
from harness.cli.output import console
from harness.cli.registry import short_help
from harness.declarations.matrix import Matrix
from harness.declarations.problems import display_path, unknown
from harness.history.evidence import Evidence
from harness.levels.compute import (
    LEVEL_FAILING,
    LEVEL_NA,
    LEVEL_UNKNOWN,
    Cell,
    LevelMatrix,
    compute_levels,
)
from harness.publish.json_export import cell_json as export_cell
from harness.publish.json_export import document
from harness.publish.text_table import FLAGGED_MARK, FLAKY_MARK

WIDTH = 120
FEATURE_COLUMN = 30
CELL_COLUMN = 4  # three characters and the gap between columns
COMPUTED_MARKS = {LEVEL_FAILING: "✗", LEVEL_UNKNOWN: "?", LEVEL_NA: "·"}
LADDER_STYLES = ("bold black on green", "black on green3", "black on cyan")
COMPUTED_STYLES = {LEVEL_FAILING: "bold white on red", LEVEL_UNKNOWN: "yellow", LEVEL_NA: "dim"}


class LevelLook:
    """How each level is shown in a terminal: a short mark and a style, ladder order kept."""

    def __init__(self, levels: LevelMatrix) -> None:
        self.marks: dict[str, str] = {}
        self.styles: dict[str, str] = {}
        ladder = [level.id for level in levels.policy.ladder]
        for rank, level_id in enumerate(ladder):
            self.marks[level_id] = _unique_mark(level_id, set(self.marks.values()))
            self.styles[level_id] = LADDER_STYLES[min(rank, len(LADDER_STYLES) - 1)]
        self.marks.update(COMPUTED_MARKS)
        self.styles.update(COMPUTED_STYLES)

    def cell(self, cell: Cell) -> Text:
        mark = self.marks[cell.level]
        if cell.flaky:
            mark += FLAKY_MARK
        if cell.flagged:
            mark += FLAGGED_MARK
        return Text(f"{mark:^3}", style=self.styles[cell.level])

    def level(self, level_id: str) -> Text:
        return Text(level_id, style=self.styles.get(level_id, ""))


def _unique_mark(level_id: str, taken: set[str]) -> str:
    for size in (1, 2, 3):
        mark = level_id[:size].upper()
        if mark not in taken:
            return mark
    return level_id[:3]


@click.command("levels", short_help=short_help("levels"))
@click.option(
    "--explain", "explain", metavar="FEATURE@COMBINATION", help="Explain one cell's level."
)
@axis_option("Only these columns (repeatable).")
@feature_option("Only these rows (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@history_options
@click.pass_context
def levels(
    ctx: click.Context,
    explain: str | None,
    axes: tuple[tuple[str, str], ...],
    features: tuple[str, ...],
    as_json: bool,
    db: Path,
    at: datetime | None,
) -> None:
    """Known-to-work levels per feature and combination, computed from the history."""
    settings: Settings = ctx.obj
    matrix = settings.matrix()
    if explain is not None:
        feature, combination = _cell_id(matrix, explain)
        found = compute_levels(matrix, db, now=at, combinations=[combination], features=[feature])
        cell = found.cell(feature, combination)
        if as_json:
            click.echo(json.dumps(explanation_json(cell), indent=2))
        else:
            print_explanation(console(), found, cell, db)
        return
    wanted = axis_filter(axes)
    combinations = [
        c.id
        for c in matrix.combinations.values()
        if all(c.values.get(axis) in values for axis, values in wanted.items())
    ]
    found = compute_levels(
        matrix, db, now=at, combinations=combinations, features=list(features) or None
    )
    if as_json:
        click.echo(json.dumps(document(found, matrix), indent=2))  # matrix.json's shape
        return
    if not db.exists():
        click.echo(f"no history at {display_path(db)} yet: run `matrix ingest`", err=True)
    print_matrix(console(), found)


def _cell_id(matrix: Matrix, text: str) -> tuple[str, str]:
    feature, sep, combination = text.partition("@")
    if not sep:
        raise click.BadParameter(f"'{text}': expected FEATURE@COMBINATION", param_hint="--explain")
    if feature not in matrix.features:
        raise click.BadParameter(
            unknown("feature", feature, list(matrix.features)), param_hint="--explain"
        )
    if combination not in matrix.combinations:
        raise click.BadParameter(
            unknown("combination", combination, list(matrix.combinations)),
            param_hint="--explain",
        )
    return feature, combination


# --- the matrix ------------------------------------------------------------------------------


def print_matrix(out: Console, found: LevelMatrix) -> None:
    look = LevelLook(found)
    per_table = max(1, (WIDTH - FEATURE_COLUMN - 4) // CELL_COLUMN)
    numbered = list(enumerate(found.combinations, start=1))
    for start in range(0, len(numbered), per_table):
        chunk = numbered[start : start + per_table]
        table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
        table.add_column("feature", no_wrap=True, max_width=FEATURE_COLUMN, overflow="ellipsis")
        for number, _ in chunk:
            table.add_column(str(number), justify="center", no_wrap=True, min_width=3)
        for feature in found.features:
            row = [look.cell(found.cell(feature, combination)) for _, combination in chunk]
            table.add_row(feature, *row)
        out.print(table)
        out.print()
    for number, combination in numbered:
        out.print(Text(f"{number:>3}  {combination}"), soft_wrap=True)
    out.print()
    out.print(legend(found, look))


def legend(found: LevelMatrix, look: LevelLook) -> Text:
    counts: dict[str, int] = {}
    for cell in found.cells.values():
        counts[cell.level] = counts.get(cell.level, 0) + 1
    text = Text()
    for level_id in found.levels:
        text.append(f" {look.marks[level_id]} ", style=look.styles[level_id])
        text.append(f" {level_id} ({counts.get(level_id, 0)})  ")
    text.append(f"\n {FLAKY_MARK} flaky   {FLAGGED_MARK} flagged (known bug)")
    text.append(f"   as of {found.computed_at}")
    text.append("\n why a level: matrix levels --explain FEATURE@COMBINATION")
    return text


# --- one cell --------------------------------------------------------------------------------


def print_explanation(out: Console, found: LevelMatrix, cell: Cell, db: Path) -> None:
    look = LevelLook(found)
    heading = Text(f"{cell.feature}@{cell.combination}: ", style="bold")
    heading.append_text(look.level(cell.level))
    if cell.level != LEVEL_NA:
        heading.append(f"  score {cell.score}")
    out.print(heading)
    if cell.level == LEVEL_NA:
        out.print(Text(f"not applicable by design: {cell.why_not_applicable}"))
        return
    for flag in cell.flags:
        out.print(Text(f"flagged: {flag.why} ({flag.bug})"))
    if cell.flagged_results:
        out.print(Text(f"flagged: {cell.flagged_results} result(s) skipped as a known bug"))
    if cell.flaky:
        out.print(Text("flaky: the latest result passes but the window holds failures"))
    if not db.exists():
        out.print(Text(f"no history at {display_path(db)}"))

    criteria = Table(title="criteria", title_justify="left", box=None, padding=(0, 1, 0, 0))
    criteria.add_column("", no_wrap=True)
    criteria.add_column("criterion", no_wrap=True)
    criteria.add_column("weight", justify="right")
    criteria.add_column("why", overflow="fold")
    criteria.add_column("runs", overflow="fold")
    for result in cell.criteria:
        mark = Text("met", style="green") if result.met else Text("missed", style="red")
        criteria.add_row(
            mark, result.id, str(result.weight), Text(result.why), Text(_runs(result.runs))
        )
    out.print(criteria)

    met = {c.id for c in cell.criteria if c.met}
    for level in found.policy.ladder:
        missing = [need for need in level.needs if need not in met]
        low = level.min_score is not None and cell.score < level.min_score
        if not missing and not low:
            out.print(Text(f"{level.id}: all its criteria are met"))
            break
        why = f"misses {', '.join(missing)}" if missing else ""
        if low:
            why += f"{'; ' if why else ''}score {cell.score} < {level.min_score}"
        out.print(Text(f"{level.id}: {why}"))
    out.print(Text(f"so {cell.level}: {cell.reason}"))

    if cell.recent:
        out.print(
            _newest(
                "newest valid results",
                cell.recent,
                lab=lambda e: e.lab,
                job=lambda e: e.job_url or "",
                proof=lambda e: e.proof or "",
            )
        )
    if cell.tempest:
        title = "Tempest's newest results (they count for `tempest` only)"
        out.print(_newest(title, cell.tempest, test=lambda e: e.scenario))


def _newest(title: str, evidence: Sequence[Evidence], **more: Callable[[Evidence], str]) -> Table:
    """The ten newest of `evidence`: run, start, outcome and kind, then the columns `more`."""
    table = Table(title=title, title_justify="left", box=None)
    for column in ("run", "started", "outcome", "kind", *more):
        table.add_column(column, overflow="fold")
    for e in evidence[:10]:
        table.add_row(
            Text(e.run_id),
            e.started_at[:16].replace("T", " "),
            Text(e.outcome, style="green" if e.passed else "red"),
            Text(e.kind + (" voting" if e.voting else "")),
            *(Text(value(e)) for value in more.values()),
        )
    return table


def _runs(run_ids: tuple[str, ...]) -> str:
    shown = ", ".join(run_ids[:3])
    return shown + (f" and {len(run_ids) - 3} more" if len(run_ids) > 3 else "")


# --- JSON ------------------------------------------------------------------------------------


def explanation_json(cell: Cell) -> dict[str, object]:
    """The cell as matrix.json has it, plus every criterion's why and runs, and its evidence."""
    data = export_cell(cell)
    data["explained"] = {
        "criteria": [
            {"id": c.id, "met": c.met, "weight": c.weight, "why": c.why, "runs": list(c.runs)}
            for c in cell.criteria
        ],
        "recent": [
            {
                "run_id": e.run_id,
                "started_at": e.started_at,
                "outcome": e.outcome,
                "kind": e.kind,
                "voting": e.voting,
                "lab": e.lab,
                "job_url": e.job_url,
                "message": e.message,
                "proof": e.proof,
            }
            for e in cell.recent
        ],
        "tempest": [
            {"run_id": e.run_id, "started_at": e.started_at, "outcome": e.outcome,
             "test": e.scenario, "kind": e.kind, "message": e.message}
            for e in cell.tempest
        ],
    }  # fmt: skip
    return data
