"""The machine- and wiki-readable files `matrix publish` writes beside its HTML site.

- matrix.json and matrix.schema.json (`harness.publish.json_export`): every cell, versioned;
- matrix.md (`harness.publish.markdown`) and matrix.rst (`harness.publish.rst`): the table;
- feature-matrix-harness.ini (`harness.publish.nova_ini`): Nova's support-matrix format.

docs/exports.md describes each file.
"""

from __future__ import annotations

from pathlib import Path

from harness.declarations.matrix import Matrix
from harness.levels.compute import LevelMatrix
from harness.publish.json_export import write_json
from harness.publish.markdown import MARKDOWN_NAME, render_markdown
from harness.publish.nova_ini import INI_NAME, render_ini
from harness.publish.rst import RST_NAME, render_rst
from harness.publish.text_table import summary_table


def write_exports(levels: LevelMatrix, matrix: Matrix, out: Path) -> list[Path]:
    """Write every export into the existing directory `out`; return the paths written."""
    written = write_json(levels, matrix, out)
    table = summary_table(levels, matrix)
    for name, text in (
        (MARKDOWN_NAME, render_markdown(table)),
        (RST_NAME, render_rst(table)),
        (INI_NAME, render_ini(levels, matrix)),
    ):
        path = out / name
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written
