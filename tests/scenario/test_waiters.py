"""Waiters poll with backoff, wait for status and task state together, and explain failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from harness.declarations.model import Timeouts
from harness.scenario.accounting import RequestLog
from harness.scenario.waiters import Poll, Waiter, WaitFailed


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


def test_backoff_starts_short_and_is_capped() -> None:
    clock = FakeClock()
    poll = Poll(sleep=clock.sleep, clock=clock.clock)
    with pytest.raises(WaitFailed):
        poll.until(lambda: None, timeout=12.0, describe=lambda: "never")
    assert clock.sleeps[:6] == [0.1, 0.15, 0.225, 0.3375, 0.5063, 0.7594]
    assert max(clock.sleeps) == 2.0
    assert clock.now == pytest.approx(12.0)  # the last sleep is trimmed to the deadline


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
