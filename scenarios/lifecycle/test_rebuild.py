"""rebuild: rebuild an image-backed server from the target's image."""

import pytest


@pytest.mark.feature("rebuild")
def test_rebuild(cloud, make, wait):
    """The same server comes back ACTIVE on the target's image, with a finished rebuild action."""
    server = make.server()
    image = make.image()
    assert cloud.compute.rebuild_server(server, image=image.id).id == server.id
    rebuilt = wait.server(server.id, "ACTIVE")
    assert rebuilt.image.id == image.id, f"rebuilt from {rebuilt.image.id}, not {image.id}"
    wait.action(server.id, "rebuild")
