"""The harness's scenarios beside upstream Tempest's tests for the same features, on one cell.

Brings up one embedded cell (default `live-local`), then times, on the same cell and for the
same features (default: every feature that lists Tempest tests and applies there):

1. `matrix run --feature ...`: the harness's scenarios, preflight and record included;
2. `matrix tempest --no-scenarios --feature ...`: Tempest's tests for those features, with
   tempest.conf written from the cell (Tempest's virtualenv is built first if needed, not
   counted), and Tempest's own figure for its run.

Prints both wall times and their ratio. No aim: the figures say what a harness run costs
against the suite users compare it with (Tempest runs its tests in parallel workers).

    python benchmarks/tempest.py [--cell live-local] [--feature F ...] [--concurrency N]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.declarations.applicability import verdicts
from harness.declarations.loading import load_matrix
from harness.lab import control, environment
from harness.lab.cells import cells_from
from harness.lab.state import LabState
from harness.tempest import environment as tempest_environment

REPO = Path(__file__).resolve().parent.parent
MATRIX = str(Path(sys.executable).parent / "matrix")


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, check=False, capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="live-local")
    parser.add_argument("--feature", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=2, help="Tempest's workers")
    args = parser.parse_args()
    python = environment.ensure(progress=print)
    tempest_environment.ensure(progress=print)
    matrix = load_matrix(REPO / "matrix")
    (cell,) = [c for c in cells_from(matrix, matrix.labs["embedded"]) if c.name == args.cell]
    applicable = {v.feature for v in verdicts(matrix, matrix.combinations[cell.combination])
                  if v.applicable}  # fmt: skip
    features = args.feature or [f for f, spec in matrix.features.items()
                                if spec.tempest and f in applicable]  # fmt: skip
    chosen = [w for f in features for w in ("--feature", f)]
    with tempfile.TemporaryDirectory() as tmp:
        state = LabState(Path(tmp) / "lab")
        control.up(state, [cell], python)
        try:
            lab = ["--lab", str(state.lab_file), "--target", cell.name]
            ours, _ = timed([MATRIX, "run", *lab, *chosen, "--out", f"{tmp}/ours"])
            theirs, output = timed([
                MATRIX, "tempest", *lab, *chosen, "--no-scenarios",
                "--concurrency", str(args.concurrency),
            ])  # fmt: skip
        finally:
            control.down(state)
    inner = re.search(r"in (\d+) s;", output)
    print(f"{cell.name}: {len(features)} features ({', '.join(features)})")
    print(f"harness scenarios (matrix run):        {ours:7.1f} s")
    print(
        f"Tempest's tests (matrix tempest):      {theirs:7.1f} s"
        + (f"  (Tempest's own run: {inner.group(1)} s)" if inner else "")
    )
    print(f"ratio harness / Tempest:               {ours / theirs:7.2f}")


if __name__ == "__main__":
    main()
