"""Which cells a lab file asks for, and what each must emulate.

A cell realises one embedded combination. What it emulates comes from the attributes of the
combination's values, so the declarations stay the single source of truth: a value with
`live_migration: false` gives computes without live migration, a value with `shared: true`
gives shared instance storage (Nova then refuses block migration, as it does for real).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.declarations.matrix import Combination, Lab, Matrix
from harness.declarations.model import Target
from harness.declarations.problems import unknown
from harness.errors import BadInput

REQUIRED_ATTRIBUTES = ("live_migration", "shared")


class LabConfigError(BadInput):
    """The lab file or the declarations cannot describe an embedded cell."""


@dataclass(frozen=True)
class CellSpec:
    name: str
    combination: str
    cloud: str
    hosts: tuple[str, ...]
    live_migration: bool
    shared_storage: bool
    target: Target
    driver: str = "fake"  # or "libvirt": Nova's real driver on the lab's own libvirtd

    @property
    def real_hypervisor(self) -> bool:
        return self.driver == "libvirt"


def attribute(matrix: Matrix, combination: Combination, name: str) -> bool:
    """The boolean attribute `name` from whichever of the combination's values carries it."""
    for axis, value_id in combination.values.items():
        value = matrix.value(axis, value_id).attributes.get(name)
        if isinstance(value, bool):
            return value
    raise LabConfigError(
        f"no value of embedded combination '{combination.id}' says '{name}: true|false'; "
        "the embedded lab needs it to know what to emulate"
    )


def lab_driver(matrix: Matrix, combination: Combination) -> str:
    """Which driver a cell of this combination runs: a value's `lab_driver`, else fake."""
    for axis, value_id in combination.values.items():
        value = matrix.value(axis, value_id).attributes.get("lab_driver")
        if isinstance(value, str):
            if value not in LAB_DRIVERS:
                raise LabConfigError(
                    f"'{axis}/{value_id}' says lab_driver: {value}; the lab runs "
                    + " or ".join(LAB_DRIVERS)
                )
            return value
    return "fake"


LAB_DRIVERS = ("fake", "libvirt")


def cells_from(matrix: Matrix, lab: Lab, computes: int = 2) -> list[CellSpec]:
    if computes < 1:
        raise LabConfigError("a cell needs at least one compute host")
    cells = []
    for target in lab.targets:
        combination = matrix.combinations[target.combination]
        if not combination.embedded:
            raise LabConfigError(
                f"target '{target.target_name}' in {lab.path} is '{combination.id}', which is not "
                "an embedded combination; the embedded lab can only emulate embedded ones"
            )
        driver = lab_driver(matrix, combination)
        # The computes of a libvirt cell are in one process, so they share one instances_path
        # (Nova reads it at any time): two on shared storage, one on local.
        shared = attribute(matrix, combination, "shared")
        hosts = 1 if driver == "libvirt" and not shared else computes
        cells.append(
            CellSpec(
                name=target.target_name,
                combination=combination.id,
                cloud=target.cloud,
                hosts=tuple(f"host{i}" for i in range(1, hosts + 1)),
                live_migration=attribute(matrix, combination, "live_migration"),
                shared_storage=shared,
                target=target,
                driver=driver,
            )
        )
    return cells


def select(cells: list[CellSpec], names: tuple[str, ...]) -> list[CellSpec]:
    """The cells named (all when none are), or an error naming the unknown one."""
    if not names:
        return cells
    known = {c.name: c for c in cells}
    for name in names:
        if name not in known:
            raise LabConfigError(unknown("cell", name, list(known)))
    return [known[name] for name in names]
