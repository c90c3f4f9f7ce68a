"""evacuate: force the server's compute down and evacuate the server to another host.

Needs: 2 computes and destructive: runs only where the target sets destructive: true (both
features.yaml `requires`): it forces a compute service down. Compute microversion 2.29 for the
evacuate (features.yaml `microversion`, sent explicitly), 2.53 for forcing the service down.

Proves evacuate because, with the server's compute service forced down, the evacuation record must
end `done` and the server must be ACTIVE with no task state on another host; a rebuild in place on
the forced-down host fails the host check, and a failed evacuation fails the record check.
"""

import pytest
from openstack import exceptions


@pytest.mark.feature("evacuate")
def test_evacuate(cloud, make, wait, cleanup):
    """Outline:
    1. boot a server and wait until ACTIVE; find the nova-compute service on its host
    2. register the cleanup: delete the server, wait until it is gone, then force the service up
    3. force that compute service down
    4. post evacuate with no host at microversion 2.29 (the scheduler picks); an error answer fails
    5. wait until its migration record is done, completed, failed or error; check it is done
    6. wait (migration timeout) until ACTIVE with no task state; check it left the forced-down host
    Passes only when Nova rebuilt the server on another host and recorded the evacuation done."""
    server = make.server()
    (source,) = cloud.compute.services(binary="nova-compute", host=server.compute_host)

    def force_source_up():
        # Nova refuses to force a host up while `done` evacuation records name it (until its
        # nova-compute restarts); deleting the server soft-deletes them.
        cloud.compute.delete_server(server.id, ignore_missing=True)
        wait.gone(server.id)
        cloud.compute.update_service_forced_down(source, forced=False)

    cleanup.add(f"compute {source.host} forced back up", force_source_up)
    cloud.compute.update_service_forced_down(source, forced=True)  # 2.53: PUT os-services/{id}
    response = cloud.compute.post(
        f"/servers/{server.id}/action", json={"evacuate": {}}, microversion="2.29"
    )
    exceptions.raise_from_response(response)
    # Nova clears the task state before it moves the server; the record turns `done` after that.
    assert wait.migration(server.id, ("done", "completed", "failed", "error")).status == "done"
    evacuated = wait.server(server.id, "ACTIVE", kind="migration")  # before 2.95: not stopped
    assert evacuated.compute_host != source.host, "the server did not leave the forced-down host"
