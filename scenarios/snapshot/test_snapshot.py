"""snapshot: image a stopped server (Nova's snapshot operation, cold by construction)."""

import pytest


@pytest.mark.feature("snapshot")
def test_snapshot_of_a_stopped_server(cloud, make, wait):
    """A stopped server's snapshot becomes an active image of it; the server stays SHUTOFF."""
    server = make.server()
    cloud.compute.stop_server(server)
    wait.server(server.id, "SHUTOFF", kind="default")
    image = make.snapshot(server)
    assert image.status == "active"
    assert image.instance_uuid == server.id, "the image is not of this server"
    after = wait.server(server.id, "SHUTOFF", kind="default")
    assert (after.status, after.task_state) == ("SHUTOFF", None)
