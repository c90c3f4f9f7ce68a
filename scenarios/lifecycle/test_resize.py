"""resize: resize a server to the target's flavor_alt, then confirm or revert."""

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
    """Confirming leaves the server ACTIVE on flavor_alt and its migration confirmed."""
    server, _, alt = resized(cloud, make, wait)
    cloud.compute.confirm_server_resize(server)
    assert flavor_of(wait.server(server.id, "ACTIVE", kind="migration")) == alt
    wait.migration(server.id, ("confirmed",))


@pytest.mark.feature("resize")
def test_resize_revert(cloud, make, wait):
    """Reverting leaves the server ACTIVE on its original flavor and its migration reverted."""
    server, original, _ = resized(cloud, make, wait)
    cloud.compute.revert_server_resize(server)
    assert flavor_of(wait.server(server.id, "ACTIVE", kind="migration")) == original
    wait.migration(server.id, ("reverted",))
