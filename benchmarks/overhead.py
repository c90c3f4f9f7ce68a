"""What the harness costs over a hand-written openstacksdk script, on one embedded cell.

1. The same operations (boot, stop, start, live-migrate, delete) done by a minimal
   openstacksdk script (`plain_script.py`) and by `matrix run --feature launch --feature
   stop-start --feature live-migration`, each timed as a process (the script's interpreter,
   imports and connection count as the harness's do), in seven pairs after an untimed
   warm-up, each pair's order alternated; prints each one's times and the median of the
   pairs' ratios (the cell's own pace varies by a few tenths of a second from one run to
   the next).
2. API requests per scenario, from the run record.
3. The mean delay between a server's state change and the harness's waiter seeing it,
   measured against a side poller that looks every 10 ms.

Aim: ratio at most 1.05, delay at most 0.25 s.

    python benchmarks/overhead.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from plain_script import FEATURES, IMAGE  # beside this file: run as `python benchmarks/...`

from harness.declarations.loading import load_matrix
from harness.declarations.model import Timeouts
from harness.lab import control, environment
from harness.lab.cells import cells_from
from harness.lab.state import LabState
from harness.run.cloud import connect
from harness.run.records import read_results
from harness.scenario.accounting import RequestLog, attach
from harness.scenario.waiters import Waiter

REPO = Path(__file__).resolve().parent.parent
PAIRS = 7


def hand_written(clouds_yaml: Path, cloud: str) -> float:
    """The same operations by `plain_script.py`, timed as `matrix run` is: as a process."""
    command = [sys.executable, str(Path(__file__).with_name("plain_script.py"))]
    started = time.perf_counter()
    subprocess.run([*command, str(clouds_yaml), cloud], check=True, capture_output=True)
    return time.perf_counter() - started


def harness_run(lab_file: Path, out: Path, combination: str) -> float:
    command = [
        str(Path(sys.executable).parent / "matrix"), "run", "--lab", str(lab_file),
        "--combination", combination, "--out", str(out),
        *(f"--feature={f}" for f in FEATURES),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def waiter_delays(conn: Any, rounds: int = 6) -> list[float]:
    """Start a state change, then compare when a 10 ms side poller and the waiter saw it."""
    requests = RequestLog()
    wait = Waiter(conn, Timeouts(default=60), requests)
    network = conn.network.find_network("private", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    server = conn.compute.create_server(
        name="bench-delay", image_id=IMAGE, flavor_id=flavor.id, networks=[{"uuid": network.id}]
    )
    delays = []
    try:
        wait.server(server.id)
        for i in range(rounds):
            target = "SHUTOFF" if i % 2 == 0 else "ACTIVE"
            seen: list[float] = []
            stop = threading.Event()

            def side(
                target: str = target, seen: list[float] = seen, stop: threading.Event = stop
            ) -> None:
                while not stop.is_set():
                    s = conn.compute.get_server(server.id)
                    if s.status == target and s.task_state is None:
                        seen.append(time.perf_counter())
                        return
                    time.sleep(0.01)

            poller = threading.Thread(target=side)
            if target == "SHUTOFF":
                conn.compute.stop_server(server)
            else:
                conn.compute.start_server(server)
            poller.start()
            wait.server(server.id, target)
            waiter_saw = time.perf_counter()
            poller.join(timeout=30)
            stop.set()
            if seen:
                delays.append(max(0.0, waiter_saw - seen[0]))
    finally:
        conn.compute.delete_server(server.id, ignore_missing=True)
    return delays


def _each(seconds: list[float]) -> str:
    return ", ".join(f"{s:.2f}" for s in seconds)


def uncompiled() -> bool:
    """Whether every process of the harness compiles its modules anew (PYTHONDONTWRITEBYTECODE
    set and none cached yet, as in an editable checkout): the script's openstacksdk was
    compiled at install, so the harness would pay alone for what users do not."""
    return bool(os.environ.get("PYTHONDONTWRITEBYTECODE")) and not any(
        (REPO / "harness").rglob("__pycache__")
    )


def uncached_plugins() -> bool:
    """Whether this interpreter is under /tmp, where stevedore (keystoneauth's plugin loader)
    caches nothing: every connection then scans every installed package's entry points,
    about 0.14 s here. The script scans once, while the harness scans on both paths to its
    first scenario (the preflight's connection and the scenario session's)."""
    return sys.executable.startswith("/tmp")


def main() -> None:
    if uncompiled():
        print("note: PYTHONDONTWRITEBYTECODE is set and the harness has no compiled modules:")
        print("      each `matrix run` compiles them again; unset it to measure as installed")
    if uncached_plugins():
        print("note: this Python is under /tmp, where stevedore caches no entry points: each")
        print("      connection scans them all; a virtualenv elsewhere measures as installed")
    python = environment.ensure(progress=print)
    matrix = load_matrix(REPO / "matrix")
    (cell,) = [c for c in cells_from(matrix, matrix.labs["embedded"]) if c.name == "live-local"]
    with tempfile.TemporaryDirectory() as tmp:
        state = LabState(Path(tmp) / "lab")
        control.up(state, [cell], python)
        try:
            conn = connect(state.clouds_file, cell.cloud)
            attach(conn)
            plain, harness = [], []
            out = Path(tmp) / "out"
            # A fresh cell's first servers take about a second longer (its scheduler and
            # placement fill their caches): untimed, or the first pair would flatter the harness.
            hand_written(state.clouds_file, cell.cloud)
            for pair in range(PAIRS):  # alternated, so a slower spell of the cell hits both
                script_first = pair % 2 == 0
                for who in ("script", "harness") if script_first else ("harness", "script"):
                    if who == "script":
                        plain.append(hand_written(state.clouds_file, cell.cloud))
                    else:
                        harness.append(harness_run(state.lab_file, out, cell.combination))
            run_dir = sorted((out / "runs").iterdir())[-1]
            results = list(read_results(run_dir))
            delays = waiter_delays(conn)
        finally:
            control.down(state)
    ratios = [h / p for h, p in zip(harness, plain, strict=True)]
    print(f"hand-written openstacksdk script: {statistics.median(plain):7.2f} s median"
          f"  (runs: {_each(plain)})")  # fmt: skip
    print(f"matrix run (same operations):     {statistics.median(harness):7.2f} s median"
          f"  (runs: {_each(harness)};")  # fmt: skip
    print("                                            includes preflight and pytest start)")
    print(f"ratio:                            {statistics.median(ratios):7.3f} median of the pairs'"
          f" (from {min(ratios):.3f} to {max(ratios):.3f}; aim: 1.05)")  # fmt: skip
    for result in results:
        print(f"API requests, {result.feature:<16} {result.api_requests}")
    print(f"waiter delay after a state change: mean {statistics.mean(delays):.3f} s, "
          f"max {max(delays):.3f} s over {len(delays)} changes")  # fmt: skip


if __name__ == "__main__":
    main()
