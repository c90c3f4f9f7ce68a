"""The embedded lab's own virtualenv: real Nova and Keystone from PyPI, every package pinned.

Nova and its test fixtures pin library versions the harness must not share (SQLAlchemy below
2.1, oslo.*), so the lab lives in a separate virtualenv and the harness only ever starts
processes in it. It is built the first time it is needed, keyed by the constraints file and
the Python version, and reused afterwards; a half-built one is never used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harness.errors import Failure

HERE = Path(__file__).parent
CONSTRAINTS = HERE / "constraints.txt"
CELL_SERVER = HERE / "cell" / "server.py"
KEYSTONE_SERVER = HERE / "identity" / "server.py"
KEYSTONE_SEED = "keystone-seed"  # in the virtualenv: Keystone's schema, made once

REQUIREMENTS = (
    "nova==34.0.0",
    "openstack-placement==16.0.0",
    "keystone==30.0.0",
    # Nova's functional fixtures import these test libraries; the nova wheel does not
    # require them.
    "fixtures",
    "testtools",
    "oslotest",
    "wsgi-intercept",
)
READY_MARKER = "lab-environment-ready"
LIBVIRT_BINDING = "libvirt-python"  # pinned in constraints.txt

Progress = Callable[[str], None]


class LabEnvironmentError(Failure):
    """The lab virtualenv could not be built; the message carries pip's last words."""


def _key() -> str:
    digest = hashlib.sha256()
    digest.update(CONSTRAINTS.read_bytes())
    digest.update("\n".join(REQUIREMENTS).encode())
    digest.update(sys.version.split()[0].encode())
    return digest.hexdigest()[:12]


def default_location() -> Path:
    """$MATRIX_LAB_VENV, else a per-user cache shared by every checkout with the same pins."""
    if explicit := os.environ.get("MATRIX_LAB_VENV"):
        return Path(explicit)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "matrix-harness" / f"lab-venv-{_key()}"


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def is_ready(venv: Path) -> bool:
    marker = venv / READY_MARKER
    return marker.is_file() and marker.read_text().strip() == _key()


def ensure(venv: Path | None = None, progress: Progress = lambda _: None) -> Path:
    """Return the lab's python, building the virtualenv first if needed."""
    venv = venv or default_location()
    if is_ready(venv):
        return python_of(venv)
    progress(f"building the lab environment in {venv} (once; about a minute)")
    partial = venv.with_name(f"{venv.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        _run([sys.executable, "-m", "venv", str(partial)], "create the virtualenv")
        pip = [str(python_of(partial)), "-m", "pip", "install", "--disable-pip-version-check"]
        progress("installing nova 34.0.0 and its pinned dependencies")
        _run([*pip, "--quiet", "-c", str(CONSTRAINTS), *REQUIREMENTS], "install the lab packages")
        _run(
            [str(python_of(partial)), "-c", "import nova.tests.functional.integrated_helpers"],
            "import Nova's functional fixtures",
        )
        progress("making Keystone's seed database")
        _run(
            [str(python_of(partial)), str(KEYSTONE_SERVER), "--make-seed",
             str(partial / KEYSTONE_SEED)],
            "make Keystone's seed database",
        )  # fmt: skip
        (partial / READY_MARKER).write_text(_key() + "\n")
        try:
            partial.rename(venv)
        except OSError:
            if not is_ready(venv):  # another process finished first: keep theirs
                shutil.rmtree(venv, ignore_errors=True)
                partial.rename(venv)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _fix_paths(venv, partial)
    progress("lab environment ready")
    return python_of(venv)


def keystone_seed(python: Path) -> Path:
    """The seed database of the virtualenv `python` belongs to."""
    return python.parent.parent / KEYSTONE_SEED


def ensure_libvirt_binding(python: Path, progress: Progress = lambda _: None) -> None:
    """libvirt-python in the lab's virtualenv, for cells on the real libvirt driver. It is
    built from source against the machine's libvirt (libvirt-dev, pkg-config, a compiler),
    so it is installed only when such a cell is wanted."""
    probe = subprocess.run([str(python), "-c", "import libvirt"], capture_output=True)
    if probe.returncode == 0:
        return
    progress("building libvirt-python in the lab environment (once)")
    _run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
         "-c", str(CONSTRAINTS), LIBVIRT_BINDING],
        "build libvirt-python (needs libvirt-dev, pkg-config and gcc: "
        "scripts/system-packages.sh)",
    )  # fmt: skip


def _fix_paths(venv: Path, built_at: Path) -> None:
    """A venv remembers where it was built; scripts we use run through `python -m`, but the
    interpreter's pyvenv.cfg and activate scripts name the old path. Rewrite them."""
    for name in ("pyvenv.cfg", "bin/activate"):
        path = venv / name
        if path.is_file():
            path.write_text(path.read_text().replace(str(built_at), str(venv)))


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise LabEnvironmentError(f"could not {what} (exit {done.returncode}):\n{tail}")
