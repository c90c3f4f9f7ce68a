"""live-migration-paused: live migrate a paused server; it stays paused on the new host.

Needs: 2 computes (features.yaml `requires`); compute microversion 2.25 for block_migration "auto"
(features.yaml `microversion`).

Proves live migration of a paused server because the server, paused first, must end PAUSED with
no task state on another host with its migration record `completed`; a request accepted without
a move fails the host check, and a migration that unpaused or stopped the server never ends
PAUSED and fails.
"""

import pytest


@pytest.mark.feature("live-migration-paused")
def test_live_migration_paused(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE, noting its host
    2. pause it and wait until PAUSED with no task state
    3. live migrate it with block_migration "auto"
    4. wait (migration timeout) until PAUSED with no task state; check the host changed
    5. wait until its migration record is completed
    Passes only when the paused server moved host and is still paused."""
    server = make.server()
    cloud.compute.pause_server(server)
    wait.server(server.id, "PAUSED")
    cloud.compute.live_migrate_server(server, block_migration="auto")
    moved = wait.server(server.id, "PAUSED", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    wait.migration(server.id, ("completed",))
