"""Boot time and resident memory of each embedded-lab cell.

Starts every cell of the shipped embedded lab once on its own (so each boots on an idle
machine), measures the wall time from starting the process until it answers over HTTP and
its resident memory once ready, then stops it. The lab virtualenv is built first if needed
(not counted). Aim: under 5 s and 300 MB per cell.

    python benchmarks/lab_boot.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness.declarations.loading import load_matrix
from harness.lab import control, environment
from harness.lab.cells import cells_from
from harness.lab.state import LabState

SHIPPED = Path(__file__).resolve().parent.parent / "matrix"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="boots per cell (default 2)")
    args = parser.parse_args()
    python = environment.ensure(progress=print)
    matrix = load_matrix(SHIPPED)
    cells = cells_from(matrix, matrix.labs["embedded"])
    print(f"{'cell':<14}{'boot s (median)':>17}{'boot s (max)':>14}{'RSS MB (max)':>14}")
    for cell in cells:
        boots, memory = [], []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                state = LabState(Path(tmp))
                started = time.perf_counter()
                (status,) = control.up(state, [cell], python)
                boots.append(time.perf_counter() - started)
                assert status.pid is not None
                memory.append(rss_mb(status.pid))
                control.down(state)
        print(
            f"{cell.name:<14}{statistics.median(boots):>17.2f}{max(boots):>14.2f}"
            f"{max(memory):>14.0f}"
        )


if __name__ == "__main__":
    main()
