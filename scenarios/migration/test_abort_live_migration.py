"""abort-live-migration: abort a running live migration; the server stays on its host."""

import pytest

ENDED = ("completed", "cancelled", "error", "failed")


@pytest.mark.feature("abort-live-migration")
def test_abort_live_migration(cloud, make, wait):
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration="auto")
    migration = wait.migration(server.id, ("running", *ENDED))
    assert migration.status == "running", f"the migration was {migration.status} before the abort"
    cloud.compute.abort_server_migration(migration.id, server, ignore_missing=False)  # 2.24
    assert wait.migration(server.id, ENDED).status == "cancelled"
    stayed = wait.server(server.id, "ACTIVE", kind="migration")
    assert stayed.compute_host == server.compute_host, "the aborted migration moved the server"
