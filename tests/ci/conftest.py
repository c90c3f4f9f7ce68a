"""The CI engines' own tools (scripts/ci-tools.sh installs them once) and generated files."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, Result

TOOLS = REPO / "tests" / "ci" / "tools"


@dataclass(frozen=True)
class Tools:
    zuul_venv: Path

    @property
    def zuul_python(self) -> Path:
        return self.zuul_venv / "bin" / "python"

    @property
    def ansible_playbook(self) -> Path:
        return self.zuul_venv / "bin" / "ansible-playbook"

    @property
    def zuul_actions(self) -> Path:
        """Zuul's own Ansible action plugins (zuul_return), as its executor loads them."""
        found = subprocess.run(
            [str(self.zuul_python), "-c", "import zuul, os; print(os.path.dirname(zuul.__file__))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return Path(found) / "ansible" / "base" / "action"

    @property
    def gitlab_ci_local(self) -> Path:
        return TOOLS / "node_modules" / ".bin" / "gitlab-ci-local"


@pytest.fixture(scope="session")
def tools() -> Tools:
    done = subprocess.run(
        [str(REPO / "scripts" / "ci-tools.sh")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return Tools(Path(done.stdout.strip().splitlines()[-1]))


@pytest.fixture
def generate(
    run: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Path]:
    """`matrix ci ENGINE ARGS... --out DIR` from the repository's root; returns DIR."""

    def invoke(engine: str, *args: str, out: Path | None = None) -> Path:
        out = out or tmp_path / f"{engine}-out"
        monkeypatch.chdir(REPO)
        result = run("ci", engine, *args, "--out", str(out))
        assert result.code == 0, result.err
        return out

    return invoke


def node(*args: str) -> subprocess.CompletedProcess[str]:
    """Node.js in the tools' folder, with the hook that loads the workflow parser's JSON."""
    return subprocess.run(
        ["node", "--import", "./register-json.mjs", *args],
        cwd=TOOLS, capture_output=True, text=True, check=False, env={**os.environ},
    )  # fmt: skip
