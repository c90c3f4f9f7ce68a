"""`matrix ingest RUN_DIR|FOLDER|ARCHIVE ...`: add run records to the history (idempotent),
from run directories, folders searched at any depth for them and for archives, and tarballs or
zip files (what a CI engine hands a publish job);
`matrix ingest --tempest FILE ...`: add Tempest's output (subunit v2 or JUnit) as a run of
source tempest."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import Settings, db_option
from harness.cli.output import printable
from harness.cli.registry import short_help
from harness.declarations.model import PROVENANCE_KINDS
from harness.declarations.problems import display_path
from harness.errors import EXIT_USAGE
from harness.history.database import connect
from harness.history.store import ingest, ingest_run


@click.command("ingest", short_help=short_help("ingest"))
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--tempest",
    "tempest_outputs",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Tempest's output: a subunit v2 stream (stestr last --subunit) or JUnit XML "
    "(subunit2junitxml); what it ran on comes from the flags below or its sidecar FILE.yaml.",
)
@click.option("--about", type=click.Path(path_type=Path, dir_okay=False), help="The sidecar.")
@click.option("--combination", help="Tempest output: the combination it ran on.")
@click.option("--target", help="Tempest output: the target's name.")
@click.option("--lab", "lab_name", help="Tempest output: the lab's name.")
@click.option("--kind", type=click.Choice(PROVENANCE_KINDS), help="Tempest output: provenance.")
@click.option("--voting/--non-voting", default=None, help="Tempest output: did the job vote.")
@click.option("--job-url", help="Tempest output: the CI job's URL.")
@click.option("--started-at", help="Tempest output: when it started (JUnit has no times).")
@db_option(writes=True)
@click.pass_context
def ingest_(
    ctx: click.Context,
    /,
    paths: tuple[Path, ...],
    tempest_outputs: tuple[Path, ...],
    about: Path | None,
    db: Path,
    **given: str | bool | None,
) -> None:
    """Add run records to the history: run directories, folders of them (searched at any
    depth, also for archives: a tree of downloaded CI artifacts, a Zuul log directory), and
    tarballs or zip files of them (GitHub's artifacts; an archive inside one is unpacked too).

    A run already there is left as it is and counted as already there, so ingesting the same
    artifacts again adds nothing; several ingests may run at once. A malformed run or an
    unsafe archive is rejected whole, named by its path (inside the archive too), and the rest
    goes on; then the exit code is 2."""
    if not paths and not tempest_outputs:
        raise click.UsageError("give run records to ingest, or --tempest FILE")
    if tempest_outputs:
        _ingest_tempest(ctx.obj, db, tempest_outputs, about, given)
    if not paths:
        return
    report = ingest(db, paths)
    for rejected in report.rejected:
        click.echo(f"rejected {printable(rejected)}", err=True)
    click.echo(
        f"{display_path(db)}: added {len(report.added)} run(s) with {report.results} result(s); "
        f"{len(report.already)} already there; {len(report.rejected)} rejected"
    )
    if report.rejected:
        raise click.exceptions.Exit(EXIT_USAGE)


def _ingest_tempest(
    settings: Settings,
    db: Path,
    outputs: tuple[Path, ...],
    about: Path | None,
    given: dict[str, str | bool | None],
) -> None:
    """Each output becomes one run of source tempest; all are read before any is stored."""
    from harness.tempest import outside

    flags = {
        "combination": given["combination"], "target": given["target"],
        "lab": given["lab_name"], "kind": given["kind"], "voting": given["voting"],
        "job_url": given["job_url"], "started_at": given["started_at"],
    }  # fmt: skip
    matrix = settings.declarations()
    records = [
        (output, outside.record(matrix, output, outside.read_about(output, about, flags)))
        for output in outputs
    ]
    connection = connect(db)
    try:
        for output, (header, results, unmapped) in records:
            added = ingest_run(connection, header, results)
            click.echo(
                f"{display_path(db)}: {display_path(output)}: "
                + (f"added Tempest run {header.run_id} with " if added else "already there: ")
                + f"{len(results)} result(s) of declared features ({unmapped} other test(s))"
            )
    finally:
        connection.close()
