"""shelve-unshelve: shelve an image-backed server, offload it and unshelve it."""

import pytest


@pytest.mark.feature("shelve-unshelve")
def test_shelve_and_unshelve(cloud, make, wait):
    """Shelving ends SHELVED_OFFLOADED (offloading if the cloud keeps it), unshelving ACTIVE."""
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
