"""live-migration: live migrate with block_migration 'auto' (Nova picks block or shared)."""

import pytest


@pytest.mark.feature("live-migration")
def test_live_migration(cloud, make, wait):
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration="auto")
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    wait.migration(server.id, ("completed",))
