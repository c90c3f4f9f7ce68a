"""What a matrix directory holds: the four declaration files, and lab files as labs/*.yaml.

A YAML file anywhere else in it would be silently ignored, so a misspelt `feature.yaml` or a
lab file ending `.yml` would leave a declaration out without a word; each is a problem that
says what is expected instead. Hidden files (an editor's) and other kinds (README.md, the
schemas/ that `matrix schema` writes) are left alone.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from harness.declarations.problems import Mark, Problem, did_you_mean, display_path

FILES = {
    "axes": "axes.yaml",
    "features": "features.yaml",
    "combinations": "combinations.yaml",
    "levels": "levels.yaml",
}
LABS_DIR = "labs"
SUFFIX = ".yaml"
EXPECTED = (
    f"the declarations are {', '.join(list(FILES.values())[:-1])} and {FILES['levels']}, "
    f"and lab files in {LABS_DIR}/"
)


def stray_files(root: Path) -> list[Problem]:
    """YAML files beside the declarations that are none of them."""
    stems = [name.removesuffix(SUFFIX) for name in FILES.values()]
    try:
        found = _yaml_looking(root)
    except OSError:  # not listable: each declaration file, read by name, says why
        return []
    return [
        _stray(path, EXPECTED + did_you_mean(path.stem, stems, SUFFIX))
        for path in found
        if path.name not in FILES.values()
    ]


def lab_files(root: Path) -> tuple[list[Path], list[Problem]]:
    """The lab files in root/labs (none when there is no labs/), and the problems with it:
    labs/ that is not a directory, YAML files there not named *.yaml."""
    labs = root / LABS_DIR
    try:
        if not stat.S_ISDIR(os.stat(labs).st_mode):
            return [], [_problem(labs, f"not a directory: lab files go in {LABS_DIR}/*{SUFFIX}")]
        found = _yaml_looking(labs)
    except FileNotFoundError:
        return [], []
    except OSError as error:  # a link loop, no permission
        return [], [_problem(labs, f"cannot read: {error.strerror or error}")]
    expected = f"lab files are {LABS_DIR}/*{SUFFIX}"
    problems = [
        _stray(path, expected + did_you_mean(path.stem, [path.stem], SUFFIX))
        for path in found
        if path.suffix != SUFFIX
    ]
    return [path for path in found if path.suffix == SUFFIX], problems


def _yaml_looking(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.iterdir()
        if not path.name.startswith(".") and path.suffix.lower() in (SUFFIX, ".yml")
    )


def _stray(path: Path, expected: str) -> Problem:
    return _problem(path, f"not a declaration file: {expected}")


def _problem(path: Path, message: str) -> Problem:
    return Problem(Mark(display_path(path), 1, 1), message)
