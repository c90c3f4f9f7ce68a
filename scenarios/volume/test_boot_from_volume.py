"""boot-from-volume: boot a server whose root disk is a Cinder volume made from the image."""

import pytest


@pytest.mark.feature("boot-from-volume")
def test_boot_from_volume(cloud, make, wait):
    """A server booted from a bootable volume is ACTIVE with that volume attached and in-use."""
    volume = make.volume(size=1, image_id=make.image().id)
    root = {
        "boot_index": 0,
        "uuid": volume.id,
        "source_type": "volume",
        "destination_type": "volume",
        "delete_on_termination": False,
    }
    server = make.server(block_device_mapping=[root])
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert [v["id"] for v in server.attached_volumes] == [volume.id]
    in_use = wait.volume(volume.id, "in-use")
    assert [a["server_id"] for a in in_use.attachments] == [server.id]
