"""block-live-migration: live migrate with block_migration true (disks copied).

Needs: 2 computes (features.yaml `requires`); not applicable on shared storage (features.yaml
`not_applicable`, applied before the scenario starts).

Proves block live migration because the request asks for block_migration true, which Nova refuses
on shared storage, and the server must then be ACTIVE with no task state on another host with its
migration record `completed`; a request accepted without a move fails the host check, and a
move still in progress fails the record check.
"""

import pytest

from harness.scenario.waiters import MIGRATION_ENDED


@pytest.mark.feature("block-live-migration")
def test_block_live_migration(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE, noting its host
    2. live migrate it with block_migration true
    3. wait (migration timeout) until its migration record has ended; check it is completed
    4. wait until ACTIVE with no task state; check the host changed
    Passes only when the server moved by a completed block migration."""
    # Shared storage makes Nova refuse block_migration=True; features.yaml declares that rule.
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration=True)
    assert wait.migration(server.id, MIGRATION_ENDED).status == "completed"
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
