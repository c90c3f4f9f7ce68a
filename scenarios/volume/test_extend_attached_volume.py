"""extend-attached-volume: grow a volume through Cinder while it is attached to a server."""

import pytest
from openstack import exceptions

from harness.scenario.skips import not_applicable, not_configured

IN_USE_EXTEND = "3.42"  # the volume API microversion from which Cinder extends in-use volumes


def detach(cloud, wait, server, volume):
    """Detach (if still attached) and wait until the volume is available again."""
    cloud.compute.delete_volume_attachment(server, volume, ignore_missing=True)
    wait.volume(volume.id, "available")


def extend(cloud, volume_id, size):
    """Cinder's os-extend at 3.42; the cloud's refusals become categorised skips."""
    response = cloud.block_storage.post(
        f"/volumes/{volume_id}/action",
        json={"os-extend": {"new_size": size}},
        microversion=IN_USE_EXTEND,
    )
    if response.status_code == 406:
        not_configured(f"the volume API predates {IN_USE_EXTEND}: no extend of in-use volumes")
    if response.status_code == 403:
        not_configured(f"Cinder's policy refuses extending attached volumes: {response.text}")
    exceptions.raise_from_response(response)


def grown(cloud, volume_id, size):
    volume = cloud.block_storage.get_volume(volume_id)
    if volume.status == "error_extending":
        not_configured(f"the volume backend failed to extend attached volume {volume_id}")
    return volume if volume.size == size and volume.status != "extending" else None


def nova_extend_result(cloud, server):
    """(result, traceback) of Nova's extend_volume action on the server; None while pending."""
    for action in cloud.compute.server_actions(server):
        if action.action == "extend_volume":
            events = cloud.compute.get_server_action(action.request_id, server).events
            if events is None:  # instance action events are admin-only by default
                return "not visible to this user", None
            done = [e for e in events if e.result]
            return (done[0].result, done[0].traceback) if done else None
    return None


@pytest.mark.feature("extend-attached-volume")
def test_extend_an_attached_volume(cloud, make, wait, cleanup, record_property):
    """An attached volume extended by one GB grows, stays in-use, and Nova handles the event."""
    server = make.server()
    volume = make.volume()
    cloud.compute.create_volume_attachment(server, volume=volume)
    cleanup.add(f"detach volume {volume.id}", lambda: detach(cloud, wait, server, volume))
    wait.volume(volume.id, "in-use")

    extend(cloud, volume.id, volume.size + 1)
    after = wait.until(
        lambda: grown(cloud, volume.id, volume.size + 1),
        f"volume {volume.id} to grow to {volume.size + 1} GB",
        "volume",
    )
    assert after.status == "in-use"
    assert [a["server_id"] for a in after.attachments] == [server.id]

    result, traceback = wait.until(
        lambda: nova_extend_result(cloud, server),
        f"Nova to handle volume-extended for server {server.id}",
        "volume",
    )
    record_property("nova_extend_volume", result)
    if "ExtendVolumeNotSupported" in (traceback or ""):
        not_applicable("Nova's driver cannot extend attached volumes (ExtendVolumeNotSupported)")
    assert result in ("Success", "not visible to this user"), traceback
