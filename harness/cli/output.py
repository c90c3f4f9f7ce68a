"""Where a command's words go: its result on stdout (a rich console that fits CI logs),
progress for humans on stderr."""

from __future__ import annotations

import sys

import click
from rich.console import Console


def console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 120)


def say(message: str) -> None:
    """Progress for humans goes to stderr, so stdout stays the command's result."""
    click.echo(message, err=True)
