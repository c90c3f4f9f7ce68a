"""`when` rules select combinations by value ids, lists of ids, or attributes of values."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.declarations.applicability import matches, verdicts
from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix


@pytest.fixture
def matrix(small: Path) -> Matrix:
    return load_matrix(small)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"storage": "ceph-rbd"}, True),
        ({"storage": "local-qcow2"}, False),
        ({"storage": ["local-qcow2", "ceph-rbd"]}, True),
        ({"storage": ["local-qcow2"]}, False),
        ({"storage": {"shared": True}}, True),
        ({"storage": {"shared": False}}, False),
        ({"storage": {"shared": 1}}, False),  # YAML's true is not the number 1
        ({"hypervisor": {"shared": True}}, False),  # attribute absent on that value
        ({"storage": "ceph-rbd", "network": "ovn"}, True),
        ({"storage": "ceph-rbd", "network": "ovs"}, False),  # every axis must match
    ],
)
def test_condition_matching(matrix: Matrix, condition: dict[str, object], expected: bool) -> None:
    combination = matrix.combinations["libvirt-kvm/ceph-rbd/ovn"]
    assert matches(matrix, condition, combination) is expected  # type: ignore[arg-type]


def test_verdicts_follow_declaration_order_with_reasons_and_flags(matrix: Matrix) -> None:
    found = verdicts(matrix, matrix.combinations["libvirt-qemu/ceph-rbd/ovs"])
    assert [(v.feature, v.applicable, v.why) for v in found] == [
        ("live-migration", True, None),
        ("block-live-migration", False, "disks on shared storage are not copied"),
        ("live-snapshot", True, None),
    ]
    assert [f.bug for f in found[2].flags] == ["https://bugs.launchpad.net/nova/+bug/1"]
    other = verdicts(matrix, matrix.combinations["libvirt-kvm/local-qcow2/ovs"])
    assert all(v.applicable and not v.flags for v in other)
