"""shelve-unshelve: shelve an image-backed server, offload it and unshelve it.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves shelve because the server must reach SHELVED or SHELVED_OFFLOADED with no task state,
offload because it must then be SHELVED_OFFLOADED, and unshelve because it must come back ACTIVE
with vm_state active; a request the API accepted but the compute never carried out leaves a task
state or the old status and fails.
"""

import pytest


@pytest.mark.feature("shelve-unshelve")
def test_shelve_and_unshelve(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. shelve it; register Nova's shelve snapshot image (`<server name>-shelved`) for cleanup if
       it is listed
    3. wait (snapshot timeout) until SHELVED or SHELVED_OFFLOADED with no task state
    4. if it is only SHELVED (the cloud keeps shelved servers), offload it and wait until
       SHELVED_OFFLOADED with no task state
    5. unshelve it; wait until ACTIVE with no task state and check its vm_state is active
    Passes only when the server went through shelved and offloaded and came back active."""
    server = make.server()
    cloud.compute.shelve_server(server)
    snapshot_name = f"{server.name}-shelved"  # Nova's shelve snapshot, deleted on unshelve
    for image in cloud.image.images(name=snapshot_name):
        if image.name == snapshot_name:
            make.adopt_image(image.id)

    def shelved():
        found = cloud.compute.get_server(server.id)
        done = found.status in ("SHELVED", "SHELVED_OFFLOADED") and found.task_state is None
        return found if done else None

    if wait.until(shelved, f"server {server.id} to be shelved", "snapshot").status == "SHELVED":
        cloud.compute.shelve_offload_server(server)
        wait.server(server.id, "SHELVED_OFFLOADED")
    cloud.compute.unshelve_server(server)
    assert wait.server(server.id, "ACTIVE").vm_state == "active"
