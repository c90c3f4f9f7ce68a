"""Which features apply to a combination, which are not applicable by design and why.

A `when` condition maps axes to a value id, a list of value ids, or attributes that the
combination's value on that axis must carry; every axis named must match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.declarations.matrix import Combination, Matrix
from harness.declarations.model import Feature, Flag, Scalar

Condition = Mapping[str, str | list[str] | dict[str, Scalar]]


@dataclass(frozen=True)
class Verdict:
    feature: str
    applicable: bool
    why: str | None = None  # the declared reason when not applicable
    flags: tuple[Flag, ...] = ()  # known bugs that match this combination


def matches(matrix: Matrix, condition: Condition, combination: Combination) -> bool:
    for axis, selector in condition.items():
        chosen = combination.values.get(axis)
        if chosen is None:
            return False
        if isinstance(selector, str):
            if chosen != selector:
                return False
        elif isinstance(selector, list):
            if chosen not in selector:
                return False
        else:
            attributes = matrix.value(axis, chosen).attributes
            if not all(_same(attributes.get(name), want) for name, want in selector.items()):
                return False
    return True


def _same(have: Scalar | None, want: Scalar) -> bool:
    """YAML's true is not 1: compare type and value."""
    return type(have) is type(want) and have == want


def verdict(matrix: Matrix, feature_id: str, feature: Feature, combination: Combination) -> Verdict:
    flags = tuple(f for f in feature.flagged if matches(matrix, f.when, combination))
    for rule in feature.not_applicable:
        if matches(matrix, rule.when, combination):
            return Verdict(feature_id, False, rule.why, flags)
    return Verdict(feature_id, True, None, flags)


def verdicts(matrix: Matrix, combination: Combination) -> list[Verdict]:
    """Every declared feature's verdict for one combination, in declaration order."""
    return [verdict(matrix, fid, f, combination) for fid, f in matrix.features.items()]
