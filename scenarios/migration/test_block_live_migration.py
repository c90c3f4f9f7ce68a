"""block-live-migration: live migrate with block_migration true (disks copied).

Needs: 2 computes (features.yaml `requires`); not applicable on shared storage (features.yaml
`not_applicable`, applied before the scenario starts).

Proves block live migration because the request asks for block_migration true, which Nova refuses
on shared storage, and the server must then be ACTIVE with no task state on another host with its
migration record `completed`; a request accepted without a move fails the host check, and a
move still in progress fails the record check.
"""

import pytest


@pytest.mark.feature("block-live-migration")
def test_block_live_migration(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE, noting its host
    2. live migrate it with block_migration true
    3. wait (migration timeout) until ACTIVE with no task state; check the host changed
    4. wait until its migration record is completed
    Passes only when the server moved by a completed block migration."""
    # Shared storage makes Nova refuse block_migration=True; features.yaml declares that rule.
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration=True)
    moved = wait.server(server.id, "ACTIVE", kind="migration")
    assert moved.compute_host != server.compute_host, "the server did not change host"
    wait.migration(server.id, ("completed",))
