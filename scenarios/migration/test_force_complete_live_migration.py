"""force-complete-live-migration: force a running live migration to complete."""

import pytest

ENDED = ("completed", "cancelled", "error", "failed")


@pytest.mark.feature("force-complete-live-migration")
def test_force_complete_live_migration(cloud, make, wait):
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration="auto")
    migration = wait.migration(server.id, ("running", *ENDED))
    assert migration.status == "running", f"the migration was {migration.status} before forcing"
    cloud.compute.force_complete_server_migration(migration.id, server)  # 2.22
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    assert wait.migration(server.id, ENDED).status == "completed"
    actions = [a.action for a in cloud.compute.server_actions(server)]
    assert "live_migration_force_complete" in actions, actions
