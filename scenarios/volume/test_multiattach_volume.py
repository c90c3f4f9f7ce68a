"""multiattach-volume: attach one multiattach volume to two servers at once.

Needs: a block-storage service with a multiattach volume type (features.yaml `requires`: volume,
multiattach, one compute); compute microversion 2.60 (features.yaml `microversion`, sent
explicitly).

Proves multiattach because one multiattach volume must be in-use with attachments to exactly both
servers at once, and Nova must list it on each; a second attach that replaced the first, or was
refused, fails. A driver refusal ("not supported for this instance") skips as not applicable.
"""

import pytest
from openstack import exceptions

from harness.scenario.gate import is_multiattach
from harness.scenario.skips import not_applicable, not_configured

MULTIATTACH = "2.60"  # Nova attaches a multiattach volume to a second server from 2.60


def multiattach_type(cloud):
    for volume_type in cloud.block_storage.types():
        if is_multiattach(volume_type):  # the gate's own test, so the two cannot disagree
            return volume_type
    not_configured("the target has no volume type with multiattach='<is> True'")


def attach(cloud, wait, cleanup, server, volume):
    """Attach at 2.60; Nova's refusal for a driver without multiattach is by design."""
    response = cloud.compute.post(
        f"/servers/{server.id}/os-volume_attachments",
        json={"volumeAttachment": {"volumeId": volume.id}},
        microversion=MULTIATTACH,
    )
    if response.status_code == 406:
        not_configured(f"the compute API predates {MULTIATTACH}")
    if response.status_code == 409 and "not supported for this instance" in response.text:
        not_applicable(f"Nova refuses multiattach on this driver: {response.text}")
    exceptions.raise_from_response(response)
    cleanup.add(
        f"detach volume {volume.id} from {server.id}",
        lambda: detach(cloud, wait, server, volume),
    )


def detach(cloud, wait, server, volume):
    """Detach from this server (if still attached) and wait until the volume has let go."""
    cloud.compute.delete_volume_attachment(server, volume, ignore_missing=True)

    def let_go():
        now = cloud.block_storage.get_volume(volume.id)
        on = {a["server_id"] for a in now.attachments}
        return now if server.id not in on and now.status != "detaching" else None

    wait.until(let_go, f"volume {volume.id} detached from {server.id}", "volume")


def attached_to(cloud, volume_id, servers):
    volume = cloud.block_storage.get_volume(volume_id)
    found = {a["server_id"] for a in volume.attachments}
    return volume if volume.status == "in-use" and found == servers else None


@pytest.mark.feature("multiattach-volume")
def test_one_volume_attached_to_two_servers(cloud, make, wait, cleanup):
    """Outline:
    1. find a volume type with multiattach='<is> True' (none: skip as not configured); create a
       volume of it, wait until available and check it is multiattach
    2. boot two servers, each waited until ACTIVE
    3. attach the volume to each at 2.60 (406 skips as not configured, 409 "not supported for this
       instance" as not applicable, any other error fails), registering each detach for cleanup
    4. wait (volume timeout) until the volume is in-use with attachments to exactly both servers
    5. check it has two attachments and Nova lists it on both servers
    Passes only when the volume is attached to both servers at the same time."""
    volume = make.volume(volume_type=multiattach_type(cloud).name)
    assert volume.is_multiattach, f"volume {volume.id} is not multiattach"
    servers = [make.server(), make.server()]
    for server in servers:
        attach(cloud, wait, cleanup, server, volume)
    both = {s.id for s in servers}
    shared = wait.until(
        lambda: attached_to(cloud, volume.id, both), f"volume {volume.id} on {both}", "volume"
    )
    assert len(shared.attachments) == 2
    for server in servers:
        assert volume.id in [a.volume_id for a in cloud.compute.volume_attachments(server)]
