"""Wait on the right thing: status and task state together, migration records, images, volumes.

Polls start short (0.1 s, so fast clouds are not slowed down) and then wait a tenth of the time
already waited, up to 2 s: a change is seen at most 10 % after it happened, 5 % on average, which
is what the harness may cost over a hand-written script (issue 15's aim), and a slow operation
still costs few requests (47 over 30 s, where a fixed 0.1 s poll makes 300). (A fifth of
the elapsed time saw a fake cell's 5 s live migration 0.25 s late on average; a backoff by a
factor of 1.5, half the elapsed time, 1.2 s late.) Migration records are polled twice as often,
for the same load on the API: listing a server's migrations costs Nova about half of showing
the server (14 ms of API time against 30 ms on an embedded cell), so a migration's end is seen
within a twentieth of the time waited; scenarios wait for the record first, then for the server
(which settles before its record completes).

Side by side (`--concurrency`, xdist workers), a poll also waits at least twice as long as the
last answer took: a cloud the waiters themselves slow down is then asked at most a third of
the time by each, instead of harder as it slows (at four workers on a fake cell, a third fewer
requests). One waiter alone keeps one request in flight and cannot pile load up, while its
answers are slowed by whatever else the machine runs; it stays on the schedule.

Each wait has a per-target timeout by kind, one of the fields of `Timeouts` (`TimeoutKind`); an
unknown kind is an error, not a silent fallback to the default. On timeout or on an unexpected
ERROR the failure says what the server was doing: status, task state, fault, and the request id
of the last call; on ERROR also which action failed where (`why_error`), since a CI log is often
all anyone gets to read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar, get_args

from openstack.exceptions import NotFoundException

from harness.declarations.model import Timeouts
from harness.scenario.accounting import RequestLog

T = TypeVar("T")

FIRST_INTERVAL = 0.1
MAX_INTERVAL = 2.0
SHARE_OF_ELAPSED = 0.1
MIGRATION_ENDED = ("completed", "cancelled", "error", "failed")
"""A migration record in one of these has ended: waiting for them, a failure ends the wait too."""
RECORD_POLL_RATE = 2
"""Migration records cost the API half of a server's state per poll: polled twice as often."""
ANSWER_MULTIPLE = 2.0
"""Side by side, a poll waits at least this many times as long as the last answer took."""
FAULT_GRACE = 2.0
"""Nova saves a server's ERROR state before its fault: how long a failure waits for the fault."""

TimeoutKind = Literal["default", "boot", "migration", "snapshot", "volume"]
"""What a wait's timeout is read from: a field of the target's `Timeouts`."""

TIMEOUT_KINDS: tuple[str, ...] = tuple(Timeouts.model_fields)
"""The valid kinds, from the one source: the fields of `Timeouts`."""

if set(get_args(TimeoutKind)) != set(TIMEOUT_KINDS):  # checked at import: they cannot drift
    raise RuntimeError(
        f"TimeoutKind {sorted(get_args(TimeoutKind))} does not match the fields of Timeouts "
        f"{sorted(TIMEOUT_KINDS)}; update TimeoutKind in {__name__}"
    )


class WaitFailed(AssertionError):
    """A wait ended in a state the scenario did not want, or never ended."""


@dataclass
class Poll:
    """The polling schedule; separate so tests can count and time it."""

    first: float = FIRST_INTERVAL
    cap: float = MAX_INTERVAL
    share: float = SHARE_OF_ELAPSED
    answer_multiple: float = 0.0  # on the schedule alone; see poll_for
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def until(
        self, probe: Callable[[], T | None], timeout: float, describe: Callable[[], str]
    ) -> T:
        started = self.clock()
        deadline = started + timeout
        while True:
            asked = self.clock()
            result = probe()
            if result is not None:
                return result
            now = self.clock()
            if now >= deadline:
                raise WaitFailed(f"timed out after {timeout:g} s: {describe()}")
            scheduled = min(max(self.first, (now - started) * self.share), self.cap)
            interval = max(scheduled, (now - asked) * self.answer_multiple)
            self.sleep(min(interval, deadline - now))


