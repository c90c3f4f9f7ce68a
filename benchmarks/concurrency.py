"""A target's whole scenario suite, serial and with `matrix run --concurrency N`, side by side.

Brings up one embedded cell (the fake `live-local`, or with `--cell libvirt-local` the cell on
Nova's real libvirt driver), runs every scenario on it once serially and once per worker
count, and prints each wall time, its speed-up over serial, and whether the outcomes (per
scenario: outcome and skip category) are the same as the serial run's.

Aim: on the fake cell, at least 3x faster than serial with identical outcomes.

    python benchmarks/concurrency.py [--cell live-local] [--workers 2,4,6]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.declarations.loading import load_matrix
from harness.lab import control, environment
from harness.lab.cells import cells_from
from harness.lab.state import LabState
from harness.run.records import read_results

REPO = Path(__file__).resolve().parent.parent
AIM = 3.0


def suite(
    lab_file: Path, out: Path, combination: str, workers: int
) -> tuple[float, dict[str, str]]:
    """Wall time of the whole suite on the cell, and each scenario's outcome."""
    command = [
        str(Path(sys.executable).parent / "matrix"), "run", "--lab", str(lab_file),
        "--combination", combination, "--out", str(out), "--concurrency", str(workers),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=False, capture_output=True)
    elapsed = time.perf_counter() - started
    (run_dir,) = (out / "runs").iterdir()
    outcomes = {
        r.scenario: f"{r.outcome}{'/' + r.skip_category if r.skip_category else ''}"
        for r in read_results(run_dir)
    }
    return elapsed, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="live-local")
    parser.add_argument("--workers", default="2,4,6", help="worker counts to try, e.g. 2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    python = environment.ensure(progress=print)
    matrix = load_matrix(REPO / "matrix")
    (cell,) = [c for c in cells_from(matrix, matrix.labs["embedded"]) if c.name == args.cell]
    with tempfile.TemporaryDirectory() as tmp:
        state = LabState(Path(tmp) / "lab")
        control.up(state, [cell], python)
        try:
            serial, expected = suite(state.lab_file, Path(tmp) / "serial", cell.combination, 1)
            print(f"{cell.name}: serial           {serial:7.1f} s  ({len(expected)} scenarios)")
            for workers in counts:
                out = Path(tmp) / f"n{workers}"
                elapsed, outcomes = suite(state.lab_file, out, cell.combination, workers)
                same = "identical outcomes" if outcomes == expected else "OUTCOMES DIFFER"
                if outcomes != expected:
                    for name in sorted(set(outcomes) | set(expected)):
                        if outcomes.get(name) != expected.get(name):
                            print(
                                f"    {name}: serial {expected.get(name)}, now {outcomes.get(name)}"
                            )
                print(
                    f"{cell.name}: --concurrency {workers:<2} {elapsed:7.1f} s  "
                    f"x{serial / elapsed:.2f}  {same}"
                )
        finally:
            control.down(state)
    print(f"aim: at least x{AIM:.0f} on a fake cell, with identical outcomes")


if __name__ == "__main__":
    main()
