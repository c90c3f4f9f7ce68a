"""`matrix run`: the main job from the command line, with live progress and a summary.

Without --lab it runs the embedded lab: it starts the cells that are not already up, runs
every scenario on every cell, and stops what it started, also when interrupted.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from harness.cli.options import (
    OutputPath,
    Settings,
    axis_filter,
    axis_option,
    feature_option,
    lab_dir_option,
    lab_file_option,
    scenario_dir_option,
)
from harness.cli.output import SafeText as Text
from harness.cli.output import console, say
from harness.cli.registry import short_help
from harness.declarations.matrix import Lab, Matrix
from harness.declarations.model import PROVENANCE_KINDS, Target
from harness.declarations.problems import display_path, unknown
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from harness.lab import cells, control, environment
from harness.lab.state import LabState
from harness.run.cloud import CloudConfigError, clouds_yaml_of
from harness.run.cloud import redactor as cloud_redactor
from harness.run.launcher import ScenarioProcesses, started_ahead
from harness.run.orchestration import (
    Events,
    RunOptions,
    TargetRun,
    run_targets,
    select_targets,
)
from harness.run.provenance import kind_for
from harness.run.secrets import Redactor


class ConsoleEvents(Events):
    """Live progress: a bar per target, failures as they happen. Where the output is no
    terminal (a CI job's log), bars are drawn only at the end, so each step of a target is a
    line of its own instead."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"), console=out, transient=False,
        )  # fmt: skip
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()

    def started(self, run: TargetRun) -> None:
        with self.lock:
            self.tasks[run.run_id] = self.bars.add_task(
                run.target.target_name, total=None, state="preflight"
            )

    def _line(self, run: TargetRun, text: str) -> None:
        if not self.out.is_terminal:
            self.bars.console.print(Text(f"{run.target.target_name}: {text}"))

    def preflight(self, run: TargetRun, status: str, failures: list[str]) -> None:
        with self.lock:
            self.bars.update(self.tasks[run.run_id], state=f"preflight {status}")
            self._line(run, f"preflight {status}")
            for failure in failures:
                self.bars.console.print(Text(f"  {run.target.target_name}: {failure}", style="red"))

    def progress(self, run: TargetRun, done: int, failure: str | None) -> None:
        with self.lock:
            self.bars.update(
                self.tasks[run.run_id], total=run.planned, completed=done, state="running"
            )
            self._line(run, f"{done}/{run.planned or '?'} scenarios done")
            if failure:
                self.bars.console.print(
                    Text(f"  FAILED {run.target.target_name} {failure}", style="red")
                )

    def finished(self, run: TargetRun) -> None:
        with self.lock:
            self.bars.update(self.tasks[run.run_id], state=run.status, total=run.planned or 0)
            self._line(run, run.status)


def redactor_for(lab_file: Path, clouds_yaml: str | None) -> Callable[[Target], Redactor]:
    path = clouds_yaml_of(lab_file, clouds_yaml)

    def for_target(target: Target) -> Redactor:
        try:
            return cloud_redactor(path, target.cloud)
        except CloudConfigError as error:
            raise CloudConfigError(f"target '{target.target_name}': {error}") from None

    return for_target


@contextmanager
def embedded_lab(
    settings: Settings, state_dir: Path, names: tuple[str, ...] = ()
) -> Iterator[Path]:
    """Bring the embedded lab (or the cells named) up for the run and take down what this run
    started."""
    matrix, lab = settings.lab(settings.embedded_lab_file)
    state = LabState(state_dir)
    wanted = cells.select(cells.cells_from(matrix, lab), names)
    already = {s.name for s in control.statuses(state) if s.health == "up"}
    try:
        python = environment.ensure(progress=say)
        control.up(state, wanted, python, progress=say)
        yield state.lab_file
    finally:
        started = [c.name for c in wanted if c.name not in already]
        if started:
            control.down(state, started)
            say(f"stopped the cells this run started: {', '.join(started)}")


