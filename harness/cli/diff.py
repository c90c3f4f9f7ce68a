"""`matrix diff OLD NEW`: what changed between two states of the known-to-work matrix, for CI.

OLD and NEW are each a history (judged by the declarations' policy, as `matrix levels` judges
it) or a matrix.json export; `matrix diff HISTORY --since TIME [--at TIME]` compares a history
with itself. A file is a history when it starts as SQLite files do, and is otherwise read as
matrix.json. Stdout is the report alone (Markdown, or JSON with --json), so a job can post it
as a pull-request comment or append it to $GITHUB_STEP_SUMMARY; it passes through the
terminal's control-character policy (`output.printable`) too, since CI logs are terminals.
With --fail-on-regression a regression exits 1 after the report, through the usual error
path (`harness.cli.main`).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import click

from harness.cli.options import Moment, Settings
from harness.cli.output import printable
from harness.cli.registry import short_help
from harness.declarations.problems import display_path
from harness.errors import BadInput, Failure
from harness.history.database import DEFAULT_DB, SQLITE_MAGIC
from harness.levels.compute import compute_levels
from harness.levels.diff import EXPORT, Snapshot, compare, snapshot_of_export, snapshot_of_levels
from harness.publish.diff_report import diff_document, render_markdown
from harness.reading import read_bounded, read_start

MAX_EXPORT_BYTES = 256 << 20
"""The largest matrix.json read: 200 combinations x 40 features is about 6 MB."""


@click.command("diff", short_help=short_help("diff"))
@click.argument(
    "files",
    nargs=-1,
    metavar="OLD NEW | HISTORY",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
)
@click.option(
    "--since",
    metavar="TIME",
    type=Moment(),
    help=f"Compare one HISTORY (default {DEFAULT_DB}) as of this ISO 8601 time with itself "
    "as of --at.",
)
@click.option(
    "--at",
    metavar="TIME",
    type=Moment(),
    help="Judge histories as of this ISO 8601 time (default: now, UTC).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when some cell's level went down.")
@click.pass_context
def diff(
    ctx: click.Context,
    files: tuple[Path, ...],
    since: datetime | None,
    at: datetime | None,
    as_json: bool,
    fail_on_regression: bool,
) -> None:
    """Compare two states of the matrix: regressions, improvements, new failures, cells that
    became flaky or stale, cells added or removed.

    OLD and NEW are histories (SQLite, as `matrix ingest` writes them) or matrix.json exports
    (`matrix publish`). With --since, one HISTORY is compared with itself.
    """
    settings: Settings = ctx.obj
    now = at or datetime.now(timezone.utc)
    if since is not None:
        old, new = _one_history(settings, files, since, now)
    else:
        old, new = _two_states(settings, files, now, at_given=at is not None)
    found = compare(old, new)
    if as_json:
        click.echo(json.dumps(diff_document(found), indent=2))
    else:
        click.echo(printable(render_markdown(found)), nl=False)
    if fail_on_regression and found.regressions:
        count = len(found.regressions)
        raise Failure(
            f"{count} regression{'s' if count > 1 else ''} from {old.source} to {new.source} "
            "(--fail-on-regression)"
        )


def _one_history(
    settings: Settings, files: tuple[Path, ...], since: datetime, now: datetime
) -> tuple[Snapshot, Snapshot]:
    """One history as of --since and as of --at."""
    if len(files) > 1:
        raise click.UsageError("--since compares one HISTORY with itself: give one file, not two")
    if since > now:
        raise click.BadParameter(
            f"{since.isoformat()} is after {now.isoformat()} (--at, default now)",
            param_hint="--since",
        )
    history = files[0] if files else DEFAULT_DB
    if not _is_history(history):
        raise BadInput(
            f"{display_path(history)}: not a matrix history (SQLite): --since compares a "
            "history with itself"
        )
    return _judged(settings, history, since), _judged(settings, history, now)


def _two_states(
    settings: Settings, files: tuple[Path, ...], now: datetime, *, at_given: bool
) -> tuple[Snapshot, Snapshot]:
    if len(files) != 2:
        raise click.UsageError("expected OLD and NEW (or one HISTORY with --since TIME)")
    old, new = (_read(settings, path, now) for path in files)
    if at_given and old.kind == new.kind == EXPORT:
        raise click.UsageError(
            "--at judges histories, and OLD and NEW are both matrix.json exports, judged "
            "when they were published"
        )
    return old, new


def _read(settings: Settings, path: Path, now: datetime) -> Snapshot:
    """A history judged as of `now`, or a matrix.json export as it was published."""
    if _is_history(path):
        return _judged(settings, path, now)
    try:
        data = read_bounded(path, MAX_EXPORT_BYTES, "a matrix.json")
    except OSError as error:
        raise BadInput(f"{display_path(path)}: cannot read: {error.strerror or error}") from None
    return snapshot_of_export(data, display_path(path))


def _is_history(path: Path) -> bool:
    """Whether the file starts as every SQLite database does (BadInput when unreadable)."""
    try:
        return read_start(path, len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except FileNotFoundError:
        raise BadInput(f"{display_path(path)}: no such file") from None
    except OSError as error:
        raise BadInput(f"{display_path(path)}: cannot read: {error.strerror or error}") from None


def _judged(settings: Settings, history: Path, moment: datetime) -> Snapshot:
    """The history's levels as of `moment`, by the declarations' policy."""
    try:
        levels = compute_levels(settings.matrix(), history, now=moment)
    except sqlite3.DatabaseError as error:  # a damaged file past its SQLite header
        raise BadInput(f"{display_path(history)}: not a readable matrix history: {error}") from None
    return snapshot_of_levels(levels, display_path(history))
