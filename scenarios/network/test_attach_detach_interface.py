"""attach-detach-interface: hot-plug a port on the target network into a server, then unplug it."""

import pytest


def interface_ports(cloud, server):
    return {i.port_id for i in cloud.compute.server_interfaces(server)}


@pytest.mark.feature("attach-detach-interface")
def test_attach_and_detach_an_interface(cloud, make, wait, cleanup):
    """An attached interface is a port bound to the server and listed; detached, it is gone."""
    server = make.server()
    network = make.network()
    attached = cloud.compute.create_server_interface(server, net_id=network.id)
    port_id = attached.port_id
    cleanup.add(
        f"interface {port_id}",
        lambda: cloud.compute.delete_server_interface(attached, server=server, ignore_missing=True),
    )
    port = wait.until(
        lambda: p if (p := cloud.network.get_port(port_id)).device_id == server.id else None,
        f"port {port_id} bound to server {server.id}",
    )
    assert port.network_id == network.id
    assert port_id in interface_ports(cloud, server)

    cloud.compute.delete_server_interface(attached, server=server)
    wait.until(
        lambda: port_id not in interface_ports(cloud, server) or None,
        f"interface {port_id} detached from server {server.id}",
    )
    left = cloud.network.find_port(port_id, ignore_missing=True)
    assert left is None or left.device_id != server.id, f"port {port_id} still on the server"