def _fault(server: Any) -> str:
    fault = getattr(server, "fault", None) or {}
    message = fault.get("message") if isinstance(fault, dict) else None
    return f", fault {message!r}" if message else ""


def describe_server(server: Any) -> str:
    return (
        f"server {server.id} status {server.status}, task state {server.task_state}{_fault(server)}"
    )


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def newest_action(conn: Any, server_id: str) -> Any:
    """The server's newest instance action with its events (Nova lists newest first), or None."""
    newest = next(iter(conn.compute.server_actions(server_id)), None)
    return None if newest is None else conn.compute.get_server_action(newest.request_id, server_id)


def _step(event: Any) -> str:
    host = getattr(event, "host", None)
    traceback = _last_line(getattr(event, "traceback", None))
    return f"{event.event}{f' on {host}' if host else ''}{f': {traceback}' if traceback else ''}"


def failed_events(conn: Any, server_id: str) -> str:
    """The failed events of the server's latest action, with the last line of each traceback
    (which Nova shows an admin): the action that put it in ERROR, its step and host. Best
    effort: a cloud that refuses the instance-actions API leaves the failure as it was."""
    try:
        action = newest_action(conn, server_id)
        if action is None:
            return ""
        failed = [e for e in action.events or [] if str(e.result).lower() == "error"]
    except Exception:  # diagnostics must never hide the failure they explain
        return ""
    where = f"action {action.action} ({action.request_id})"
    if not failed:
        return f"; last {where}"
    return f"; {where} failed: " + "; ".join(_step(e) for e in failed)


def poll_for(side_by_side: bool) -> Poll:
    """The schedule for a waiter alone, or for one of several sharing a cloud."""
    return Poll(answer_multiple=ANSWER_MULTIPLE) if side_by_side else Poll()


