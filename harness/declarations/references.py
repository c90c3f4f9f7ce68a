"""Rules that span files: references to axes, values, attributes, criteria and combinations.

The schema (`harness.declarations.model`) has already checked each file's shape; these checks
run on the entries that passed it, so one bad entry does not hide mistakes in the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter

from harness.declarations import model
from harness.declarations.diagnostics import salvage
from harness.declarations.expansion import expand
from harness.declarations.matrix import COMBINATION_SEPARATOR, Combination
from harness.declarations.problems import Mark, Problem, did_you_mean, human_path, unknown
from harness.declarations.yamlsource import PathKey, SourceMap
from harness.devstack.settings import conflicts

Axes = Mapping[str, Mapping[str, model.AxisValue]]
MAX_PRODUCT = 100_000
"""Far beyond any real lab; stops a mistaken product from hanging validation."""


class Reporter:
    """Collects problems located in one file."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def at(self, path: PathKey, message: str, *, key: bool = False) -> None:
        where = human_path(path[:-1] if key else path)
        text = f"{where}: {message}" if where else message
        self.problems.append(Problem(self.source.locate(path, key=key), text))

    def mark(self, path: PathKey, *, key: bool = False) -> Mark:
        return self.source.locate(path, key=key)


# --- features --------------------------------------------------------------------------------


def check_features(features: Mapping[Any, Any], axes: Axes, source: SourceMap) -> list[Problem]:
    """Check the `when` rules of every feature, including features with other problems."""
    report = Reporter(source)
    for fid, raw in features.items():
        for section in ("not_applicable", "flagged"):
            for i, rule in enumerate(_list(_get(raw, section))):
                condition = salvage(_CONDITION, _get(rule, "when"))
                if condition is not None:
                    check_condition(condition, axes, report, (fid, section, i, "when"))
    return report.problems


_CONDITION: TypeAdapter[dict[str, Any]] = TypeAdapter(model.Condition)


