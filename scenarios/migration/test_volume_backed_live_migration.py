"""volume-backed-live-migration: live migrate a server booted from a volume (no local disk).

Needs: 2 computes and a block-storage service (features.yaml `requires`: computes 2, volume);
compute microversion 2.25 for block_migration "auto" (features.yaml `microversion`).

Proves volume-backed live migration because a server whose root disk is a volume must end ACTIVE
with no task state on another host with its migration record `completed`, and the volume's only
attachment must be this server on the new host; a move that left the root volume attached on the
old host fails.
"""

import pytest

from harness.scenario.waiters import MIGRATION_ENDED


@pytest.mark.feature("volume-backed-live-migration")
def test_volume_backed_live_migration(cloud, make, wait):
    """Outline:
    1. create a 1 GB bootable volume from the target's image and wait until available (made first:
       its cleanup runs after the server's delete)
    2. boot a server from that volume (boot index 0, kept on termination) and wait until ACTIVE,
       noting its host
    3. live migrate it with block_migration "auto"
    4. wait (migration timeout) until its migration record has ended; check it is completed
    5. wait until ACTIVE with no task state; check the host changed
    6. check the volume's only attachment is this server, on the new host
    Passes only when the volume-backed server moved host with its root volume attached there."""
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
    assert wait.migration(server.id, MIGRATION_ENDED).status == "completed"
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    attachments = cloud.block_storage.get_volume(volume.id).attachments
    assert {a["server_id"]: a["host_name"] for a in attachments} == {server.id: moved.compute_host}
