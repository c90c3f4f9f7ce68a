"""`matrix diff`'s report: Markdown for a pull-request comment or GitHub's job summary, and
the same content as JSON (shaped by `export_schema.DiffExport`).

The Markdown starts with one headline line (the counts, then the two states compared), then a
table per kind of change, regressions first. Everything taken from a history or an export
(ids, levels, reasons, failure messages) goes through `markdown.escape`, so a message holding
`|`, backticks, HTML or newlines stays one table cell of plain text. Long messages are cut,
and a table shows at most MAX_ROWS rows: a PR comment has a size limit; the JSON has it all.
"""

from __future__ import annotations

from typing import Any

from harness.levels.compute import LEVEL_FAILING
from harness.levels.diff import CellState, Change, LevelDiff, Snapshot
from harness.publish.markdown import escape

DIFF_FORMAT = 1
MAX_ROWS = 100
MESSAGE_CHARS = 300

WORDS: dict[str, tuple[str, str, str]] = {
    "regressions": ("regression", "regressions", "Regressions"),
    "improvements": ("improvement", "improvements", "Improvements"),
    "reclassified": ("n/a change", "n/a changes", "To or from n/a (declarations, not evidence)"),
    "new_failures": ("new failure", "new failures", "New failures"),
    "became_flaky": ("newly flaky", "newly flaky", "Became flaky"),
    "no_longer_flaky": ("no longer flaky", "no longer flaky", "No longer flaky"),
    "became_stale": ("newly stale", "newly stale", "Became stale"),
    "no_longer_stale": ("no longer stale", "no longer stale", "No longer stale"),
    "added": ("cell added", "cells added", "Cells added"),
    "removed": ("cell removed", "cells removed", "Cells removed"),
}
"""Section name -> (one, several, table heading)."""


# --- Markdown --------------------------------------------------------------------------------


def render_markdown(diff: LevelDiff) -> str:
    """The report; one line when nothing changed."""
    states = f"{_side(diff.old)} → {_side(diff.new)}"
    if not diff.changed:
        return f"No level changed: {states}, {len(diff.new.cells)} cells.\n"
    lines = [f"**matrix diff: {headline(diff)}** ({states})"]
    lines += [f"\n> Note: {escape(note)}" for note in diff.notes]
    for name, changes in diff.sections().items():
        if changes:
            lines += ["", f"### {WORDS[name][2]} ({len(changes)})", ""]
            lines += _table(name, changes)
    return "\n".join(lines) + "\n"


def headline(diff: LevelDiff) -> str:
    """The counts of what changed, e.g. '1 regression, 2 improvements, 1 new failure'."""
    return ", ".join(
        f"{count} {WORDS[name][0] if count == 1 else WORDS[name][1]}"
        for name, count in diff.counts().items()
        if count
    )


def _side(snapshot: Snapshot) -> str:
    return f"{escape(snapshot.source)} as of {escape(snapshot.computed_at)}"


def _table(name: str, changes: list[Change]) -> list[str]:
    if name == "new_failures":
        header = ["Feature", "Combination", "Was", "Run", "Started", "Message"]
        rows = [_row(c, _level(c.old), *_failure_columns(c.new)) for c in changes]
    elif name == "removed":
        header = ["Feature", "Combination", "Was"]
        rows = [_row(c, _level(c.old)) for c in changes]
    elif name in ("regressions", "improvements", "reclassified"):
        header = ["Feature", "Combination", "Was", "Now", "Why"]
        rows = [_row(c, _level(c.old), _level(c.new), _why(c.new)) for c in changes]
    else:  # added, or flaky or stale one way or the other: the cell as it is now
        header = ["Feature", "Combination", "Level", "Why"]
        rows = [_row(c, _level(c.new), _why(c.new)) for c in changes]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(escape(text) for text in row) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines += ["", f"… and {len(rows) - MAX_ROWS} more (`matrix diff --json` lists them all)"]
    return lines


def _row(change: Change, *columns: str) -> list[str]:
    return [change.feature, change.combination, *columns]


def _level(state: CellState | None) -> str:
    if state is None:
        return "—"
    marks = [mark for mark, on in (("flaky", state.flaky), ("stale", state.stale)) if on]
    return state.level + (f" ({', '.join(marks)})" if marks else "")


def _why(state: CellState | None) -> str:
    """A failing cell's newest failure message (what a reviewer needs), else its reason."""
    if state is None:
        return ""
    failure = state.failure
    if state.level == LEVEL_FAILING and failure is not None:
        said = _message(failure.message)
        return f"{failure.outcome} in {failure.run_id} ({failure.started_at[:10]}): {said}"
    return state.reason


def _failure_columns(state: CellState | None) -> list[str]:
    failure = state.failure if state else None
    if failure is None:
        return ["", "", ""]
    return [failure.run_id, failure.started_at, _message(failure.message)]


def _message(text: str | None) -> str:
    """A record's message on one line, cut to MESSAGE_CHARS (escaped later, whole)."""
    if not text:
        return "(no message)"
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


# --- JSON ------------------------------------------------------------------------------------


def diff_document(diff: LevelDiff) -> dict[str, Any]:
    """`matrix diff --json`: every change, whole (messages uncut, no row limit)."""
    return {
        "format": DIFF_FORMAT,
        "old": _side_json(diff.old),
        "new": _side_json(diff.new),
        "levels": list(diff.order),
        "notes": list(diff.notes),
        "changed": diff.changed,
        "counts": diff.counts(),
        **{
            name: [_change_json(change) for change in changes]
            for name, changes in diff.sections().items()
        },
    }


def _side_json(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "source": snapshot.source,
        "kind": snapshot.kind,
        "computed_at": snapshot.computed_at,
        "cells": len(snapshot.cells),
    }


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "feature": change.feature,
        "combination": change.combination,
        "old": _state_json(change.old),
        "new": _state_json(change.new),
    }


def _state_json(state: CellState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    failure = state.failure
    return {
        "level": state.level,
        "reason": state.reason,
        "flaky": state.flaky,
        "stale": state.stale,
        "last_failure": None
        if failure is None
        else {
            "run_id": failure.run_id,
            "started_at": failure.started_at,
            "outcome": failure.outcome,
            "job_url": failure.job_url,
            "message": failure.message,
        },
    }