def _get(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else None


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


def check_condition(
    condition: Mapping[str, Any], axes: Axes, report: Reporter, path: PathKey
) -> None:
    for axis, selector in condition.items():
        if axis not in axes:
            report.at((*path, axis), unknown("axis", axis, list(axes)), key=True)
            continue
        if isinstance(selector, str):
            _check_value(axis, selector, axes, report, (*path, axis))
        elif isinstance(selector, list):
            for i, value in enumerate(selector):
                _check_value(axis, value, axes, report, (*path, axis, i))
        else:
            known = sorted({a for v in axes[axis].values() for a in v.attributes})
            for name in selector:
                if name not in known:
                    report.at(
                        (*path, axis, name), unknown(f"{axis} attribute", name, known), key=True
                    )


def _check_value(axis: str, value: str, axes: Axes, report: Reporter, path: PathKey) -> bool:
    if value in axes[axis]:
        return True
    report.at(path, unknown(axis, value, list(axes[axis])))
    return False


# --- combinations ----------------------------------------------------------------------------


def resolve_combinations(
    spec: model.CombinationsFile, axes: Axes, source: SourceMap
) -> tuple[dict[str, Combination], list[Problem]]:
    """Expand product/exclude/include and the explicit entries into checked combinations."""
    report = Reporter(source)
    sound = True
    for axis, values in spec.product.items():
        if axis not in axes:
            report.at(("product", axis), unknown("axis", axis, list(axes)), key=True)
            sound = False
            continue
        for i, value in enumerate(values):
            sound &= _check_value(axis, value, axes, report, ("product", axis, i))
    for i, rule in enumerate(spec.exclude):
        sound &= _check_entry(rule, axes, report, ("exclude", i), extras=())
    for i, entry in enumerate(spec.include):
        sound &= _check_entry(entry, axes, report, ("include", i), extras=model.COMBINATION_EXTRAS)
    if not sound:
        return {}, report.problems  # expanding unknown values would only echo the mistakes
    size = math.prod(len(values) for values in spec.product.values()) if spec.product else 0
    if size > MAX_PRODUCT:
        report.at(
            ("product",), f"product makes {size:,} combinations; the limit is {MAX_PRODUCT:,}"
        )
        return {}, report.problems

    expansion = expand(spec.product, spec.exclude, spec.include)
    for i in expansion.unused_excludes:
        report.at(("exclude", i), "exclude entry matches no combination of the product")

    found: dict[str, Combination] = {}
    first_seen: dict[str, str] = {}
    incomplete_product: set[str] = set()
    for expanded in expansion.combinations:
        where: PathKey = ("include", expanded.origin[1]) if expanded.origin else ("product",)
        missing = [a for a in axes if a not in expanded.values]
        if missing and not expanded.origin:
            incomplete_product.update(missing)
            continue
        _add(expanded.values, missing, axes, report, where, found, first_seen)
    if incomplete_product:
        names = ", ".join(f"'{a}'" for a in axes if a in incomplete_product)
        report.at(
            ("product",) if spec.product else (),
            f"combinations from the product have no value for axis {names}: "
            "add it to product, or give it in an include entry",
        )

    for i, explicit in enumerate(spec.combinations):
        where = ("combinations", i)
        if isinstance(explicit, str):
            parsed = _parse_id(explicit, axes, report, where)
        elif _check_entry(explicit, axes, report, where, extras=model.COMBINATION_EXTRAS):
            parsed = dict(explicit)
        else:
            parsed = None
        if parsed is not None:
            missing = [a for a in axes if a not in parsed]
            _add(parsed, missing, axes, report, where, found, first_seen)
    return found, report.problems


def _check_entry(
    entry: Mapping[str, str], axes: Axes, report: Reporter, path: PathKey, extras: tuple[str, ...]
) -> bool:
    sound = True
    for key, value in entry.items():
        if key in extras:
            continue
        if key not in axes:
            choices = [*axes, *extras]
            hint = did_you_mean(key, choices) or f"; expected an axis ({', '.join(axes)})" + (
                f" or one of {', '.join(extras)}" if extras else ""
            )
            report.at((*path, key), f"unknown key '{key}'{hint}", key=True)
            sound = False
        else:
            sound &= _check_value(key, value, axes, report, (*path, key))
    return sound


def _parse_id(text: str, axes: Axes, report: Reporter, path: PathKey) -> dict[str, str] | None:
    parts = text.split(COMBINATION_SEPARATOR)
    if len(parts) != len(axes):
        report.at(
            path,
            f"combination id '{text}' has {len(parts)} part(s); expected one value per axis: "
            + COMBINATION_SEPARATOR.join(axes),
        )
        return None
    values = dict(zip(axes, parts, strict=True))
    sound = True
    for axis, value in values.items():
        sound &= _check_value(axis, value, axes, report, path)
    return values if sound else None


def _add(
    values: Mapping[str, str],
    missing: list[str],
    axes: Axes,
    report: Reporter,
    where: PathKey,
    found: dict[str, Combination],
    first_seen: dict[str, str],
) -> None:
    if missing:
        report.at(where, f"combination has no value for axis {', '.join(repr(a) for a in missing)}")
        return
    cid = COMBINATION_SEPARATOR.join(values[a] for a in axes)
    here = _describe_origin(where, report)
    if cid in found:
        report.at(where, f"combination '{cid}' is produced twice (first by {first_seen[cid]})")
        return
    embedded = {axis: axes[axis][values[axis]].embedded for axis in axes}
    if len(set(embedded.values())) > 1:
        fakes = [values[a] for a, e in embedded.items() if e]
        report.at(
            where,
            f"combination '{cid}' mixes embedded-lab values ({', '.join(fakes)}) with real ones; "
            "embedded evidence must never stand for a real deployment",
        )
        return
    _check_devstack(cid, values, axes, report, where)
    first_seen[cid] = here
    found[cid] = Combination(
        id=cid,
        values={a: values[a] for a in axes},
        title=values.get("title"),
        description=values.get("description"),
        reference=values.get("reference"),
        embedded=all(embedded.values()),
    )


def _check_devstack(
    cid: str, values: Mapping[str, str], axes: Axes, report: Reporter, where: PathKey
) -> None:
    """One problem for a combination whose values set a devstack setting differently: its
    local.conf would deploy something one of them does not describe."""
    found = conflicts({f"{a}/{values[a]}": axes[a][values[a]].devstack for a in axes})
    if found:
        named = f"combination '{cid}': " if where == ("product",) else ""
        report.at(where, named + "; ".join(str(c) for c in found))


def _describe_origin(where: PathKey, report: Reporter) -> str:
    line = report.mark(where).line
    if where == ("product",):
        return f"the product at line {line}"
    kind = "include" if where[0] == "include" else "explicit"
    return f"the {kind} entry at line {line}"


# --- level policy ------------------------------------------------------------------------------


def check_policy(policy: model.LevelPolicy, source: SourceMap) -> list[Problem]:
    report = Reporter(source)
    for cid, criterion in policy.criteria.items():
        takes = model.CRITERION_PARAMETERS[cid]
        for param in ("window_days", "min_runs", "min_pass_rate", "min_labs"):
            given = getattr(criterion, param) is not None
            if given and param not in takes:
                report.at(
                    ("criteria", cid, param),
                    f"criterion '{cid}' takes no '{param}'"
                    + (f"; it takes {', '.join(takes)}" if takes else ""),
                    key=True,
                )
            elif not given and param in takes:
                report.at(("criteria", cid), f"criterion '{cid}' needs '{param}'")
    total = sum(c.weight for c in policy.criteria.values())
    seen: dict[str, int] = {}
    for i, level in enumerate(policy.ladder):
        if level.id in model.RESERVED_LEVEL_IDS:
            report.at(("ladder", i, "id"), f"'{level.id}' is computed, not declared in the ladder")
        elif level.id in seen:
            report.at(("ladder", i, "id"), f"level '{level.id}' is declared twice")
        seen.setdefault(level.id, i)
        for j, need in enumerate(level.needs):
            if need not in policy.criteria:
                report.at(
                    ("ladder", i, "needs", j),
                    unknown("criterion", need, list(policy.criteria))
                    + " (declare it under criteria)",
                )
        if level.min_score is not None and level.min_score > total:
            report.at(
                ("ladder", i, "min_score"),
                f"min_score {level.min_score} can never be reached: "
                f"the criteria weigh {total} in all",
            )
    return report.problems


# --- labs ------------------------------------------------------------------------------------


def check_targets(
    targets: list[Any], combinations: Mapping[str, Combination], source: SourceMap
) -> list[Problem]:
    """Check names and combination references of a lab's targets, as written (raw)."""
    report = Reporter(source)
    names: dict[str, int] = {}
    for i, raw in enumerate(targets):
        path = ("targets", i)
        combination_id = _get(raw, "combination")
        if not isinstance(combination_id, str):
            continue
        name = _get(raw, "name")
        name = name if isinstance(name, str) else combination_id.replace("/", "-")
        if name in names:
            first = report.mark(("targets", names[name])).line
            where = (*path, "name") if _get(raw, "name") else path
            report.at(where, f"target name '{name}' is used twice (first at line {first})")
        names.setdefault(name, i)
        combination = combinations.get(combination_id)
        if combination is None:
            report.at(
                (*path, "combination"), unknown("combination", combination_id, list(combinations))
            )
            continue
        kind = _get(_get(raw, "provenance"), "kind") or "manual"
        if combination.embedded and kind != "embedded":
            report.at(
                (*path, "provenance"),
                f"'{combination.id}' is an embedded-lab combination: "
                "provenance kind must be 'embedded'",
            )
        elif kind == "embedded" and not combination.embedded:
            report.at(
                (*path, "provenance", "kind"),
                f"'{combination.id}' is a real combination: "
                "provenance kind 'embedded' is only for the embedded lab",
            )
    return report.problems
