"""The harness's pytest plugin (registered through the `pytest11` entry point).

`pytest scenarios/ --lab LAB --combination ID` runs the scenarios of the features the matrix
declares against that lab target; `matrix run` drives the same thing. Scenarios are plain
tests marked `@pytest.mark.feature("id")`; the plugin skips them, in a category, when the
combination cannot do the feature by design (not-applicable), the target lacks something
(not-configured) or a known bug is flagged; and it gives them fixtures: `cloud`, `target`,
`hosts`, `wait`, `cleanup`, `make`, `run_id`. Each report carries the feature, combination,
run id, skip category and API request count as user properties (they reach JUnit XML).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from harness.declarations.model import Requires, Target, rooted
from harness.declarations.problems import DeclarationError, unknown
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
from harness.scenario.accounting import RequestLog, attach
from harness.scenario.cleanup import Cleanup
from harness.scenario.recorder import Recorder
from harness.scenario.resources import Resources
from harness.scenario.target import TargetContext, TargetSelectionError, resolve
from harness.scenario.waiters import Waiter

CONTEXT = pytest.StashKey[TargetContext]()
RECORDER = pytest.StashKey[Recorder]()
OWNS_HEADER = pytest.StashKey[bool]()
RUN_ID = pytest.StashKey[str]()
REQUESTS = pytest.StashKey[RequestLog]()
REQUESTS_BEFORE = pytest.StashKey[int]()


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
    config.stash[REQUESTS] = RequestLog()  # filled once a scenario connects to the cloud
    if record_dir := config.getoption("record_dir"):
        context = config.stash[CONTEXT]
        config.stash[RECORDER] = Recorder(Path(record_dir), redactor_for(context))
        config.stash[OWNS_HEADER] = _start_record(
            config, Path(record_dir), context, config.stash[RUN_ID]
        )


def feature_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("feature")
    return str(marker.args[0]) if marker and marker.args else None


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


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def matrix(pytestconfig: pytest.Config) -> Matrix:
    """The declarations, loaded and checked once per session."""
    if CONTEXT in pytestconfig.stash:
        return pytestconfig.stash[CONTEXT].matrix
    root = Path(pytestconfig.getoption("matrix_dir"))
    try:
        return load_matrix(root)
    except DeclarationError as error:
        message = f"invalid matrix declarations in {root}:\n{error}"
        pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def target_context(pytestconfig: pytest.Config) -> TargetContext:
    if CONTEXT not in pytestconfig.stash:
        pytest.fail("scenarios need a lab target: pass --lab FILE (and --combination or --target)")
    return pytestconfig.stash[CONTEXT]


@pytest.fixture(scope="session")
def target(target_context: TargetContext) -> Target:
    """The lab entry: cloud, image, flavors, network, timeouts, destructive or not."""
    return target_context.target


@pytest.fixture(scope="session")
def run_id(pytestconfig: pytest.Config, target_context: TargetContext) -> str:
    return pytestconfig.stash[RUN_ID]


@dataclass
class CloudSession:
    connection: Any
    requests: RequestLog


@pytest.fixture(scope="session")
def _cloud_session(
    pytestconfig: pytest.Config, target_context: TargetContext
) -> Iterator[CloudSession]:
    target = target_context.target
    connection = cloud_api.connect(
        target_context.clouds_yaml, target.cloud, target.timeouts.default
    )
    try:
        yield CloudSession(connection, attach(connection, pytestconfig.stash[REQUESTS]))
    finally:
        connection.close()


@pytest.fixture(scope="session")
def cloud(_cloud_session: CloudSession) -> Any:
    """An openstacksdk Connection to the target's cloud, from clouds.yaml."""
    return _cloud_session.connection


@pytest.fixture(scope="session")
def api_requests(_cloud_session: CloudSession) -> RequestLog:
    return _cloud_session.requests


@dataclass(frozen=True)
class TargetHost:
    """A testinfra host with the roles and file root the lab declares for it."""

    spec: str
    roles: tuple[str, ...]
    root: str | None
    host: Any

    def path(self, path: str) -> str:
        return rooted(self.root, path)


