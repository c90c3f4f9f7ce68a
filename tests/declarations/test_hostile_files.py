"""Declaration files that are not what they seem: each is a located problem, exit 2, read in
bounded time and memory (docs/security.md: what declaration reading checks)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, edit

MATRIX = Path(sys.executable).parent / "matrix"


def contained(*args: str) -> subprocess.CompletedProcess[str]:
    """`matrix ARGS` in a process of its own, killed after 60 s and held to 1 GiB of address
    space: what would hang or read without end fails the test instead of the machine."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [str(MATRIX), *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_memory,
        check=False,
    )


def test_a_5000_digit_integer_is_a_located_problem(run: Callable[..., Result], small: Path) -> None:
    features = small / "features.yaml"
    edit(
        features,
        "  requires: {computes: 2}\nblock",
        f"  requires: {{computes: {'9' * 5000}}}\nblock",
    )
    result = run("--matrix", str(small), "validate")
    assert result.code == 2, result.err
    assert result.err.splitlines() == [
        f"{features}:5:24: a number written with 5000 characters is too long (at most 100); "
        "quote it if it is text",
        "1 problem in 1 file",
    ]


def test_a_symlink_loop_is_a_located_problem(run: Callable[..., Result], small: Path) -> None:
    axes = small / "axes.yaml"
    axes.unlink()
    axes.symlink_to("axes.yaml")
    result = run("--matrix", str(small), "validate")
    assert result.code == 2, result.err
    assert f"{axes}:1:1: cannot read: Too many levels of symbolic links" in result.err.splitlines()


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: os.mkfifo(path), "a FIFO"),
        (lambda path: path.symlink_to("/dev/zero"), "a character device"),
        (lambda path: path.mkdir(), "a directory"),
    ],
    ids=["fifo", "dev-zero", "directory"],
)
def test_what_is_not_a_regular_file_is_refused_before_it_is_read(
    small: Path, make: Callable[[Path], None], kind: str
) -> None:
    levels = small / "levels.yaml"
    levels.unlink()
    make(levels)
    done = contained("--matrix", str(small), "validate")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"{levels}:1:1: cannot read: not a regular file ({kind})",
        "1 problem in 1 file",
    ]


def test_a_file_over_the_bound_is_refused_saying_the_bound(
    run: Callable[..., Result], small: Path
) -> None:
    axes = small / "axes.yaml"
    with axes.open("a") as grown:
        grown.write("#" * (1 << 20) + "\n")  # the bound is 1 MiB
    result = run("--matrix", str(small), "validate")
    assert result.code == 2, result.err
    assert result.err.splitlines()[0] == (
        f"{axes}:1:1: cannot read: larger than 1 MiB, the most a declaration file may hold"
    )


def test_labs_as_a_regular_file_is_a_problem_not_zero_labs(
    run: Callable[..., Result], small: Path
) -> None:
    labs = small / "labs"
    for lab in labs.iterdir():
        lab.unlink()
    labs.rmdir()
    labs.write_text("targets: []\n")
    result = run("--matrix", str(small), "validate")
    assert result.code == 2, result.out
    assert result.err.splitlines() == [
        f"{labs}:1:1: not a directory: lab files go in labs/*.yaml",
        "1 problem in 1 file",
    ]


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("zz-extra.yaml", ""),
        ("feature.yaml", "; did you mean 'features.yaml'?"),
        ("levels.yml", "; did you mean 'levels.yaml'?"),
        ("labs/small.yml", "; did you mean 'small.yaml'?"),
    ],
)
def test_a_stray_or_misspelt_file_is_named_with_what_is_expected(
    run: Callable[..., Result], small: Path, name: str, hint: str
) -> None:
    (small / name).write_text("a: 1\n")
    result = run("--matrix", str(small), "validate")
    assert result.code == 2, result.out
    expected = (
        "lab files are labs/*.yaml"
        if name.startswith("labs/")
        else "the declarations are axes.yaml, features.yaml, combinations.yaml and levels.yaml, "
        "and lab files in labs/"
    )
    assert result.err.splitlines() == [
        f"{small / name}:1:1: not a declaration file: {expected}{hint}",
        "1 problem in 1 file",
    ]


def test_hidden_files_and_other_kinds_of_file_beside_the_declarations_are_left_alone(
    run: Callable[..., Result], small: Path
) -> None:
    (small / ".#axes.yaml").symlink_to("root@host.1234")  # an editor's lock, dangling
    (small / "README.md").write_text("notes\n")
    (small / "schemas").mkdir()
    result = run("--matrix", str(small), "validate")
    assert result.code == 0, result.err
