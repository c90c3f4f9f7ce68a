"""A combination's devstack settings: merged in axis order, conflicts refused, and what a
subnode gets held to devstack's own multinode job."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from harness.declarations.model import AxisValue, Devstack
from harness.devstack import multinode
from harness.devstack.settings import (
    MULTINODE,
    Conflict,
    DevstackSettings,
    Setting,
    conflicts,
    devstack_settings,
    with_controller,
)
from harness.errors import BadInput
from tests.conftest import SHIPPED

KVM = "libvirt-kvm/ceph-rbd/ovs"  # of the small matrix; libvirt-kvm declares VIRT_DRIVER, LIBVIRT_TYPE


def with_devstack(matrix: Matrix, axis: str, value: str, **devstack: Any) -> Matrix:
    matrix.axes[axis][value] = AxisValue(title=value, devstack=Devstack(**devstack))
    return matrix


@pytest.fixture
def matrix(small: Path) -> Matrix:
    return load_matrix(small)


def test_the_api_other_modules_code_against() -> None:
    signature = inspect.signature(devstack_settings)
    assert list(signature.parameters) == ["matrix", "combination", "node"]
    assert signature.parameters["node"].default == "controller"
    assert list(DevstackSettings.__dataclass_fields__) == [
        "localrc",
        "plugins",
        "services",
        "post_config",
    ]
    assert list(Setting.__dataclass_fields__) == ["value", "origin"]
    assert list(inspect.signature(conflicts).parameters) == ["values"]


def test_values_merge_in_axis_order_each_setting_naming_its_value(matrix: Matrix) -> None:
    with_devstack(
        matrix,
        "network",
        "ovs",
        localrc={"Q_AGENT": "openvswitch"},
        plugins={"p": "https://example.org/p"},
        enable_services=["q-agt"],
        disable_services=["ovn-controller"],
        post_config={"$NOVA_CPU_CONF": {"libvirt": {"images_type": "qcow2"}}},
    )
    with_devstack(matrix, "storage", "ceph-rbd", localrc={"ENABLE_CEPH_NOVA": True})
    found = devstack_settings(matrix, KVM)
    assert found.localrc == {
        "VIRT_DRIVER": Setting("libvirt", "hypervisor/libvirt-kvm"),
        "LIBVIRT_TYPE": Setting("kvm", "hypervisor/libvirt-kvm"),
        "ENABLE_CEPH_NOVA": Setting(True, "storage/ceph-rbd"),
        "Q_AGENT": Setting("openvswitch", "network/ovs"),
    }
    assert list(found.localrc) == ["VIRT_DRIVER", "LIBVIRT_TYPE", "ENABLE_CEPH_NOVA", "Q_AGENT"]
    assert found.plugins == {"p": Setting("https://example.org/p", "network/ovs")}
    assert found.services == {
        "q-agt": Setting(True, "network/ovs"),
        "ovn-controller": Setting(False, "network/ovs"),
    }
    assert found.post_config == {
        "$NOVA_CPU_CONF": {"libvirt": {"images_type": Setting("qcow2", "network/ovs")}}
    }


def test_the_same_setting_twice_is_no_conflict_and_keeps_the_first_origin(matrix: Matrix) -> None:
    with_devstack(matrix, "storage", "ceph-rbd", localrc={"VIRT_DRIVER": "libvirt", "X": "True"})
    with_devstack(matrix, "network", "ovs", localrc={"X": True}, enable_services=["q-agt"])
    with_devstack(matrix, "hypervisor", "libvirt-kvm", enable_services=["q-agt"])
    found = devstack_settings(matrix, KVM)
    assert found.localrc["VIRT_DRIVER"] == Setting("libvirt", "storage/ceph-rbd")
    assert found.localrc["X"] == Setting("True", "storage/ceph-rbd")  # true is devstack's True
    assert found.services["q-agt"] == Setting(True, "hypervisor/libvirt-kvm")


CONFLICTS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "localrc": (
        {"localrc": {"ENABLE_CEPH_NOVA": "False"}},
        {"localrc": {"ENABLE_CEPH_NOVA": True}},
        "storage/b sets localrc ENABLE_CEPH_NOVA=True but hypervisor/a sets it to False",
    ),
    "plugin": (
        {"plugins": {"ceph": "https://example.org/one"}},
        {"plugins": {"ceph": "https://example.org/two"}},
        "storage/b sets plugin ceph=https://example.org/two but hypervisor/a sets it to "
        "https://example.org/one",
    ),
    "service": (
        {"enable_services": ["q-agt"]},
        {"disable_services": ["q-agt"]},
        "storage/b disables service q-agt but hypervisor/a enables it",
    ),
    "post-config": (
        {"post_config": {"$NOVA_CPU_CONF": {"libvirt": {"images_type": "qcow2"}}}},
        {"post_config": {"$NOVA_CPU_CONF": {"libvirt": {"images_type": "rbd"}}}},
        "storage/b sets post_config $NOVA_CPU_CONF [libvirt] images_type=rbd but hypervisor/a "
        "sets it to qcow2",
    ),
    "a subnode's localrc": (
        {"localrc": {"REMOTE_CEPH": "False"}},
        {"subnode_localrc": {"REMOTE_CEPH": "True"}},
        "storage/b sets localrc REMOTE_CEPH=True on subnodes but hypervisor/a sets it to False",
    ),
    "subnode_localrc of both": (
        {"subnode_localrc": {"REMOTE_CEPH": "False"}},
        {"subnode_localrc": {"REMOTE_CEPH": "True"}},
        "storage/b sets localrc REMOTE_CEPH=True on subnodes but hypervisor/a sets it to False",
    ),
}


@pytest.mark.parametrize(("first", "second", "message"), CONFLICTS.values(), ids=list(CONFLICTS))
def test_two_values_setting_one_thing_differently_conflict(
    first: dict[str, Any], second: dict[str, Any], message: str
) -> None:
    found = conflicts({"hypervisor/a": Devstack(**first), "storage/b": Devstack(**second)})
    assert [str(c) for c in found] == [message]
    assert found[0].first.origin == "hypervisor/a" and found[0].second.origin == "storage/b"


def test_a_value_may_override_its_own_localrc_on_subnodes_but_not_contradict_itself() -> None:
    own = Devstack(
        localrc={"ENABLE_NFS_CINDER": "True"}, subnode_localrc={"ENABLE_NFS_CINDER": "False"}
    )
    assert conflicts({"storage/nfs": own}) == []
    both = Devstack(enable_services=["c-vol"], disable_services=["c-vol"])
    assert [str(c) for c in conflicts({"storage/x": both})] == [
        "storage/x both enables and disables service c-vol"
    ]


def test_every_conflict_is_found_once() -> None:
    a = Devstack(localrc={"A": 1, "B": "x"}, enable_services=["q-agt", "n-cpu"])
    b = Devstack(localrc={"A": 2, "B": "y"}, disable_services=["q-agt", "n-cpu"])
    found = conflicts({"hypervisor/a": a, "network/b": b})
    assert [c.setting for c in found] == [
        "localrc A",
        "localrc B",
        "service q-agt",
        "service n-cpu",
    ]
    assert all(isinstance(c, Conflict) for c in found)


def test_conflicting_values_are_refused_naming_both(matrix: Matrix) -> None:
    with_devstack(matrix, "storage", "ceph-rbd", localrc={"LIBVIRT_TYPE": "qemu"})
    for node in ("controller", "subnode"):
        with pytest.raises(BadInput) as caught:
            devstack_settings(matrix, KVM, node)  # type: ignore[arg-type]
        assert str(caught.value) == (
            f"{KVM}: storage/ceph-rbd sets localrc LIBVIRT_TYPE=qemu but "
            "hypervisor/libvirt-kvm sets it to kvm"
        )


def test_an_unknown_combination_gets_the_nearest(matrix: Matrix) -> None:
    with pytest.raises(
        BadInput,
        match=r"unknown combination 'libvirt-kvm/cepf-rbd/ovs'; did you mean 'libvirt-kvm/ceph-rbd/ovs'\?",
    ):
        devstack_settings(matrix, "libvirt-kvm/cepf-rbd/ovs")


# --- a subnode -------------------------------------------------------------------------------

# openstack/devstack .zuul.yaml (493835a61a99), job `devstack`, group-vars.subnode.devstack_services
DEVSTACK_JOB_SUBNODE = {
    "dstat": False, "memory_tracker": True, "file_tracker": True, "tls-proxy": True,
    "n-cpu": True, "placement-client": True, "ovn-controller": True, "ovs-vswitchd": True,
    "ovsdb-server": True, "q-ovn-agent": True, "c-bak": True, "c-vol": True,
    "horizon": False, "tempest": False,
}  # fmt: skip
# openstack/devstack stackrc: ENABLED_SERVICES by default (what a controller runs)
STACKRC_SERVICES = [
    "key", "n-api", "n-cpu", "n-cond", "n-sch", "n-novnc", "n-api-meta", "placement-api",
    "placement-client", "g-api", "c-sch", "c-api", "c-vol", "ovn-controller", "ovn-northd",
    "ovs-vswitchd", "ovsdb-server", "q-svc", "q-ovn-agent", "horizon", "rabbit", "tempest",
    "mysql", "etcd3", "dstat",
]  # fmt: skip


def test_a_subnode_runs_what_devstacks_multinode_job_gives_one() -> None:
    enabled = [s for s, on in DEVSTACK_JOB_SUBNODE.items() if on and s in STACKRC_SERVICES]
    assert list(multinode.SUBNODE_SERVICES) == enabled
    assert set(multinode.COMPUTE_SERVICES) >= set(multinode.SUBNODE_SERVICES)
    assert (
        not {"ovn-northd", "q-svc", "q-dhcp", "q-l3", "q-meta", "n-api"}
        & multinode.COMPUTE_SERVICES
    )


def test_a_subnode_gets_compute_services_controller_pointers_and_its_own_files(
    matrix: Matrix,
) -> None:
    with_devstack(
        matrix,
        "network",
        "ovs",
        localrc={"Q_AGENT": "openvswitch"},
        enable_services=["q-agt", "q-dhcp", "q-l3"],
        disable_services=["ovn-controller", "ovn-northd", "q-ovn-metadata-agent"],
        post_config={
            "$NOVA_CPU_CONF": {"libvirt": {"cpu_mode": "none"}},
            "$NEUTRON_CONF": {"DEFAULT": {"global_physnet_mtu": 1400}},
            "/etc/glance/glance-api.conf": {"DEFAULT": {"show_image_direct_url": True}},
        },
    )
    with_devstack(
        matrix,
        "storage",
        "ceph-rbd",
        localrc={"ENABLE_CEPH_NOVA": "True", "REMOTE_CEPH": "False"},
        subnode_localrc={"REMOTE_CEPH": "True"},
        plugins={"devstack-plugin-ceph": "https://opendev.org/openstack/devstack-plugin-ceph"},
    )
    controller = devstack_settings(matrix, KVM)
    subnode = devstack_settings(matrix, KVM, "subnode")
    assert controller.localrc["REMOTE_CEPH"] == Setting("False", "storage/ceph-rbd")
    assert subnode.localrc["REMOTE_CEPH"] == Setting("True", "storage/ceph-rbd")
    assert subnode.plugins == controller.plugins
    base = {name: Setting(value, MULTINODE) for name, value in multinode.SUBNODE_LOCALRC.items()}
    assert list(subnode.localrc)[: len(base)] == list(base)
    assert subnode.localrc["SERVICE_HOST"].value == multinode.CONTROLLER_PLACEHOLDER
    assert subnode.services == {
        **{name: Setting(True, MULTINODE) for name in multinode.SUBNODE_SERVICES},
        "q-agt": Setting(True, "network/ovs"),
        "ovn-controller": Setting(False, "network/ovs"),
        "q-ovn-metadata-agent": Setting(False, "network/ovs"),
    }
    assert set(subnode.post_config) == {"$NOVA_CPU_CONF", "$NEUTRON_CONF"}
    assert "/etc/glance/glance-api.conf" in controller.post_config
    assert "SERVICE_HOST" not in controller.localrc and "n-cpu" not in controller.services


def test_a_value_overrides_what_a_subnode_gets_by_default(matrix: Matrix) -> None:
    with_devstack(matrix, "network", "ovs", localrc={"DATABASE_TYPE": "postgresql"},
                  disable_services=["c-vol"])  # fmt: skip
    subnode = devstack_settings(matrix, KVM, "subnode")
    assert subnode.localrc["DATABASE_TYPE"] == Setting("postgresql", "network/ovs")
    assert subnode.services["c-vol"] == Setting(False, "network/ovs")


def test_the_controller_address_replaces_the_placeholder(matrix: Matrix) -> None:
    subnode = with_controller(devstack_settings(matrix, KVM, "subnode"), "192.0.2.10")
    assert subnode.localrc["SERVICE_HOST"] == Setting("192.0.2.10", MULTINODE)
    assert subnode.localrc["RABBIT_HOST"] == Setting("$SERVICE_HOST", MULTINODE)


def test_every_shipped_combination_merges_without_conflict() -> None:
    shipped = load_matrix(SHIPPED)
    for combination in shipped.combinations:
        for node in ("controller", "subnode"):
            devstack_settings(shipped, combination, node)  # type: ignore[arg-type]
    rbd = devstack_settings(shipped, "libvirt-qemu/ceph-rbd/ovn", "subnode")
    assert rbd.localrc["REMOTE_CEPH"] == Setting("True", "storage/ceph-rbd")
