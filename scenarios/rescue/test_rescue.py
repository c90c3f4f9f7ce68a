"""rescue: rescue a server from its image and unrescue it."""

import pytest


@pytest.mark.feature("rescue")
def test_rescue_and_unrescue(cloud, make, wait):
    """Rescue gives RESCUE, unrescue gives ACTIVE, each with no task state left."""
    server = make.server()
    cloud.compute.rescue_server(server)
    assert wait.server(server.id, "RESCUE").vm_state == "rescued"
    cloud.compute.unrescue_server(server)
    assert wait.server(server.id, "ACTIVE").vm_state == "active"
