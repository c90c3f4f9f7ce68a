"""The small test matrix judged by the shipped policy, and an empty history beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from tests.builder import History

KVM = "libvirt-kvm/local-qcow2/ovs"
KVM_CEPH = "libvirt-kvm/ceph-rbd/ovs"
QEMU = "libvirt-qemu/local-qcow2/ovs"
EMBEDDED = "fake-live-migrate/fake-local/fake-net"
LM = "live-migration"  # no tempest test declared
BLM = "block-live-migration"  # tempest-covered; not applicable on shared (ceph) storage


@pytest.fixture
def matrix(matrix_dir: Path) -> Matrix:
    return load_matrix(matrix_dir)


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "history.sqlite")