@pytest.fixture(scope="session")
def hosts(target: Target) -> list[TargetHost]:
    """The target's hosts as testinfra sees them (empty when the lab declares none)."""
    import testinfra

    found = []
    for host in target.host_entries:
        found.append(
            TargetHost(host.spec, tuple(host.roles), host.root, testinfra.get_host(host.spec))
        )
    return found


@pytest.fixture
def wait(cloud: Any, target: Target, api_requests: RequestLog) -> Waiter:
    return Waiter(cloud, target.timeouts, api_requests)


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    """Undo registered actions newest first, after the scenario, whatever its outcome."""
    registry = Cleanup()
    yield registry
    registry.run()


@pytest.fixture
def make(
    request: pytest.FixtureRequest,
    cloud: Any,
    target: Target,
    run_id: str,
    cleanup: Cleanup,
    wait: Waiter,
) -> Resources:
    return Resources(cloud, target, run_id, request.node.name, cleanup, wait)


@pytest.fixture(autouse=True)
def _feature_gate(request: pytest.FixtureRequest) -> None:
    """Skip, in a category, scenarios this combination or target cannot run."""
    feature_id = feature_of(request.node)
    if feature_id is None:
        return
    context: TargetContext = request.getfixturevalue("target_context")
    verdict = context.verdicts[feature_id]
    if not verdict.applicable:
        skips.not_applicable(verdict.why or "declared not applicable")
    for flag in verdict.flags:
        skips.flagged(flag.why, flag.bug)
    marker = request.node.get_closest_marker("requires")
    declared = context.matrix.features[feature_id].requires
    needs = declared.model_copy(update=dict(marker.kwargs) if marker else {})
    check_requirements(needs, context.target, request)


def check_requirements(needs: Requires, target: Target, request: pytest.FixtureRequest) -> None:
    if needs.destructive and not target.destructive:
        skips.not_configured("destructive scenarios are off for this target (destructive: false)")
    if needs.flavor_alt and not target.flavor_alt:
        skips.not_configured("the target declares no flavor_alt")
    if needs.computes <= 1 and not (needs.volume or needs.multiattach):
        return  # nothing left that needs asking the cloud
    cloud = request.getfixturevalue("cloud")
    if needs.computes > 1:
        up = [
            s
            for s in cloud.compute.services(binary="nova-compute")
            if s.state == "up" and s.status == "enabled"
        ]
        if len(up) < needs.computes:
            skips.not_configured(
                f"needs {needs.computes} compute hosts up; the target has {len(up)}"
            )
    if (needs.volume or needs.multiattach) and not cloud.endpoint_for("block-storage"):
        skips.not_configured("the target has no block-storage service")
    if needs.multiattach and not any(is_multiattach(t) for t in cloud.block_storage.types()):
        skips.not_configured("the target has no multiattach volume type")


def is_multiattach(volume_type: Any) -> bool:
    """Cinder marks multiattach types with the extra spec multiattach='<is> True'."""
    value = str((volume_type.extra_specs or {}).get("multiattach", ""))
    return value.replace(" ", "").lower() == "<is>true"


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
    if (recorder := item.config.stash.get(RECORDER, None)) is not None:
        recorder.report(report)
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
    provenance = provenance_for(context.target, scenarios)
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
    """Tell whoever watches the run directory how many scenarios to expect."""
    recorder = session.config.stash.get(RECORDER, None)
    if recorder is not None:
        planned = sum(1 for item in session.items if feature_of(item))
        recorder.run_dir.joinpath(PLANNED_FILE).write_text(f"{planned}\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    recorder = session.config.stash.get(RECORDER, None)
    if recorder is None or not session.config.stash.get(OWNS_HEADER, False):
        return
    header = read_header(recorder.run_dir)
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    status = "interrupted" if interrupted else "complete"
    write_header(recorder.run_dir, header.model_copy(update={"status": status, "ended_at": now()}))
