"""pause-unpause: pause a server and unpause it.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves pause and unpause because each must end in its status (PAUSED, then ACTIVE) with no task
state and the matching vm_state (paused, then active); a request the API accepted but the compute
never carried out leaves a task state or the old vm_state and fails.
"""

import pytest


@pytest.mark.feature("pause-unpause")
def test_pause_and_unpause(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. pause it; wait until PAUSED with no task state and check its vm_state is paused
    3. unpause it; wait until ACTIVE with no task state and check its vm_state is active
    Passes only when both transitions finished on the compute."""
    server = make.server()
    cloud.compute.pause_server(server)
    assert wait.server(server.id, "PAUSED").vm_state == "paused"
    cloud.compute.unpause_server(server)
    assert wait.server(server.id, "ACTIVE").vm_state == "active"
