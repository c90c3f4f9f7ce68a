"""`matrix run`: preflight each target, run its scenarios in a pytest process of its own,
record everything, and summarise.

Targets run in parallel (one pytest process each, so one slow or broken cloud cannot stall
or crash the others). Each run's record is written as it goes by the pytest plugin; this
module writes the header (with preflight and facts) before, and the end status and JUnit
after. Ctrl-C is passed on to every pytest process, which cleans up its resources and
records the run as interrupted; then we finish the records and stop.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.declarations.applicability import verdict
from harness.declarations.matrix import Lab, Matrix
from harness.declarations.model import Target
from harness.run import cloud as cloud_api
from harness.run.launcher import ScenarioProcesses
from harness.run.provenance import provenance_for
from harness.run.records import (
    LOG_FILE,
    PLANNED_FILE,
    ResultsFollower,
    RunHeader,
    new_run_id,
    now,
    read_header,
    read_results,
    start_header,
    write_header,
)
from harness.run.secrets import Redactor


@dataclass
class RunOptions:
    matrix_dir: Path
    lab_file: Path
    out: Path
    features: Sequence[str] = ()
    force: bool = False
    kind: str | None = None
    voting: bool | None = None
    job_url: str | None = None
    scenarios: Path = Path("scenarios")  # in the checkout, like matrix/; not in the package
    concurrency: int | None = None  # scenarios at once per target (None: the target's own)
    first: frozenset[str] = frozenset()
    """Targets that start before the others: the ones that take longest (the embedded lab's
    cells with real guests), so the short ones fill the workers around them instead of one
    long target starting last and running alone."""


@dataclass
class TargetRun:
    target: Target
    run_id: str
    run_dir: Path
    planned: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    status: str = "pending"


class Events:
    """What the runner tells the console; the CLI gives a rich implementation."""

    def started(self, run: TargetRun) -> None: ...
    def preflight(self, run: TargetRun, status: str, failures: list[str]) -> None: ...
    def progress(self, run: TargetRun, done: int, failure: str | None) -> None: ...
    def finished(self, run: TargetRun) -> None: ...


def select_targets(
    matrix: Matrix, lab: Lab, combinations: Sequence[str], axis: dict[str, set[str]]
) -> list[Target]:
    chosen = []
    for target in lab.targets:
        combination = matrix.combinations[target.combination]
        if combinations and target.combination not in combinations:
            continue
        if any(combination.values[a] not in values for a, values in axis.items()):
            continue
        chosen.append(target)
    return chosen


def run_targets(
    matrix: Matrix,
    lab: Lab,
    targets: Sequence[Target],
    options: RunOptions,
    events: Events,
    jobs: int,
    redactor_for: Callable[[Target], Redactor],
    processes: ScenarioProcesses | None = None,
) -> list[TargetRun]:
    """Run the targets, `jobs` at once; `processes` may hold a pytest process started ahead
    (by the CLI, as the command was chosen; the caller closes what it gives)."""
    if processes is None:
        with ScenarioProcesses() as own:
            return run_targets(matrix, lab, targets, options, events, jobs, redactor_for, own)
    runs = [
        TargetRun(t, run_id := new_run_id(t.target_name), options.out / "runs" / run_id)
        for t in targets
    ]
    stop = threading.Event()
    children: list[subprocess.Popen[str]] = []
    lock = threading.Lock()

    def one(run: TargetRun) -> TargetRun:
        return _run_one(
            matrix, lab, run, options, events, redactor_for, stop, children, lock, processes,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, run) for run in longest_first(runs, options.first)]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            stop.set()
            with lock:
                for child in children:  # pytest turns SIGINT into a clean interruption
                    if child.poll() is None:
                        os.killpg(child.pid, signal.SIGINT)
            for future in futures:
                future.result()
            raise
    return runs


def longest_first(runs: list[TargetRun], first: frozenset[str]) -> list[TargetRun]:
    """The order to start runs in: the `first` ones (the longest), then the rest, each in the
    lab's order. Started last, a long target would run on alone after everything else."""
    return sorted(runs, key=lambda run: run.target.target_name not in first)


