"""evacuate: force the server's compute down and evacuate the server to another host."""

import pytest
from openstack import exceptions


@pytest.mark.feature("evacuate")
def test_evacuate(cloud, make, wait, cleanup):
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
