"""attach-detach-volume: attach a volume to a running server, then detach it."""

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
    """An attached volume is in-use and listed on the server; detached, available and unlisted."""
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
