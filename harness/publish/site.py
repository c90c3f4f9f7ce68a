"""The static site: the matrix, a page per cell, per combination and per feature.

Pages are rendered with Jinja2 (autoescape on: run messages and job links come from clouds
and CI) from templates compiled once; the rows repeated thousands of times on cell pages come
from `harness.publish.fragments`, which escapes just as strictly. Pages link to each other,
`style.css` and `site.js` by relative paths, so the site works from a CI artifact, any static
host or `file://`. The index's filters are plain JavaScript over data-* attributes: no server,
no external resource. Only http(s) links from runs become links; anything else is text.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from harness.declarations.matrix import COMBINATION_SEPARATOR, Combination, Matrix
from harness.declarations.model import SLUG_PATTERN, Level
from harness.levels.compute import LEVEL_FAILING, LEVEL_NA, LEVEL_UNKNOWN, Cell
from harness.levels.compute import LevelMatrix as Levels
from harness.parallel import available_cpus, frozen_heap
from harness.publish.files import FileWriter
from harness.publish.fragments import Fragments, LevelRow
from harness.publish.plot import merge_weeks, pass_rate_svg
from harness.publish.workers import in_background

HERE = Path(__file__).parent
STATIC = HERE / "static"
ASSETS = ("style.css", "site.js")
INDEX = "index.html"
FILE_SEPARATOR = "__"  # stands for '/' in combination file names; slugs never contain it
PARALLEL_FROM = 2000  # cells; fewer are written before worker processes would have started
LADDER_CLASSES = 6  # style.css colours this many ladder positions; lower levels share the last
COMPUTED_MEANING = {
    LEVEL_FAILING: "The latest valid evidence failed: known broken until it passes again.",
    LEVEL_UNKNOWN: "No valid evidence, only stale evidence, or evidence that meets no level.",
    LEVEL_NA: "Not applicable by design, as declared in the matrix (features.yaml).",
}
_SLUG = re.compile(SLUG_PATTERN)
_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f]|^$")


def safe_url(url: object) -> str | None:
    """The URL when it is an absolute http(s) link with no spaces or controls; else None, and
    the caller shows it as text (a `javascript:` link from a run must never be clickable)."""
    if not isinstance(url, str) or _UNSAFE_IN_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def combination_file(combination_id: str) -> str:
    """`libvirt-kvm/ceph-rbd/ovn` -> `libvirt-kvm__ceph-rbd__ovn.html`, checking every part."""
    parts = combination_id.split(COMBINATION_SEPARATOR)
    for part in parts:
        _checked(part, "combination", combination_id)
    return FILE_SEPARATOR.join(parts) + ".html"


def feature_file(feature_id: str) -> str:
    return _checked(feature_id, "feature", feature_id) + ".html"


def cell_path(feature_id: str, combination_id: str) -> str:
    """Where a cell's page lives, relative to the site root."""
    return f"cells/{_checked(feature_id, 'feature', feature_id)}/{combination_file(combination_id)}"


def _checked(part: str, what: str, whole: str) -> str:
    if not _SLUG.fullmatch(part):
        raise ValueError(f"{what} id {whole!r} cannot name a file (expected slugs joined by '/')")
    return part


def level_classes(levels: Levels) -> dict[str, str]:
    """CSS class per level: ladder positions best first, then the computed levels."""
    classes = {
        level.id: f"lv{min(i, LADDER_CLASSES - 1)}" for i, level in enumerate(levels.policy.ladder)
    }
    classes.update({LEVEL_FAILING: "lv-failing", LEVEL_UNKNOWN: "lv-unknown", LEVEL_NA: "lv-na"})
    return classes


def abbreviations(matrix: Matrix) -> dict[tuple[str, str], str]:
    """Short column labels: a first word shared by several values of an axis is dropped
    (`libvirt-kvm` -> `kvm`) unless that makes two labels alike. Full ids stay in tooltips."""
    short: dict[tuple[str, str], str] = {}
    for axis, values in matrix.axes.items():
        heads = Counter(value.split("-", 1)[0] for value in values if "-" in value)
        labels = {
            value: value.split("-", 1)[1]
            if "-" in value and heads[value.split("-", 1)[0]] > 1
            else value
            for value in values
        }
        clashes = Counter(labels.values())
        for value, label in labels.items():
            short[(axis, value)] = label if clashes[label] == 1 else value
    return short


