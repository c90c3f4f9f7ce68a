"""launch: boot a server and terminate it (Nova's launch and terminate operations)."""

import pytest


@pytest.mark.feature("launch")
def test_launch_and_terminate(cloud, make, wait):
    server = make.server()
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert server.metadata["matrix_run"] == make.run_id
    assert cloud.compute.get_server(server.id).addresses, "the server has no network address"
    cloud.compute.delete_server(server.id)
    wait.gone(server.id)
