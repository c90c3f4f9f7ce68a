"""Load a matrix directory (and lab files) into a checked `Matrix`, or fail with every problem.

Each file is parsed safely, validated whole against its schema (those are the problems we
report), then its entries are validated one by one so the ones that are sound can still
take part in the cross-file checks. Nothing is returned unless there are no problems.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from harness.declarations import layout, model, references
from harness.declarations.diagnostics import salvage, validate
from harness.declarations.layout import FILES
from harness.declarations.matrix import Combination, Lab, Matrix
from harness.declarations.problems import DeclarationError, Mark, Problem, display_path
from harness.declarations.yamlsource import Document, load_file

ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "axes": TypeAdapter(model.AxesFile),
    "features": TypeAdapter(model.FeaturesFile),
    "combinations": TypeAdapter(model.CombinationsFile),
    "levels": TypeAdapter(model.LevelPolicy),
    "lab": TypeAdapter(model.LabFile),
}
"""One adapter per file kind: used for validation and exported by `matrix schema`."""

_VALUE = TypeAdapter(model.AxisValue)


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)

    def document(self, path: Path) -> Document | None:
        try:
            return load_file(path)
        except DeclarationError as error:
            self.problems.extend(error.problems)
            return None

    def whole(self, kind: str, doc: Document | None) -> Any:
        """Validate a whole file; report its problems; return the model when it is sound."""
        if doc is None:
            return None
        if doc.data is None:
            self.problems.append(
                Problem(Mark(doc.source.file, 1, 1), "file is empty; expected a mapping")
            )
            return None
        value, problems = validate(ADAPTERS[kind], doc.data, doc.source)
        self.problems.extend(problems)
        return value


def _placeholder(raw: Any) -> model.AxisValue:
    """Stands in for a value whose own problems are already reported, so references to it
    are not reported again as unknown."""
    return model.AxisValue(title="(invalid)", embedded=_mapping(raw).get("embedded") is True)


def _mapping(data: Any) -> dict[Any, Any]:
    return data if isinstance(data, dict) else {}


def load_matrix(root: Path, lab_files: Sequence[Path] = (), *, labs_dir: bool = True) -> Matrix:
    """Load the declarations under `root`, its labs/ (unless not `labs_dir`) and `lab_files`."""
    collect = _Collector()
    if not root.is_dir():
        raise DeclarationError(
            [Problem(Mark(display_path(root), 1, 1), "not a directory of matrix declarations")]
        )
    docs = {kind: collect.document(root / name) for kind, name in FILES.items()}
    collect.problems += layout.stray_files(root)

    collect.whole("axes", docs["axes"])
    axes: dict[str, dict[str, model.AxisValue]] = {}
    for axis, values in _mapping(docs["axes"] and docs["axes"].data).items():
        if isinstance(axis, str):
            axes[axis] = {
                vid: salvage(_VALUE, raw) or _placeholder(raw)
                for vid, raw in _mapping(values).items()
                if isinstance(vid, str)
            }

    # Files that did not parse at all would make every reference into them look wrong:
    # their own problems are reported, and checks that depend on them wait for a fix.
    axes_parsed = docs["axes"] is not None
    features: dict[str, model.Feature] = collect.whole("features", docs["features"]) or {}
    if docs["features"] is not None and axes_parsed:
        raw_features = _mapping(docs["features"].data)
        collect.problems += references.check_features(raw_features, axes, docs["features"].source)

    combinations: dict[str, Combination] = {}
    spec = collect.whole("combinations", docs["combinations"])
    resolved = False
    if spec is not None and docs["combinations"] is not None and axes_parsed:
        combinations, problems = references.resolve_combinations(
            spec, axes, docs["combinations"].source
        )
        collect.problems += problems
        resolved = not problems

    policy = collect.whole("levels", docs["levels"])
    if policy is not None and docs["levels"] is not None:
        collect.problems += references.check_policy(policy, docs["levels"].source)

    paths = _lab_paths(root, lab_files, labs_dir, collect)
    labs = _load_labs(paths, combinations, collect, check_references=resolved)

    if collect.problems:
        raise DeclarationError(collect.problems)
    return Matrix(root, axes, features, combinations, policy, labs)


def load_lab(root: Path, lab_file: Path, declarations: Matrix | None = None) -> tuple[Matrix, Lab]:
    """The declarations under `root` with exactly this lab file (not the rest of labs/). Given
    the `declarations` already loaded from `root` (without labs), only the lab file is read."""
    if declarations is None:
        matrix = load_matrix(root, [lab_file], labs_dir=False)
    else:
        matrix = with_labs(declarations, [lab_file])
    (lab,) = matrix.labs.values()
    return matrix, lab


def with_labs(declarations: Matrix, lab_files: Sequence[Path]) -> Matrix:
    """Checked declarations, loaded without lab files, with these: only they are read and
    checked, as `load_matrix` would check them, and the declarations are not read again."""
    collect = _Collector()
    labs = _load_labs(
        _lab_paths(declarations.root, lab_files, False, collect),
        declarations.combinations,
        collect,
        check_references=True,  # the declarations loaded: their combinations resolved
    )
    if collect.problems:
        raise DeclarationError(collect.problems)
    return dataclasses.replace(declarations, labs=labs)


def _lab_paths(
    root: Path, named: Iterable[Path], labs_dir: bool, collect: _Collector
) -> list[Path]:
    """labs/*.yaml (when `labs_dir`), then the lab files named, each file once."""
    found: list[Path] = []
    if labs_dir:
        found, problems = layout.lab_files(root)
        collect.problems += problems
    seen = {os.path.realpath(p) for p in found}  # realpath: a link loop is not an error here
    for path in named:
        if os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            found.append(path)
    return found


def _load_labs(
    paths: Iterable[Path],
    combinations: dict[str, Combination],
    collect: _Collector,
    *,
    check_references: bool,
) -> dict[str, Lab]:
    labs: dict[str, Lab] = {}
    for path in paths:
        doc = collect.document(path)
        spec = collect.whole("lab", doc)
        if doc is None:
            continue
        raw_targets = _mapping(doc.data).get("targets")
        if check_references and isinstance(raw_targets, list):
            collect.problems += references.check_targets(raw_targets, combinations, doc.source)
        name = _mapping(doc.data).get("name") or path.stem
        if spec is not None and spec.name is None and not _is_slug(name):
            collect.problems.append(
                Problem(
                    Mark(doc.source.file, 1, 1),
                    f"lab name '{name}' taken from the file name is not a valid id; set 'name:'",
                )
            )
        elif spec is not None and name in labs:
            collect.problems.append(
                Problem(
                    doc.source.locate(("name",)),
                    f"lab '{name}' is declared twice (also in {display_path(labs[name].path)})",
                )
            )
        elif spec is not None:
            labs[name] = Lab(name, path, spec)
    return labs


_SLUG = TypeAdapter(model.Slug)


def _is_slug(text: str) -> bool:
    return salvage(_SLUG, text) is not None
