"""config-drive: boot a server with a config drive."""

import pytest


@pytest.mark.feature("config-drive")
def test_config_drive(make):
    """A server booted with config_drive=True is ACTIVE and reports its config drive."""
    server = make.server(config_drive=True)
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert str(server.config_drive).lower() == "true", f"config_drive is {server.config_drive!r}"