class Waiter:
    """Waits against one cloud, with one target's timeouts."""

    def __init__(
        self, conn: Any, timeouts: Timeouts, requests: RequestLog, poll: Poll | None = None
    ) -> None:
        self.conn = conn
        self.timeouts = timeouts
        self.requests = requests
        self.poll = poll or Poll()
        self.seen_gone: set[str] = set()  # servers `gone` saw deleted: no cleanup asks again

    def timeout(self, kind: TimeoutKind) -> float:
        """The target's timeout for `kind`, or its default when that kind is unset."""
        if kind not in TIMEOUT_KINDS:
            raise ValueError(
                f"unknown timeout kind {kind!r}; valid kinds: {', '.join(TIMEOUT_KINDS)}"
            )
        value = getattr(self.timeouts, kind)
        return float(value if value is not None else self.timeouts.default)

    def _context(self) -> str:
        rid = self.requests.last_request_id
        return f" (last request id {rid})" if rid else ""

    def until(
        self,
        probe: Callable[[], T | None],
        what: str,
        kind: TimeoutKind = "default",
        poll: Poll | None = None,
    ) -> T:
        """`probe` until it gives a value, on `poll` (the waiter's own schedule by default)."""
        schedule = poll or self.poll
        return schedule.until(probe, self.timeout(kind), lambda: what + self._context())

    def server(
        self,
        server_id: str,
        status: str = "ACTIVE",
        *,
        kind: TimeoutKind = "boot",
        allow_error: bool = False,
    ) -> Any:
        """Wait until the server has `status` and no task state (an action is truly over)."""
        last: list[Any] = []

        def probe() -> Any:
            server = self.conn.compute.get_server(server_id)
            last[:] = [server]
            if server.status == status and server.task_state is None:
                return server
            if server.status == "ERROR" and status != "ERROR" and not allow_error:
                raise WaitFailed(self.why_error(server, f"while waiting for {status}"))
            return None

        def describe() -> str:
            state = describe_server(last[0]) if last else f"server {server_id}"
            return f"{state}, waiting for {status} with no task state{self._context()}"

        return self.poll.until(probe, self.timeout(kind), describe)

    def why_error(self, server: Any, doing: str) -> str:
        """Why a server is in ERROR, as far as Nova says: its fault (waited for briefly, as Nova
        records it just after the state) and its latest action's failed events."""
        context = self._context()  # the request that saw ERROR, before more are made
        deadline = self.poll.clock() + FAULT_GRACE
        while not getattr(server, "fault", None) and self.poll.clock() < deadline:
            self.poll.sleep(self.poll.first * 3)
            server = self.conn.compute.get_server(server.id)
        return f"{describe_server(server)} {doing}{context}{failed_events(self.conn, server.id)}"

    def console(self, server_id: str, text: str, *, kind: TimeoutKind = "boot") -> str:
        """The server's console output once it holds `text` (something the guest prints):
        what proves at the guest that it booted, read its config drive or took an NMI."""
        seen = [""]

        def probe() -> str | None:
            output = self.conn.compute.get_server_console_output(server_id)["output"] or ""
            seen[0] = output
            return output if text in output else None

        def describe() -> str:
            tail = " | ".join(seen[0].strip().splitlines()[-3:])
            return f"{text!r} on the console of server {server_id}; it ends: {tail!r}"

        return self.poll.until(probe, self.timeout(kind), lambda: describe() + self._context())

    def gone(self, server_id: str) -> None:
        def probe() -> bool | None:  # by id alone: a find would also list servers by name
            try:
                self.conn.compute.get_server(server_id)
            except NotFoundException:
                return True
            return None

        self.until(probe, f"server {server_id} to be deleted")
        self.seen_gone.add(server_id)

    def migration(
        self,
        server_id: str,
        statuses: Iterable[str] = ("completed",),
        *,
        kind: TimeoutKind = "migration",
    ) -> Any:
        """The migration record reaches one of `statuses`; it can lag the server's own state.
        Polled RECORD_POLL_RATE times as often as a server: a record is cheaper to read."""
        wanted = set(statuses)

        def probe() -> Any:
            found = list(self.conn.compute.migrations(instance_uuid=server_id))
            return next((m for m in found if m.status in wanted), None)

        often = replace(self.poll, share=self.poll.share / RECORD_POLL_RATE)
        return self.until(probe, f"a migration of {server_id} to be {sorted(wanted)}", kind, often)

    def action(
        self,
        server_id: str,
        name: str,
        *,
        kind: TimeoutKind = "default",
        require_success: bool = True,
    ) -> Any:
        """Nova's newest instance action on the server, once every event of it has finished.

        Fails unless it is the action named and (unless `require_success` is false, for
        scenarios that read a refusal from the events) every event succeeded: a scenario
        proves the operation happened on the compute host, not merely that the API took it.
        """

        def probe() -> Any:
            action = newest_action(self.conn, server_id)
            if action is None:
                return None
            return action if all(e.finish_time for e in action.events or []) else None

        action = self.until(probe, f"the newest action of server {server_id} to finish", kind)
        if action.action != name:
            raise WaitFailed(
                f"the newest action of server {server_id} is {action.action!r}, not {name!r}"
            )
        results = [(e.event, e.result) for e in action.events or []]
        failed = action.message or any(result != "Success" for _, result in results)
        if require_success and failed:
            raise WaitFailed(
                f"action {name} of server {server_id} did not succeed: {action.message!r} {results}"
            )
        return action

    def image(self, image_id: str, status: str = "active") -> Any:
        def probe() -> Any:
            image = self.conn.image.get_image(image_id)
            if image.status in ("killed", "deleted") and status not in ("killed", "deleted"):
                raise WaitFailed(f"image {image_id} is {image.status}{self._context()}")
            return image if image.status == status else None

        return self.until(probe, f"image {image_id} to be {status}", "snapshot")

    def volume(self, volume_id: str, status: str = "available") -> Any:
        def probe() -> Any:
            volume = self.conn.block_storage.get_volume(volume_id)
            if volume.status.startswith("error") and not status.startswith("error"):
                raise WaitFailed(f"volume {volume_id} is {volume.status}{self._context()}")
            return volume if volume.status == status else None

        return self.until(probe, f"volume {volume_id} to be {status}", "volume")
