"""attach-detach-volume: attach a volume to a running server, then detach it.

Needs: a block-storage service (features.yaml `requires`: volume, one compute).

Proves attach and detach because after the attach Cinder must show the volume in-use with its only
attachment this server and Nova must list exactly that volume on it, and after the detach the
volume must be available with no attachments and Nova must stop listing it; an attach Nova
accepted but never completed, or a detach that left the volume attached, fails.
"""

import pytest


def detach(cloud, wait, server, volume):
    """Detach (if still attached) and wait until the volume is available again."""
    cloud.compute.delete_volume_attachment(server, volume, ignore_missing=True)
    wait.volume(volume.id, "available")


def listed_on(cloud, server):
    """The ids of the volumes Nova lists as attached to the server."""
    return [a.volume_id for a in cloud.compute.volume_attachments(server)]


@pytest.mark.feature("attach-detach-volume")
def test_attach_and_detach_a_volume(cloud, make, wait, cleanup):
    """Outline:
    1. boot a server and wait until ACTIVE; create a 1 GB volume and wait until available
    2. attach the volume to the server; register its detach for cleanup
    3. wait until the volume is in-use; check its only attachment is the server and Nova lists
       exactly this volume on the server
    4. detach it; wait until the volume is available and check it has no attachments
    5. wait (volume timeout) until Nova no longer lists the volume on the server
    Passes only when the volume was attached to the server and fully detached again."""
    server = make.server()
    volume = make.volume()
    cloud.compute.create_volume_attachment(server, volume=volume)
    cleanup.add(f"detach volume {volume.id}", lambda: detach(cloud, wait, server, volume))
    in_use = wait.volume(volume.id, "in-use")
    assert [a["server_id"] for a in in_use.attachments] == [server.id]
    assert listed_on(cloud, server) == [volume.id]

    cloud.compute.delete_volume_attachment(server, volume)
    assert wait.volume(volume.id, "available").attachments == []
    wait.until(
        lambda: volume.id not in listed_on(cloud, server) or None,
        f"volume {volume.id} no longer listed on server {server.id}",
        "volume",
    )
