"""boot-from-volume: boot a server whose root disk is a Cinder volume made from the image.

Needs: a block-storage service (features.yaml `requires`: volume, one compute).

Proves boot-from-volume because a server whose only block device is a bootable volume (no image
given) must be ACTIVE with no task state with exactly that volume attached, and Cinder must show
the volume in-use by this server; a boot that failed, or one that attached some other disk, fails.
"""

import pytest


@pytest.mark.feature("boot-from-volume")
def test_boot_from_volume(cloud, make, wait):
    """Outline:
    1. create a 1 GB bootable volume from the target's image and wait until available
    2. boot a server from it (boot index 0, kept on termination) and wait until ACTIVE
    3. check it is ACTIVE with no task state and its only attached volume is that volume
    4. wait until the volume is in-use; check its only attachment is the server
    Passes only when the server runs from the volume and Cinder shows it attached there."""
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
