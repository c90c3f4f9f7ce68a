"""`matrix run` interrupted the ways CI engines and shells do it: SIGTERM (a cancelled job),
and SIGINT to a run whose parent started it with SIGINT ignored (a shell's background job).
Either way the scenario's cleanup runs, the run is recorded as interrupted, and the command
exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.run.records import read_header, read_results
from tests.conftest import hostless_lab

SLOW = """
import time, pytest
from pathlib import Path

@pytest.mark.feature("live-snapshot")
def test_first(): pass

@pytest.mark.feature("live-snapshot")
def test_slow(cleanup):
    cleanup.add("note the cleanup", lambda: Path({marker!r}).write_text("cleaned"))
    Path({started!r}).write_text("started")
    time.sleep(120)
"""


@pytest.mark.parametrize(
    ("how", "ignore_sigint"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["sigterm", "sigint-ignored-by-the-parent"],
)
def test_an_interrupted_run_cleans_up_and_is_recorded(
    small: Path, tmp_path: Path, how: int, ignore_sigint: bool
) -> None:
    lab = hostless_lab(tmp_path)
    marker, started = tmp_path / "cleaned", tmp_path / "started"
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "test_it.py").write_text(
        SLOW.format(marker=str(marker), started=str(started))
    )
    command = [
        str(Path(sys.executable).parent / "matrix"), "--matrix", str(small), "run",
        "--lab", str(lab), "--out", str(tmp_path / "out"),
        "--scenarios", str(tmp_path / "scenarios"),
    ]  # fmt: skip

    def ignoring_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    run = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ignoring_sigint if ignore_sigint else None,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        os.kill(run.pid, how)
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()  # only if it failed to stop: its scenario then ends within 120 s
    assert run.returncode == 130, out + err
    assert marker.read_text() == "cleaned"
    [run_dir] = (tmp_path / "out" / "runs").iterdir()
    assert read_header(run_dir).status == "interrupted"
    assert [r.outcome for r in read_results(run_dir)][:1] == ["passed"]  # what finished is kept
