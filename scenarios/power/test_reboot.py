"""reboot: soft and hard reboot a server; each reboot is an instance action Nova finished.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves reboot because after each reboot the server must be ACTIVE with no task state and Nova's
newest instance action must be a `reboot` whose events all succeeded, and the hard reboot's action
must be a new one; a server that merely stayed ACTIVE through an ignored request, or a hard reboot
that only found the soft reboot's action again, fails.
"""

import pytest


@pytest.mark.feature("reboot")
def test_soft_and_hard_reboot(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. soft reboot it; wait until ACTIVE with no task state; wait until Nova's newest instance
       action is `reboot`, every event finished and a Success; keep its request id
    3. hard reboot it and wait the same way, keeping the second action's request id
    4. check the two request ids differ
    Passes only when both reboots were recorded as separate, successful reboot actions."""
    server = make.server()
    reboots = []
    for reboot_type in ("SOFT", "HARD"):
        cloud.compute.reboot_server(server, reboot_type)
        wait.server(server.id, "ACTIVE")
        reboots.append(wait.action(server.id, "reboot").request_id)
    assert reboots[0] != reboots[1], "the hard reboot left no instance action of its own"
