"""rebuild: rebuild an image-backed server from the target's image.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves rebuild because the same server must come back ACTIVE with no task state on the requested
image and Nova's newest instance action must be a `rebuild` whose events all succeeded; a rebuild
the API accepted but the compute never ran fails the action check. (The server was booted from
the same image, so the image check alone would not tell a rebuilt server from an untouched one.)
"""

import pytest


@pytest.mark.feature("rebuild")
def test_rebuild(cloud, make, wait):
    """Outline:
    1. boot a server from the target's image and wait until ACTIVE
    2. rebuild it from the target's image; check the answer names the same server
    3. wait until it is ACTIVE with no task state again
    4. check its image is the target's image
    5. wait until Nova's newest instance action on it is `rebuild`, every event finished and a
       Success
    Passes only when the rebuilt server is ACTIVE on the image and Nova recorded a successful
    rebuild."""
    server = make.server()
    image = make.image()
    assert cloud.compute.rebuild_server(server, image=image.id).id == server.id
    rebuilt = wait.server(server.id, "ACTIVE")
    assert rebuilt.image.id == image.id, f"rebuilt from {rebuilt.image.id}, not {image.id}"
    wait.action(server.id, "rebuild")
