"""live-migration-paused: live migrate a paused server; it stays paused on the new host."""

import pytest


@pytest.mark.feature("live-migration-paused")
def test_live_migration_paused(cloud, make, wait):
    server = make.server()
    cloud.compute.pause_server(server)
    wait.server(server.id, "PAUSED")
    cloud.compute.live_migrate_server(server, block_migration="auto")
    moved = wait.server(server.id, "PAUSED", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    wait.migration(server.id, ("completed",))
