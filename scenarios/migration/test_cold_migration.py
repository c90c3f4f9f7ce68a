"""cold-migration: migrate a server to another host, resize-confirm it, and check the record."""

import pytest


@pytest.mark.feature("cold-migration")
def test_cold_migration_confirm(cloud, make, wait):
    server = make.server()
    cloud.compute.migrate_server(server)
    resized = wait.server(server.id, "VERIFY_RESIZE", kind="migration")
    assert resized.compute_host != server.compute_host, "the server did not change host"
    wait.migration(server.id, ("finished",))
    cloud.compute.confirm_server_resize(server)
    confirmed = wait.server(server.id, "ACTIVE", kind="migration")
    assert confirmed.compute_host == resized.compute_host
    wait.migration(server.id, ("confirmed",))
