"""The `matrix` command line: one entry point, subcommands per job (DESIGN.md section 8).

Exit codes: 0 success, 1 a scenario failed, 2 bad input or usage. Mistakes in input are
reported as located one-line problems, never as tracebacks (unless --debug).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from harness import __version__
from harness.cli import check, cleanup, declarations, ingest, lab, levels, publish, run
from harness.cli.common import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--matrix",
    "matrix_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default="matrix",
    show_default=True,
    envvar="MATRIX_DIR",
    help="Directory of declarations (axes, features, combinations, levels, labs/).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.version_option(__version__, prog_name="matrix")
@click.pass_context
def cli(ctx: click.Context, matrix_dir: Path, debug: bool) -> None:
    """Feature-support matrix harness for OpenStack combinations."""
    ctx.obj = Settings(matrix_dir, debug)


def main(args: Sequence[str] | None = None) -> None:
    """Console entry point: click's usage errors become one line on stderr, exit 2."""
    try:
        code = cli.main(args=args, prog_name="matrix", standalone_mode=False)
        if isinstance(code, int) and code:  # ctx.exit(code) returns here without standalone mode
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("matrix: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        click.echo(f"matrix: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)


for command in (
    declarations.validate,
    declarations.list_,
    declarations.show,
    declarations.schema_,
    lab.lab,
    run.run,
    cleanup.cleanup,
    ingest.ingest_,
    levels.levels,
    check.check,
    publish.publish,
):
    cli.add_command(command)
