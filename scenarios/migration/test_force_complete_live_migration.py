"""force-complete-live-migration: force a running live migration to complete.

Needs: 2 computes (features.yaml `requires`); compute microversion 2.25 (features.yaml
`microversion`; force_complete itself needs 2.22).
The migration must still be running when the scenario sees it.

Proves force-complete because the migration record must be seen `running` before the request, the
server must then be ACTIVE with no task state on another host, the record must end `completed`
and Nova must list a live_migration_force_complete action; a migration that ended before it could
be forced fails, as does one that was cancelled or errored.
"""

import pytest

ENDED = ("completed", "cancelled", "error", "failed")


@pytest.mark.feature("force-complete-live-migration")
def test_force_complete_live_migration(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE, noting its host
    2. live migrate it with block_migration "auto"
    3. wait until its migration record is running or has ended; check it is running
    4. force that migration to complete
    5. wait (migration timeout) until ACTIVE with no task state; check the host changed
    6. wait until the record has ended; check it is completed
    7. check the server's instance actions include live_migration_force_complete
    Passes only when the forced migration completed on another host."""
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
