"""live-migration: live migrate with block_migration 'auto' (Nova picks block or shared).

Needs: 2 computes (features.yaml `requires`); compute microversion 2.25 for block_migration "auto"
(features.yaml `microversion`).

Proves live migration because the server must be ACTIVE with no task state on another host and
its migration record `completed`; a request accepted without a move fails the host check, and a
move still in progress fails the record check.
"""

import pytest

from harness.scenario.waiters import MIGRATION_ENDED


@pytest.mark.feature("live-migration")
def test_live_migration(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE, noting its host
    2. live migrate it with block_migration "auto"
    3. wait (migration timeout) until its migration record has ended; check it is completed
    4. wait until ACTIVE with no task state; check the host changed
    Passes only when the server moved by a completed live migration."""
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration="auto")
    assert wait.migration(server.id, MIGRATION_ENDED).status == "completed"
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
