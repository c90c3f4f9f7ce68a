"""live-snapshot: snapshot a running server without pausing or stopping it.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute), and, to prove the live path, a readable nova-compute log (or
devstack's n-cpu journal) on the target's compute hosts (the `hosts` fixture). Not applicable
on LVM storage (features.yaml `not_applicable`).

Proves live snapshot because the image must become active while the server, polled throughout,
shows only ACTIVE, a running power state and snapshot task states, and libvirt must have logged
its live snapshot line and not its cold one for this server; a paused or stopped server fails
the states check. The API's states alone cannot tell live from cold (libvirt's cold path keeps
the server ACTIVE, and Nova does not sync the power state while a task runs), so without a
readable compute log the scenario skips as unproven.
"""

import pytest

LIVE = "Beginning live snapshot process"  # libvirt logs one of these per snapshot, at INFO
COLD = "Beginning cold snapshot process"
RUNNING = 1  # Nova's power_state for a running domain
SNAPSHOT_TASK_STATES = {
    None,
    "image_snapshot",
    "image_snapshot_pending",
    "image_pending_upload",
    "image_uploading",
}
COMPUTE_LOGS = ("/var/log/nova/nova-compute.log", "/var/log/kolla/nova/nova-compute.log")
DEVSTACK_COMPUTE_UNIT = "devstack@n-cpu"


def compute_log_lines(hosts, server_id):
    """Compute log lines naming the server, or None when no compute host's log is readable."""
    lines, readable = [], False
    for entry in (h for h in hosts if "compute" in h.roles):
        run = entry.host.run
        for log in map(entry.path, COMPUTE_LOGS):
            if run("test -r %s", log).rc == 0:
                readable = True
                lines += run("grep -F -- %s %s", server_id, log).stdout.splitlines()
        if entry.root is None and run("journalctl -q -n 1 -u %s", DEVSTACK_COMPUTE_UNIT).stdout:
            readable = True
            journal = run("journalctl --no-pager -o cat -u %s", DEVSTACK_COMPUTE_UNIT).stdout
            lines += [line for line in journal.splitlines() if server_id in line]
    return lines if readable else None


@pytest.mark.feature("live-snapshot")
def test_live_snapshot_of_a_running_server(cloud, make, wait, hosts, record_property, proof):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. request a snapshot image without waiting for it
    3. poll (snapshot timeout) until the image is active and the server has no task state, noting
       every (status, power state, task state) the server shows; a killed or deleted image fails
    4. record the states seen; check the status was always ACTIVE, the power state always running
       (where the API shows it) and every task state a snapshot one
    5. read the compute hosts' log lines naming the server; if no log is readable, skip as
       unproven
    6. check there is no cold snapshot line and there is a live snapshot line
    Passes only when the snapshot was made while the server kept running, by the live path."""
    server = make.server()
    image = make.snapshot(server, wait=False)
    seen = []  # every (status, power_state, task_state) the server showed while it was made

    def snapshot_done():
        now = cloud.compute.get_server(server.id)
        if (now.status, now.power_state, now.task_state) not in seen:
            seen.append((now.status, now.power_state, now.task_state))
        made = cloud.image.get_image(image.id)
        assert made.status not in ("killed", "deleted"), f"image {image.id} is {made.status}"
        return made if made.status == "active" and now.task_state is None else None

    wait.until(snapshot_done, f"image {image.id} active and server {server.id} idle", "snapshot")
    record_property("server_states", repr(seen))
    assert {status for status, _, _ in seen} == {"ACTIVE"}, f"server paused or stopped: {seen}"
    powers = {power for _, power, _ in seen if power is not None}  # None: hidden by policy
    assert powers <= {RUNNING}, f"the server's power state left running: {seen}"
    assert {task for _, _, task in seen} <= SNAPSHOT_TASK_STATES, f"not a snapshot task: {seen}"

    lines = compute_log_lines(hosts, server.id)
    if lines is None:
        proof.lacking(
            "no compute log is readable on the target's hosts, and the API's states cannot tell "
            "a live snapshot from a cold one"
        )
    assert not any(COLD in line for line in lines), "Nova took the cold snapshot path"
    assert any(LIVE in line for line in lines), f"no '{LIVE}' for {server.id} in compute logs"
    proof.by(f"the compute log's '{LIVE}' for this server, no cold snapshot line")
