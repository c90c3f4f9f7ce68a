"""`matrix tempest`: upstream Tempest on a target, beside the harness's own scenarios.

For one target (an embedded-lab cell, started for the run if it is not up, or a lab file's
target) it runs the harness's scenarios for the chosen features (`matrix run`'s records and
JUnit), then Tempest's tests for the same features (the idempotent ids of features.yaml; with
`--full`, all of tempest.api.compute) with a tempest.conf written from the target, and prints
per feature both verdicts and every disagreement. Tempest's results become a run record of
their own (source tempest, with the subunit stream and JUnit beside it) that `matrix ingest`
adds to the history like any other.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from harness.cli.options import (
    OutputPath,
    Settings,
    feature_option,
    lab_dir_option,
    lab_file_option,
    scenario_dir_option,
)
from harness.cli.output import SafeText as Text
from harness.cli.output import console, say
from harness.cli.registry import short_help
from harness.cli.run import ConsoleEvents, embedded_lab, redactor_for
from harness.declarations.applicability import verdicts
from harness.declarations.matrix import Lab, Matrix
from harness.declarations.model import PROVENANCE_KINDS, Target
from harness.declarations.problems import display_path, unknown
from harness.errors import EXIT_FAILED, EXIT_OK, BadInput
from harness.run import cloud
from harness.run.orchestration import RunOptions, run_targets
from harness.run.provenance import provenance_for
from harness.run.records import Result, append_result, read_header, read_results, write_header
from harness.run.secrets import Redactor, encodings
from harness.tempest import agreement, config, environment, results, runner, selection

DEFAULT_CELL = "live-local"
COLOURS = {"agree": "green", "DISAGREE": "red", "no comparison": "dim"}


@click.command("tempest", short_help=short_help("tempest"))
@click.option(
    "--cell",
    help=f"An embedded-lab cell, started if it is not up (default without --lab: {DEFAULT_CELL}).",
)
@lab_file_option("A lab file whose --target Tempest runs against (instead of a lab cell).")
@click.option("--target", "target_name", help="The lab file's target (with --lab).")
@feature_option(
    "Only this feature's tests (repeatable; default: every feature with Tempest tests that "
    "applies to the combination)."
)
@click.option(
    "--full", is_flag=True, help="All of tempest.api.compute, not only the features' tests."
)
@click.option(
    "--concurrency", type=click.IntRange(1, 16), default=2, show_default=True,
    help="Tempest's workers.",
)  # fmt: skip
@click.option(
    "--scenarios/--no-scenarios",
    default=True,
    show_default=True,
    help="Also run the harness's own scenarios for the features, to compare.",
)
@scenario_dir_option("--scenario-dir", "scenario_dir")
@click.option(
    "--fail-on-disagreement", is_flag=True, help="Exit 1 when a feature's verdicts disagree."
)
@click.option("--kind", type=click.Choice(PROVENANCE_KINDS), help="Provenance kind.")
@click.option("--job-url", help="CI job URL (default: from the CI environment).")
@click.option("--out", type=OutputPath(directory=True), default=Path("results"), show_default=True)
@lab_dir_option()
@click.pass_context
def tempest(
    ctx: click.Context,
    /,
    cell: str | None,
    lab_file: Path | None,
    target_name: str | None,
    lab_dir: Path,
    **request: Any,
) -> None:
    """Run Tempest's tests for the declared features on one target and compare each feature's
    verdict with the harness's own; exit 1 if Tempest could not run (or, with
    --fail-on-disagreement, if they disagree)."""
    settings: Settings = ctx.obj
    if lab_file is not None:
        if cell or not target_name:
            raise click.UsageError("--lab takes --target (and no --cell)")
        ctx.exit(_cross_check(settings, lab_file, target_name, **request))
    name = cell or DEFAULT_CELL
    with embedded_lab(settings, lab_dir, names=(name,)) as embedded_file:
        ctx.exit(_cross_check(settings, embedded_file, name, **request))


def _cross_check(
    settings: Settings,
    lab_file: Path,
    target_name: str,
    *,
    features: tuple[str, ...],
    full: bool,
    concurrency: int,
    scenarios: bool,
    scenario_dir: Path,
    fail_on_disagreement: bool,
    kind: str | None,
    job_url: str | None,
    out: Path,
) -> int:
    matrix, lab = settings.lab(lab_file)
    target = _target(lab, lab_file, target_name)
    combination = matrix.combinations[target.combination]
    chosen = _features(matrix, target, features)
    redact = redactor_for(lab_file, lab.spec.clouds_yaml)(target)
    python = environment.ensure(progress=say)
    scenario_results: list[Result] = []
    preflight: dict[str, Any] = {"status": "not-run"}
    if scenarios:
        scenario_results, preflight = _scenarios(
            settings, matrix, lab, target, chosen, out, scenario_dir
        )
    provenance = provenance_for(
        target, scenario_dir, embedded=combination.embedded, kind=kind, job_url=job_url
    )
    clouds_yaml = cloud.clouds_yaml_of(lab.path, lab.spec.clouds_yaml)
    region = cloud.region(clouds_yaml, target.cloud)
    auth = config.admin_auth(target.cloud, region.config)
    facts = config.look_up(cloud.connect(clouds_yaml, target.cloud, api_timeout=60), target)
    mapping = selection.features_by_id(matrix, chosen)
    tests = "tempest.api.compute" if full else f"{len(mapping)} ids of {len(chosen)} features"
    say(f"{target_name}: Tempest runs {tests} in {concurrency} workers")
    with tempfile.TemporaryDirectory(prefix="matrix-tempest-") as work:
        conf = config.render(
            matrix, combination, target, auth, region.region_name or "", facts, Path(work)
        )
        output = runner.run(
            python, Path(work), conf, "" if full else selection.include_list(mapping),
            concurrency=concurrency, progress=say,
        )  # fmt: skip
    cases = results.read_subunit(output.subunit, Path("tempest.subunit"))
    mapped = results.to_results(cases, selection.features_by_id(matrix), output.ended_at)
    run_id = results.run_id_for(output.subunit, output.started_at, target.target_name)
    run_dir = out.resolve() / "runs" / run_id
    header = results.header(
        run_id, combination=combination.id, embedded=combination.embedded,
        target=target.target_name, lab=lab.name, provenance=provenance,
        started_at=output.started_at, ended_at=output.ended_at, preflight=preflight,
    )  # fmt: skip
    _write_record(run_dir, header, mapped.results, output, redact)
    rows = agreement.compare(chosen, scenario_results, mapped.results)
    _report(rows, output, mapped, len(cases), run_dir)
    if fail_on_disagreement and agreement.counts(rows)["DISAGREE"]:
        return EXIT_FAILED
    return EXIT_OK


def _target(lab: Lab, lab_file: Path, name: str) -> Target:
    found = {t.target_name: t for t in lab.targets}
    if name not in found:
        raise BadInput(unknown("target", name, list(found)) + f" in {display_path(lab_file)}")
    return found[name]


def _features(matrix: Matrix, target: Target, asked: tuple[str, ...]) -> list[str]:
    """The features asked for, else every one with Tempest tests that applies here."""
    if asked:
        return list(asked)
    combination = matrix.combinations[target.combination]
    applies = {v.feature for v in verdicts(matrix, combination) if v.applicable}
    return [f for f, feature in matrix.features.items() if feature.tempest and f in applies]


def _scenarios(
    settings: Settings,
    matrix: Matrix,
    lab: Lab,
    target: Target,
    features: list[str],
    out: Path,
    scenario_dir: Path,
) -> tuple[list[Result], dict[str, Any]]:
    """The harness's own verdicts on the same target: a `matrix run` of those features."""
    options = RunOptions(
        settings.matrix_dir.resolve(), lab.path.resolve(), out.resolve(), tuple(features),
        scenarios=scenario_dir.resolve(),
    )  # fmt: skip
    events = ConsoleEvents(console())
    with events.bars:
        (run,) = run_targets(
            matrix, lab, [target], options, events, 1,
            redactor_for(lab.path, lab.spec.clouds_yaml),
        )  # fmt: skip
    header = read_header(run.run_dir)
    say(f"{target.target_name}: scenarios recorded in {display_path(run.run_dir)}")
    return list(read_results(run.run_dir)), header.preflight


