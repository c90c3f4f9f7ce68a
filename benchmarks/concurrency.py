"""A target's whole scenario suite, serial and with `matrix run --concurrency N`, side by side.

Brings up one embedded cell (the fake `live-local`, or with `--cell libvirt-local` the cell on
Nova's real libvirt driver), runs every scenario on it once serially and once per worker
count, and prints each wall time, its speed-up over serial, and whether the outcomes (per
scenario: outcome and skip category) are the same as the serial run's. It also prints the CPU
time each suite cost the cell, Keystone and the harness (`matrix run` and its pytest
processes), and what that allows: no schedule on this machine's CPUs beats their sum divided
by the CPUs, and none beats the cell's own time, since a cell is one process under one GIL.

Aim: on the fake cell, at least 3x faster than serial with identical outcomes.

    python benchmarks/concurrency.py [--cell live-local] [--workers 2,4,6]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.declarations.loading import load_matrix
from harness.lab import control, environment, keystone, processes
from harness.lab.cells import cells_from
from harness.lab.state import LabState
from harness.run.records import read_results

REPO = Path(__file__).resolve().parent.parent
AIM = 3.0


def cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) a running daemon has used so far."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of every descendant waited for so far: `matrix run` and its processes."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def suite(
    lab_file: Path, out: Path, combination: str, workers: int, daemons: dict[str, int | None]
) -> tuple[float, dict[str, str], dict[str, float]]:
    """Wall time of the whole suite on the cell, each scenario's outcome, and the CPU seconds
    it cost each daemon and the harness."""
    command = [
        str(Path(sys.executable).parent / "matrix"), "run", "--lab", str(lab_file),
        "--combination", combination, "--out", str(out), "--concurrency", str(workers),
    ]  # fmt: skip
    before = {name: cpu_of(pid) for name, pid in daemons.items()}
    harness_before = children_cpu()
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=False, capture_output=True)
    elapsed = time.perf_counter() - started
    cpu = {name: cpu_of(pid) - before[name] for name, pid in daemons.items()}
    cpu["harness"] = children_cpu() - harness_before
    (run_dir,) = (out / "runs").iterdir()
    outcomes = {
        r.scenario: f"{r.outcome}{'/' + r.skip_category if r.skip_category else ''}"
        for r in read_results(run_dir)
    }
    return elapsed, outcomes, cpu


def bounds(serial: float, cpu: dict[str, float], cpus: int) -> str:
    """What the CPU a suite costs allows: the best speed-up on `cpus`, and with endless CPUs."""
    total = sum(cpu.values())
    spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items())
    return (
        f"    CPU: {spent}; on {cpus} CPUs at best {total / cpus:.1f} s"
        f" (x{serial * cpus / total:.2f}), on any number x{serial / cpu['cell']:.2f}"
        " (the cell is one process)"
    )


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
        daemons = {
            "cell": state.pid(cell.name),
            "Keystone": processes.read_pid(keystone.directory_of(state)),
        }
        cpus = len(os.sched_getaffinity(0))
        try:
            serial, expected, cpu = suite(
                state.lab_file, Path(tmp) / "serial", cell.combination, 1, daemons
            )
            print(f"{cell.name}: serial           {serial:7.1f} s  ({len(expected)} scenarios)")
            print(bounds(serial, cpu, cpus))
            for workers in counts:
                out = Path(tmp) / f"n{workers}"
                elapsed, outcomes, cpu = suite(
                    state.lab_file, out, cell.combination, workers, daemons
                )
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
                print(bounds(serial, cpu, cpus))
        finally:
            control.down(state)
    print(f"aim: at least x{AIM:.0f} on a fake cell, with identical outcomes")


if __name__ == "__main__":
    main()
