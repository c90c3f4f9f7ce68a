"""Tempest's own virtualenv: tempest 47.0.0, the release of the lab's Nova and Keystone, under
the lab's constraints, built once (like the lab's) and never imported by the harness."""

from __future__ import annotations

from pathlib import Path

from harness.lab import virtualenvs
from harness.lab.virtualenvs import Progress, VirtualenvSpec

TEMPEST = VirtualenvSpec(
    name="tempest",
    title="tempest 47.0.0",
    # junitxml: what subunit2junitxml (python-subunit, a Tempest dependency) writes JUnit with
    requirements=("tempest==47.0.0", "junitxml"),
    location_variable="MATRIX_TEMPEST_VENV",
    steps=(("import Tempest", lambda python: [str(python), "-c", "import tempest.config"]),),
)


def ensure(venv: Path | None = None, progress: Progress = lambda _: None) -> Path:
    """Tempest's python, building its virtualenv first if needed."""
    return virtualenvs.ensure(TEMPEST, venv, progress)
