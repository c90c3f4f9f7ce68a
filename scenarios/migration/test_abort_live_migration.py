"""abort-live-migration: abort a running live migration; the server stays on its host.

Needs: 2 computes (features.yaml `requires`); compute microversion 2.25 (features.yaml
`microversion`; the abort itself needs 2.24).
The migration must still be running when the scenario sees it.

Proves abort because the migration record must be seen `running` before the abort, must then end
`cancelled`, and the server must be ACTIVE with no task state on its original host; an ignored
abort ends `completed` on another host and fails, and a migration that ended before it could be
aborted fails too (it is not passed as if aborted).
"""

import pytest

ENDED = ("completed", "cancelled", "error", "failed")


@pytest.mark.feature("abort-live-migration")
def test_abort_live_migration(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE, noting its host
    2. live migrate it with block_migration "auto"
    3. wait until its migration record is running or has ended; check it is running
    4. abort that migration (DELETE /servers/{id}/migrations/{id})
    5. wait until the record has ended; check it is cancelled
    6. wait (migration timeout) until ACTIVE with no task state; check the host is unchanged
    Passes only when the running migration was cancelled and the server stayed where it was."""
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration="auto")
    migration = wait.migration(server.id, ("running", *ENDED))
    assert migration.status == "running", f"the migration was {migration.status} before the abort"
    cloud.compute.abort_server_migration(migration.id, server, ignore_missing=False)  # 2.24
    assert wait.migration(server.id, ENDED).status == "cancelled"
    stayed = wait.server(server.id, "ACTIVE", kind="migration")
    assert stayed.compute_host == server.compute_host, "the aborted migration moved the server"
