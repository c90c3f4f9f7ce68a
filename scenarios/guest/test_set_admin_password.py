"""set-admin-password: change a server's administrator password.

Needs: one compute (features.yaml `requires`); for libvirt, an image with hw_qemu_guest_agent and
a running guest agent (features.yaml notes): without one Nova answers "agent is not enabled" and
the scenario skips as not configured.

Proves set-admin-password because Nova's changePassword is a synchronous call to the compute, so
only a driver that set the password answers without error, and Nova's newest instance action
must then be a `changePassword` whose events all succeeded; a driver that cannot (501 or "not
supported") skips as not applicable, and any other refusal fails. When the image declares a guest
agent, a 501 means the agent does not answer yet (libvirt: VIR_ERR_AGENT_UNRESPONSIVE while the
guest boots), so the call is retried until the boot timeout, and an agent that never answers fails.
"""

import secrets

import pytest
from openstack import exceptions

from harness.scenario.skips import not_applicable, not_configured


@pytest.mark.feature("set-admin-password")
def test_set_admin_password(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. set a random admin password (while a declared guest agent answers 501, again until the
       boot timeout); on 501 or "not supported" skip as not applicable, on "agent is not
       enabled" skip as not configured, on any other error fail
    3. wait until ACTIVE with no task state
    4. wait until Nova's newest instance action is `changePassword`, every event finished and a
       Success
    Passes only when the compute set the password and Nova recorded a successful changePassword."""
    server = make.server()
    agent = declares_guest_agent(cloud, server)

    def password_set():
        try:
            cloud.compute.change_server_password(server, secrets.token_urlsafe(16))
        except exceptions.HttpException as error:
            if agent and error.status_code == 501:
                return None  # the declared agent is not up yet: the guest is still booting
            raise
        return True

    try:
        wait.until(password_set, f"the guest agent of {server.id} to set the password", "boot")
    except exceptions.HttpException as error:
        # compute/api.py: NotImplementedError from the driver is 501, SetAdminPasswdNotSupported
        # 409 (both: the driver cannot); InstanceAgentNotEnabled 409 (the image lacks
        # hw_qemu_guest_agent). Any other 409 (InstancePasswordSetFailed, state) is a failure.
        message = f"Nova answered {error.status_code}: {error.details}"
        if error.status_code == 501 or "not supported" in str(error.details):
            not_applicable(message)
        if "agent is not enabled" in str(error.details):
            not_configured(message)
        raise
    wait.server(server.id, "ACTIVE")
    wait.action(server.id, "changePassword")


def declares_guest_agent(cloud, server):
    """Whether the server's image says it runs the QEMU guest agent (hw_qemu_guest_agent)."""
    image_id = (server.image or {}).get("id")
    if not image_id:
        return False
    image = cloud.image.get_image(image_id)
    declared = getattr(image, "hw_qemu_guest_agent", None) or (image.properties or {}).get(
        "hw_qemu_guest_agent"
    )
    return str(declared).lower() in ("yes", "true", "1")
