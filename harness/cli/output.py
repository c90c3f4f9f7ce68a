"""Where a command's words go: its result on stdout (a rich console that fits CI logs),
progress for humans on stderr; and the one control-character policy for terminal output.

Text from records and clouds (run ids, targets, messages, job URLs, versions) can carry
terminal escapes (window titles, colours, hyperlinks) and bidi controls that reorder what a
reader sees. Commands build what they print from `SafeText`, which shows each such character
as a visible escape (`\x1b`, `\u202e`) and keeps tabs and newlines.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.text import Text

_CONTROLS = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0D, 0x20), *range(0x7F, 0xA0)]
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_VISIBLE = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _BIDI}


def printable(text: str) -> str:
    """`text` with control and bidi characters shown as escapes (tab and newline kept)."""
    return text.translate(_VISIBLE)


class SafeText(Text):
    """A rich Text whose string parts are made `printable`."""

    def __init__(self, text: str = "", *args: Any, **kwargs: Any) -> None:
        super().__init__(printable(text), *args, **kwargs)

    def append(self, text: str | Text, *args: Any, **kwargs: Any) -> SafeText:
        if isinstance(text, str):
            text = printable(text)
        super().append(text, *args, **kwargs)
        return self


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        highlight=False, soft_wrap=False, stderr=stderr, width=None if stream.isatty() else 120
    )


def say(message: str) -> None:
    """Progress for humans goes to stderr, so stdout stays the command's result."""
    click.echo(message, err=True)
