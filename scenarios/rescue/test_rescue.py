"""rescue: rescue a server (Nova picks the rescue image) and unrescue it.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves rescue and unrescue because each must end in its status (RESCUE, then ACTIVE) with no task
state and the matching vm_state (rescued, then active); a request the API accepted but the compute
never carried out leaves a task state or the old vm_state and fails.
"""

import pytest


@pytest.mark.feature("rescue")
def test_rescue_and_unrescue(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. rescue it without naming an image; wait until RESCUE with no task state and check its
       vm_state is rescued
    3. unrescue it; wait until ACTIVE with no task state and check its vm_state is active
    Passes only when both transitions finished on the compute."""
    server = make.server()
    cloud.compute.rescue_server(server)
    assert wait.server(server.id, "RESCUE").vm_state == "rescued"
    cloud.compute.unrescue_server(server)
    assert wait.server(server.id, "ACTIVE").vm_state == "active"
