"""Waiters poll with backoff, wait for status and task state together, and explain failures."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any, get_args

import pytest

from harness.declarations.model import Timeouts
from harness.scenario.accounting import RequestLog
from harness.scenario.waiters import (
    MIGRATION_ENDED,
    TIMEOUT_KINDS,
    Poll,
    TimeoutKind,
    Waiter,
    WaitFailed,
    poll_for,
)
from tests.conftest import REPO


@dataclass
class FakeClock:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 4))
        self.now += seconds

    def clock(self) -> float:
        return self.now


def server(status: str, task_state: str | None = None, fault: str | None = None) -> Any:
    return SimpleNamespace(
        id="s1", status=status, task_state=task_state, fault={"message": fault} if fault else None
    )


class FakeCompute:
    """Serves a scripted sequence of server states, one per get_server call."""

    def __init__(self, states: list[Any], requests: RequestLog) -> None:
        self.states = states
        self.calls = 0
        self.requests = requests
        self.actions: list[Any] = []  # newest first, as Nova lists them

    def server_actions(self, server_id: str) -> list[Any]:
        return self.actions

    def get_server_action(self, request_id: str, server_id: str) -> Any:
        return next(a for a in self.actions if a.request_id == request_id)

    def get_server(self, server_id: str) -> Any:
        self.requests.last_request_id = f"req-{self.calls}"
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return state


def waiter(
    states: list[Any], timeouts: Timeouts | None = None
) -> tuple[Waiter, FakeClock, FakeCompute]:
    clock = FakeClock()
    requests = RequestLog()
    compute = FakeCompute(states, requests)
    conn = SimpleNamespace(compute=compute)
    poll = Poll(sleep=clock.sleep, clock=clock.clock)
    return Waiter(conn, timeouts or Timeouts(default=30, boot=10), requests, poll), clock, compute


def test_polls_start_short_then_wait_a_tenth_of_the_elapsed_time_up_to_a_cap() -> None:
    clock = FakeClock()
    poll = Poll(sleep=clock.sleep, clock=clock.clock)
    with pytest.raises(WaitFailed):
        poll.until(lambda: None, timeout=30.0, describe=lambda: "never")
    assert clock.sleeps[:10] == [0.1] * 10
    assert clock.sleeps[11:13] == pytest.approx([0.11, 0.121])  # from 1 s on, a tenth
    assert max(clock.sleeps) == 2.0
    assert clock.now == pytest.approx(30.0)  # the last sleep is trimmed to the deadline
    assert len(clock.sleeps) < 50  # a slow operation still costs few requests (0.1 s: 300)


def test_a_change_is_seen_within_a_tenth_of_the_time_waited_and_a_twentieth_on_average() -> None:
    def seen_at(change_at: float) -> float:
        clock = FakeClock()
        poll = Poll(sleep=clock.sleep, clock=clock.clock)
        poll.until(lambda: True if clock.now >= change_at else None, 60, lambda: "x")
        return clock.now

    late = []
    for change_at in (0.35, 1.7, 4.9, 12.3):
        seen = seen_at(change_at)
        assert seen - change_at <= max(0.1, 0.1 * seen) + 1e-9
    for change_at in [1 + k * 0.37 for k in range(50)]:  # 1 to 19 s
        late.append((seen_at(change_at) - change_at) / change_at)
    assert sum(late) / len(late) <= 0.05 + 1e-9  # what the harness may cost over a script


@pytest.mark.parametrize(
    ("answer", "least"),
    [(0.04, None), (0.3, 0.6), (1.5, 3.0)],  # idle cloud: on schedule; busy: twice the answer
)
def test_side_by_side_a_poll_waits_at_least_twice_as_long_as_the_last_answer_took(
    answer: float, least: float | None
) -> None:
    clock = FakeClock()
    poll = replace(poll_for(side_by_side=True), sleep=clock.sleep, clock=clock.clock)

    def slow_probe() -> None:
        clock.now += answer  # the request's round trip

    with pytest.raises(WaitFailed):
        poll.until(slow_probe, timeout=30.0, describe=lambda: "never")
    waits = clock.sleeps[:-1]  # the last one is trimmed to the deadline
    if least is None:
        assert waits[:5] == [0.1] * 5  # the schedule's own first interval
    else:
        assert min(waits) == pytest.approx(least)  # even past the 2 s cap when answers crawl
        assert waits[0] == pytest.approx(least)
    busy = answer * (len(waits) + 1)
    assert busy / clock.now <= max(1 / 3, answer / (answer + 0.1)) + 1e-9


def test_a_waiter_alone_stays_on_the_schedule_however_slow_the_answers() -> None:
    """Alone it has one request in flight: slow answers come from elsewhere (a busy machine),
    and backing off would only see changes later."""
    clock = FakeClock()
    poll = replace(poll_for(side_by_side=False), sleep=clock.sleep, clock=clock.clock)

    def slow_probe() -> None:
        clock.now += 0.3

    with pytest.raises(WaitFailed):
        poll.until(slow_probe, timeout=10.0, describe=lambda: "never")
    assert clock.sleeps[:2] == [0.1, 0.1]  # not 0.6, as side by side


def test_status_alone_is_not_enough_task_state_must_clear() -> None:
    wait, _, compute = waiter(
        [server("ACTIVE", "migrating"), server("ACTIVE", "migrating"), server("ACTIVE")]
    )
    assert wait.server("s1").task_state is None
    assert compute.calls == 3


def test_error_fails_at_once_with_fault_and_request_id() -> None:
    wait, clock, _ = waiter(
        [server("BUILD", "spawning"), server("ERROR", None, "No valid host was found.")]
    )
    with pytest.raises(WaitFailed) as caught:
        wait.server("s1")
    assert str(caught.value) == (
        "server s1 status ERROR, task state None, fault 'No valid host was found.' "
        "while waiting for ACTIVE (last request id req-1)"
    )
    assert clock.now < 1.0


def test_error_waits_briefly_for_the_fault_nova_saves_after_the_state() -> None:
    wait, _, compute = waiter(
        [server("BUILD", "spawning"), server("ERROR"), server("ERROR", None, "disk full")]
    )
    with pytest.raises(WaitFailed) as caught:
        wait.server("s1")
    assert "fault 'disk full' while waiting for ACTIVE (last request id req-1)" in str(caught.value)
    assert compute.calls == 3


def test_error_without_a_fault_gives_up_on_it_soon() -> None:
    wait, clock, _ = waiter([server("ERROR")])
    with pytest.raises(WaitFailed) as caught:
        wait.server("s1")
    assert str(caught.value).startswith("server s1 status ERROR, task state None while waiting")
    assert 2.0 <= clock.now < 3.0


def action_event(
    name: str, result: str, host: str | None = None, traceback: str | None = None
) -> Any:
    return SimpleNamespace(event=name, result=result, host=host, traceback=traceback)


def test_error_names_the_failed_step_of_the_latest_action_and_its_traceback() -> None:
    wait, _, compute = waiter([server("ERROR", None, "oops")])
    trace = 'Traceback (most recent call last):\n  File "x"\nnova.exception.Gone: port gone\n'
    compute.actions = [
        SimpleNamespace(
            action="live-migration",
            request_id="req-lm",
            events=[
                action_event("conductor_live_migrate_instance", "Success"),
                action_event("compute_post_live_migration_at_destination", "Error", "host2", trace),
            ],
        ),
        SimpleNamespace(action="create", request_id="req-boot", events=[]),
    ]
    with pytest.raises(WaitFailed) as caught:
        wait.server("s1")
    assert str(caught.value).endswith(
        "(last request id req-0); action live-migration (req-lm) failed: "
        "compute_post_live_migration_at_destination on host2: nova.exception.Gone: port gone"
    )


def test_a_cloud_refusing_instance_actions_leaves_the_failure_as_it_was() -> None:
    wait, _, compute = waiter([server("ERROR", None, "oops")])

    def refuse(server_id: str) -> list[Any]:
        raise PermissionError("403: policy does not allow os_compute_api:os-instance-actions")

    compute.server_actions = refuse  # type: ignore[method-assign]
    with pytest.raises(WaitFailed) as caught:
        wait.server("s1")
    assert str(caught.value) == (
        "server s1 status ERROR, task state None, fault 'oops' while waiting for ACTIVE "
        "(last request id req-0)"
    )


def test_timeout_says_what_the_server_was_doing() -> None:
    wait, clock, _ = waiter([server("ACTIVE", "image_uploading")])
    with pytest.raises(WaitFailed) as caught:
        wait.server("s1", kind="boot")
    assert str(caught.value).startswith(
        "timed out after 10 s: server s1 status ACTIVE, task state image_uploading"
    )
    assert "waiting for ACTIVE with no task state (last request id req-" in str(caught.value)
    assert clock.now == pytest.approx(10.0)


def test_timeouts_fall_back_to_the_targets_default() -> None:
    wait, _, _ = waiter([server("ACTIVE")], Timeouts(default=42, migration=600))
    assert (wait.timeout("migration"), wait.timeout("snapshot"), wait.timeout("default")) == (
        600,
        42,
        42,
    )


def test_timeout_kinds_are_the_fields_of_timeouts() -> None:
    assert tuple(Timeouts.model_fields) == TIMEOUT_KINDS
    assert set(get_args(TimeoutKind)) == set(TIMEOUT_KINDS)
    assert set(TIMEOUT_KINDS) == {"default", "boot", "migration", "snapshot", "volume"}


def test_an_unknown_timeout_kind_is_an_error_naming_the_valid_kinds() -> None:
    wait, _, compute = waiter([server("ACTIVE")])
    typo: Any = "snaphsot"  # not a TimeoutKind: what a scenario's typo would pass
    expected = (
        "unknown timeout kind 'snaphsot'; valid kinds: default, boot, migration, snapshot, volume"
    )
    with pytest.raises(ValueError) as caught:
        wait.timeout(typo)
    assert str(caught.value) == expected
    probes: list[None] = []
    with pytest.raises(ValueError, match="unknown timeout kind 'snaphsot'"):
        wait.until(lambda: probes.append(None), "anything", typo)
    with pytest.raises(ValueError, match="unknown timeout kind 'snaphsot'"):
        wait.server("s1", kind=typo)
    assert (probes, compute.calls) == ([], 0)  # refused before the first poll


@pytest.mark.parametrize("kind", TIMEOUT_KINDS)
def test_each_kind_gives_its_own_timeout_or_the_default_when_unset(kind: TimeoutKind) -> None:
    own = Waiter(None, Timeouts(**{kind: 7}), RequestLog())
    assert own.timeout(kind) == 7
    unset = Waiter(None, Timeouts(default=42), RequestLog())
    assert unset.timeout(kind) == 42
    others = {k: 100 + i for i, k in enumerate(TIMEOUT_KINDS) if k not in (kind, "default")}
    mixed = Waiter(None, Timeouts(default=42, **others), RequestLog())
    assert mixed.timeout(kind) == 42  # another kind's value is never borrowed


def scenario_timeout_kinds() -> list[tuple[str, object]]:
    """Every kind a scenario passes to wait.until (third argument) or as kind=, with its place."""
    found = []
    for path in sorted((REPO / "scenarios").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "wait"
            ):
                continue
            kinds = [kw.value for kw in node.keywords if kw.arg == "kind"]
            if node.func.attr == "until" and len(node.args) >= 3:
                kinds.append(node.args[2])
            place = f"{path.relative_to(REPO)}:{node.lineno}"
            found += [
                (place, k.value if isinstance(k, ast.Constant) else ast.unparse(k)) for k in kinds
            ]
    return found


def test_every_scenario_waits_with_a_valid_timeout_kind() -> None:
    found = scenario_timeout_kinds()
    assert found, "no scenario passes a timeout kind: the scan is broken"
    wrong = [(place, kind) for place, kind in found if kind not in TIMEOUT_KINDS]
    assert wrong == [], f"not one of {TIMEOUT_KINDS}: {wrong}"


def test_waiting_for_error_is_allowed() -> None:
    wait, _, _ = waiter([server("ERROR")])
    assert wait.server("s1", "ERROR").status == "ERROR"


def test_migration_waiter_polls_until_the_record_is_final() -> None:
    records = [
        [SimpleNamespace(status="running")],
        [SimpleNamespace(status="running")],
        [SimpleNamespace(status="completed")],
    ]
    calls = iter(records)
    conn = SimpleNamespace(compute=SimpleNamespace(migrations=lambda **query: next(calls)))
    clock = FakeClock()
    wait = Waiter(conn, Timeouts(), RequestLog(), Poll(sleep=clock.sleep, clock=clock.clock))
    assert wait.migration("s1").status == "completed"
    assert len(clock.sleeps) == 2


def test_migration_records_are_polled_twice_as_often_and_seen_within_a_twentieth() -> None:
    """A record costs the API half of a server per poll: the same load sees a migration end
    twice as soon (a fake cell's 5 s live migration was seen 0.6-1.0 s late, polling the server)."""

    def polls(change_at: float, records: bool) -> tuple[float, int]:
        clock = FakeClock()
        running, completed = SimpleNamespace(status="running"), SimpleNamespace(status="completed")
        compute = SimpleNamespace(
            migrations=lambda **query: [completed if clock.now >= change_at else running],
            get_server=lambda _: server("ACTIVE" if clock.now >= change_at else "MIGRATING"),
        )
        poll = Poll(sleep=clock.sleep, clock=clock.clock)
        wait = Waiter(SimpleNamespace(compute=compute), Timeouts(default=60), RequestLog(), poll)
        if records:
            assert wait.migration("s1", MIGRATION_ENDED).status == "completed"
        else:
            wait.server("s1", kind="migration")
        return clock.now, len(clock.sleeps) + 1

    changes = [1 + k * 0.37 for k in range(50)]  # 1 to 19 s
    late = {True: 0.0, False: 0.0}
    for change_at in changes:
        seen, record_polls = polls(change_at, records=True)
        assert seen - change_at <= max(0.1, 0.05 * seen) + 1e-9
        late[True] += seen - change_at
        server_seen, server_polls = polls(change_at, records=False)
        late[False] += server_seen - change_at
        assert record_polls <= 2 * server_polls  # twice as often at most
    assert late[True] < 0.7 * late[False]  # seen sooner (twice as soon below the 2 s cap)


def test_a_migration_that_failed_ends_the_wait_for_its_end_at_once() -> None:
    clock = FakeClock()
    failed = [SimpleNamespace(status="error")]
    conn = SimpleNamespace(compute=SimpleNamespace(migrations=lambda **query: failed))
    wait = Waiter(conn, Timeouts(), RequestLog(), Poll(sleep=clock.sleep, clock=clock.clock))
    assert wait.migration("s1", MIGRATION_ENDED).status == "error"
    assert clock.sleeps == []


def test_image_and_volume_errors_fail_fast() -> None:
    conn = SimpleNamespace(
        image=SimpleNamespace(get_image=lambda i: SimpleNamespace(status="killed")),
        block_storage=SimpleNamespace(
            get_volume=lambda v: SimpleNamespace(status="error_extending")
        ),
    )
    wait = Waiter(conn, Timeouts(), RequestLog(), Poll(sleep=lambda s: None))
    with pytest.raises(WaitFailed, match="image i1 is killed"):
        wait.image("i1")
    with pytest.raises(WaitFailed, match="volume v1 is error_extending"):
        wait.volume("v1", "in-use")


def test_request_log_counts_responses_and_keeps_the_request_id() -> None:
    log = RequestLog()
    for method, rid in [("GET", "req-a"), ("POST", None), ("GET", "req-c")]:
        headers = {"x-openstack-request-id": rid} if rid else {}
        log.record(SimpleNamespace(request=SimpleNamespace(method=method), headers=headers))
    assert (log.count, log.by_method, log.last_request_id) == (3, {"GET": 2, "POST": 1}, "req-c")


def action_conn(
    events_per_poll: list[list[Any]], name: str = "reboot", message: str | None = None
) -> Any:
    polls = iter(events_per_poll)
    return SimpleNamespace(
        compute=SimpleNamespace(
            server_actions=lambda server_id: [SimpleNamespace(request_id="req-1")],
            get_server_action=lambda rid, server_id: SimpleNamespace(
                action=name, request_id=rid, message=message, events=next(polls)
            ),
        )
    )


def event(result: str | None) -> Any:
    return SimpleNamespace(
        event="compute_reboot_instance", result=result, finish_time="t" if result else None
    )


def test_action_waiter_waits_for_every_event_to_finish_and_succeed() -> None:
    conn = action_conn([[event(None)], [event(None)], [event("Success")]])
    wait = Waiter(conn, Timeouts(), RequestLog(), Poll(sleep=lambda s: None))
    assert wait.action("s1", "reboot").request_id == "req-1"


def test_action_waiter_fails_on_the_wrong_action_or_a_failed_event() -> None:
    wrong = Waiter(
        action_conn([[event("Success")]], name="stop"),
        Timeouts(),
        RequestLog(),
        Poll(sleep=lambda s: None),
    )
    with pytest.raises(WaitFailed, match="newest action of server s1 is 'stop', not 'reboot'"):
        wrong.action("s1", "reboot")
    failed = Waiter(
        action_conn([[event("Error")]]), Timeouts(), RequestLog(), Poll(sleep=lambda s: None)
    )
    with pytest.raises(WaitFailed, match="action reboot of server s1 did not succeed"):
        failed.action("s1", "reboot")
    lenient = Waiter(
        action_conn([[event("Error")]]), Timeouts(), RequestLog(), Poll(sleep=lambda s: None)
    )
    assert lenient.action("s1", "reboot", require_success=False).events[0].result == "Error"


class FakeConsole:
    """Console output that grows by one scripted line per call, as a booting guest's does."""

    def __init__(self, lines: list[str]) -> None:
        self.lines, self.calls = lines, 0

    def get_server_console_output(self, server_id: str) -> dict[str, str]:
        self.calls += 1
        return {"output": "\n".join(self.lines[: self.calls])}


def console_waiter(lines: list[str]) -> tuple[Waiter, FakeConsole]:
    clock, console = FakeClock(), FakeConsole(lines)
    poll = Poll(sleep=clock.sleep, clock=clock.clock)
    conn = SimpleNamespace(compute=console)
    return Waiter(conn, Timeouts(default=30, boot=10), RequestLog(), poll), console


def test_console_waits_until_the_guest_prints_the_text() -> None:
    wait, console = console_waiter(["SeaBIOS", "Booting", "MATRIX-GUEST-BOOTED 6.1", "more"])
    output = wait.console("s1", "MATRIX-GUEST-BOOTED")
    assert output.endswith("MATRIX-GUEST-BOOTED 6.1") and console.calls == 3


def test_console_that_never_shows_the_text_fails_with_its_last_lines() -> None:
    wait, _ = console_waiter(["SeaBIOS", "Booting", "Kernel panic"])
    with pytest.raises(WaitFailed) as failed:
        wait.console("s1", "NMI received")
    message = str(failed.value)
    assert message.startswith("timed out after 10 s: 'NMI received' on the console of server s1")
    assert "Booting | Kernel panic" in message  # the boot timeout, and what the guest said last
