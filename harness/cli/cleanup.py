"""`matrix cleanup`: delete what earlier runs left behind in a lab's clouds, and only that."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
import keystoneauth1.exceptions
import openstack.exceptions

from harness.cli.options import Settings
from harness.cli.output import SafeText as Text
from harness.cli.output import console
from harness.cli.registry import short_help
from harness.errors import Failure
from harness.lab.state import DEFAULT_DIR, LAB_FILE
from harness.run.cloud import CloudConfigError, clouds_yaml_of, connect, redactor
from harness.scenario import leftovers

CLOUD_ERRORS = (openstack.exceptions.SDKException, keystoneauth1.exceptions.ClientException)


class CleanupIncomplete(Failure):
    """Some cloud refused or failed part of the cleanup; each part was reported."""


@click.command("cleanup", short_help=short_help("cleanup"))
@click.option(
    "--lab",
    "lab_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_DIR / LAB_FILE,
    show_default=True,
    help="The lab whose clouds to clean (default: the running embedded lab).",
)
@click.option("--run", "run_id", help="Only what this run left behind (whatever its age).")
@click.option(
    "--older-than",
    "hours",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Without --run: only runs that began more than this many hours ago (not runs still "
    "going in other jobs).",
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted, delete nothing.")
@click.pass_context
def cleanup(
    ctx: click.Context, lab_file: Path, run_id: str | None, hours: float, dry_run: bool
) -> None:
    """Delete servers, volumes, images and ports earlier runs left: tagged matrix_run=<run
    id>, named matrix-<run id>-..., in the project the cloud entry is scoped to."""
    settings: Settings = ctx.obj
    if not lab_file.exists():
        raise click.BadParameter(f"{lab_file} does not exist", param_hint="--lab")
    _, lab = settings.lab(lab_file)
    out, err = console(), console(stderr=True)
    clouds_yaml = clouds_yaml_of(lab.path, lab.spec.clouds_yaml)
    total, failures = 0, 0
    for target in lab.targets:
        try:
            redact = redactor(clouds_yaml, target.cloud).redact
            conn = connect(clouds_yaml, target.cloud, 60)
        except CloudConfigError as error:
            raise CloudConfigError(f"target '{target.target_name}': {error}") from None
        try:
            age = None if run_id else timedelta(hours=hours)
            found = list(leftovers.find(conn, run_id, older_than=age))
        except CLOUD_ERRORS as error:  # the cloud's own words may echo the request's secrets
            err.print(Text(f"{target.target_name}: could not list leftovers: {redact(str(error))}"))
            failures += 1
            continue
        for leftover in found:
            what = f"{leftover.kind} {leftover.name} (run {leftover.run_id})"
            try:
                if not dry_run:
                    leftovers.delete(conn, leftover)
            except CLOUD_ERRORS as error:
                err.print(
                    Text(f"{target.target_name}: could not delete {what}: {redact(str(error))}")
                )
                failures += 1
                continue
            verb = "would delete" if dry_run else "deleted"
            out.print(Text(f"{target.target_name}: {verb} {what}"))
            total += 1
    out.print(f"{'would delete' if dry_run else 'deleted'} {total} leftover(s)")
    if failures:
        raise CleanupIncomplete(f"cleanup incomplete: {failures} failure(s), each reported above")
