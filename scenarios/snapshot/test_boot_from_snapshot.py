"""boot-from-snapshot: boot a new server from a server's snapshot image."""

import pytest


@pytest.mark.feature("boot-from-snapshot")
def test_boot_from_a_server_snapshot(cloud, make):
    """A server booted from another server's snapshot image becomes ACTIVE on that image."""
    image = make.snapshot(make.server())
    server = make.server(image_id=image.id)
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert server.image["id"] == image.id, "the new server was not booted from the snapshot"
    assert cloud.compute.get_server(server.id).addresses, "the server has no network address"
