"""pause-unpause: pause a server and unpause it."""

import pytest


@pytest.mark.feature("pause-unpause")
def test_pause_and_unpause(cloud, make, wait):
    """Pause gives PAUSED, unpause gives ACTIVE, each with no task state left."""
    server = make.server()
    cloud.compute.pause_server(server)
    assert wait.server(server.id, "PAUSED").vm_state == "paused"
    cloud.compute.unpause_server(server)
    assert wait.server(server.id, "ACTIVE").vm_state == "active"
