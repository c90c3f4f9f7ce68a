"""`matrix lab prepare|up|status|down`: the embedded lab from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from harness.cli.common import Settings, UserFacingError, console, handles_errors, say
from harness.declarations.loading import LABS_DIR, load_matrix
from harness.declarations.problems import display_path
from harness.lab import cells, control, environment
from harness.lab.state import DEFAULT_DIR, LabState

DEFAULT_LAB = "embedded.yaml"

state_dir_option = click.option(
    "--dir",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DIR,
    show_default=True,
    envvar="MATRIX_LAB_DIR",
    help="Where the running lab keeps its pid files, logs, clouds.yaml and lab file.",
)


@click.group()
def lab() -> None:
    """The embedded lab: real Nova with fake virt drivers, one process per cell on 127.0.0.1."""


@lab.command()
@handles_errors
def prepare() -> None:
    """Build the lab's virtualenv now (otherwise `up` builds it the first time)."""
    try:
        python = environment.ensure(progress=say)
    except environment.LabEnvironmentError as error:
        raise UserFacingError(str(error)) from None
    click.echo(f"lab environment: {python.parent.parent}")


@lab.command()
@click.option(
    "--lab",
    "lab_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The lab file whose embedded targets become cells (default: <matrix>/labs/embedded.yaml).",
)
@click.option("--cell", "names", multiple=True, help="Start only this cell (repeatable).")
@click.option("--computes", type=click.IntRange(1, 8), default=2, show_default=True)
@state_dir_option
@click.pass_context
@handles_errors
def up(
    ctx: click.Context,
    lab_file: Path | None,
    names: tuple[str, ...],
    computes: int,
    state_dir: Path,
) -> None:
    """Start the cells in the background and print their endpoints."""
    settings: Settings = ctx.obj
    lab_path = lab_file or settings.matrix_dir / LABS_DIR / DEFAULT_LAB
    matrix = load_matrix(settings.matrix_dir, [lab_path], labs_dir=False)
    (lab_spec,) = matrix.labs.values()
    try:
        chosen = cells.select(cells.cells_from(matrix, lab_spec, computes), names)
    except cells.LabConfigError as error:
        raise click.UsageError(str(error)) from None
    try:
        python = environment.ensure(progress=say)
        state = LabState(state_dir)
        control.up(state, chosen, python, progress=say)
    except (environment.LabEnvironmentError, control.LabStartError) as error:
        raise UserFacingError(str(error)) from None
    _print_statuses(control.statuses(state))
    clouds = state.clouds_file.resolve()
    click.echo(f"\nclouds.yaml: {display_path(clouds)}   lab file: {display_path(state.lab_file)}")
    click.echo(f"export OS_CLIENT_CONFIG_FILE={clouds}")


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@state_dir_option
@handles_errors
def status(as_json: bool, state_dir: Path) -> None:
    """Each cell's health: up, not responding, dead (its process is gone) or stopped."""
    found = control.statuses(LabState(state_dir))
    if as_json:
        payload = [
            {
                "cell": s.name,
                "combination": s.combination,
                "health": s.health,
                "pid": s.pid,
                "url": s.endpoint.url if s.endpoint else None,
            }
            for s in found
        ]
        click.echo(json.dumps(payload, indent=2))
        return
    if not found:
        click.echo(f"no cells in {display_path(state_dir)}: start them with `matrix lab up`")
        return
    _print_statuses(found)


@lab.command()
@click.option("--cell", "names", multiple=True, help="Stop only this cell (repeatable).")
@state_dir_option
@handles_errors
def down(names: tuple[str, ...], state_dir: Path) -> None:
    """Stop the cells that `up` started (and only those)."""
    state = LabState(state_dir)
    stopped = control.down(state, names)
    click.echo(f"stopped {', '.join(stopped)}" if stopped else "no cell was running")


def _print_statuses(found: list[control.CellStatus]) -> None:
    table = Table(title="embedded lab", title_justify="left")
    for column in ("cell", "combination", "health", "endpoint", "pid"):
        table.add_column(column, no_wrap=column != "combination")
    colours = {"up": "green", "not responding": "yellow", "dead": "red", "stopped": "dim"}
    for s in found:
        table.add_row(
            s.name,
            s.combination,
            Text(s.health, style=colours.get(s.health, "")),
            s.endpoint.url if s.endpoint else "",
            str(s.pid or ""),
        )
    console().print(table)
