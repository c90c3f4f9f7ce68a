"""Located problems in declaration files, collected so every mistake is reported in one pass."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BadInput


@dataclass(frozen=True, order=True)
class Mark:
    """A place in a file; line and column are 1-based, as editors show them."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake: where it is and what was expected there."""

    mark: Mark
    message: str

    def __str__(self) -> str:
        return f"{self.mark}: {self.message}"


class DeclarationError(BadInput):
    """Raised with every problem found, so they are all printed at once (exit 2)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        files = {p.mark.file for p in self.problems}
        count = len(self.problems)
        return [str(p) for p in self.problems] + [
            f"{count} problem{'s' if count != 1 else ''} in {len(files)} "
            f"file{'s' if len(files) != 1 else ''}"
        ]


def display_path(path: Path) -> str:
    """Paths relative to the working directory read better in messages, when that is possible.
    Links are not followed: a message names the file as it was declared (not /dev/zero that
    it links to), and a link loop cannot stop the message being written."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except (ValueError, OSError):  # elsewhere, or the working directory is gone
        return str(path)


def did_you_mean(word: object, candidates: Iterable[str], suffix: str = "") -> str:
    """A '; did you mean ...?' suffix for a misspelt reference, or '' when nothing is close.
    File names are compared without their common `suffix` ('.yaml' alone would make any two
    names look alike) and shown with it."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}{suffix}'?" if close else ""


def one_of(candidates: Sequence[str], limit: int = 12) -> str:
    """A short human list of the valid choices."""
    shown = ", ".join(f"'{c}'" for c in candidates[:limit])
    return shown + (f" and {len(candidates) - limit} more" if len(candidates) > limit else "")


def unknown(kind: str, word: object, candidates: Sequence[str]) -> str:
    """The message for a reference to something undeclared, with the nearest valid id."""
    hint = did_you_mean(word, candidates)
    if not hint and len(candidates) > _LISTED:
        hint = f"; none of the {len(candidates)} declared is close"
    elif not hint and candidates:
        hint = f"; expected one of {one_of(sorted(candidates))}"
    return f"unknown {kind} '{word}'{hint}"


_LISTED = 12
"""Up to this many choices are listed in a message; beyond it a list is noise."""


def human_path(path: Sequence[str | int]) -> str:
    """live-snapshot.not_applicable[0].when: the way a reader finds the place in the file."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
