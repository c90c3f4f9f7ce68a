"""config-drive: boot a server with a config drive.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves that Nova boots a server that asked for a config drive and records it: the server must be
ACTIVE with no task state and report config_drive true; a boot that fails or drops the request
fails. It does not read the drive (or its metadata) from inside the guest, so a driver that
records the flag but builds no drive is not ruled out.
"""

import pytest


@pytest.mark.feature("config-drive")
def test_config_drive(make):
    """Outline:
    1. boot a server with config_drive=True and wait until ACTIVE
    2. check it is ACTIVE with no task state
    3. check the server reports config_drive as true
    Passes only when the server booted and Nova reports its config drive."""
    server = make.server(config_drive=True)
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert str(server.config_drive).lower() == "true", f"config_drive is {server.config_drive!r}"
