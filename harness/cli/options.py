"""The options every command shares, as click parameter types, so each is spelt, checked and
explained once: `--feature` and `--axis` (with did-you-mean against the declarations), the
embedded lab's state directory, the history database, the `--at` time, and the places
commands write to (`OutputPath`).

A parameter type checks its value while click parses, against the declarations or the file
system, so a typo or a place nothing can be written to is a usage error (exit 2) before the
command does anything. The declarations are loaded once per invocation
(`Settings.declarations`) however many options need them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from harness.declarations.layout import LABS_DIR
from harness.declarations.loading import load_lab, load_matrix
from harness.declarations.matrix import Lab, Matrix
from harness.declarations.problems import unknown
from harness.history.database import DEFAULT_DB
from harness.lab.state import DEFAULT_DIR as DEFAULT_LAB_DIR
from harness.reading import kind_of
from harness.run.records import in_range

F = TypeVar("F", bound=Callable[..., Any])
EMBEDDED_LAB = "embedded.yaml"


@dataclass
class Settings:
    """What the top-level group knows: where the declarations are and whether to debug."""

    matrix_dir: Path
    debug: bool = False
    _loaded: dict[tuple[tuple[Path, ...], bool], Matrix] = field(default_factory=dict)
    _labs: dict[tuple[Path], tuple[Matrix, Lab]] = field(default_factory=dict)

    def matrix(self, lab_files: Iterable[Path] = (), *, labs_dir: bool = True) -> Matrix:
        """The checked declarations (with these lab files), loaded once per invocation."""
        key = (tuple(lab_files), labs_dir)
        if key not in self._loaded:
            self._loaded[key] = load_matrix(self.matrix_dir, list(key[0]), labs_dir=labs_dir)
        return self._loaded[key]

    def declarations(self) -> Matrix:
        """Axes, features, combinations and policy, without any lab file."""
        return self.matrix(labs_dir=False)

    def lab(self, lab_file: Path) -> tuple[Matrix, Lab]:
        """The declarations with exactly this lab file (not the rest of labs/), and its lab."""
        if (lab_file,) not in self._labs:  # on the declarations, if loaded already (--feature)
            declarations = self._loaded.get(((), False))
            self._labs[(lab_file,)] = load_lab(self.matrix_dir, lab_file, declarations)
        return self._labs[(lab_file,)]

    @property
    def embedded_lab_file(self) -> Path:
        return self.matrix_dir / LABS_DIR / EMBEDDED_LAB


def settings_of(ctx: click.Context | None) -> Settings:
    found = ctx.find_object(Settings) if ctx else None
    return found if found is not None else Settings(Path("matrix"))


class FeatureId(click.ParamType[str]):
    """A declared feature id; a typo gets the nearest one."""

    name = "feature"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        features = settings_of(ctx).declarations().features
        if value not in features:
            self.fail(unknown("feature", value, list(features)), param, ctx)
        return str(value)


class AxisValue(click.ParamType[tuple[str, str]]):
    """AXIS=VALUE naming a declared axis and one of its values."""

    name = "axis=value"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        axis, sep, choice = str(value).partition("=")
        if not sep or not axis or not choice:
            self.fail(f"'{value}': expected AXIS=VALUE", param, ctx)
        axes = settings_of(ctx).declarations().axes
        if axis not in axes:
            self.fail(unknown("axis", axis, list(axes)), param, ctx)
        if choice not in axes[axis]:
            self.fail(unknown(axis, choice, list(axes[axis])), param, ctx)
        return axis, choice


def axis_filter(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """--axis pairs as axis -> accepted values (same axis twice means either value)."""
    wanted: dict[str, set[str]] = {}
    for axis, value in pairs:
        wanted.setdefault(axis, set()).add(value)
    return wanted


class Moment(click.ParamType[datetime]):
    """An ISO 8601 time; without a zone it is UTC. Only the years a record may name are
    accepted (records.in_range): levels judged at any other time would have no evidence."""

    name = "time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"'{value}': expected an ISO 8601 time such as 2026-11-21T12:00:00Z")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        try:
            in_range(moment, str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)
        return moment


class OutputPath(click.Path[Path]):
    """A file or directory a command creates or replaces: refused while the options are read
    when nothing can be written there, rather than after the work meant to fill it."""

    def __init__(self, *, directory: bool) -> None:
        super().__init__(path_type=Path, file_okay=not directory, dir_okay=directory)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = super().convert(value, param, ctx)
        why = unwritable(path)
        if why is not None:
            self.fail(f"{os.fspath(value)!r}: {why}", param, ctx)
        return path


def unwritable(path: Path) -> str | None:
    """Why nothing can be created at `path`, or None. The nearest part of it that exists
    says: it must be a directory (or `path` itself), on a file system mounted read-write,
    writable by this user."""
    for existing in (path, *path.parents):
        try:
            mode = os.stat(existing).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as error:  # a link loop, no permission to look
            return f"{existing}: {error.strerror or error}"
        if existing != path and not stat.S_ISDIR(mode):
            return f"{existing} is {kind_of(mode)}, not a directory"
        if os.statvfs(existing).f_flag & os.ST_RDONLY:
            return f"{existing} is on a read-only file system"
        if not os.access(existing, os.W_OK):
            return f"{existing} is not writable by this user"
        return None
    return None


def feature_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--feature", "features", multiple=True, metavar="FEATURE", type=FeatureId(), help=help
    )


def axis_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--axis", "axes", multiple=True, metavar="AXIS=VALUE", type=AxisValue(), help=help
    )


def scenario_dir_option(flag: str, dest: str) -> Callable[[F], F]:
    """The scenario tests a command runs: they belong to the checkout, like matrix/."""
    return click.option(
        flag,
        dest,
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        default=Path("scenarios"),
        show_default=True,
        help="The scenario tests to run (they belong to the checkout, like matrix/).",
    )


def lab_dir_option(*extra_names: str) -> Callable[[F], F]:
    """Where the embedded lab keeps its state: the same option and variable everywhere."""
    return click.option(
        "--lab-dir",
        *extra_names,
        "lab_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=DEFAULT_LAB_DIR,
        show_default=True,
        envvar="MATRIX_LAB_DIR",
        help="Where the embedded lab keeps pid files, logs, clouds.yaml and its lab file "
        "(or $MATRIX_LAB_DIR).",
    )


def lab_file_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--lab",
        "lab_file",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        help=help,
    )


def db_option(*, writes: bool = False) -> Callable[[F], F]:
    """--db: the SQLite history, for every command that reads or writes it (checked at once
    for somewhere it can be written, when the command `writes` it)."""
    return click.option(
        "--db",
        type=OutputPath(directory=False) if writes else click.Path(path_type=Path, dir_okay=False),
        default=DEFAULT_DB,
        show_default=True,
        help="The SQLite history.",
    )


def history_options(command: F) -> F:
    """--db and --at, shared by every command that reads levels from the history."""
    command = click.option(
        "--at",
        "at",
        metavar="TIME",
        type=Moment(),
        help="Judge as of this ISO 8601 time (default: now, UTC).",
    )(command)
    return db_option()(command)
