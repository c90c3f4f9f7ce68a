"""Every benchmark in one run, one after another on a quiet machine, then their figures and
aims side by side.

Each benchmark runs as its own process (as `python benchmarks/NAME.py` would) with its output
shown as it goes; the summary repeats, per benchmark, its wall time and the lines that state
an aim, a ratio or a speed-up, so one run answers "where do we stand" for issue 15's aims:
the overhead ratio, serial versus --concurrency, the harness beside Tempest, lab boot, and
ingest, levels and publish at scale.

    python benchmarks/all.py [--only NAME ...] [--history-runs N]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("declarations", "lab_boot", "overhead", "concurrency", "tempest", "history")
"""Cheap first; history (about ten minutes at its full million results) last."""
TELLING = re.compile(r"\baims?\b|ratio|\bx\d|results/s|levels \+ publish|NOT met|\bmet\b", re.I)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=ORDER, help="this benchmark only")
    parser.add_argument(
        "--history-runs", type=int, help="history.py --runs (default its own: 125, 1M results)"
    )
    args = parser.parse_args()
    summary: list[tuple[str, float, int, list[str]]] = []
    for name in args.only or ORDER:
        command = [sys.executable, str(HERE / f"{name}.py")]
        if name == "history" and args.history_runs:
            command += ["--runs", str(args.history_runs)]
        print(f"\n===== {name} =====", flush=True)
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert process.stdout is not None
        telling = []
        for line in process.stdout:
            print(line, end="", flush=True)
            if TELLING.search(line):
                telling.append(line.rstrip())
        code = process.wait()
        summary.append((name, time.perf_counter() - started, code, telling))
    print("\n===== side by side =====")
    for name, seconds, code, telling in summary:
        status = "" if code == 0 else f"  (exit {code})"
        print(f"{name} ({seconds:.0f} s){status}")
        for line in telling:
            print(f"    {line.strip()}")


if __name__ == "__main__":
    main()
