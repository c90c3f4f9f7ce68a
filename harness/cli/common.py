"""What every `matrix` subcommand shares: settings, console, and how errors become exit codes.

Problems in declarations exit 2 listing every problem; runtime failures the user can act on
(a lab that will not start) exit 1 with their message; anything else is a bug and says how
to see the traceback (--debug).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from harness.declarations.matrix import Matrix
from harness.declarations.problems import DeclarationError, unknown
from harness.history.store import DEFAULT_DB

F = TypeVar("F", bound=Callable[..., Any])
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


class UserFacingError(Exception):
    """A failure with a message that says everything (no traceback needed); exits 1."""


@dataclass
class Settings:
    matrix_dir: Path
    debug: bool


def console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 120)


def fail_with_problems(problems_text: Sequence[str], summary: str) -> None:
    for line in problems_text:
        click.echo(line, err=True)
    click.echo(summary, err=True)
    sys.exit(EXIT_USAGE)


def handles_errors(command: F) -> F:
    """Problems in declarations exit 2 with every problem listed; bugs say how to get details."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings: Settings = click.get_current_context().obj
        try:
            return command(*args, **kwargs)
        except DeclarationError as error:
            files = {p.mark.file for p in error.problems}
            count = len(error.problems)
            fail_with_problems(
                [str(p) for p in error.problems],
                f"{count} problem{'s' if count != 1 else ''} in {len(files)} "
                f"file{'s' if len(files) != 1 else ''}",
            )
        except (click.ClickException, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
            raise
        except UserFacingError as error:
            click.echo(f"matrix: {error}", err=True)
            sys.exit(EXIT_FAILURE)
        except Exception as error:
            if settings.debug:
                raise
            click.echo(
                f"matrix: internal error: {error!r} (rerun with --debug for details)", err=True
            )
            sys.exit(EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


def parse_axis_filters(matrix: Matrix, filters: Sequence[str]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {}
    for item in filters:
        axis, sep, value = item.partition("=")
        if not sep or not axis or not value:
            raise click.BadParameter(f"'{item}': expected AXIS=VALUE", param_hint="--axis")
        if axis not in matrix.axes:
            raise click.BadParameter(unknown("axis", axis, list(matrix.axes)), param_hint="--axis")
        if value not in matrix.axes[axis]:
            raise click.BadParameter(
                unknown(axis, value, list(matrix.axes[axis])), param_hint="--axis"
            )
        wanted.setdefault(axis, set()).add(value)
    return wanted


def say(message: str) -> None:
    """Progress for humans goes to stderr, so stdout stays the command's result."""
    click.echo(message, err=True)


def db_option(command: F) -> F:
    """--db: the SQLite history, for every command that reads or writes it."""
    return click.option(
        "--db",
        type=click.Path(path_type=Path, dir_okay=False),
        default=DEFAULT_DB,
        show_default=True,
        help="The SQLite history.",
    )(command)


def history_options(command: F) -> F:
    """--db and --at, shared by every command that reads levels from the history."""
    command = click.option(
        "--at",
        "at",
        metavar="TIME",
        callback=_parse_time,
        help="Judge as of this ISO 8601 time (default: now, UTC).",
    )(command)
    return db_option(command)


def _parse_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"'{value}': expected an ISO 8601 time such as 2026-11-21T12:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
