"""config-drive: boot a server with a config drive.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves that Nova boots a server that asked for a config drive and records it: the server must be
ACTIVE with no task state and report config_drive true; a boot that fails or drops the request
fails. Where the lab file says what the image prints once it has read its config drive
(`guest.config_drive`, with the server id the drive's meta_data.json holds), that must reach the
console, which rules out a driver that records the flag but builds no drive; elsewhere that
remains possible and the record says the drive was not read.
"""

import pytest


@pytest.mark.feature("config-drive")
def test_config_drive(make, wait, target, record_property):
    """Outline:
    1. boot a server with config_drive=True and wait until ACTIVE
    2. check it is ACTIVE with no task state
    3. check the server reports config_drive as true
    4. where the target declares what the guest prints on reading its drive, wait until the
       console shows it with this server's id
    Passes only when the server booted and Nova reports its config drive (and, where the guest
    is known, the guest read the drive Nova built for this server)."""
    server = make.server(config_drive=True)
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert str(server.config_drive).lower() == "true", f"config_drive is {server.config_drive!r}"
    if target.guest.config_drive:
        wait.console(server.id, target.guest.config_drive.replace("{id}", server.id))
        record_property("config_drive_read", "by the guest")
    else:
        record_property("config_drive_read", "not checked: the target declares no guest text")
