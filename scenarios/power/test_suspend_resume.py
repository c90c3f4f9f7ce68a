"""suspend-resume: suspend a server and resume it.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves suspend and resume because each must end in its status (SUSPENDED, then ACTIVE) with no
task state and the matching vm_state (suspended, then active); a request the API accepted but the
compute never carried out leaves a task state or the old vm_state and fails.
"""

import pytest


@pytest.mark.feature("suspend-resume")
def test_suspend_and_resume(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. suspend it; wait until SUSPENDED with no task state and check its vm_state is suspended
    3. resume it; wait until ACTIVE with no task state and check its vm_state is active
    Passes only when both transitions finished on the compute."""
    server = make.server()
    cloud.compute.suspend_server(server)
    assert wait.server(server.id, "SUSPENDED").vm_state == "suspended"
    cloud.compute.resume_server(server)
    assert wait.server(server.id, "ACTIVE").vm_state == "active"