def _run_one(
    matrix: Matrix,
    lab: Lab,
    run: TargetRun,
    options: RunOptions,
    events: Events,
    redactor_for: Callable[[Target], Redactor],
    stop: threading.Event,
    children: list[subprocess.Popen[str]],
    lock: threading.Lock,
    processes: ScenarioProcesses,
) -> TargetRun:
    combination = matrix.combinations[run.target.combination]
    provenance = provenance_for(
        run.target, options.scenarios, embedded=combination.embedded, kind=options.kind,
        voting=options.voting, job_url=options.job_url,
    )  # fmt: skip
    header = start_header(run.run_id, combination, run.target, lab, provenance)
    events.started(run)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    with (run.run_dir / LOG_FILE).open("w", encoding="utf-8") as log:
        # Started before the preflight (the first as the command was chosen), its imports
        # done on another core meanwhile; it configures pytest and collects while the
        # preflight runs, and runs once told to go.
        child, order = processes.take()
        with lock:
            children.append(child)
        assert child.stdout is not None
        go = False
        found: dict[str, Any] = {}
        try:
            order.what(options.scenarios.parent, _pytest_args(matrix, lab, run, options))
            # openstacksdk is imported here (for the cloud entry's secrets, then the preflight's
            # lookups): once the order is out, so the session configures and collects meanwhile
            redactor = redactor_for(run.target)
        except BaseException:  # no such cloud: the session ends, and the run leaves no trace
            order.close(False)
            child.wait()
            shutil.rmtree(run.run_dir, ignore_errors=True)
            raise
        try:
            header, found = _preflight(matrix, lab, run, header, options, events, redactor)
            write_header(run.run_dir, header)
            go = header.status != "preflight-failed" and not stop.is_set()
        finally:
            order.close(go, found)
        done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(run, events, done), daemon=True)
        if go:
            watcher.start()
        for line in child.stdout:  # the log never holds a secret
            log.write(redactor.redact(line))
        code = child.wait()
        done.set()
        if go:
            watcher.join(timeout=5)
    if not go:
        # it collected, and said how many scenarios it would run: it ran none
        (run.run_dir / PLANNED_FILE).unlink(missing_ok=True)
        run.status = header.status if header.status == "preflight-failed" else "interrupted"
        _finish(run, header.model_copy(update={"status": run.status}))
        events.finished(run)
        return run
    final = read_header(run.run_dir)
    status = final.status if final.status != "running" else _status_from(code, stop)
    if header.forced:
        status = "unverified" if status == "complete" else status
    run.status = status
    _finish(run, final.model_copy(update={"status": status, "ended_at": final.ended_at or now()}))
    events.finished(run)
    return run


def _pytest_args(matrix: Matrix, lab: Lab, run: TargetRun, options: RunOptions) -> list[str]:
    """What a target's pytest process runs. Only the harness's plugin (and xdist's, for
    workers) is loaded: whatever else the environment has installed neither slows nor changes
    a run (the launcher turns plugin autoloading off)."""
    args = [
        str(options.scenarios), "-p", "harness.scenario.plugin", "-p", "no:cacheprovider",
        "-o", "console_output_style=classic", "--matrix-dir", str(options.matrix_dir),
        "--lab", str(lab.path), "--target", run.target.target_name, "--run-id", run.run_id,
        "--record-dir", str(run.run_dir), *(f"--feature={f}" for f in options.features),
    ]  # fmt: skip
    workers = workers_for(matrix, run.target, options)
    if workers > 1:  # pytest-xdist; the controller alone writes the record (scenario.concurrency)
        args += ["-p", "xdist.plugin", "-n", str(workers), "--dist", "load"]
    return args


