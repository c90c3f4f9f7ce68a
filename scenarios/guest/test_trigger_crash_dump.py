"""trigger-crash-dump: inject an NMI into a server (microversion 2.17)."""

import pytest

from harness.scenario.skips import not_applicable

REFUSALS = ("TriggerCrashDumpNotSupported", "NotImplementedError")  # the driver cannot


@pytest.mark.feature("trigger-crash-dump")
def test_trigger_crash_dump(cloud, make, wait):
    """Nova accepts the crash dump and its compute event finishes with Success."""
    server = make.server()
    response = cloud.compute.post(
        f"/servers/{server.id}/action", json={"trigger_crash_dump": None}, microversion="2.17"
    )
    assert response.status_code == 202, f"{response.status_code}: {response.text}"

    # The API casts to the compute: a driver's refusal shows only in the action's events.
    action = wait.action(server.id, "trigger_crash_dump", require_success=False)
    for event in action.events or []:
        last_line = (event.traceback or "").strip().splitlines()[-1:]
        if event.result != "Success" and any(r in "".join(last_line) for r in REFUSALS):
            not_applicable(f"Nova's {event.event} event failed: {last_line[0]}")
        assert event.result == "Success", f"{event.event}: {event.result} {event.traceback}"
    assert not action.message, f"the action ended with {action.message!r}"
