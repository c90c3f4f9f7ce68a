"""attach-detach-interface: hot-plug a port on the target network into a server, then unplug it.

Needs: nothing beyond the target's image, flavor and network (features.yaml
`requires`: one compute).

Proves attach and detach because after the attach the port Nova made must be bound to the server
(its device_id), be on the target network and be listed among the server's interfaces, and after
the detach it must leave that list and be deleted or unbound; an attach answered without a bound
port, or a detach that left the port on the server, fails.
"""

import pytest


def interface_ports(cloud, server):
    return {i.port_id for i in cloud.compute.server_interfaces(server)}


@pytest.mark.feature("attach-detach-interface")
def test_attach_and_detach_an_interface(cloud, make, wait, cleanup):
    """Outline:
    1. boot a server and wait until ACTIVE; look up the target's network
    2. attach an interface on that network; register its detach for cleanup
    3. wait until the new port's device_id is the server
    4. check the port is on the target's network and listed among the server's interfaces
    5. detach the interface; wait until the server no longer lists the port
    6. check the port is deleted or no longer bound to the server
    Passes only when the port was plugged into the server and unplugged again."""
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
