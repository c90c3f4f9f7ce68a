"""resize: resize a server to the target's flavor_alt, then confirm or revert.

Needs: the target's flavor_alt (features.yaml `requires`: flavor_alt, one compute); with one
compute host the cloud must allow resize to the same host (features.yaml notes).

Proves resize because the server must show flavor_alt (name and RAM, as embedded in the server)
while it waits in VERIFY_RESIZE, then, after a confirm, be ACTIVE on flavor_alt with its migration
record `confirmed`, or, after a revert, ACTIVE on its original flavor with the record `reverted`;
a resize accepted but never carried out, or a confirm or revert the compute never finished, fails.
"""

import pytest


def flavor_of(server):
    """The flavor as the server shows it (embedded from microversion 2.47): name and RAM."""
    return server.flavor.original_name, server.flavor.ram


def resized(cloud, make, wait):
    """A server resized from flavor to flavor_alt, waiting in VERIFY_RESIZE; and both flavors."""
    flavor, alt = make.flavor(), make.flavor(alt=True)
    server = make.server(flavor=flavor)
    cloud.compute.resize_server(server, alt)
    pending = wait.server(server.id, "VERIFY_RESIZE", kind="migration")
    assert flavor_of(pending) == (alt.name, alt.ram), f"VERIFY_RESIZE on {flavor_of(pending)}"
    return server, (flavor.name, flavor.ram), (alt.name, alt.ram)


@pytest.mark.feature("resize")
def test_resize_confirm(cloud, make, wait):
    """Outline:
    1. find the target's flavor and flavor_alt; boot a server on the flavor and wait until ACTIVE
    2. resize it to flavor_alt; wait (migration timeout) until VERIFY_RESIZE with no task state
    3. check the server shows flavor_alt's name and RAM
    4. confirm the resize; wait (migration timeout) until ACTIVE with no task state
    5. check it still shows flavor_alt; wait until its migration record is `confirmed`
    Passes only when the confirmed server is ACTIVE on flavor_alt and the migration is confirmed."""
    server, _, alt = resized(cloud, make, wait)
    cloud.compute.confirm_server_resize(server)
    assert flavor_of(wait.server(server.id, "ACTIVE", kind="migration")) == alt
    wait.migration(server.id, ("confirmed",))


@pytest.mark.feature("resize")
def test_resize_revert(cloud, make, wait):
    """Outline:
    1. find the target's flavor and flavor_alt; boot a server on the flavor and wait until ACTIVE
    2. resize it to flavor_alt; wait (migration timeout) until VERIFY_RESIZE with no task state
    3. check the server shows flavor_alt's name and RAM
    4. revert the resize; wait (migration timeout) until ACTIVE with no task state
    5. check it shows its original flavor again; wait until its migration record is `reverted`
    Passes only when the reverted server is ACTIVE on its original flavor and the migration is
    reverted."""
    server, original, _ = resized(cloud, make, wait)
    cloud.compute.revert_server_resize(server)
    assert flavor_of(wait.server(server.id, "ACTIVE", kind="migration")) == original
    wait.migration(server.id, ("reverted",))
