"""`matrix cleanup`: delete what earlier runs left behind in a lab's clouds, and only that."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from harness.cli.options import Settings
from harness.cli.output import console
from harness.lab.state import DEFAULT_DIR, LAB_FILE
from harness.run.cloud import CloudConfigError, clouds_yaml_of, connect
from harness.scenario import leftovers


@click.command("cleanup")
@click.option(
    "--lab",
    "lab_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_DIR / LAB_FILE,
    show_default=True,
    help="The lab whose clouds to clean (default: the running embedded lab).",
)
@click.option("--run", "run_id", help="Only what this run left behind.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted, delete nothing.")
@click.pass_context
def cleanup(ctx: click.Context, lab_file: Path, run_id: str | None, dry_run: bool) -> None:
    """Delete servers, volumes, images and ports tagged by earlier runs (matrix_run=<run id>)."""
    settings: Settings = ctx.obj
    if not lab_file.exists():
        raise click.BadParameter(f"{lab_file} does not exist", param_hint="--lab")
    _, lab = settings.lab(lab_file)
    out = console()
    total = 0
    for target in lab.targets:
        try:
            conn = connect(clouds_yaml_of(lab.path, lab.spec.clouds_yaml), target.cloud, 60)
            found = list(leftovers.find(conn, run_id))
            for leftover in found:
                if not dry_run:
                    leftovers.delete(conn, leftover)
                verb = "would delete" if dry_run else "deleted"
                what = f"{leftover.kind} {leftover.name} (run {leftover.run_id})"
                out.print(Text(f"{target.target_name}: {verb} {what}"))
            total += len(found)
        except CloudConfigError as error:
            raise CloudConfigError(f"target '{target.target_name}': {error}") from None
    out.print(f"{'would delete' if dry_run else 'deleted'} {total} leftover(s)")
