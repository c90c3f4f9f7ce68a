"""The `matrix` command: the group, its global options, and the one place errors become exit
codes (the way tox's `report.HandledError` is caught once).

Every command raises `MatrixError` subclasses for what the user must fix; they are printed
here as their lines and exit with their code. click's usage errors are one line, exit 2.
Anything else is a bug: one line, exit 70, the traceback under --debug.

Commands are imported only when one is run (`COMMANDS`): `matrix --help` or `matrix
validate` need neither openstacksdk nor the levels and publishing code.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from harness import version
from harness.cli.registry import COMMANDS, PRELUDES
from harness.ending import end_process
from harness.errors import EXIT_CODES, EXIT_INTERNAL, EXIT_INTERRUPTED, MatrixError

PYDANTIC_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"


def _show_version(ctx: click.Context) -> None:
    """`matrix --version`, as click's own option says it, with the version looked up only
    then (`harness.version`)."""
    if not ctx.resilient_parsing:
        click.echo(f"matrix, version {version()}")
        ctx.exit()


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is looked up to run
    (after starting its prelude, if it has one)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        if cmd_name in PRELUDES and not ctx.resilient_parsing:
            prelude_module, function = PRELUDES[cmd_name]
            getattr(importlib.import_module(prelude_module), function)(ctx)
        module, attribute, _ = found
        command = getattr(importlib.import_module(f"harness.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])


EPILOG = "Exit codes:\n\n" + "\n\n".join(
    f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items()
)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=f"\b\n{EPILOG.replace(chr(10) + chr(10), chr(10))}",
)
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
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _, asked: _show_version(ctx) if asked else None,
    help="Show the version and exit.",
)
@click.pass_context
def cli(ctx: click.Context, matrix_dir: Path, debug: bool) -> None:
    """Feature-support matrix harness for OpenStack combinations."""
    from harness.cli.options import Settings  # not for --help: it loads the declaration models

    ctx.obj = Settings(matrix_dir, debug)


def main(args: Sequence[str] | None = None) -> None:
    """Console entry point. SIGTERM (how CI engines cancel a job) and SIGINT interrupt a
    command the same way, whatever the parent left them set to: a job started in the
    background of a shell has SIGINT ignored, and a cancelled one is sent SIGTERM; either way
    the command stops what it started and records what finished. Called without `args` it is
    the process's own entry point (the console script, `python -m harness`) and ends it."""
    if args is None:
        # Pydantic searches every installed package's entry points for plugins (observability
        # hooks the harness does not use) when it builds its first model: 60 ms in each
        # harness process on its way to a scenario. The scenario processes inherit this;
        # PYDANTIC_DISABLE_PLUGINS set to an empty string has plugins loaded again.
        os.environ.setdefault(PYDANTIC_PLUGINS, "__all__")
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(signal.SIGTERM, _interrupt),
    }
    try:
        code = run_command_line(sys.argv[1:] if args is None else list(args))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if args is None:
        end_process(code)  # at once: no teardown of all the command imported
    sys.exit(code)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_command_line(args: list[str]) -> int:
    """Run one command and return its exit code; the only place errors are turned into one."""
    debug = False
    try:
        with cli.make_context("matrix", args) as ctx:
            debug = bool(ctx.params.get("debug"))
            code = cli.invoke(ctx)
        return code if isinstance(code, int) else 0
    except MatrixError as error:
        for line in error.lines():
            click.echo(f"matrix: {line}" if len(error.lines()) == 1 else line, err=True)
        return error.exit_code
    except click.ClickException as error:
        click.echo(f"matrix: {error.format_message()}", err=True)
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("matrix: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as error:
        if debug:
            raise
        click.echo(f"matrix: internal error: {error!r} (rerun with --debug for details)", err=True)
        return EXIT_INTERNAL
