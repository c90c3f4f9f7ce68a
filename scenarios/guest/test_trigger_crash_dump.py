"""trigger-crash-dump: inject an NMI into a server (microversion 2.17).

Needs: one compute (features.yaml `requires`); compute microversion 2.17 (features.yaml
`microversion`, sent explicitly).

Proves trigger-crash-dump because Nova must accept the request (202) and the newest instance
action must be `trigger_crash_dump` with every event finished as a Success and no error message;
the API only casts to the compute, so a driver's refusal shows in the events: one ending in
TriggerCrashDumpNotSupported or NotImplementedError skips as not applicable, any other fails.
Where the lab file says what the image prints once booted (`guest.booted`), the NMI is injected
into a booted guest and its kernel's answer (`guest.nmi`, Linux's "NMI received") must reach the
console: the guest itself took the NMI.
"""

import pytest

from harness.scenario.skips import not_applicable

REFUSALS = ("TriggerCrashDumpNotSupported", "NotImplementedError")  # the driver cannot


@pytest.mark.feature("trigger-crash-dump")
def test_trigger_crash_dump(cloud, make, wait, target, proof):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. post trigger_crash_dump at microversion 2.17 and check Nova answers 202
    3. wait until Nova's newest instance action is `trigger_crash_dump` with every event finished
       (failed events allowed at this step)
    4. for each event: a failure whose traceback ends in TriggerCrashDumpNotSupported or
       NotImplementedError skips as not applicable; any other non-Success result fails
    5. check the action carries no error message
    6. where the guest's boot text is declared (and waited for before step 2), wait until the
       console shows the guest's NMI text
    Passes only when Nova accepted the dump and no event of its action failed (and, where the
    guest is known, the guest's kernel reported the NMI)."""
    server = make.server()
    booted = target.guest.booted
    if booted:
        wait.console(server.id, booted)  # a kernel still booting may not report an NMI
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
    if booted:
        wait.console(server.id, target.guest.nmi)
        proof.by(f"the guest's console: {target.guest.nmi!r}, its kernel took the NMI")
    else:  # the driver injected it; nothing here shows what the guest made of it
        proof.by("Nova's trigger_crash_dump events succeeded; the guest's answer was not seen")
