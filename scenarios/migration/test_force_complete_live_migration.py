"""force-complete-live-migration: force a running live migration to complete.

Needs: 2 computes (features.yaml `requires`); compute microversion 2.25 (features.yaml
`microversion`; force_complete itself needs 2.22).
The migration must still be running when the scenario sees it.

Proves force-complete because the migration record must be seen `running` before the request, the
record must then end `completed`, the server must be ACTIVE with no task state on another host,
and Nova's live_migration_force_complete action must have every compute event succeed: the
compute hands the request to the driver, which refuses it (libvirt: NoActiveMigrationForInstance)
when the migration has already ended, so a migration that finished on its own before the force
landed fails, as does one that was cancelled or errored.
"""

import pytest

from harness.scenario.waiters import MIGRATION_ENDED


@pytest.mark.feature("force-complete-live-migration")
def test_force_complete_live_migration(cloud, make, wait, proof):
    """Outline:
    1. boot a server and wait until ACTIVE, noting its host
    2. live migrate it with block_migration "auto"
    3. wait until its migration record is running or has ended; check it is running
    4. force that migration to complete
    5. wait (migration timeout) until the record has ended; check it is completed
    6. wait until ACTIVE with no task state; check the host changed
    7. wait until the server's newest action, live_migration_force_complete, has finished, and
       check every event of it succeeded (the driver met a migration still running)
    Passes only when the force reached a running migration, which then completed on another
    host."""
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration="auto")
    migration = wait.migration(server.id, ("running", *MIGRATION_ENDED))
    assert migration.status == "running", f"the migration was {migration.status} before forcing"
    cloud.compute.force_complete_server_migration(migration.id, server)  # 2.22
    assert wait.migration(server.id, MIGRATION_ENDED).status == "completed"
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    action = wait.action(server.id, "live_migration_force_complete", kind="migration")
    events = [e.event for e in action.events or []]  # admin-only by default: may be empty
    proof.by(
        "the migration was running when forced and completed on another host; "
        + (f"{', '.join(events)} succeeded" if events else "the action's events were not visible")
    )
