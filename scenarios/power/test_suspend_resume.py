"""suspend-resume: suspend a server and resume it."""

import pytest


@pytest.mark.feature("suspend-resume")
def test_suspend_and_resume(cloud, make, wait):
    """Suspend gives SUSPENDED, resume gives ACTIVE, each with no task state left."""
    server = make.server()
    cloud.compute.suspend_server(server)
    assert wait.server(server.id, "SUSPENDED").vm_state == "suspended"
    cloud.compute.resume_server(server)
    assert wait.server(server.id, "ACTIVE").vm_state == "active"
