"""The harness's pytest plugin (registered through the `pytest11` entry point).

For now it gives tests the checked declarations; the scenario fixtures (cloud, target,
hosts, cleanup) build on it. A broken matrix stops the session with the located problems
instead of failing every test that uses it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.loading import load_matrix
from harness.matrix import Matrix
from harness.problems import DeclarationError


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("matrix", "feature-support matrix")
    group.addoption(
        "--matrix-dir",
        default=os.environ.get("MATRIX_DIR", "matrix"),
        help="directory of matrix declarations (default: $MATRIX_DIR or ./matrix)",
    )


@pytest.fixture(scope="session")
def matrix(pytestconfig: pytest.Config) -> Matrix:
    """The declarations, loaded and checked once per session."""
    root = Path(pytestconfig.getoption("matrix_dir"))
    try:
        return load_matrix(root)
    except DeclarationError as error:
        message = f"invalid matrix declarations in {root}:\n{error}"
        pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)
