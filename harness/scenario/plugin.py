"""The harness's pytest plugin (registered through the `pytest11` entry point): its hooks.

`pytest scenarios/ --lab LAB --combination ID` runs the scenarios of the features the matrix
declares against that lab target; `matrix run` drives the same thing. Scenarios are plain
tests marked `@pytest.mark.feature("id")`. These hooks resolve the target once per session,
keep the scenarios of declared features, put the feature, combination, run id, skip category
and API request count on each report as user properties (they reach JUnit XML), and write
each result to the run directory as it finishes. The fixtures (`harness.scenario.fixtures`)
and the requirement gate (`harness.scenario.gate`) live in modules of their own.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from harness.declarations.problems import DeclarationError, unknown
from harness.errors import BadInput
from harness.run import cloud as cloud_api
from harness.run.records import (
    PLANNED_FILE,
    RUN_FILE,
    new_run_id,
    now,
    read_header,
    start_header,
    write_header,
)
from harness.run.secrets import Redactor
from harness.scenario import skips
from harness.scenario.accounting import RequestLog
from harness.scenario.concurrency import is_controller, is_worker
from harness.scenario.gate import feature_of, needs_of
from harness.scenario.narrowing import needless
from harness.scenario.recorder import PROOF_PROPERTY, Recorder
from harness.scenario.stash import (
    CONTEXT,
    OWNS_HEADER,
    RECORDER,
    REQUESTS,
    REQUESTS_BEFORE,
    RUN_ID,
)
from harness.scenario.target import TargetContext, TargetSelectionError, resolve

pytest_plugins = ["harness.scenario.fixtures"]  # the fixtures, in a module of their own


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("matrix", "feature-support matrix")
    group.addoption(
        "--matrix-dir",
        default=os.environ.get("MATRIX_DIR", "matrix"),
        help="directory of matrix declarations (default: $MATRIX_DIR or ./matrix)",
    )
    group.addoption("--lab", help="lab file whose target the scenarios run against")
    group.addoption("--combination", help="the lab target realising this combination")
    group.addoption("--target", dest="matrix_target", help="the lab target with this name")
    group.addoption("--run-id", help="id that names and tags every resource (default: new)")
    group.addoption(
        "--record-dir",
        help="write each result to this run directory as it finishes (run.json, results.jsonl)",
    )
    group.addoption(
        "--feature",
        action="append",
        dest="matrix_features",
        default=[],
        help="only scenarios of this feature (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "feature(id): the matrix feature this scenario proves")
    config.addinivalue_line(
        "markers",
        "requires(computes=N, flavor_alt=, volume=, multiattach=, destructive=): "
        "needs beyond the feature's declared ones",
    )
    lab = config.getoption("lab")
    if not lab:
        return
    try:
        config.stash[CONTEXT] = resolve(
            Path(config.getoption("matrix_dir")),
            Path(lab),
            config.getoption("combination"),
            config.getoption("matrix_target"),
        )
    except (DeclarationError, TargetSelectionError) as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[RUN_ID] = config.getoption("run_id") or new_run_id()
    config.option.run_id = config.stash[RUN_ID]  # xdist workers get the controller's options
    config.stash[REQUESTS] = RequestLog()  # filled once a scenario connects to the cloud
    if config.getoption("record_dir"):
        no_final_collections(config)
        if threading.current_thread() is threading.main_thread():
            # `matrix run` stops its scenarios with SIGINT, even where the shell had it ignored
            signal.signal(signal.SIGINT, signal.default_int_handler)


def no_final_collections(config: pytest.Config) -> None:
    """A recorded session ends without the two full garbage collections pytest forces as it
    ends (70 ms of every target's run, after its last result) to catch a `__del__`'s error in
    an object nothing freed: a process that ends at once (`harness.ending`) frees nothing.
    Errors of objects freed while the scenarios ran are still reported, as warnings in the
    target's log. (The count is a stash key of pytest's unraisable-exception plugin: with a
    pytest that has none, the collections stay.)"""
    from _pytest import unraisableexception

    key = getattr(unraisableexception, "gc_collect_iterations_key", None)
    if key is not None:
        config.stash[key] = 0


def pytest_sessionstart(session: pytest.Session) -> None:
    """Ready the recorder (reading clouds.yaml for the secrets to hide); it writes nothing yet."""
    config = session.config
    record_dir = config.getoption("record_dir")
    if CONTEXT not in config.stash or not record_dir or is_worker(config):
        return
    context = config.stash[CONTEXT]
    config.stash[RECORDER] = Recorder(Path(record_dir), redactor_for(context))
    config.pluginmanager.register(config.stash[RECORDER], "matrix-recorder")


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Start the record as the scenarios are about to run: not before, because `matrix run`
    lets its pytest process configure and collect while the preflight runs, and writes the
    header itself once it has passed (`harness.run.scenario_process` holds the session until
    then)."""
    config = session.config
    if RECORDER not in config.stash:
        return
    context = config.stash[CONTEXT]
    config.stash[OWNS_HEADER] = _start_record(
        config, config.stash[RECORDER].run_dir, context, config.stash[RUN_ID]
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With --feature, a scenario module whose marks name only other features is not even
    imported (`harness.scenario.narrowing`)."""
    wanted = config.getoption("matrix_features")
    if not wanted or CONTEXT not in config.stash or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    source = collection_path.read_text(encoding="utf-8", errors="replace")
    return True if needless(source, wanted, config.stash[CONTEXT].matrix.features) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the scenarios of declared features (and of --feature, when given)."""
    if CONTEXT not in config.stash:
        if any(feature_of(i) for i in items) and not config.getoption("lab"):
            for item in items:
                if feature_of(item):
                    item.add_marker(pytest.mark.skip(reason="scenarios need --lab"))
        return
    context = config.stash[CONTEXT]
    declared = context.matrix.features
    wanted = set(config.getoption("matrix_features"))
    for feature in wanted - set(declared):
        raise pytest.UsageError(unknown("feature", feature, list(declared)) + " (--feature)")
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        feature = feature_of(item)
        if feature is not None and feature not in declared:
            raise pytest.UsageError(
                f"{item.nodeid}: {unknown('feature', feature, list(declared))} "
                "(declare it in features.yaml)"
            )
        (deselected if wanted and feature not in wanted else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    if is_worker(config):  # heaviest first; a stable sort, so every worker collects one order
        items.sort(key=lambda item: _weight(item, context), reverse=True)


def _weight(item: pytest.Item, context: TargetContext) -> int:
    """How early a scenario should start beside others: one that moves a server between
    hosts (needs two computes) takes longest, a host-wide one can start only once nothing
    else runs."""
    feature = feature_of(item)
    if feature is None:
        return 1
    needs = needs_of(item, context, feature)
    return 0 if needs.exclusive else 2 if needs.computes > 1 else 1


# --- reporting ---------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    feature = feature_of(item)
    config = item.config
    if feature is None or CONTEXT not in config.stash:
        return
    context = config.stash[CONTEXT]
    item.user_properties += [
        ("feature", feature),
        ("combination", context.combination.id),
        ("target", context.target.target_name),
        ("run_id", config.stash[RUN_ID]),
        ("microversion", context.matrix.features[feature].microversion or ""),
    ]
    if outline_proof := passes_only_when(item):  # a scenario's own proof.by() comes later
        item.user_properties.append((PROOF_PROPERTY, outline_proof))


PASSES_ONLY_WHEN = re.compile(r"Passes only when\s+(.+?\.)(?=\s+[A-Z]|\s*$)", re.DOTALL)


def passes_only_when(item: pytest.Item) -> str | None:
    """What a scenario's outline says it checks before passing ("Passes only when ..."): the
    proof of a pass whose scenario says no more (docs/scenarios.md asks every outline for it)."""
    found = PASSES_ONLY_WHEN.search(getattr(getattr(item, "function", None), "__doc__", "") or "")
    return " ".join(found.group(1).split()) if found else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if feature_of(item) is None:
        return report
    if report.skipped:
        error = call.excinfo.value if call.excinfo else None
        category = skips.category_of(error) or skips.UNCATEGORISED
        item.user_properties.append(("skip_category", category))  # JUnit reads the teardown's
        if report.user_properties is not item.user_properties:
            report.user_properties.append(("skip_category", category))
    if report.when == "teardown":
        requests = _requests_of(item)
        if requests is not None:
            report.user_properties.append(("api_requests", requests))
    return report


def _requests_of(item: pytest.Item) -> int | None:
    before = item.stash.get(REQUESTS_BEFORE, None)
    log = item.config.stash.get(REQUESTS, None)
    return None if before is None or log is None else log.count - before


def pytest_runtest_call(item: pytest.Item) -> None:
    """Remember how many API requests the session had made when this scenario began."""
    if feature_of(item) is not None and REQUESTS in item.config.stash:
        item.stash.setdefault(REQUESTS_BEFORE, item.config.stash[REQUESTS].count)


# --- run records -----------------------------------------------------------------------------


def redactor_for(context: TargetContext) -> Redactor:
    """Secrets of the target's clouds.yaml entry, read without connecting to the cloud."""
    try:
        return cloud_api.redactor(context.clouds_yaml, context.target.cloud)
    except cloud_api.CloudConfigError as error:
        raise pytest.UsageError(str(error)) from None


def _start_record(
    config: pytest.Config, run_dir: Path, context: TargetContext, run_id: str
) -> bool:
    """`matrix run` writes the header (with preflight) first; a bare pytest run writes its own.
    Returns whether this session owns the header (and so finishes it)."""
    if (run_dir / RUN_FILE).exists():
        return False
    from harness.run.provenance import provenance_for

    scenarios = Path(str(config.rootpath)) / "scenarios"  # the checkout's, not the package's
    try:
        provenance = provenance_for(
            context.target, scenarios, embedded=context.combination.embedded
        )
    except BadInput as error:
        raise pytest.UsageError(str(error)) from None
    header = start_header(
        run_id,
        context.combination,
        context.target,
        context.lab,
        provenance,
        preflight={"status": "not-run"},
    )
    write_header(run_dir, header)
    return True


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tell whoever watches the run directory how many scenarios to expect (the process that
    collects: the session, or each xdist worker, which all collect the same; not the
    controller, which collects nothing)."""
    config = session.config
    record_dir = config.getoption("record_dir")
    if not record_dir or CONTEXT not in config.stash or is_controller(config):
        return
    planned = sum(1 for item in session.items if feature_of(item))
    Path(record_dir).mkdir(parents=True, exist_ok=True)  # before the record starts, in a bare run
    partial = Path(record_dir, f".{PLANNED_FILE}.{os.getpid()}")
    partial.write_text(f"{planned}\n")
    partial.replace(Path(record_dir, PLANNED_FILE))  # whole, whichever worker is last


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    recorder = session.config.stash.get(RECORDER, None)
    if recorder is None or not session.config.stash.get(OWNS_HEADER, False):
        return
    header = read_header(recorder.run_dir)
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    status = "interrupted" if interrupted else "complete"
    write_header(recorder.run_dir, header.model_copy(update={"status": status, "ended_at": now()}))
