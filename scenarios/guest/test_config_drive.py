"""config-drive: boot a server with a config drive.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves config drive because the server must be ACTIVE with no task state, report config_drive
true, and the guest must say on its console that it read a drive holding this server's id (the
lab file's `guest.config_drive`, with the id the drive's meta_data.json holds): a driver that
records the flag but builds no drive fails. The flag alone is the request echoed back, so where
the lab file does not say what the image prints, the scenario skips as unproven.
"""

import pytest


@pytest.mark.feature("config-drive")
def test_config_drive(make, wait, target, proof):
    """Outline:
    1. boot a server with config_drive=True and wait until ACTIVE
    2. check it is ACTIVE with no task state
    3. check the server reports config_drive as true
    4. if the target does not declare what the guest prints on reading its drive, skip as
       unproven
    5. wait until the console shows that text with this server's id
    Passes only when the guest read the drive Nova built for this server."""
    server = make.server(config_drive=True)
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert str(server.config_drive).lower() == "true", f"config_drive is {server.config_drive!r}"
    if not target.guest.config_drive:
        proof.lacking(
            "the lab file does not say what the guest prints on reading its drive "
            "(guest.config_drive), and config_drive: true is only the request echoed back"
        )
    marker = target.guest.config_drive.replace("{id}", server.id)
    wait.console(server.id, marker)
    proof.by(f"the guest's console: {marker!r}, read from the drive")