def _write_record(
    run_dir: Path,
    header: Any,
    found: list[Result],
    output: runner.TempestOutput,
    redact: Redactor,
) -> None:
    """The Tempest run as a run record; its raw output beside it only if it holds no secret
    (a message is redacted like a scenario's; a binary stream cannot be)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_header(run_dir, header)
    for result in found:
        if result.message:
            result = result.model_copy(update={"message": redact.redact(result.message)})
        append_result(run_dir, result)
    forms = [f.encode() for secret in redact.secrets for f in encodings(secret)]
    for name, data in (("tempest.subunit", output.subunit), ("junit.xml", output.junit)):
        if data and not any(form in data for form in forms):
            (run_dir / name).write_bytes(data)


def _report(
    rows: list[agreement.FeatureAgreement],
    output: runner.TempestOutput,
    mapped: results.Mapped,
    tests: int,
    run_dir: Path,
) -> None:
    out = console()
    table = Table(title="Tempest beside the harness", title_justify="left")
    for column in ("feature", "harness", "tempest", "tests", "verdict"):
        table.add_column(column)
    for row in rows:
        passed = sum(1 for _, outcome in row.tests if outcome == "passed")
        table.add_row(
            Text(row.feature), Text(row.harness), Text(row.tempest),
            Text(f"{passed}/{len(row.tests)} passed" if row.tests else ""),
            Text(row.verdict, style=COLOURS[row.verdict]),
        )  # fmt: skip
    out.print(table)
    for row in rows:
        if row.verdict == "DISAGREE":
            out.print(Text(f"{row.feature}: the harness {row.harness}, Tempest {row.tempest}"))
            for test, message in row.failures:
                last = message.strip().splitlines()[-1] if message.strip() else ""
                out.print(Text(f"  {test}: {last}"))
    found = agreement.counts(rows)
    out.print(
        Text(
            f"Tempest: {output.counts.get('ok', 0)} passed, {output.counts.get('FAILED', 0)} "
            f"failed, {output.counts.get('SKIPPED', 0)} skipped in {output.seconds:.0f} s; "
            f"{tests} tests, {tests - mapped.unmapped} prove a declared feature; "
            f"{found['agree']} agree, {found['DISAGREE']} disagree, "
            f"{found['no comparison']} without comparison"
        )
    )
    out.print(Text(f"Tempest's run record: {display_path(run_dir)}"))