SCENARIOS_PER_WORKER = 2
"""A worker pays for its start (an interpreter, the imports and a cloud session of its own)
only when it has at least this many scenarios to run. Measured on the embedded lab's fake
cell, two workers against one: three scenarios took 8 % longer, four 7 % less, six 20 % and
ten 30 % less."""


def workers_for(matrix: Matrix, target: Target, options: RunOptions) -> int:
    """How many scenarios of the target run at once. `--concurrency` is taken as asked; the
    target's own `concurrency:` is a most, spent at one worker per SCENARIOS_PER_WORKER
    features the run exercises on it (those asked for, else all; never the ones declared not
    applicable to its combination), so `--feature X` on a target set to 4 starts no idle
    workers."""
    if options.concurrency:
        return options.concurrency
    if target.concurrency == 1:
        return 1
    combination = matrix.combinations[target.combination]
    features = options.features or list(matrix.features)
    exercised = sum(
        1
        for feature_id in features
        if (feature := matrix.features.get(feature_id)) is None  # the session says it is unknown
        or verdict(matrix, feature_id, feature, combination).applicable
    )
    return max(1, min(target.concurrency, exercised // SCENARIOS_PER_WORKER))


def _status_from(code: int, stop: threading.Event) -> str:
    return "interrupted" if stop.is_set() or code == 2 else "complete"


def _finish(run: TargetRun, header: RunHeader) -> None:
    write_header(run.run_dir, header)
    results = list(read_results(run.run_dir))
    run.counts = {}
    for result in results:
        run.counts[result.outcome] = run.counts.get(result.outcome, 0) + 1
    from harness.run import junit  # junit_xml and minidom: not on the way to the first scenario

    junit.write(run.run_dir, header, results)


def _watch(run: TargetRun, events: Events, done: threading.Event) -> None:
    """Report progress and failures as results land in the record, until `done` (the child
    has ended: one last look, at once rather than at the next tick)."""
    results = ResultsFollower(run.run_dir)
    seen = 0
    while True:
        finished = done.is_set()
        planned = run.run_dir / PLANNED_FILE
        if run.planned is None and planned.exists():
            run.planned = int(planned.read_text().strip() or 0)
        for result in results.new():  # one step each
            seen += 1
            failure = None
            if result.outcome in ("failed", "error"):
                first = (result.message or "").splitlines()[:1]
                failure = f"{result.scenario}: {first[0] if first else result.outcome}"
            events.progress(run, seen, failure)
        if finished:
            return
        done.wait(0.5)


def _preflight(
    matrix: Matrix,
    lab: Lab,
    run: TargetRun,
    header: RunHeader,
    options: RunOptions,
    events: Events,
    redactor: Redactor,
) -> tuple[RunHeader, dict[str, Any]]:
    """The header with the preflight's outcome and facts, and the names it found in the cloud
    (for the scenarios' session, which then need not look them up)."""
    from harness.preflight.runner import run_preflight

    opened: list[Any] = []

    def cloud() -> Any:
        target = run.target
        clouds_yaml = cloud_api.clouds_yaml_of(lab.path, lab.spec.clouds_yaml)
        opened.append(cloud_api.connect(clouds_yaml, target.cloud, target.timeouts.default))
        return opened[-1]

    try:
        result = run_preflight(matrix, run.target, cloud=cloud)
    finally:
        for connection in opened:
            connection.close()
    summary = result.to_json()
    failures = [
        redactor.redact(f"{o.host}: {o.description}: found {o.found}") for o in result.failures
    ]
    events.preflight(run, result.status, failures)
    clean = json.loads(redactor.redact(json.dumps({"preflight": summary, "facts": result.facts})))
    update: dict[str, object] = {"preflight": clean["preflight"], "facts": clean["facts"]}
    if result.status == "failed":
        if options.force:
            update["forced"] = True
        else:
            update["status"] = "preflight-failed"
    return header.model_copy(update=update), result.found
