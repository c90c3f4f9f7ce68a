"""cold-migration: migrate a server to another host, resize-confirm it, and check the record.

Needs: 2 computes (features.yaml `requires`).

Proves cold migration because the server must wait in VERIFY_RESIZE on another host with its
migration record `finished`, and after the confirm be ACTIVE with no task state on that host with
the record `confirmed`; a migrate accepted without a move fails the host check. Only the confirm
path runs here; the revert named in features.yaml's title is not exercised.
"""

import pytest


@pytest.mark.feature("cold-migration")
def test_cold_migration_confirm(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE, noting its host
    2. cold migrate it (the scheduler picks the destination)
    3. wait (migration timeout) until VERIFY_RESIZE with no task state; check the host changed
    4. wait until its migration record is finished
    5. confirm the resize; wait (migration timeout) until ACTIVE with no task state; check it stayed
       on the new host
    6. wait until its migration record is confirmed
    Passes only when the server moved host and the confirmed migration left it there."""
    server = make.server()
    cloud.compute.migrate_server(server)
    resized = wait.server(server.id, "VERIFY_RESIZE", kind="migration")
    assert resized.compute_host != server.compute_host, "the server did not change host"
    wait.migration(server.id, ("finished",))
    cloud.compute.confirm_server_resize(server)
    confirmed = wait.server(server.id, "ACTIVE", kind="migration")
    assert confirmed.compute_host == resized.compute_host
    wait.migration(server.id, ("confirmed",))
