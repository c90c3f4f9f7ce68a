"""Virtualenvs the harness runs programs in but never imports from: the lab's (Nova, Keystone)
and Tempest's. Each is built the first time it is needed, keyed by its pins and the Python
version, and reused afterwards; a half-built one is never used.

OpenStack services pin library versions the harness must not share (SQLAlchemy below 2.1,
oslo.*), so they live apart; both environments install under the one constraints file of the
lab's OpenStack release (harness/lab/constraints.txt), so Tempest tests the release the lab
runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import Failure

CONSTRAINTS = Path(__file__).parent / "constraints.txt"
READY_MARKER = "lab-environment-ready"
Progress = Callable[[str], None]
Step = tuple[str, Callable[[Path], Sequence[str]]]
"""After the install: what it does (for errors) and its command, given the venv's python."""


class EnvironmentBuildError(Failure):
    """A virtualenv could not be built; the message carries the failing command's last words."""


@dataclass(frozen=True)
class VirtualenvSpec:
    name: str  # "lab", "tempest": the cache directory's prefix
    title: str  # what progress says it installs
    requirements: tuple[str, ...]
    location_variable: str  # an environment variable that names the location instead
    steps: tuple[Step, ...] = field(default=())

    def key(self) -> str:
        digest = hashlib.sha256()
        digest.update(CONSTRAINTS.read_bytes())
        digest.update("\n".join(self.requirements).encode())
        digest.update(sys.version.split()[0].encode())
        return digest.hexdigest()[:12]

    def default_location(self) -> Path:
        """$<location_variable>, else a per-user cache shared by every checkout."""
        if explicit := os.environ.get(self.location_variable):
            return Path(explicit)
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "matrix-harness" / f"{self.name}-venv-{self.key()}"

    def is_ready(self, venv: Path) -> bool:
        marker = venv / READY_MARKER
        return marker.is_file() and marker.read_text().strip() == self.key()


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure(spec: VirtualenvSpec, venv: Path | None = None, progress: Progress = print) -> Path:
    """The environment's python, building the virtualenv first if needed."""
    venv = venv or spec.default_location()
    if spec.is_ready(venv):
        return python_of(venv)
    progress(f"building the {spec.name} environment in {venv} (once; about a minute)")
    partial = venv.with_name(f"{venv.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        run([sys.executable, "-m", "venv", str(partial)], "create the virtualenv")
        python = python_of(partial)
        progress(f"installing {spec.title} (pinned by {CONSTRAINTS.name})")
        run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
             "-c", str(CONSTRAINTS), *spec.requirements],
            f"install the {spec.name} packages",
        )  # fmt: skip
        for what, command in spec.steps:
            progress(what)
            run(command(python), what)
        (partial / READY_MARKER).write_text(spec.key() + "\n")
        try:
            partial.rename(venv)
        except OSError:
            if not spec.is_ready(venv):  # another process finished first: keep theirs
                shutil.rmtree(venv, ignore_errors=True)
                partial.rename(venv)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _fix_paths(venv, partial)
    progress(f"{spec.name} environment ready")
    return python_of(venv)


def _fix_paths(venv: Path, built_at: Path) -> None:
    """A venv remembers where it was built; programs here run through `python -m`, but the
    interpreter's pyvenv.cfg and activate scripts name the old path. Rewrite them."""
    for name in ("pyvenv.cfg", "bin/activate"):
        path = venv / name
        if path.is_file():
            path.write_text(path.read_text().replace(str(built_at), str(venv)))


def run(command: Sequence[str], what: str) -> None:
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise EnvironmentBuildError(f"could not {what} (exit {done.returncode}):\n{tail}")
