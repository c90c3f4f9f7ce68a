"""`matrix lab prepare|up|status|down`: the embedded lab from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from harness.cli.options import Settings, lab_dir_option, lab_file_option
from harness.cli.output import console, say
from harness.cli.registry import short_help
from harness.declarations.problems import display_path
from harness.lab import cells, control, environment, keystone
from harness.lab.state import LabState

state_dir_option = lab_dir_option("--dir")  # --dir: the name `matrix lab` first had


@click.group(short_help=short_help("lab"))
def lab() -> None:
    """The embedded lab: real Nova (fake drivers, or libvirt and QEMU), one process per cell."""


@lab.command()
def prepare() -> None:
    """Build the lab's virtualenv and Tempest's now (otherwise `up` and `matrix tempest`
    build them the first time)."""
    from harness.tempest import environment as tempest_environment

    python = environment.ensure(progress=say)
    click.echo(f"lab environment: {python.parent.parent}")
    tempest = tempest_environment.ensure(progress=say)
    click.echo(f"tempest environment: {tempest.parent.parent}")


@lab.command()
def image() -> None:
    """Build the guest image libvirt cells boot, from Debian packages (cached by its inputs)."""
    from harness.lab import image as guest_image

    built = guest_image.build(progress=say)
    click.echo(
        f"guest image: {built.path} ({built.disk_format}, {built.size // 1024} KiB, "
        f"kernel {built.kernel_version}, guest agent {'yes' if built.agent else 'no'})"
    )


@lab.command()
@lab_file_option(
    "The lab file whose embedded targets become cells (default: <matrix>/labs/embedded.yaml)."
)
@click.option("--cell", "names", multiple=True, help="Start only this cell (repeatable).")
@click.option("--computes", type=click.IntRange(1, 8), default=2, show_default=True)
@state_dir_option
@click.pass_context
def up(
    ctx: click.Context,
    lab_file: Path | None,
    names: tuple[str, ...],
    computes: int,
    lab_dir: Path,
) -> None:
    """Start the cells in the background and print their endpoints."""
    settings: Settings = ctx.obj
    matrix, lab_spec = settings.lab(lab_file or settings.embedded_lab_file)
    chosen = cells.select(cells.cells_from(matrix, lab_spec, computes), names)
    python = environment.ensure(progress=say)
    state = LabState(lab_dir)
    control.up(state, chosen, python, progress=say)
    _print_statuses(control.statuses(state), keystone.status(state))
    clouds = state.clouds_file.resolve()
    click.echo(f"\nclouds.yaml: {display_path(clouds)}   lab file: {display_path(state.lab_file)}")
    click.echo(f"export OS_CLIENT_CONFIG_FILE={clouds}")


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@state_dir_option
def status(as_json: bool, lab_dir: Path) -> None:
    """Keystone's and each cell's health: up, not responding, dead (its process is gone) or
    stopped."""
    state = LabState(lab_dir)
    found = control.statuses(state)
    identity = keystone.status(state)
    if as_json:
        payload = {
            "keystone": {"health": identity.health, "pid": identity.pid, "url": identity.url},
            "cells": [
                {
                    "cell": s.name,
                    "combination": s.combination,
                    "health": s.health,
                    "pid": s.pid,
                    "url": s.endpoint.url if s.endpoint else None,
                }
                for s in found
            ],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    if not found:
        click.echo(f"no cells in {display_path(lab_dir)}: start them with `matrix lab up`")
        return
    _print_statuses(found, identity)


@lab.command()
@click.option("--cell", "names", multiple=True, help="Stop only this cell (repeatable).")
@state_dir_option
def down(names: tuple[str, ...], lab_dir: Path) -> None:
    """Stop the cells that `up` started (and only those), and Keystone with the last."""
    state = LabState(lab_dir)
    stopped = control.down(state, names)
    click.echo(f"stopped {', '.join(stopped)}" if stopped else "no cell was running")


def _print_statuses(found: list[control.CellStatus], identity: keystone.KeystoneStatus) -> None:
    table = Table(title="embedded lab", title_justify="left")
    for column in ("cell", "combination", "health", "endpoint", "pid"):
        table.add_column(column, no_wrap=column != "combination")
    colours = {"up": "green", "not responding": "yellow", "dead": "red", "stopped": "dim"}
    table.add_row(
        "(keystone)",
        "identity: a region per cell",
        Text(identity.health, style=colours.get(identity.health, "")),
        identity.url or "",
        str(identity.pid or ""),
    )
    for s in found:
        table.add_row(
            s.name,
            s.combination,
            Text(s.health, style=colours.get(s.health, "")),
            s.endpoint.url if s.endpoint else "",
            str(s.pid or ""),
        )
    console().print(table)
