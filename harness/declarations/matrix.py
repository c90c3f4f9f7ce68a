"""The resolved declarations that the rest of the harness works from.

Files are validated into `harness.declarations.model` objects; `harness.declarations.loading`
resolves references between them (combination ids, which axis values they name) into these
plain objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.declarations.model import AxisValue, Feature, LabFile, LevelPolicy, Target

COMBINATION_SEPARATOR = "/"


@dataclass(frozen=True)
class Combination:
    """One value per axis. Embedded combinations are the embedded lab's fake-driver cells."""

    id: str
    values: Mapping[str, str]  # axis id -> value id, in axis order
    title: str | None = None
    description: str | None = None
    reference: str | None = None  # the CI job it is modelled on
    embedded: bool = False


@dataclass(frozen=True)
class Lab:
    name: str
    path: Path
    spec: LabFile

    @property
    def targets(self) -> list[Target]:
        return self.spec.targets


@dataclass
class Matrix:
    root: Path
    axes: dict[str, dict[str, AxisValue]]
    features: dict[str, Feature]
    combinations: dict[str, Combination]
    policy: LevelPolicy | None = None
    labs: dict[str, Lab] = field(default_factory=dict)

    def value(self, axis: str, value_id: str) -> AxisValue:
        return self.axes[axis][value_id]

    def combination_id(self, values: Mapping[str, str]) -> str:
        return COMBINATION_SEPARATOR.join(values[axis] for axis in self.axes)
