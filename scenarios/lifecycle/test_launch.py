"""launch: boot a server and terminate it (Nova's launch and terminate operations).

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves launch because the server must reach ACTIVE with no task state, carry this run's tag and
have a network address, and terminate because the API must then stop finding it; a create Nova
accepted but never built, or a delete that left the server behind, fails.
"""

import pytest


@pytest.mark.feature("launch")
def test_launch_and_terminate(cloud, make, wait):
    """Outline:
    1. boot a server from the target's image on its network and wait until ACTIVE with no task state
    2. check it is ACTIVE with no task state and its metadata carries this run's matrix_run tag
    3. read it back and check it has a network address
    4. delete it and wait until the API no longer finds it
    Passes only when the server booted ACTIVE, tagged and addressed, and is gone after the
    delete."""
    server = make.server()
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert server.metadata["matrix_run"] == make.run_id
    assert cloud.compute.get_server(server.id).addresses, "the server has no network address"
    cloud.compute.delete_server(server.id)
    wait.gone(server.id)
