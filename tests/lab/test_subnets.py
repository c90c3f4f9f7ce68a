"""Each libvirt cell's bridge gets a /24 no network of this machine overlaps."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from harness.lab import bridge, libvirt_cells

# Two cell directories of one clean clone that hash to the same /24 (10.213.59.0/24): CI's
# main job once stopped on it.
CLASHING = (Path("/tmp/ci33/.lab/cells/libvirt-local"), Path("/tmp/ci33/.lab/cells/libvirt-shared"))


def test_a_cell_whose_subnet_is_taken_gets_the_next_free_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bridge, "networks_in_use", lambda: [])
    first, second = (libvirt_cells.subnet_of(d) for d in CLASHING)
    assert first == second == "10.213.59.0/24"  # alike when nothing is in use
    used = [ipaddress.IPv4Network(first), ipaddress.IPv4Network("10.213.60.0/23")]
    monkeypatch.setattr(bridge, "networks_in_use", lambda: used)
    assert libvirt_cells.subnet_of(CLASHING[1]) == "10.213.62.0/24"
