"""stop-start: power a server off and on again.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves stop and start because the server must reach SHUTOFF with the power state Nova reads from
the hypervisor SHUTDOWN, then ACTIVE with it RUNNING; a status the API set without the guest
really powering off or on fails the power state checks.
"""

import pytest

RUNNING, SHUTDOWN = 1, 4  # nova.compute.power_state


@pytest.mark.feature("stop-start")
def test_stop_and_start(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. stop it; wait until SHUTOFF with no task state; check its power state is SHUTDOWN (4)
    3. start it; wait until ACTIVE with no task state; check its power state is RUNNING (1)
    Passes only when the guest was powered off and on again as the hypervisor reports it."""
    server = make.server()
    cloud.compute.stop_server(server)
    stopped = wait.server(server.id, "SHUTOFF")
    assert stopped.power_state == SHUTDOWN, f"power state {stopped.power_state} after stop"
    cloud.compute.start_server(server)
    started = wait.server(server.id, "ACTIVE")
    assert started.power_state == RUNNING, f"power state {started.power_state} after start"
