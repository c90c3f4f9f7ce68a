"""`matrix check COMBINATION`: what an operator wants to know before trusting a combination.

For a declared combination: each feature's level, score, last pass, last failure, versions
seen and CI job links. For one that is not declared there can be no evidence, so the answer
is the nearest declared combinations (most axis values in common), what differs, and how
well tested they are: the closest thing to evidence there is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from harness.cli.levels import LevelLook
from harness.cli.options import Settings, feature_option, history_options
from harness.cli.output import SafeText as Text
from harness.cli.output import console
from harness.cli.registry import short_help
from harness.declarations.matrix import COMBINATION_SEPARATOR, Matrix
from harness.declarations.problems import display_path, unknown
from harness.history.evidence import Evidence
from harness.levels.compute import COMPUTED_LEVELS, Cell, LevelMatrix, compute_levels
from harness.publish.json_export import cell_json

NEAREST = 3
MESSAGE_WIDTH = 60


@dataclass(frozen=True)
class Neighbour:
    combination: str
    shared: tuple[str, ...]  # axes with the same value
    differs: tuple[tuple[str, str, str], ...]  # (axis, its value, the value asked for)
    tested: int  # cells with a ladder level


@click.command("check", short_help=short_help("check"))
@click.argument("combination_id", metavar="COMBINATION")
@feature_option("Only these features (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@history_options
@click.pass_context
def check(
    ctx: click.Context,
    combination_id: str,
    features: tuple[str, ...],
    as_json: bool,
    db: Path,
    at: datetime | None,
) -> None:
    """Is COMBINATION known to work? Levels, last pass and failure, versions and CI jobs per
    feature; for an undeclared combination, the nearest declared ones and what differs."""
    settings: Settings = ctx.obj
    matrix = settings.matrix()
    chosen = list(features) or None
    if not db.exists():
        click.echo(f"no history at {display_path(db)} yet: every level is unknown", err=True)
    if combination_id in matrix.combinations:
        found = compute_levels(matrix, db, now=at, combinations=[combination_id], features=chosen)
        cells = [found.cell(f, combination_id) for f in found.features]
        if as_json:
            click.echo(json.dumps(_declared_json(matrix, combination_id, found, cells), indent=2))
        else:
            _print_declared(console(), matrix, found, cells, detailed=bool(features))
        return
    values = _parse_values(matrix, combination_id)
    neighbours = nearest(matrix, values, db, at)
    found = compute_levels(
        matrix, db, now=at, combinations=[n.combination for n in neighbours], features=chosen
    )
    if as_json:
        click.echo(json.dumps(_undeclared_json(combination_id, neighbours, found), indent=2))
    else:
        _print_undeclared(console(), combination_id, neighbours, found)


def _parse_values(matrix: Matrix, combination_id: str) -> dict[str, str]:
    parts = combination_id.split(COMBINATION_SEPARATOR)
    axes = list(matrix.axes)
    if len(parts) != len(axes):
        example = COMBINATION_SEPARATOR.join(next(iter(matrix.axes[a])) for a in axes)
        raise click.BadParameter(
            f"'{combination_id}': expected one value per axis "
            f"({COMBINATION_SEPARATOR.join(axes)}), e.g. {example}",
            param_hint="COMBINATION",
        )
    for axis, value in zip(axes, parts, strict=True):
        if value not in matrix.axes[axis]:
            raise click.BadParameter(
                unknown(axis, value, list(matrix.axes[axis])), param_hint="COMBINATION"
            )
    return dict(zip(axes, parts, strict=True))


def nearest(
    matrix: Matrix, values: dict[str, str], db: Path, at: datetime | None
) -> list[Neighbour]:
    """The declared combinations sharing the most axis values, best tested first."""
    candidates = []
    for combination in matrix.combinations.values():
        shared = tuple(a for a, v in values.items() if combination.values.get(a) == v)
        if shared:
            candidates.append((combination.id, shared))
    if not candidates:
        return []
    found = compute_levels(matrix, db, now=at, combinations=[c for c, _ in candidates])
    neighbours = []
    for combination_id, shared in candidates:
        combination = matrix.combinations[combination_id]
        differs = tuple(
            (axis, combination.values[axis], wanted)
            for axis, wanted in values.items()
            if combination.values.get(axis) != wanted
        )
        tested = sum(
            1 for f in found.features if found.cell(f, combination_id).level not in COMPUTED_LEVELS
        )
        neighbours.append(Neighbour(combination_id, shared, differs, tested))
    neighbours.sort(key=lambda n: (-len(n.shared), -n.tested, n.combination))
    return neighbours[:NEAREST]


# --- terminal --------------------------------------------------------------------------------


def _print_declared(
    out: Console, matrix: Matrix, found: LevelMatrix, cells: list[Cell], *, detailed: bool
) -> None:
    look = LevelLook(found)
    combination = matrix.combinations[cells[0].combination] if cells else None
    if combination is not None:
        heading = Text(combination.id, style="bold")
        if combination.title:
            heading.append(f" — {combination.title}")
        out.print(heading)
    table = Table(box=None, padding=(0, 1, 0, 0))
    for column in ("feature", "level", "score", "last pass", "last failure", "versions"):
        table.add_column(column, overflow="fold")
    for cell in cells:
        level = look.level(cell.level)
        if cell.flaky:
            level.append(" flaky", style="yellow")
        if cell.flagged:
            level.append(" flagged", style="magenta")
        table.add_row(
            cell.feature,
            level,
            "" if cell.level == "n/a" else str(cell.score),
            _when(cell.last_pass),
            Text(_failure(cell.last_failure)),
            Text(_versions_short(cell)),
        )
    out.print(table)
    if detailed:
        for cell in cells:
            _print_detail(out, cell)
    jobs = _job_urls(cells)
    if jobs:
        out.print(Text("CI jobs: ", style="bold").append(Text(", ".join(jobs))))
    out.print(Text(f"as of {found.computed_at}; why a level: matrix levels --explain F@C"))


def _print_detail(out: Console, cell: Cell) -> None:
    out.print(Text(f"\n{cell.feature}: {cell.level} — {cell.reason}", style="bold"))
    if cell.why_not_applicable:
        out.print(Text(f"  not applicable: {cell.why_not_applicable}"))
    out.print(Text(f"  valid results: {cell.passed} passed, {cell.failed} failed"))
    for name, seen in cell.versions.items():
        out.print(Text(f"  {name}: {', '.join(seen)}"))
    for url in cell.job_urls:
        out.print(Text(f"  job: {url}"))
    if cell.last_pass and cell.last_pass.proof:
        out.print(Text(f"  last pass proof: {cell.last_pass.proof}"))
    if cell.last_failure and cell.last_failure.message:
        out.print(Text(f"  last failure: {cell.last_failure.message}"))


def _print_undeclared(
    out: Console, combination_id: str, neighbours: list[Neighbour], found: LevelMatrix
) -> None:
    out.print(
        Text(f"{combination_id} is not a declared combination: nothing has tested it.", "bold")
    )
    if not neighbours:
        out.print(Text("No declared combination shares any of its values."))
        return
    out.print(Text("Nearest declared combinations (most axis values in common):"))
    look = LevelLook(found)
    for neighbour in neighbours:
        out.print(Text(f"\n  {neighbour.combination}", style="bold"))
        differs = "; ".join(f"{axis}: {theirs} instead of {yours}" for axis, theirs, yours in
                            neighbour.differs)  # fmt: skip
        out.print(Text(f"    shares {', '.join(neighbour.shared)}; differs in {differs}"))
        counts = _counts(found, neighbour.combination)
        summary = Text("    ")
        for level_id in found.levels:
            if counts.get(level_id):
                summary.append_text(look.level(level_id)).append(f" {counts[level_id]}  ")
        out.print(summary)
        if len(found.features) <= 3:
            for feature in found.features:
                cell = found.cell(feature, neighbour.combination)
                out.print(Text(f"    {feature}: ").append_text(look.level(cell.level)))


def _counts(found: LevelMatrix, combination: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for feature in found.features:
        level = found.cell(feature, combination).level
        counts[level] = counts.get(level, 0) + 1
    return counts


def _when(evidence: Evidence | None) -> str:
    return evidence.started_at[:10] if evidence else "never"


def _failure(evidence: Evidence | None) -> str:
    if evidence is None:
        return "never"
    message = (evidence.message or evidence.outcome).splitlines()[0] if evidence.message else ""
    if len(message) > MESSAGE_WIDTH:
        message = message[: MESSAGE_WIDTH - 1] + "…"
    return f"{evidence.started_at[:10]} {message}".strip()


def _versions_short(cell: Cell) -> str:
    return ", ".join(f"{name} {seen[0]}" for name, seen in list(cell.versions.items())[:2])


def _job_urls(cells: list[Cell]) -> list[str]:
    seen: dict[str, None] = {}
    for cell in cells:
        for url in cell.job_urls:
            seen.setdefault(url)
    return list(seen)[:5]


# --- JSON ------------------------------------------------------------------------------------


def _declared_json(
    matrix: Matrix, combination_id: str, found: LevelMatrix, cells: list[Cell]
) -> dict[str, object]:
    return {
        "combination": combination_id,
        "declared": True,
        "embedded": matrix.combinations[combination_id].embedded,
        "computed_at": found.computed_at,
        "cells": [cell_json(cell) for cell in cells],
    }


def _undeclared_json(
    combination_id: str, neighbours: list[Neighbour], found: LevelMatrix
) -> dict[str, object]:
    return {
        "combination": combination_id,
        "declared": False,
        "computed_at": found.computed_at,
        "nearest": [
            {
                "combination": n.combination,
                "shared_axes": list(n.shared),
                "differs": [
                    {"axis": axis, "value": theirs, "asked": yours}
                    for axis, theirs, yours in n.differs
                ],
                "levels": {
                    feature: found.cell(feature, n.combination).level for feature in found.features
                },
            }
            for n in neighbours
        ],
    }
