"""The fixtures scenarios stand on: the checked declarations, the target, the cloud (an
openstacksdk Connection from clouds.yaml), testinfra hosts, waiters, the cleanup registry,
resource makers, the run id and `proof`; and the autouse requirement gate
(`harness.scenario.gate`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from harness.declarations.model import Target, rooted
from harness.declarations.problems import DeclarationError
from harness.run import cloud as cloud_api
from harness.scenario.accounting import RequestLog, attach
from harness.scenario.cleanup import Cleanup
from harness.scenario.concurrency import (
    found_path,
    handed,
    holding,
    is_controller,
    is_worker,
    lock_path,
)
from harness.scenario.gate import feature_of, gate, needs_of
from harness.scenario.recorder import PROOF_PROPERTY
from harness.scenario.resources import Provided, Resources, provided_from
from harness.scenario.skips import unproven
from harness.scenario.stash import CONNECTION, CONTEXT, FOUND, REQUESTS, RUN_ID
from harness.scenario.target import TargetContext
from harness.scenario.waiters import Waiter, poll_for


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
    provided: Provided = field(default_factory=dict)


def _connect(context: TargetContext) -> Any:
    target = context.target
    return cloud_api.connect(context.clouds_yaml, target.cloud, target.timeouts.default)


def connect_early(config: pytest.Config) -> Callable[[], None]:
    """Start opening the target's cloud in a thread, as the session starts to collect
    (`harness.run.scenario_process`): the connection built (its auth plugin found), a token got
    and the compute endpoint found, mostly waiting on Keystone and the cloud while pytest
    imports the scenarios. Returns what the session calls before its first scenario: it waits
    for the thread and leaves the connection in the stash. What fails is left for that
    scenario to meet."""
    if CONTEXT not in config.stash or is_controller(config):
        return lambda: None
    context = config.stash[CONTEXT]
    opened: list[Any] = []

    def open_cloud() -> None:
        try:
            connection = _connect(context)
        except Exception:
            return
        try:
            connection.authorize()
            connection.compute.get_endpoint_data()
        except Exception:
            connection.close()
            return
        opened.append(connection)

    thread = threading.Thread(target=open_cloud, name="connect-early", daemon=True)
    thread.start()

    def connected() -> None:
        thread.join()
        if opened:
            config.stash[CONNECTION] = opened[0]

    return connected


@pytest.fixture(scope="session")
def _cloud_session(
    pytestconfig: pytest.Config, target_context: TargetContext
) -> Iterator[CloudSession]:
    found = pytestconfig.stash.get(FOUND, None)
    if found is None and is_worker(pytestconfig):  # the controller was told; it handed it on
        found = handed(found_path(pytestconfig))
    provided = provided_from(found or {}, target_context.target)
    connection = pytestconfig.stash.get(CONNECTION, None)
    if connection is None:  # a bare pytest run, or the early connection failed
        connection = _connect(target_context)
    try:
        yield CloudSession(connection, attach(connection, pytestconfig.stash[REQUESTS]), provided)
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
def wait(
    request: pytest.FixtureRequest, cloud: Any, target: Target, api_requests: RequestLog
) -> Waiter:
    """Waits on this target's cloud; xdist workers back off from its slow answers."""
    return Waiter(cloud, target.timeouts, api_requests, poll_for(is_worker(request.config)))


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    """Undo registered actions newest first, after the scenario, whatever its outcome."""
    registry = Cleanup()
    yield registry
    registry.run()


@pytest.fixture
def make(
    request: pytest.FixtureRequest,
    _cloud_session: CloudSession,
    target: Target,
    run_id: str,
    cleanup: Cleanup,
    wait: Waiter,
) -> Resources:
    session = _cloud_session
    return Resources(
        session.connection, target, run_id, request.node.name, cleanup, wait, session.provided
    )


@dataclass(frozen=True)
class Proof:
    """What a scenario showed of its feature's defining property, so a reader of the record
    knows how strong a pass is; where nothing could show it, the scenario skips as unproven."""

    record: Callable[[str, object], None]

    def by(self, how: str) -> None:
        """Say how the pass was proven (one line: what was seen, and where)."""
        self.record(PROOF_PROPERTY, how)

    def lacking(self, why: str) -> NoReturn:
        """End the scenario as an `unproven` skip: it ran, but nothing here could show it."""
        __tracebackhide__ = True
        unproven(why)


@pytest.fixture
def proof(record_property: Callable[[str, object], None]) -> Proof:
    return Proof(record_property)


@pytest.fixture(autouse=True)
def _feature_gate(request: pytest.FixtureRequest) -> None:
    """Skip, in a category, scenarios this combination or target cannot run."""
    gate(request)


@pytest.fixture(autouse=True)
def _concurrency_lock(request: pytest.FixtureRequest, _feature_gate: None) -> Iterator[None]:
    """In an xdist worker, hold the run's lock while the scenario and its cleanup run: shared,
    or exclusive for a host-wide scenario (harness.scenario.concurrency)."""
    config = request.config
    feature = feature_of(request.node)
    if feature is None or not is_worker(config) or CONTEXT not in config.stash:
        yield
        return
    exclusive = needs_of(request.node, config.stash[CONTEXT], feature).exclusive
    with holding(lock_path(config), exclusive):
        yield
