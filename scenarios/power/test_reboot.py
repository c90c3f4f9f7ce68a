"""reboot: soft and hard reboot a server; each reboot is an instance action Nova finished."""

import pytest


@pytest.mark.feature("reboot")
def test_soft_and_hard_reboot(cloud, make, wait):
    """A soft then a hard reboot each end ACTIVE with no task state, recorded as done by Nova."""
    server = make.server()
    reboots = []
    for reboot_type in ("SOFT", "HARD"):
        cloud.compute.reboot_server(server, reboot_type)
        wait.server(server.id, "ACTIVE")
        reboots.append(wait.action(server.id, "reboot").request_id)
    assert reboots[0] != reboots[1], "the hard reboot left no instance action of its own"
