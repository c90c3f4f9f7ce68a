"""matrix.rst: the known-to-work matrix as reStructuredText (a list-table), for Sphinx docs.

Text from the declarations is escaped so docutils renders it as written and never warns:
whitespace collapses to single spaces, the characters of inline markup (emphasis, literals,
references, substitutions, footnotes, roles and the '::' of literal blocks) get a backslash,
and text that begins a table cell starts with an escaped space (which renders as nothing) so
that none can begin a list, a field, a comment or a section underline.
"""

from __future__ import annotations

import re

from harness.publish.text_table import SummaryTable, key_and_legend

RST_NAME = "matrix.rst"

_ACTIVE = re.compile(r"([\\`*_|\[\]:<>])")
_SPACE = re.compile(r"\s+")
TITLE = "Feature support matrix"


def escape(text: str) -> str:
    """Inline text as reStructuredText that renders as exactly this text, on one line."""
    return _ACTIVE.sub(r"\\\1", _SPACE.sub(" ", text).strip())


def escape_block(text: str) -> str:
    """`escape`, for text that begins a body element (a table cell): no list, field,
    comment or underline can start with the escaped space put in front."""
    escaped = escape(text)
    return "\\ " + escaped if escaped else escaped


def render_rst(table: SummaryTable) -> str:
    lines = [
        TITLE,
        "=" * len(TITLE),
        "",
        f"Known-to-work levels as of {escape(table.computed_at)}, computed from the run history "
        "by the level policy. Columns are numbered; the key follows the table.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :stub-columns: 1",
        "",
        "   * - Feature",
    ]
    lines += [f"     - {escape_block(column.key)}" for column in table.columns]
    for row in table.rows:
        lines.append(f"   * - {escape_block(row.title)}")
        lines += [f"     - {escape_block(label)}" for label in row.cells]
    key, legend = key_and_legend(table, escape)
    lines += ["", "Combinations", "-" * len("Combinations"), ""]
    lines += key
    lines += ["", "Levels", "-" * len("Levels"), ""]
    lines += legend
    return "\n".join(lines) + "\n"
