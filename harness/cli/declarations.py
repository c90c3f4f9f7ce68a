"""`matrix validate`, `list`, `show` and `schema`: the declarations, checked and shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.cli.options import OutputPath, Settings, axis_filter, axis_option
from harness.cli.output import console
from harness.cli.registry import short_help
from harness.declarations import schema
from harness.declarations.applicability import Verdict, verdicts
from harness.declarations.layout import FILES, LABS_DIR
from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Combination, Matrix
from harness.declarations.problems import display_path, unknown
from harness.errors import Failure


def _load(ctx: click.Context) -> Matrix:
    settings: Settings = ctx.obj
    return settings.matrix()


# --- validate --------------------------------------------------------------------------------


@click.command(short_help=short_help("validate"))
@click.argument("path", required=False, type=click.Path(path_type=Path, exists=True))
@click.pass_context
def validate(ctx: click.Context, path: Path | None) -> None:
    """Check declarations and labs; exit 2 listing every problem.

    PATH is a matrix directory (default: --matrix), one of its files, or a lab file, which is
    checked against the declarations of --matrix.
    """
    settings: Settings = ctx.obj
    target = path or settings.matrix_dir
    if target.is_dir():
        matrix = load_matrix(target)
    elif target.name in FILES.values():
        matrix = load_matrix(target.parent)
    else:
        in_labs_dir = (
            target.parent.name == LABS_DIR and (target.parent.parent / FILES["axes"]).exists()
        )
        root = target.parent.parent if in_labs_dir else settings.matrix_dir
        matrix = load_matrix(root, [target], labs_dir=in_labs_dir)
    values = sum(len(v) for v in matrix.axes.values())
    targets = sum(len(lab.targets) for lab in matrix.labs.values())
    levels = len(matrix.policy.ladder) if matrix.policy else 0
    click.echo(
        f"{display_path(target)}: valid — {len(matrix.axes)} axes ({values} values), "
        f"{len(matrix.features)} features, {len(matrix.combinations)} combinations, "
        f"{levels} levels, {len(matrix.labs)} labs ({targets} targets)"
    )


# --- list ------------------------------------------------------------------------------------


def _selected(matrix: Matrix, wanted: dict[str, set[str]]) -> list[Combination]:
    return [
        c
        for c in matrix.combinations.values()
        if all(c.values[axis] in values for axis, values in wanted.items())
    ]


def _combination_json(matrix: Matrix, combination: Combination) -> dict[str, Any]:
    found = verdicts(matrix, combination)
    return {
        "id": combination.id,
        "values": dict(combination.values),
        "title": combination.title,
        "reference": combination.reference,
        "embedded": combination.embedded,
        "features": [v.feature for v in found if v.applicable],
        "not_applicable": {v.feature: v.why for v in found if not v.applicable},
        "flagged": {v.feature: [f.bug for f in v.flags] for v in found if v.flags},
    }


@click.command("list", short_help=short_help("list"))
@axis_option("Only combinations with this value (repeat; same axis = any of them).")
@click.option("--features", "show_features", is_flag=True, help="List the features instead.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(
    ctx: click.Context, axes: tuple[tuple[str, str], ...], show_features: bool, as_json: bool
) -> None:
    """Combinations as a table (or the features with --features)."""
    matrix = _load(ctx)
    if show_features:
        _list_features(matrix, as_json)
        return
    chosen = _selected(matrix, axis_filter(axes))
    if as_json:
        click.echo(json.dumps([_combination_json(matrix, c) for c in chosen], indent=2))
        return
    table = Table(
        title=f"{len(chosen)} of {len(matrix.combinations)} combinations", title_justify="left"
    )
    table.add_column("combination", no_wrap=True)
    table.add_column("modelled on / title", overflow="fold")
    table.add_column("features", justify="right", no_wrap=True)
    table.add_column("n/a", justify="right")
    for combination in chosen:
        found = verdicts(matrix, combination)
        applicable = sum(v.applicable for v in found)
        label = combination.reference or combination.title or ""
        if combination.embedded:
            label = f"{label} [embedded lab]".strip()
        table.add_row(combination.id, Text(label), str(applicable), str(len(found) - applicable))
    console().print(table)


def _requirements(matrix: Matrix, feature_id: str) -> str:
    req = matrix.features[feature_id].requires
    parts = [f"{req.computes} computes"] if req.computes > 1 else []
    parts += [
        name.replace("_", "-")
        for name in ("flavor_alt", "volume", "multiattach", "destructive")
        if getattr(req, name)
    ]
    return ", ".join(parts)


def _list_features(matrix: Matrix, as_json: bool) -> None:
    if as_json:
        payload = {fid: f.model_dump(mode="json") for fid, f in matrix.features.items()}
        click.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"{len(matrix.features)} features", title_justify="left")
    for column in ("feature", "family", "nova key", "status", "requires", "tempest"):
        table.add_column(column, no_wrap=column in ("feature", "nova key"))
    for fid, feature in matrix.features.items():
        table.add_row(
            fid,
            feature.family,
            feature.nova or "—",
            feature.status,
            _requirements(matrix, fid),
            str(len(feature.tempest)),
        )
    console().print(table)


# --- show ------------------------------------------------------------------------------------


@click.command(short_help=short_help("show"))
@click.argument("combination_id", metavar="COMBINATION")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx: click.Context, combination_id: str, as_json: bool) -> None:
    """A combination's values, the features that apply, and why others do not."""
    matrix = _load(ctx)
    combination = matrix.combinations.get(combination_id)
    if combination is None:
        raise click.BadParameter(
            unknown("combination", combination_id, list(matrix.combinations)),
            param_hint="COMBINATION",
        )
    if as_json:
        click.echo(json.dumps(_combination_json(matrix, combination), indent=2))
        return
    out = console()
    heading = Text(combination.id, style="bold")
    if combination.title:
        heading.append(f" — {combination.title}")
    out.print(heading)
    if combination.reference:
        out.print(Text(f"modelled on: {combination.reference}"))
    if combination.embedded:
        out.print(Text("embedded lab: evidence counts for this combination only"))

    values = Table(title="values", title_justify="left")
    for column in ("axis", "value", "title", "attributes"):
        values.add_column(column)
    for axis, value_id in combination.values.items():
        value = matrix.value(axis, value_id)
        attributes = ", ".join(f"{k}={json.dumps(v)}" for k, v in value.attributes.items())
        values.add_row(axis, value_id, Text(value.title), attributes)
    out.print(values)

    found = verdicts(matrix, combination)
    _print_verdicts(out, matrix, [v for v in found if v.applicable], applicable=True)
    _print_verdicts(out, matrix, [v for v in found if not v.applicable], applicable=False)


