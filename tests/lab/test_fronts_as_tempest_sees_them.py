"""What Tempest found wrong with the lab's fronts, held right: views that match the APIs'
schemas, owners from the token, the calls Tempest makes (security groups, networks, image
tasks) and the status codes the real services give."""

from __future__ import annotations

from harness.lab.state import LabState
from tests.lab.conftest import connect, wait_for
from tests.lab.test_cells import IMAGE

ADMIN_ONLY = {"os-vol-tenant-attr:tenant_id", "os-vol-host-attr:host"}


def test_volume_views_are_cinder_s(running_lab: LabState) -> None:
    admin = connect(running_lab, "embedded-live-local")
    member = connect(running_lab, "embedded-live-local-member")
    created = member.block_storage.post("/volumes", json={"volume": {"size": 1, "name": "v"}})
    assert created.status_code == 202
    volume = created.json()["volume"]
    assert not ADMIN_ONLY & set(volume) and "attach_status" not in volume
    try:
        wait_for(lambda: member.block_storage.get_volume(volume["id"]).status == "available")
        mine = member.block_storage.get(f"/volumes/{volume['id']}").json()["volume"]
        assert not ADMIN_ONLY & set(mine)  # admin-only extension attributes
        theirs = admin.block_storage.get(f"/volumes/{volume['id']}").json()["volume"]
        assert theirs["os-vol-tenant-attr:tenant_id"] == member.current_project_id
        assert "volume_image_metadata" not in theirs  # only where there is some
        bootable = member.block_storage.post(
            f"/volumes/{volume['id']}/action", json={"os-set_bootable": {"bootable": True}}
        )
        assert bootable.status_code == 200  # Cinder's, unlike its other actions' 202
        listed = [v.id for v in admin.block_storage.volumes()]
        assert volume["id"] in listed
        assert volume["id"] in [v.id for v in member.block_storage.volumes()]
    finally:
        member.block_storage.delete_volume(volume["id"], ignore_missing=True)


def test_a_server_boots_in_a_security_group_its_project_made(running_lab: LabState) -> None:
    member = connect(running_lab, "embedded-live-local-member")
    group = member.network.create_security_group(name="lab-test-sg", description="t")
    try:
        assert group.project_id == member.current_project_id
        assert {r["direction"] for r in group.security_group_rules} == {"egress"}
        rule = member.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", protocol="tcp",
            port_range_min=22, port_range_max=22, remote_ip_prefix="0.0.0.0/0",
        )  # fmt: skip
        assert rule.id in {
            r.id for r in member.network.security_group_rules(security_group_id=group.id)
        }
        network = member.network.find_network("private", ignore_missing=False)
        flavor = member.compute.find_flavor("m1.tiny", ignore_missing=False)
        server = member.compute.create_server(
            name="lab-test-sg-server", image_id=IMAGE, flavor_id=flavor.id,
            networks=[{"uuid": network.id}], security_groups=[{"name": "lab-test-sg"}],
        )  # fmt: skip
        try:
            active = wait_for(
                lambda: (s := member.compute.get_server(server.id)).status == "ACTIVE" and s,
                what="ACTIVE",
            )
            assert active.addresses
            (port,) = member.network.ports(device_id=server.id)
            assert port.security_group_ids == [group.id]
            member.compute.remove_security_group_from_server(server, group)
            assert member.network.get_port(port.id).security_group_ids == []
            member.compute.add_security_group_to_server(server, group)
            assert member.network.get_port(port.id).security_group_ids == [group.id]
        finally:
            member.compute.delete_server(server.id)
            wait_for(lambda: member.compute.find_server(server.id) is None, what="deleted")
        member.network.delete_security_group_rule(rule.id)
    finally:
        member.network.delete_security_group(group.id, ignore_missing=True)
    assert member.network.find_security_group(group.id) is None


def test_networks_subnets_and_image_tasks(running_lab: LabState) -> None:
    member = connect(running_lab, "embedded-live-local-member")
    network = member.network.create_network(name="lab-test-net")
    try:
        subnet = member.network.create_subnet(
            network_id=network.id, cidr="10.9.8.0/24", ip_version=4
        )
        assert member.network.get_network(network.id).subnet_ids == [subnet.id]
        assert network.project_id == member.current_project_id
        member.network.delete_subnet(subnet.id)
    finally:
        member.network.delete_network(network.id, ignore_missing=True)
    assert member.network.find_network(network.id) is None
    tasks = member.image.get(f"/images/{IMAGE}/tasks")
    assert (tasks.status_code, tasks.json()) == (200, {"tasks": []})
