"""Which run jobs a CI pipeline has, and what each needs.

A lab file gives one job per target (GitHub and GitLab runners reach the lab's clouds); with no
lab file a job per declared combination deploys its own devstack (Zuul), on two nodes when a
feature that applies there needs a second compute (migrations, evacuate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.declarations.applicability import verdicts
from harness.declarations.matrix import Lab, Matrix
from harness.declarations.problems import unknown
from harness.errors import BadInput

Files = dict[str, str]
"""Relative path -> file content: what an engine's renderer produces."""


@dataclass(frozen=True)
class RunJob:
    """One CI job: one combination, on one lab target or on a devstack of its own."""

    name: str  # the job's name: a slug, unique in the pipeline
    combination: str
    target: str | None  # the lab file's target; None when the job deploys its own cloud
    embedded: bool
    multinode: bool  # a second compute is needed by a feature that applies here


@dataclass(frozen=True)
class Request:
    """What `matrix ci` was asked for."""

    matrix: Matrix
    lab: Lab | None  # None: one devstack per combination (Zuul)
    lab_path: str | None  # the lab file as the repository names it (jobs run from its root)
    embedded_lab: bool  # the lab is the embedded one: jobs start its cells themselves
    features: tuple[str, ...] = ()
    voting: bool = False
    runs_on: str | None = None  # GitHub's runner label
    zuul_web: str = "https://zuul.opendev.org"  # Zuul: where its build pages are

    def jobs(self) -> list[RunJob]:
        return lab_jobs(self.matrix, self.lab) if self.lab else combination_jobs(self.matrix)


def needs_two_computes(matrix: Matrix, combination: str) -> bool:
    """Whether any feature that applies to the combination needs a second compute."""
    chosen = matrix.combinations[combination]
    return any(
        matrix.features[v.feature].requires.computes >= 2
        for v in verdicts(matrix, chosen)
        if v.applicable
    )


def lab_jobs(matrix: Matrix, lab: Lab) -> list[RunJob]:
    """One job per target of the lab file, in the file's order."""
    return [
        RunJob(
            name=f"matrix-{target.target_name}",
            combination=target.combination,
            target=target.target_name,
            embedded=matrix.combinations[target.combination].embedded,
            multinode=needs_two_computes(matrix, target.combination),
        )
        for target in lab.targets
    ]


def combination_jobs(matrix: Matrix, only: Sequence[str] = ()) -> list[RunJob]:
    """One job per declared combination a devstack can deploy (embedded ones are the lab's)."""
    deployable = [c for c in matrix.combinations.values() if not c.embedded]
    for wanted in only:
        if wanted not in {c.id for c in deployable}:
            raise BadInput(unknown("combination", wanted, [c.id for c in deployable]))
    return [
        RunJob(
            name="matrix-" + combination.id.replace("/", "-"),
            combination=combination.id,
            target=None,
            embedded=False,
            multinode=needs_two_computes(matrix, combination.id),
        )
        for combination in deployable
        if not only or combination.id in only
    ]


def repository_path(path: Path, root: Path) -> str:
    """A path as a job in the repository's checkout names it: relative to the root."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise BadInput(
            f"{path}: the lab file must be inside the repository the jobs check out ({root})"
        ) from None
