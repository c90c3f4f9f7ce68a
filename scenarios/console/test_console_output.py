"""console-output: read a server's console log.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves console output because Nova must return non-blank console text for the ACTIVE server
within the boot timeout; an answer with an empty log keeps the wait polling until it times out
and fails. Where the lab file says what the image prints once booted (`guest.booted`), that text
must be in the output: the console Nova returns is the guest's own.
"""

import pytest


@pytest.mark.feature("console-output")
def test_console_output(cloud, make, wait, target):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. poll its console output (boot timeout) until it holds non-blank text, or, when the
       target declares the guest's boot text, until it holds that text
    3. check the text is a non-blank string
    Passes only when Nova returned console text for the server (the guest's boot text, where
    it is known)."""
    server = make.server()
    if target.guest.booted:
        text = wait.console(server.id, target.guest.booted)
        assert target.guest.booted in text
        return

    def output():
        text = cloud.compute.get_server_console_output(server)["output"]
        return text if text and text.strip() else None

    text = wait.until(output, f"console output of server {server.id}", "boot")
    assert isinstance(text, str) and text.strip()
