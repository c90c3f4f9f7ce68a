"""stop-start: power a server off and on again."""

import pytest

RUNNING, SHUTDOWN = 1, 4  # nova.compute.power_state


@pytest.mark.feature("stop-start")
def test_stop_and_start(cloud, make, wait):
    """Stop gives SHUTOFF with the guest shut down; start gives ACTIVE with it running."""
    server = make.server()
    cloud.compute.stop_server(server)
    stopped = wait.server(server.id, "SHUTOFF")
    assert stopped.power_state == SHUTDOWN, f"power state {stopped.power_state} after stop"
    cloud.compute.start_server(server)
    started = wait.server(server.id, "ACTIVE")
    assert started.power_state == RUNNING, f"power state {started.power_state} after start"
