"""The real-world matrix shipped in matrix/ is valid, complete and says what it should."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.declarations.applicability import verdicts
from harness.declarations.loading import FILES, load_matrix
from harness.declarations.matrix import Matrix
from harness.declarations.model import Devstack
from harness.declarations.schema import SCHEMA_FILES, render
from harness.declarations.yamlsource import load_file
from harness.lab.cells import attribute
from tests.conftest import SHIPPED

CATALOGUE = [
    "launch",
    "reboot",
    "stop-start",
    "pause-unpause",
    "suspend-resume",
    "rescue",
    "rebuild",
    "resize",
    "cold-migration",
    "live-migration",
    "block-live-migration",
    "live-migration-paused",
    "volume-backed-live-migration",
    "live-migration-with-volume",
    "abort-live-migration",
    "force-complete-live-migration",
    "snapshot",
    "live-snapshot",
    "boot-from-snapshot",
    "boot-from-volume",
    "attach-detach-volume",
    "extend-attached-volume",
    "multiattach-volume",
    "attach-detach-interface",
    "shelve-unshelve",
    "console-output",
    "config-drive",
    "set-admin-password",
    "trigger-crash-dump",
    "evacuate",
]


@pytest.fixture(scope="module")
def shipped() -> Matrix:
    return load_matrix(SHIPPED)


def test_axes_cover_the_real_world_values(shipped: Matrix) -> None:
    assert {"libvirt-kvm", "libvirt-qemu", "vmware", "ironic"} <= set(shipped.axes["hypervisor"])
    assert {"local-qcow2", "lvm", "ceph-rbd", "nfs"} <= set(shipped.axes["storage"])
    assert {"ovs", "ovn", "linuxbridge"} <= set(shipped.axes["network"])
    implied_by_hypervisor = {"baremetal-disk", "vmware-datastore"}  # no devstack knob of their own
    for axis, values in shipped.axes.items():
        for value_id, value in values.items():
            assert value.verify, f"{axis}/{value_id} has no preflight checks"
            if value_id not in implied_by_hypervisor and not value.embedded:
                assert value.devstack != Devstack(), f"{axis}/{value_id}: no devstack settings"


def test_shared_storage_is_declared(shipped: Matrix) -> None:
    storage = shipped.axes["storage"]
    assert storage["ceph-rbd"].attributes["shared"] is True
    assert storage["nfs"].attributes["shared"] is True
    assert storage["local-qcow2"].attributes["shared"] is False


def test_every_catalogue_feature_is_declared_with_its_nova_key(shipped: Matrix) -> None:
    assert sorted(shipped.features) == sorted(CATALOGUE)
    assert shipped.features["live-migration"].nova == "live-migrate"
    assert (
        "1dce86b8-eb04-4c03-a9d8-9c1dc3ee0c7b" in shipped.features["block-live-migration"].tempest
    )
    assert "608e604b-1d63-4a82-8e3e-91bc665c90b4" in shipped.features["live-snapshot"].tempest
    assert shipped.features["evacuate"].requires.destructive


def test_every_feature_says_how_a_user_does_it(shipped: Matrix) -> None:
    """The INI export gives every operation Nova's `cli` key, from the declarations."""
    missing = [fid for fid, feature in shipped.features.items() if not feature.cli]
    assert missing == []
    assert all(f.cli.startswith("openstack ") for f in shipped.features.values() if f.cli)


CHECK_QUEUE_ONLY = {"nova-lvm", "nova-live-migration-ceph"}
"""Nova jobs that run in its check queue but do not vote in its gate (openstack/nova .zuul.yaml)."""


def test_combinations_of_check_queue_jobs_do_not_claim_the_gate(shipped: Matrix) -> None:
    found = [c for c in shipped.combinations.values() if c.reference in CHECK_QUEUE_ONLY]
    assert {c.reference for c in found} == CHECK_QUEUE_ONLY
    for combination in found:
        assert "gate" not in (combination.title or "").lower(), combination.id
    said = {c.reference for c in found if (c.title or "").startswith("Check queue ")}
    assert said == CHECK_QUEUE_ONLY  # the job's own deployment says which queue it runs in


def test_at_least_eight_combinations_modelled_on_nova_jobs(shipped: Matrix) -> None:
    real = [c for c in shipped.combinations.values() if c.reference and not c.embedded]
    assert len(real) >= 8
    jobs = {c.reference for c in real}
    assert {"nova-live-migration", "nova-live-migration-ceph", "nova-lvm", "nova-next"} <= jobs


def test_embedded_combinations_differ_where_nova_makes_them_differ(shipped: Matrix) -> None:
    embedded = [c for c in shipped.combinations.values() if c.embedded]
    emulated = {
        (
            attribute(shipped, c, "live_migration"),
            attribute(shipped, c, "shared"),
        )
        for c in embedded
    }
    assert emulated == {(True, False), (True, True), (False, False)}
    lab = shipped.labs["embedded"]
    assert sorted(t.combination for t in lab.targets) == sorted(c.id for c in embedded)
    assert all(t.provenance.kind == "embedded" for t in lab.targets)


def test_block_migration_is_not_applicable_on_shared_storage(shipped: Matrix) -> None:
    ceph = {
        v.feature: v for v in verdicts(shipped, shipped.combinations["libvirt-qemu/ceph-rbd/ovn"])
    }
    local = {
        v.feature: v
        for v in verdicts(shipped, shipped.combinations["libvirt-qemu/local-qcow2/ovn"])
    }
    assert not ceph["block-live-migration"].applicable
    assert "shared storage" in (ceph["block-live-migration"].why or "")
    assert local["block-live-migration"].applicable
    assert all(v.applicable for v in local.values())


def test_committed_json_schemas_match_the_models() -> None:
    for kind, name in SCHEMA_FILES.items():
        committed = (SHIPPED / "schemas" / name).read_text()
        assert committed == render(kind), f"matrix/schemas/{name} is stale: run `matrix schema`"


@pytest.mark.parametrize("kind", ["axes", "features", "combinations", "levels"])
def test_editor_schema_accepts_the_shipped_files(kind: str) -> None:
    schema = json.loads(render(kind))
    jsonschema.validate(load_file(SHIPPED / FILES[kind]).data, schema)


def test_editor_schema_accepts_shipped_labs_and_rejects_a_bad_id() -> None:
    lab = json.loads(render("lab"))
    for path in sorted((SHIPPED / "labs").glob("*.yaml")):
        jsonschema.validate(load_file(path).data, lab)
    axes = json.loads(render("axes"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"hypervisor": {"Bad_Id": {"title": "x"}}}, axes)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"hypervisor": {"kvm": {"title": "x", "colour": "red"}}}, axes)


def test_shipped_yaml_files_point_editors_at_their_schema() -> None:
    for kind, name in FILES.items():
        first = (SHIPPED / name).read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema=schemas/{kind}.schema.json"
    for path in (SHIPPED / "labs").glob("*.yaml"):
        assert path.read_text().startswith(
            "# yaml-language-server: $schema=../schemas/lab.schema.json"
        )


def test_shipped_labs_reference_shipped_combinations(shipped: Matrix) -> None:
    assert shipped.labs, "matrix/labs should ship at least one example lab"
    for lab in shipped.labs.values():
        for target in lab.targets:
            assert target.combination in shipped.combinations
            assert Path(lab.path).suffix == ".yaml"
