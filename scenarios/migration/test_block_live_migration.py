"""block-live-migration: live migrate with block_migration true (disks copied)."""

import pytest


@pytest.mark.feature("block-live-migration")
def test_block_live_migration(cloud, make, wait):
    # Shared storage makes Nova refuse block_migration=True; features.yaml declares that rule.
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration=True)
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    wait.migration(server.id, ("completed",))
