"""The embedded lab's own virtualenv: real Nova and Keystone from PyPI, every package pinned.

Nova and its test fixtures pin library versions the harness must not share (SQLAlchemy below
2.1, oslo.*), so the lab lives in a separate virtualenv (virtualenvs.py) and the harness only
ever starts processes in it. Building it also makes Keystone's seed database.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.lab import virtualenvs
from harness.lab.virtualenvs import CONSTRAINTS, Progress, VirtualenvSpec, python_of

HERE = Path(__file__).parent
CELL_SERVER = HERE / "cell" / "server.py"
CELL_LAUNCHER = HERE / "cell" / "launcher.py"  # forks the cells (server.py's) it is given
KEYSTONE_SERVER = HERE / "identity" / "server.py"
KEYSTONE_SEED = "keystone-seed"  # in the virtualenv: Keystone's schema, made once
LIBVIRT_BINDING = "libvirt-python"  # pinned in constraints.txt

LAB = VirtualenvSpec(
    name="lab",
    title="nova 34.0.0 and keystone 30.0.0",
    requirements=(
        "nova==34.0.0",
        "openstack-placement==16.0.0",
        "keystone==30.0.0",
        # Nova's functional fixtures import these test libraries; the nova wheel does not
        # require them.
        "fixtures",
        "testtools",
        "oslotest",
        "wsgi-intercept",
    ),
    location_variable="MATRIX_LAB_VENV",
    steps=(
        (
            "import Nova's functional fixtures",
            lambda python: [str(python), "-c", "import nova.tests.functional.integrated_helpers"],
        ),
        (
            "make Keystone's seed database",
            lambda python: [
                str(python),
                str(KEYSTONE_SERVER),
                "--make-seed",
                str(keystone_seed(python)),
            ],
        ),
    ),
)


def seed_of(python: Path) -> str:
    return str(keystone_seed(python))


def ensure(venv: Path | None = None, progress: Progress = lambda _: None) -> Path:
    """Return the lab's python, building the virtualenv first if needed."""
    return virtualenvs.ensure(LAB, venv, progress)


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
    virtualenvs.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
         "-c", str(CONSTRAINTS), LIBVIRT_BINDING],
        "build libvirt-python (needs libvirt-dev, pkg-config and gcc: "
        "scripts/system-packages.sh)",
    )  # fmt: skip


__all__ = [
    "CELL_LAUNCHER",
    "CELL_SERVER",
    "KEYSTONE_SERVER",
    "LAB",
    "ensure",
    "keystone_seed",
    "python_of",
]
