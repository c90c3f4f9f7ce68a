"""`matrix ingest RUN_DIR|FOLDER|ARCHIVE ...`: add run records to the history (idempotent)."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import db_option
from harness.cli.registry import short_help
from harness.declarations.problems import display_path
from harness.errors import EXIT_USAGE
from harness.history.store import ingest


@click.command("ingest", short_help=short_help("ingest"))
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@db_option(writes=True)
def ingest_(paths: tuple[Path, ...], db: Path) -> None:
    """Add run directories (or folders or tarballs of them) to the history; a run already
    there is left as it is, a malformed one is rejected whole."""
    report = ingest(db, paths)
    for rejected in report.rejected:
        click.echo(f"rejected {rejected}", err=True)
    click.echo(
        f"{display_path(db)}: added {len(report.added)} run(s) with {report.results} result(s); "
        f"{len(report.already)} already there; {len(report.rejected)} rejected"
    )
    if report.rejected:
        raise click.exceptions.Exit(EXIT_USAGE)
