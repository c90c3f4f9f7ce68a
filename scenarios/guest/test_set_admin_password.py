"""set-admin-password: change a server's administrator password."""

import secrets

import pytest
from openstack import exceptions

from harness.scenario.skips import not_applicable, not_configured


@pytest.mark.feature("set-admin-password")
def test_set_admin_password(cloud, make, wait):
    """Nova sets the password (a synchronous call to the compute) and records changePassword."""
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
