"""boot-from-snapshot: boot a new server from a server's snapshot image.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves boot-from-snapshot because a second server booted from the first one's snapshot image
(active before the boot) must be ACTIVE with no task state, report that image, and have a network
address; a snapshot that never became usable, or a boot that fell back to another image, fails.
"""

import pytest


@pytest.mark.feature("boot-from-snapshot")
def test_boot_from_a_server_snapshot(cloud, make):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. snapshot it and wait (snapshot timeout) until the image is active
    3. boot a second server from the snapshot image and wait until ACTIVE
    4. check it is ACTIVE with no task state, booted from the snapshot image, with a network address
    Passes only when a server booted from the snapshot and is running on it."""
    image = make.snapshot(make.server())
    server = make.server(image_id=image.id)
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert server.image["id"] == image.id, "the new server was not booted from the snapshot"
    assert cloud.compute.get_server(server.id).addresses, "the server has no network address"
