"""console-output: read a server's console log."""

import pytest


@pytest.mark.feature("console-output")
def test_console_output(cloud, make, wait):
    """Nova returns console output with text in it for an ACTIVE server."""
    server = make.server()

    def output():
        text = cloud.compute.get_server_console_output(server)["output"]
        return text if text and text.strip() else None

    text = wait.until(output, f"console output of server {server.id}", "boot")
    assert isinstance(text, str) and text.strip()
