"""What the Markdown and reStructuredText exports show, before either markup is applied.

Both are one table (features as rows, combinations as numbered columns, as in `matrix levels`),
a key mapping column numbers to combinations, and a legend of levels and marks. Everything here
is plain text; each renderer escapes it for its own markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.declarations.matrix import Matrix
from harness.levels.compute import LEVEL_FAILING, LEVEL_NA, LEVEL_UNKNOWN, Cell, LevelMatrix

FLAKY_MARK = "~"
FLAGGED_MARK = "!"
MARKS = (
    (FLAKY_MARK, "flaky: the latest result passes, but the window holds too many failures"),
    (FLAGGED_MARK, "flagged: a declared known bug applies to the combination"),
)


@dataclass(frozen=True)
class Column:
    key: str  # what the table's header shows
    combination: str
    title: str | None
    embedded: bool


@dataclass(frozen=True)
class Row:
    feature: str
    title: str
    cells: tuple[str, ...]  # one label per column


@dataclass(frozen=True)
class LegendEntry:
    level: str
    count: int  # cells at this level
    meaning: str


@dataclass(frozen=True)
class SummaryTable:
    computed_at: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    legend: tuple[LegendEntry, ...]


def cell_label(cell: Cell) -> str:
    """The level, then a mark for flaky and one for flagged: 'tested~!'."""
    return cell.level + (FLAKY_MARK if cell.flaky else "") + (FLAGGED_MARK if cell.flagged else "")


def level_meanings(levels: LevelMatrix) -> dict[str, str]:
    """Every level id, best first, with one line saying what it means."""
    meanings = {
        level.id: level.title
        + (f" (Nova rating: {level.nova_rating})" if level.nova_rating else "")
        for level in levels.policy.ladder
    }
    meanings[LEVEL_FAILING] = "the latest valid evidence fails"
    meanings[LEVEL_UNKNOWN] = (
        "no valid evidence, none newer than "
        f"{levels.policy.stale_after_days} days, or evidence that meets no level"
    )
    meanings[LEVEL_NA] = "not applicable by design (declared in features.yaml)"
    return {level: meanings[level] for level in levels.levels}


def summary_table(levels: LevelMatrix, matrix: Matrix) -> SummaryTable:
    columns = tuple(
        Column(str(number), combination_id, c.title, c.embedded)
        for number, combination_id in enumerate(levels.combinations, start=1)
        for c in [matrix.combinations[combination_id]]
    )
    rows = tuple(
        Row(
            feature,
            matrix.features[feature].title,
            tuple(cell_label(levels.cell(feature, c.combination)) for c in columns),
        )
        for feature in levels.features
    )
    counts: dict[str, int] = {}
    for cell in levels.cells.values():
        counts[cell.level] = counts.get(cell.level, 0) + 1
    legend = tuple(
        LegendEntry(level, counts.get(level, 0), meaning)
        for level, meaning in level_meanings(levels).items()
    )
    return SummaryTable(levels.computed_at, columns, rows, legend)


def key_and_legend(
    table: SummaryTable, escape: Callable[[str], str]
) -> tuple[list[str], list[str]]:
    """The column key and the legend as bullet items, the same in Markdown and RST."""
    key = []
    for column in table.columns:
        text = f"- **{escape(column.key)}**: {escape(column.combination)}"
        if column.title:
            text += f" — {escape(column.title)}"
        if column.embedded:
            text += " (embedded lab)"
        key.append(text)
    legend = [
        f"- **{escape(entry.level)}** ({entry.count}): {escape(entry.meaning)}"
        for entry in table.legend
    ]
    legend += [f"- **{escape(mark)}** {escape(meaning)}" for mark, meaning in MARKS]
    return key, legend
