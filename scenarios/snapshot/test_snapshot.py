"""snapshot: image a stopped server (Nova's snapshot operation, cold by construction).

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves snapshot because an image of the stopped server must become active and name this server as
its instance, and the server must be SHUTOFF with no task state afterwards; an image that never
finished uploading, or one not made from this server, fails.
"""

import pytest


@pytest.mark.feature("snapshot")
def test_snapshot_of_a_stopped_server(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. stop it; wait (default timeout) until SHUTOFF with no task state
    3. snapshot it and wait (snapshot timeout) until the image is active
    4. check the image is active and its instance_uuid is this server
    5. wait (default timeout) until SHUTOFF with no task state; check it
    Passes only when the stopped server's snapshot is an active image of it and the server stayed
    SHUTOFF."""
    server = make.server()
    cloud.compute.stop_server(server)
    wait.server(server.id, "SHUTOFF", kind="default")
    image = make.snapshot(server)
    assert image.status == "active"
    assert image.instance_uuid == server.id, "the image is not of this server"
    after = wait.server(server.id, "SHUTOFF", kind="default")
    assert (after.status, after.task_state) == ("SHUTOFF", None)
