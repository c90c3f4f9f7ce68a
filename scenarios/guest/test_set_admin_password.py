"""set-admin-password: change a server's administrator password.

Needs: one compute (features.yaml `requires`); for libvirt, an image with hw_qemu_guest_agent and
a running guest agent (features.yaml notes): without one Nova answers "agent is not enabled" and
the scenario skips as not configured.

Proves set-admin-password because Nova's changePassword is a synchronous call to the compute, so
only a driver that set the password answers without error, and Nova's newest instance action
must then be a `changePassword` whose events all succeeded; a driver that cannot (501 or "not
supported") skips as not applicable, and any other refusal fails.
"""

import secrets

import pytest
from openstack import exceptions

from harness.scenario.skips import not_applicable, not_configured


@pytest.mark.feature("set-admin-password")
def test_set_admin_password(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE
    2. set a random admin password; on 501 or "not supported" skip as not applicable, on "agent is
       not enabled" skip as not configured, on any other error fail
    3. wait until ACTIVE with no task state
    4. wait until Nova's newest instance action is `changePassword`, every event finished and a
       Success
    Passes only when the compute set the password and Nova recorded a successful changePassword."""
    server = make.server()
    try:
        cloud.compute.change_server_password(server, secrets.token_urlsafe(16))
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
