"""What `matrix` leaves out on its way to work: pydantic's search of every installed package for
plugins, unless the user asks for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MATRIX = Path(sys.executable).parent / "matrix"


def installed_probe_plugin(root: Path) -> Path:
    """A pydantic plugin installed as a package installs one (an entry point in its
    dist-info), which leaves a file behind when pydantic loads it; that file's path."""
    loaded = root / "loaded"
    (root / "probe_plugin.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(loaded)!r}).touch()\n"
        "class Plugin:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        "        return None, None, None\n"
        "plugin = Plugin()\n"
    )
    dist = root / "probe_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: probe-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pydantic]\nprobe = probe_plugin:plugin\n")
    return loaded


def validate(matrix_dir: Path, root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    return subprocess.run(
        [str(MATRIX), "--matrix", str(matrix_dir), "validate"],
        env={**environment, "PYTHONPATH": str(root), **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_matrix_does_not_search_for_pydantic_plugins(matrix_dir: Path, tmp_path: Path) -> None:
    loaded = installed_probe_plugin(tmp_path)
    done = validate(matrix_dir, tmp_path)
    assert done.returncode == 0, done.stderr
    assert not loaded.exists()


def test_an_empty_pydantic_disable_plugins_has_them_loaded(
    matrix_dir: Path, tmp_path: Path
) -> None:
    loaded = installed_probe_plugin(tmp_path)
    done = validate(matrix_dir, tmp_path, PYDANTIC_DISABLE_PLUGINS="")
    assert done.returncode == 0, done.stderr
    assert loaded.exists()