@dataclass(frozen=True)
class Column:
    """One combination as the index shows it."""

    combination: Combination
    file: str
    labels: tuple[str, ...]  # abbreviated value per axis
    tokens: str  # "axis=value axis=value ...", what the axis filters match
    tooltip: str


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Templates compiled once per process; autoescape on for every template."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # else every page's {% extends %} stats the template file again
    )
    env.filters["safe_url"] = safe_url
    return env


class Site:
    """Renders every page of one level matrix into a directory."""

    def __init__(self, levels: Levels, matrix: Matrix) -> None:
        self.levels = levels
        self.matrix = matrix
        self._reuse: tuple[Path, Path] | None = None  # (new root, previous site) while writing
        self.classes = level_classes(levels)
        self.features = {fid: matrix.features[fid] for fid in levels.features}
        for fid in self.features:
            feature_file(fid)  # checks the id before it names a directory
        self.columns = self._columns()
        self.fragments = Fragments(safe_url)
        self.descriptions = {cid: c.description for cid, c in levels.policy.criteria.items()}
        env = environment()
        self.templates: dict[str, Template] = {
            name: env.get_template(f"{name}.html.j2")
            for name in ("index", "cell", "combination", "feature")
        }
        self.common = {
            "computed_at": levels.computed_at,
            "classes": self.classes,
            "ladder": levels.policy.ladder,
            "criteria": levels.policy.criteria,
            "features": self.features,
            "columns": self.columns,
            "combination_file": combination_file,
            "feature_file": feature_file,
        }

    def write(
        self,
        root: Path,
        meanwhile: Callable[[], Sequence[str]] = tuple,
        workers: int | None = None,
        previous: Path | None = None,
    ) -> Path:
        """Write every page and asset under `root` (which must exist); the index's path.

        `meanwhile` writes other files (the exports) and returns their names, relative to
        `root`, for the index to link. Cell pages are shared out to `workers` forked processes
        (by default one per CPU for a big matrix, none for a small one) while this process
        writes everything else. A page `previous` (the site published before, on the same
        file system) already has byte for byte is linked from there, not written."""
        self._reuse = (root, previous) if previous is not None else None
        for asset in ASSETS:
            shutil.copyfile(STATIC / asset, root / asset)
        for fid in self.levels.features:
            (root / "cells" / fid).mkdir(parents=True, exist_ok=True)
        for directory in ("combinations", "features"):
            (root / directory).mkdir(exist_ok=True)
        if workers is None:
            workers = available_cpus() if len(self.levels.cells) >= PARALLEL_FROM else 0
        cells = partial(self._write_cells, root)
        with frozen_heap(), in_background(cells, workers), FileWriter(reuse=self._reuse) as files:
            exports = list(meanwhile())
            self._pages(files, root, "combination", self._combination_pages())
            self._pages(files, root, "feature", self._feature_pages())
            index = root / INDEX
            files.write(index, self._render("index", "", self._index(exports)))
        return index

    def _write_cells(self, root: Path, part: int, parts: int) -> None:
        """Cell pages of every `parts`-th combination from `part` (all of them for 0, 1)."""
        with FileWriter(reuse=self._reuse) as files:
            self._pages(files, root, "cell", self._cell_pages(self.columns[part::parts]))

    def _pages(
        self,
        files: FileWriter,
        root: Path,
        template: str,
        pages: Iterable[tuple[str, dict[str, Any]]],
    ) -> None:
        for relative, context in pages:
            depth = relative.count("/")
            files.write(root / relative, self._render(template, "../" * depth, context))

    def _render(self, template: str, root: str, context: dict[str, Any]) -> str:
        return self.templates[template].render(self.common, root=root, **context)

    # --- what each page shows ------------------------------------------------------------

    def _columns(self) -> list[Column]:
        short = abbreviations(self.matrix)
        columns = []
        for cid in self.levels.combinations:
            combination = self.matrix.combinations[cid]
            values = combination.values.items()
            tooltip = cid + (f" — {combination.title}" if combination.title else "")
            columns.append(
                Column(
                    combination,
                    combination_file(cid),
                    tuple(short[(axis, value)] for axis, value in values),
                    " ".join(f"{axis}={value}" for axis, value in values),
                    tooltip + (" (embedded lab)" if combination.embedded else ""),
                )
            )
        return columns

    def _index(self, exports: list[str]) -> dict[str, Any]:
        used: dict[str, list[str]] = {axis: [] for axis in self.matrix.axes}
        for column in self.columns:
            for axis, value in column.combination.values.items():
                if value not in used[axis]:
                    used[axis].append(value)
        return {
            "counts": level_counts(self.levels),
            "computed_meaning": COMPUTED_MEANING,
            "policy": self.levels.policy,
            "axes": {
                axis: [(v, self.matrix.axes[axis][v]) for v in values]
                for axis, values in used.items()
            },
            "families": self._families(),
            "exports": exports,
            "row_cells": self._row_cells,
        }

    def _families(self) -> list[tuple[str, list[str]]]:
        """Features grouped by family, families in order of first appearance."""
        families: dict[str, list[str]] = {}
        for fid, feature in self.features.items():
            families.setdefault(feature.family, []).append(fid)
        return list(families.items())

    def _row_cells(self, feature_id: str) -> list[tuple[Cell, str]]:
        """A feature's cells in column order, each with its page relative to the root."""
        prefix = f"cells/{feature_id}/"
        return [
            (self.levels.cells[(feature_id, column.combination.id)], prefix + column.file)
            for column in self.columns
        ]

    def _cell_pages(self, columns: Sequence[Column]) -> Iterable[tuple[str, dict[str, Any]]]:
        ladder = self.levels.policy.ladder
        fragments, descriptions = self.fragments, self.descriptions
        ladder_by_id = {level.id: level for level in ladder}
        max_score = sum(c.weight for c in self.levels.policy.criteria.values())
        for column in columns:
            cid = column.combination.id
            for fid in self.levels.features:
                cell = self.levels.cells[(fid, cid)]
                anchors = {e.run_id for e in cell.recent + cell.tempest}
                yield (
                    f"cells/{fid}/{column.file}",
                    {
                        "cell": cell,
                        "feature": self.features[fid],
                        "column": column,
                        "facts": fragments.facts(cell, ladder_by_id.get(cell.level), max_score),
                        "criteria_rows": fragments.criteria(cell.criteria, descriptions, anchors),
                        "timeline": fragments.timeline(cell.recent),
                        "evidence": fragments.evidence(cell.recent),
                        "tempest": fragments.evidence(cell.tempest) if cell.tempest else None,
                        "next_level": _next_level(ladder, cell),
                        "plot": pass_rate_svg(cell.weeks) if cell.weeks else None,
                    },
                )

    def _combination_pages(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for column in self.columns:
            cid = column.combination.id
            cells = [self.levels.cells[(fid, cid)] for fid in self.levels.features]
            rows = (
                LevelRow(
                    f"../features/{feature_file(cell.feature)}",
                    cell.feature,
                    self.features[cell.feature].title,
                    self.features[cell.feature].family,
                    cell,
                    f"../cells/{cell.feature}/{column.file}",
                )
                for cell in cells
            )
            yield (
                f"combinations/{column.file}",
                {
                    "column": column,
                    "values": [
                        (axis, value, self.matrix.axes[axis][value])
                        for axis, value in column.combination.values.items()
                    ],
                    "rows": self.fragments.level_rows(rows, self.classes),
                    "plot": pass_rate_svg(
                        merge_weeks(c.weeks for c in cells), "Weekly pass rate, all features"
                    ),
                },
            )

    def _feature_pages(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for fid, feature in self.features.items():
            cells = [self.levels.cells[(fid, c.combination.id)] for c in self.columns]
            rows = (
                LevelRow(
                    f"../combinations/{column.file}",
                    column.combination.id,
                    column.tooltip,
                    column.combination.title or "",
                    cell,
                    f"../cells/{fid}/{column.file}",
                )
                for column, cell in zip(self.columns, cells, strict=True)
            )
            yield (
                f"features/{feature_file(fid)}",
                {
                    "fid": fid,
                    "feature": feature,
                    "rows": self.fragments.level_rows(rows, self.classes),
                    "plot": pass_rate_svg(
                        merge_weeks(c.weeks for c in cells), "Weekly pass rate, all combinations"
                    ),
                },
            )


def _next_level(ladder: Sequence[Level], cell: Cell) -> tuple[Level, list[str]] | None:
    """The nearest ladder level above the cell's and what it still misses, by criterion name."""
    ids = [level.id for level in ladder]
    above = ladder[: ids.index(cell.level)] if cell.level in ids else ladder
    if not above or not cell.criteria:
        return None
    level = above[-1]
    met = {c.id for c in cell.criteria if c.met}
    names = {c.id: c.name for c in cell.criteria}
    missing = [names.get(need, need) for need in level.needs if need not in met]
    if level.min_score and cell.score < level.min_score:
        missing.append(f"a score of at least {level.min_score}")
    return level, missing


def level_counts(levels: Levels) -> dict[str, int]:
    """How many cells have each level, every level listed (best first)."""
    counts = Counter(cell.level for cell in levels.cells.values())
    return {level: counts.get(level, 0) for level in levels.levels}
