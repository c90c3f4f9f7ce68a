"""matrix.md: the known-to-work matrix as a GitHub-flavoured Markdown table, for wikis.

Text from the declarations (titles, ids) is escaped: whitespace collapses to single spaces and
every character that is active inline in CommonMark or GFM (emphasis, code, links, HTML,
entities, tables' pipes, strikethrough, math) gets a backslash, so it renders as written.
"""

from __future__ import annotations

import re

from harness.publish.text_table import SummaryTable, key_and_legend

MARKDOWN_NAME = "matrix.md"

# The ASCII punctuation that starts or ends inline constructs: code, emphasis, links and
# images (only after '['), autolinks and HTML, entities, GFM's table pipes, strikethrough and
# math. Line-start constructs (headings, lists) cannot arise: every line starts with our own
# '|' or '- '. CommonMark lets any ASCII punctuation be backslash-escaped.
_ACTIVE = re.compile(r"([\\`*_\[\]<>|~&$])")
_SPACE = re.compile(r"\s+")


def escape(text: str) -> str:
    """Text as Markdown that renders as exactly this text, on one line."""
    return _ACTIVE.sub(r"\\\1", _SPACE.sub(" ", text).strip())


def render_markdown(table: SummaryTable) -> str:
    lines = [
        "# Feature support matrix",
        "",
        f"Known-to-work levels as of {escape(table.computed_at)}, computed from the run history "
        "by the level policy. Columns are numbered; the key follows the table.",
        "",
        "| Feature | " + " | ".join(escape(c.key) for c in table.columns) + " |",
        "| --- |" + " :-: |" * len(table.columns),
    ]
    for row in table.rows:
        cells = " | ".join(escape(label) for label in row.cells)
        lines.append(f"| {escape(row.title)} | {cells} |")
    key, legend = key_and_legend(table, escape)
    lines += ["", "## Combinations", ""]
    lines += key
    lines += ["", "## Levels", ""]
    lines += legend
    return "\n".join(lines) + "\n"
