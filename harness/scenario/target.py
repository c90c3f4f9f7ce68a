"""The target a scenario session runs against: its lab entry, combination and verdicts.

Resolved once per pytest session from --lab and --combination/--target, with the same
checked loading as `matrix validate`, so a scenario never runs on invalid input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.declarations.applicability import Verdict, verdicts
from harness.declarations.loading import load_lab
from harness.declarations.matrix import Combination, Lab, Matrix
from harness.declarations.model import Target
from harness.declarations.problems import unknown
from harness.errors import BadInput
from harness.run.cloud import clouds_yaml_of


class TargetSelectionError(BadInput):
    pass


@dataclass(frozen=True)
class TargetContext:
    matrix: Matrix
    lab: Lab
    target: Target
    combination: Combination
    verdicts: dict[str, Verdict]

    @property
    def clouds_yaml(self) -> Path | None:
        """The lab's clouds.yaml, relative to the lab file; None means the usual places."""
        return clouds_yaml_of(self.lab.path, self.lab.spec.clouds_yaml)


def resolve(
    matrix_dir: Path, lab_file: Path, combination: str | None, target_name: str | None
) -> TargetContext:
    matrix, lab = load_lab(matrix_dir, lab_file)
    targets = lab.targets
    if target_name:
        chosen = [t for t in targets if t.target_name == target_name]
        if not chosen:
            known = [t.target_name for t in targets]
            raise TargetSelectionError(unknown("target", target_name, known) + f" in {lab_file}")
    elif combination:
        chosen = [t for t in targets if t.combination == combination]
        if not chosen:
            ids = [t.combination for t in targets]
            message = unknown("combination", combination, ids)
            raise TargetSelectionError(f"{message} among the targets of {lab_file}")
    else:
        chosen = targets
    if len(chosen) != 1:
        names = ", ".join(t.target_name for t in chosen)
        raise TargetSelectionError(
            f"{lab_file} has several targets ({names}): choose one with --combination or --target"
        )
    (target,) = chosen
    combo = matrix.combinations[target.combination]
    return TargetContext(
        matrix, lab, target, combo, {v.feature: v for v in verdicts(matrix, combo)}
    )
