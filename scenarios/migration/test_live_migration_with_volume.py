"""live-migration-with-volume: live migrate a server with an attached volume; it stays attached.

Needs: 2 computes and a block-storage service (features.yaml `requires`: computes 2, volume);
compute microversion 2.25 for block_migration "auto" (features.yaml `microversion`).

Proves live migration with a volume because the server must be ACTIVE with no task state on
another host with its migration record `completed`, and the volume must still be in-use with its
only attachment this server on the new host, and still listed by Nova; a migration that moved the
server but left the volume's attachment on the old host fails.
"""

import pytest

from harness.scenario.waiters import MIGRATION_ENDED


@pytest.mark.feature("live-migration-with-volume")
def test_live_migration_with_volume(cloud, make, wait):
    """Outline:
    1. create a 1 GB volume and wait until available (made first: its cleanup runs after the
       server's delete)
    2. boot a server and wait until ACTIVE, noting its host
    3. attach the volume and wait until it is in-use
    4. live migrate the server with block_migration "auto"
    5. wait (migration timeout) until its migration record has ended; check it is completed
    6. wait until ACTIVE with no task state; check the host changed
    7. check the volume is in-use with one attachment: this server, on the new host
    8. check Nova lists the volume among the server's attachments
    Passes only when the server moved host and the volume followed it, attached."""
    volume = make.volume(size=1)  # made first: its cleanup runs after the server's delete
    server = make.server()
    cloud.compute.create_volume_attachment(server, volume)
    wait.volume(volume.id, "in-use")
    cloud.compute.live_migrate_server(server, block_migration="auto")
    assert wait.migration(server.id, MIGRATION_ENDED).status == "completed"
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    attached = cloud.block_storage.get_volume(volume.id)
    assert attached.status == "in-use"
    hosts = {a["server_id"]: a["host_name"] for a in attached.attachments}
    assert hosts == {server.id: moved.compute_host}, "the volume is not attached on the new host"
    assert volume.id in [a.volume_id for a in cloud.compute.volume_attachments(server)]
