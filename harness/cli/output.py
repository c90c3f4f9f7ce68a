"""Where a command's words go: its result on stdout (a rich console that fits CI logs),
progress for humans on stderr."""

from __future__ import annotations

import sys

import click
from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        highlight=False, soft_wrap=False, stderr=stderr, width=None if stream.isatty() else 120
    )


def say(message: str) -> None:
    """Progress for humans goes to stderr, so stdout stays the command's result."""
    click.echo(message, err=True)
