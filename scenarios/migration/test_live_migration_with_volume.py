"""live-migration-with-volume: live migrate a server with an attached volume; it stays attached."""

import pytest


@pytest.mark.feature("live-migration-with-volume")
def test_live_migration_with_volume(cloud, make, wait):
    volume = make.volume(size=1)  # made first: its cleanup runs after the server's delete
    server = make.server()
    cloud.compute.create_volume_attachment(server, volume)
    wait.volume(volume.id, "in-use")
    cloud.compute.live_migrate_server(server, block_migration="auto")
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    wait.migration(server.id, ("completed",))
    attached = cloud.block_storage.get_volume(volume.id)
    assert attached.status == "in-use"
    hosts = {a["server_id"]: a["host_name"] for a in attached.attachments}
    assert hosts == {server.id: moved.compute_host}, "the volume is not attached on the new host"
    assert volume.id in [a.volume_id for a in cloud.compute.volume_attachments(server)]
