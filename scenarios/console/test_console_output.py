"""console-output: read a server's console log.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves console output because Nova must return non-blank console text for the ACTIVE server
within the boot timeout; an answer with an empty log keeps the wait polling until it times out
and fails.
"""

import pytest


@pytest.mark.feature("console-output")
def test_console_output(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. poll its console output (boot timeout) until it holds non-blank text
    3. check the text is a non-blank string
    Passes only when Nova returned console text for the server."""
    server = make.server()

    def output():
        text = cloud.compute.get_server_console_output(server)["output"]
        return text if text and text.strip() else None

    text = wait.until(output, f"console output of server {server.id}", "boot")
    assert isinstance(text, str) and text.strip()
