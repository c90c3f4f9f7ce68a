"""extend-attached-volume: grow a volume through Cinder while it is attached to a server.

Needs: a block-storage service (features.yaml `requires`: volume, one compute);
Cinder volume API 3.42 (an older API, or a policy that refuses, skips as not configured). Not
applicable where Nova's driver raises ExtendVolumeNotSupported.

Proves extend-attached-volume because the attached volume must grow by 1 GB and stay in-use by the
server, and Nova must record an `extend_volume` action (from Cinder's volume-extended event) with
no error message and no failed event; a resize Cinder did alone, without Nova handling the event,
fails the action wait.
"""

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
    assert volume.status != "error_extending", f"the backend failed to extend {volume_id}"
    return volume if volume.size == size and volume.status != "extending" else None


@pytest.mark.feature("extend-attached-volume")
def test_extend_an_attached_volume(cloud, make, wait, cleanup, record_property, proof):
    """Outline:
    1. boot a server and wait until ACTIVE; create a 1 GB volume and wait until available
    2. attach the volume; register its detach for cleanup; wait until it is in-use
    3. extend it by 1 GB with Cinder's os-extend at 3.42 (406 or 403 skip as not configured; any
       other error fails)
    4. wait (volume timeout) until it has the new size and is not extending (error_extending
       fails: the backend could not do what the feature is)
    5. check it is in-use with its only attachment the server
    6. wait (volume timeout) until the server's instance actions include extend_volume
    7. wait (volume timeout) until the newest action is `extend_volume` with every event finished
       (failed events allowed at this step); record its events
    8. an event traceback naming ExtendVolumeNotSupported skips as not applicable; otherwise check
       the action has no error message and every event succeeded
    Passes only when the attached volume grew and Nova handled the extension without error."""
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

    wait.until(  # Cinder tells Nova with a volume-extended event once the size has changed
        lambda: (
            any(a.action == "extend_volume" for a in cloud.compute.server_actions(server)) or None
        ),
        f"Nova to receive volume-extended for server {server.id}",
        "volume",
    )
    action = wait.action(server.id, "extend_volume", kind="volume", require_success=False)
    events = action.events or []  # the events are admin-only by default; the message is not
    record_property("nova_extend_volume", repr([(e.event, e.result) for e in events]))
    if any("ExtendVolumeNotSupported" in (e.traceback or "") for e in events):
        not_applicable("Nova's driver cannot extend attached volumes (ExtendVolumeNotSupported)")
    assert not action.message, f"Nova failed to extend: {action.message} {events}"
    assert all(e.result == "Success" for e in events), [(e.event, e.traceback) for e in events]
    proof.by(f"the attached volume grew to {after.size} GB and Nova's extend_volume succeeded")
