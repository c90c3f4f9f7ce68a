"""volume-backed-live-migration: live migrate a server booted from a volume (no local disk)."""

import pytest


@pytest.mark.feature("volume-backed-live-migration")
def test_volume_backed_live_migration(cloud, make, wait):
    volume = make.volume(size=1, image_id=make.image().id)  # made first, deleted after the server
    root_disk = {
        "boot_index": 0,
        "uuid": volume.id,
        "source_type": "volume",
        "destination_type": "volume",
        "delete_on_termination": False,
    }
    server = make.server(block_device_mapping=[root_disk])
    cloud.compute.live_migrate_server(server, block_migration="auto")
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    wait.migration(server.id, ("completed",))
    attachments = cloud.block_storage.get_volume(volume.id).attachments
    assert {a["server_id"]: a["host_name"] for a in attachments} == {server.id: moved.compute_host}