def _print_verdicts(
    console: Console, matrix: Matrix, found: list[Verdict], *, applicable: bool
) -> None:
    if not found:
        return
    title = (
        f"features that apply ({len(found)})" if applicable else f"not applicable ({len(found)})"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("feature", no_wrap=True)
    table.add_column("title" if applicable else "why", overflow="fold")
    if applicable:
        table.add_column("requires")
        table.add_column("flagged", overflow="fold")
    for verdict in found:
        feature = matrix.features[verdict.feature]
        if applicable:
            flags = "; ".join(f"{f.why} ({f.bug})" for f in verdict.flags)
            table.add_row(
                verdict.feature,
                Text(feature.title),
                _requirements(matrix, verdict.feature),
                Text(flags),
            )
        else:
            table.add_row(verdict.feature, Text(verdict.why or ""))
    console.print(table)


# --- schema ----------------------------------------------------------------------------------


@click.command("schema", short_help=short_help("schema"))
@click.argument("kind", required=False, type=click.Choice(sorted(schema.SCHEMA_FILES)))
@click.option(
    "--out",
    type=OutputPath(directory=True),
    help="Write every schema into this directory (default: <matrix>/schemas).",
)
@click.pass_context
def schema_(ctx: click.Context, kind: str | None, out: Path | None) -> None:
    """Write the JSON Schemas of the declaration files (or print one KIND)."""
    if kind and not out:
        click.echo(schema.render(kind), nl=False)
        return
    settings: Settings = ctx.obj
    directory = out or settings.matrix_dir / "schemas"
    try:
        written = schema.write_all(directory)
    except OSError as error:
        raise Failure(f"cannot write the schemas into {display_path(directory)}: {error}") from None
    for path in written:
        click.echo(f"wrote {display_path(path)}")