@click.command("run", short_help=short_help("run"))
@lab_file_option(
    "Run against this lab (default: the embedded lab, started and stopped for the run)."
)
@click.option(
    "--combination", "combinations", multiple=True, help="Only targets of this combination."
)
@click.option(
    "--target",
    "target_names",
    multiple=True,
    help="Only this target of the lab file (repeatable); a CI job runs one.",
)
@feature_option("Only scenarios of this feature (repeatable).")
@axis_option("Only targets with this value (repeatable).")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Targets in parallel (default: one per target, up to the CPU count).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Scenarios at once within each target, in pytest-xdist workers; host-wide ones run "
    "alone (default: the target's `concurrency:`, at most a worker per two features run).",
)
@click.option(
    "--out",
    type=OutputPath(directory=True),
    default=Path("results"),
    show_default=True,
)
@click.option(
    "--force",
    is_flag=True,
    help="Run targets whose preflight failed (their runs are marked unverified).",
)
@click.option(
    "--kind",
    type=click.Choice(PROVENANCE_KINDS),
    help="Provenance kind (default: MATRIX_KIND, else the CI engine's, else the target's).",
)
@click.option(
    "--voting/--non-voting",
    default=None,
    help="Whether the CI job votes (default: MATRIX_VOTING, else the CI engine's, else the "
    "target's).",
)
@click.option("--job-url", help="CI job URL (default: from the CI environment).")
@scenario_dir_option("--scenarios", "scenarios")
@lab_dir_option()
@click.pass_context
def run(ctx: click.Context, /, lab_file: Path | None, lab_dir: Path, **request: Any) -> None:
    """Preflight, scenarios, run records and JUnit per target; exit 1 if a scenario failed."""
    settings: Settings = ctx.obj
    # the first target's pytest process, started as the command was chosen, imports meanwhile
    processes = started_ahead(ctx)
    if lab_file is None:
        matrix, embedded = settings.lab(settings.embedded_lab_file)
        slow = frozenset(c.name for c in cells.cells_from(matrix, embedded) if c.real_hypervisor)
        chosen = _targets(matrix, embedded, request["combinations"], request["target_names"])
        wanted = tuple(t.target_name for t in chosen) if len(chosen) < len(embedded.targets) else ()
        with embedded_lab(settings, lab_dir, wanted) as embedded_file:
            code = _run(settings, embedded_file, processes, first=slow, **request)
    else:
        code = _run(settings, lab_file, processes, **request)
    ctx.exit(code)


def _run(
    settings: Settings,
    lab_file: Path,
    processes: ScenarioProcesses,
    combinations: tuple[str, ...],
    target_names: tuple[str, ...],
    features: tuple[str, ...],
    axes: tuple[tuple[str, str], ...],
    jobs: int | None,
    concurrency: int | None,
    out: Path,
    force: bool,
    kind: str | None,
    voting: bool | None,
    job_url: str | None,
    scenarios: Path,
    first: frozenset[str] = frozenset(),
) -> int:
    matrix, lab = settings.lab(lab_file)
    named = _targets(matrix, lab, combinations, target_names)
    targets = [
        t for t in select_targets(matrix, lab, combinations, axis_filter(axes)) if t in named
    ]
    if not targets:
        raise click.UsageError(f"no target of {display_path(lab_file)} matches the filters")
    for target in targets:  # before any target starts: a wrong kind is the whole run's mistake
        kind_for(target, matrix.combinations[target.combination].embedded, kind)
    options = RunOptions(
        settings.matrix_dir.resolve(),
        lab_file.resolve(),
        out.resolve(),
        features,
        force,
        kind,
        voting,
        job_url,
        scenarios.resolve(),
        concurrency,
        first,
    )
    out_console = console()
    events = ConsoleEvents(out_console)
    redact = redactor_for(lab_file, lab.spec.clouds_yaml)
    workers = jobs or min(len(targets), os.cpu_count() or 1)
    try:
        with events.bars:
            runs = run_targets(matrix, lab, targets, options, events, workers, redact, processes)
    except KeyboardInterrupt:
        out_console.print("interrupted: scenarios cleaned up and runs recorded as interrupted")
        return EXIT_INTERRUPTED
    _summary(out_console, runs)
    out_console.print(f"run records and JUnit: {display_path(options.out / 'runs')}/<run id>/")
    failed = any(
        r.counts.get("failed") or r.counts.get("error") or r.status == "preflight-failed"
        for r in runs
    )
    return EXIT_FAILED if failed else EXIT_OK


def _targets(
    matrix: Matrix, lab: Lab, combinations: tuple[str, ...], names: tuple[str, ...]
) -> list[Target]:
    """The lab's targets that --combination and --target leave, or a usage error naming an
    unknown one (checked before any cell starts)."""
    for combination in combinations:
        if combination not in {t.combination for t in lab.targets}:
            raise click.BadParameter(
                unknown("combination", combination, [t.combination for t in lab.targets]),
                param_hint="--combination",
            )
    for name in names:
        if name not in {t.target_name for t in lab.targets}:
            raise click.BadParameter(
                unknown("target", name, [t.target_name for t in lab.targets]),
                param_hint="--target",
            )
    return [
        t
        for t in lab.targets
        if (not combinations or t.combination in combinations)
        and (not names or t.target_name in names)
    ]


def _summary(out: Console, runs: list[TargetRun]) -> None:
    table = Table(title="matrix run", title_justify="left")
    for column in (
        "combination",
        "target",
        "status",
        "passed",
        "failed",
        "error",
        "skipped",
        "record",
    ):
        table.add_column(column, no_wrap=column != "record")
    for run in runs:
        colour = (
            "green"
            if run.status == "complete"
            and not (run.counts.get("failed") or run.counts.get("error"))
            else "red"
        )
        table.add_row(
            run.target.combination, run.target.target_name, Text(run.status, style=colour),
            *(str(run.counts.get(k, 0)) for k in ("passed", "failed", "error", "skipped")),
            display_path(run.run_dir),
        )  # fmt: skip
    out.print(table)
