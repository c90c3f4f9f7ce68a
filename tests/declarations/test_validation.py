"""Every kind of mistake is reported at file:line:col with what was expected, all in one pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from testinfra.backend import BACKENDS as testinfra_backends

from harness.declarations import loading
from harness.declarations.loading import load_matrix, with_labs
from harness.declarations.problems import DeclarationError
from harness.declarations.yamlsource import load_file
from tests.conftest import Result, edit

# (file, text to replace, replacement, expected "file:line:col: message")
CASES = {
    "unknown key with a suggestion": (
        "features.yaml",
        "  family: migration\n  nova: live-migrate\n  requires: {computes: 2}\nblock",
        "  family: migration\n  nova: live-migrate\n  requires: {computes: 2}\n  tittle: x\nblock",
        "features.yaml:6:3: live-migration: unknown key 'tittle'; did you mean 'title'?",
    ),
    "unknown key without a close match lists the choices": (
        "labs/small.yaml",
        "    cloud: embedded-a\n",
        "    cloud: embedded-a\n    zzz: 1\n",
        "labs/small.yaml:8:5: targets[1]: unknown key 'zzz'; expected one of 'name', 'combination',",
    ),
    "missing required key": (
        "axes.yaml",
        "    title: Libvirt with QEMU (emulation)\n",
        "    description: no title\n",
        "axes.yaml:12:3: hypervisor.libvirt-qemu: missing required key 'title'",
    ),
    "wrong type": (
        "features.yaml",
        "requires: {computes: 2}\nblock",
        "requires: {computes: two}\nblock",
        "features.yaml:5:24: live-migration.requires.computes: expected an integer; got 'two'",
    ),
    "non-slug value id": (
        "axes.yaml",
        "  libvirt-qemu:\n",
        "  Libvirt_QEMU:\n",
        "axes.yaml:12:3: hypervisor: 'Libvirt_QEMU' is not valid here: expected an id of lowercase",
    ),
    "yaml boolean as a key": (
        "axes.yaml",
        "  ovs: {title: ML2/OVS}\n",
        "  on: {title: ML2/OVS}\n",
        "axes.yaml:29:3: network: key true is a boolean in YAML; quote it",
    ),
    "duplicate key": (
        "axes.yaml",
        "  ovn: {title: ML2/OVN}\n",
        "  ovs: {title: ML2/OVN}\n",
        "axes.yaml:30:3: duplicate key 'ovs' (first given at line 29)",
    ),
    "misspelt value in a rule": (
        "features.yaml",
        "    - when: {hypervisor: libvirt-qemu}",
        "    - when: {hypervisor: libvirt-qemmu}",
        "features.yaml:20:26: live-snapshot.flagged[0].when.hypervisor: unknown hypervisor "
        "'libvirt-qemmu'; did you mean 'libvirt-qemu'?",
    ),
    "unknown axis in a rule": (
        "features.yaml",
        "- when: {storage: {shared: true}}",
        "- when: {storge: {shared: true}}",
        "features.yaml:13:14: block-live-migration.not_applicable[0].when: unknown axis 'storge'; "
        "did you mean 'storage'?",
    ),
    "unknown attribute in a rule": (
        "features.yaml",
        "- when: {storage: {shared: true}}",
        "- when: {storage: {sharde: true}}",
        "features.yaml:13:24: block-live-migration.not_applicable[0].when.storage: unknown storage "
        "attribute 'sharde'; did you mean 'shared'?",
    ),
    "not a nova operation": (
        "features.yaml",
        "  nova: snapshot\n",
        "  nova: snapshoot\n",
        "features.yaml:18:9: live-snapshot.nova: 'snapshoot' is not allowed; did you mean 'snapshot'?",
    ),
    "bad tempest id": (
        "features.yaml",
        "[1dce86b8-eb04-4c03-a9d8-9c1dc3ee0c7b]",
        "[id-1dce86b8]",
        "features.yaml:10:13: block-live-migration.tempest[0]: expected a UUID",
    ),
    "value of the wrong shape in a union": (
        "features.yaml",
        "- when: {storage: {shared: true}}",
        "- when: {storage: 5}",
        "features.yaml:13:23: block-live-migration.not_applicable[0].when.storage: expected a string, "
        "a list or a mapping; got number 5",
    ),
    "check with two kinds": (
        "axes.yaml",
        "      - file: {path: /dev/kvm, type: char}\n",
        "      - file: {path: /dev/kvm, type: char}\n        service: {name: libvirtd}\n",
        "axes.yaml:9:9: hypervisor.libvirt-kvm.verify[1]: a check needs exactly one of ini, file, "
        "service, package, command; got file, service",
    ),
    "invalid regex": (
        "axes.yaml",
        "equals: kvm}",
        "matches: 'kvm('}",
        "axes.yaml:7:89: hypervisor.libvirt-kvm.verify[0].ini.matches: invalid regular expression: "
        "missing ), unterminated subpattern at position 3",
    ),
    "unknown value in the product": (
        "combinations.yaml",
        "storage: [local-qcow2, ceph-rbd]",
        "storage: [local-qcow2, cepf-rbd]",
        "combinations.yaml:1:75: product.storage[1]: unknown storage 'cepf-rbd'; did you mean 'ceph-rbd'?",
    ),
    "unknown key in an include entry": (
        "combinations.yaml",
        "{storage: ceph-rbd, reference:",
        "{storage: ceph-rbd, referense:",
        "combinations.yaml:5:25: include[0]: unknown key 'referense'; did you mean 'reference'?",
    ),
    "combination produced twice": (
        "combinations.yaml",
        "  - fake-live-migrate/fake-local/fake-net\n",
        "  - fake-live-migrate/fake-local/fake-net\n  - {hypervisor: libvirt-kvm, storage: ceph-rbd, network: ovs}\n",
        "combinations.yaml:8:5: combinations[1]: combination 'libvirt-kvm/ceph-rbd/ovs' is produced "
        "twice (first by the product at line 1)",
    ),
    "incomplete include": (
        "combinations.yaml",
        "  - {storage: ceph-rbd, reference: nova-live-migration-ceph}\n",
        "  - {storage: ceph-rbd, reference: nova-live-migration-ceph}\n  - {hypervisor: libvirt-qemu, network: ovn}\n",
        "combinations.yaml:6:5: include[1]: combination has no value for axis 'storage'",
    ),
    "exclude that removes nothing": (
        "combinations.yaml",
        "  - {hypervisor: libvirt-qemu, network: ovn}\n",
        "  - {hypervisor: libvirt-qemu, network: ovn}\n  - {hypervisor: fake-live-migrate}\n",
        "combinations.yaml:4:5: exclude[1]: exclude entry matches no combination of the product",
    ),
    "explicit id with too few parts": (
        "combinations.yaml",
        "  - fake-live-migrate/fake-local/fake-net\n",
        "  - fake-live-migrate/fake-local\n",
        "combinations.yaml:7:5: combinations[0]: combination id 'fake-live-migrate/fake-local' has 2 "
        "part(s); expected one value per axis: hypervisor/storage/network",
    ),
    "embedded and real values mixed": (
        "combinations.yaml",
        "  - fake-live-migrate/fake-local/fake-net\n",
        "  - fake-live-migrate/ceph-rbd/ovs\n",
        "combinations.yaml:7:5: combinations[0]: combination 'fake-live-migrate/ceph-rbd/ovs' mixes "
        "embedded-lab values (fake-live-migrate) with real ones",
    ),
    "unknown combination in a lab": (
        "labs/small.yaml",
        "libvirt-kvm/ceph-rbd/ovn",
        "libvirt-kvm/cepf-rbd/ovn",
        "labs/small.yaml:2:18: targets[0].combination: unknown combination 'libvirt-kvm/cepf-rbd/ovn'; "
        "did you mean 'libvirt-kvm/ceph-rbd/ovn'?",
    ),
    "bad host spec": (
        "labs/small.yaml",
        '"ssh://stack@compute1"',
        '"stack@compute1"',
        "labs/small.yaml:4:13: targets[0].hosts[0]: expected a testinfra host spec",
    ),
    "target name used twice": (
        "labs/small.yaml",
        "    cloud: embedded-a\n",
        "    cloud: embedded-a\n    name: libvirt-kvm-ceph-rbd-ovn\n",
        "labs/small.yaml:8:11: targets[1].name: target name 'libvirt-kvm-ceph-rbd-ovn' is used twice "
        "(first at line 2)",
    ),
    "embedded provenance on a real combination": (
        "labs/small.yaml",
        "{kind: periodic, voting: false}",
        "{kind: embedded}",
        "labs/small.yaml:5:24: targets[0].provenance.kind: 'libvirt-kvm/ceph-rbd/ovn' is a real "
        "combination: provenance kind 'embedded' is only for the embedded lab",
    ),
    "ladder needs a criterion kind that does not exist": (
        "levels.yaml",
        "needs: [verified, passing]}",
        "needs: [verified, pasing]}",
        "levels.yaml:11:89: ladder[2].needs[1]: 'pasing' is not allowed; did you mean 'passing'?",
    ),
    "ladder needs a criterion the policy does not declare": (
        "levels.yaml",
        "needs: [verified, passing]}",
        "needs: [verified, tempest]}",
        "levels.yaml:11:89: ladder[2].needs[1]: unknown criterion 'tempest'; expected one of 'ci',",
    ),
    "criterion parameter it does not take": (
        "levels.yaml",
        "description: run by CI}",
        "description: run by CI, window_days: 3}",
        "levels.yaml:6:54: criteria.ci: criterion 'ci' takes no 'window_days'",
    ),
    "criterion missing a parameter it needs": (
        "levels.yaml",
        ", window_days: 30}",
        "}",
        "levels.yaml:5:10: criteria.fresh: criterion 'fresh' needs 'window_days'",
    ),
    "tag in a declaration": (
        "axes.yaml",
        "    title: Libvirt with KVM\n",
        "    title: !!python/name:os.system\n",
        "axes.yaml:3:12: tag 'tag:yaml.org,2002:python/name:os.system' is not allowed",
    ),
    "empty file": (
        "levels.yaml",
        None,
        "",
        "levels.yaml:1:1: file is empty; expected a mapping",
    ),
}


@pytest.mark.parametrize(("file", "old", "new", "expected"), list(CASES.values()), ids=list(CASES))
def test_mistake_is_located_and_explained(
    small: Path, file: str, old: str | None, new: str, expected: str
) -> None:
    if old is None:
        (small / file).write_text(new)
    else:
        edit(small / file, old, new)
    with pytest.raises(DeclarationError) as caught:
        load_matrix(small)
    found = [str(p) for p in caught.value.problems]
    assert any(line.startswith(f"{small}/{expected}") for line in found), "\n".join(found)


def test_all_mistakes_in_all_files_are_reported_in_one_pass(small: Path) -> None:
    edit(small / "features.yaml", "  nova: snapshot\n", "  nova: snapshoot\n")
    edit(small / "features.yaml", "{computes: 2}\nblock", "{computes: two}\nblock")
    edit(small / "combinations.yaml", "[local-qcow2, ceph-rbd]", "[local-qcow2, cepf-rbd]")
    edit(small / "labs/small.yaml", '"ssh://stack@compute1"', '"stack@compute1"')
    with pytest.raises(DeclarationError) as caught:
        load_matrix(small)
    located = [(Path(p.mark.file).name, p.mark.line) for p in caught.value.problems]
    assert located == [
        ("combinations.yaml", 1),
        ("features.yaml", 5),
        ("features.yaml", 18),
        ("small.yaml", 4),
    ]


def test_a_missing_declaration_file_is_a_problem(small: Path) -> None:
    (small / "features.yaml").unlink()
    with pytest.raises(DeclarationError, match=r"features.yaml:1:1: cannot read: No such file"):
        load_matrix(small)


def test_the_small_matrix_loads_and_resolves(small: Path) -> None:
    matrix = load_matrix(small)
    assert list(matrix.combinations) == [
        "libvirt-kvm/local-qcow2/ovs",
        "libvirt-kvm/local-qcow2/ovn",
        "libvirt-kvm/ceph-rbd/ovs",
        "libvirt-kvm/ceph-rbd/ovn",
        "libvirt-qemu/local-qcow2/ovs",
        "libvirt-qemu/ceph-rbd/ovs",
        "fake-live-migrate/fake-local/fake-net",
    ]
    assert matrix.combinations["libvirt-kvm/ceph-rbd/ovs"].reference == "nova-live-migration-ceph"
    assert matrix.combinations["fake-live-migrate/fake-local/fake-net"].embedded
    assert not matrix.combinations["libvirt-kvm/ceph-rbd/ovs"].embedded
    assert [t.target_name for t in matrix.labs["small"].targets] == [
        "libvirt-kvm-ceph-rbd-ovn",
        "fake-live-migrate-fake-local-fake-net",
    ]


def test_an_enormous_product_is_refused_not_expanded(small: Path) -> None:
    values = ", ".join(f"v{i}" for i in range(50))
    axes = "\n".join(
        f"a{n}:\n" + "".join(f"  v{i}: {{title: t}}\n" for i in range(50)) for n in range(4)
    )
    (small / "axes.yaml").write_text(axes)
    (small / "features.yaml").write_text("f:\n  title: t\n  family: x\n")
    (small / "combinations.yaml").write_text(
        "product:\n" + "".join(f"  a{n}: [{values}]\n" for n in range(4))
    )
    (small / "labs" / "small.yaml").unlink()
    with pytest.raises(DeclarationError) as caught:
        load_matrix(small)
    assert [str(p).split("/matrix/")[1] for p in caught.value.problems] == [
        "combinations.yaml:2:3: product: product makes 6,250,000 combinations; the limit is 100,000"
    ]


@pytest.mark.parametrize("backend", sorted(testinfra_backends))
def test_every_testinfra_connection_type_is_a_valid_host_spec(
    run: object, small: Path, backend: str
) -> None:
    """Host specs are checked against testinfra's own registry (safe-ssh was once refused)."""
    edit(small / "labs" / "small.yaml", '"ssh://stack@compute1"', f'"{backend}://stack@compute1"')
    result = run("--matrix", str(small), "validate")  # type: ignore[operator]
    assert result.code == 0, result.err


# --- devstack settings that conflict -----------------------------------------------------------

# (edits of axes.yaml, an entry added to combinations.yaml or None, the problem expected)
CONFLICTS: dict[str, tuple[dict[str, str], tuple[str, str] | None, str]] = {
    "localrc, on every product combination with both values": (
        {
            "    title: Ceph RBD\n": "    title: Ceph RBD\n    devstack: {localrc: {LIBVIRT_TYPE: qemu}}\n"
        },
        None,
        "combinations.yaml:1:10: product: combination 'libvirt-kvm/ceph-rbd/ovs': storage/ceph-rbd "
        "sets localrc LIBVIRT_TYPE=qemu but hypervisor/libvirt-kvm sets it to kvm",
    ),
    "a service, at an explicit entry": (
        {
            "    title: Libvirt with QEMU (emulation)\n": "    title: Libvirt with QEMU (emulation)\n"
            "    devstack: {enable_services: [q-agt]}\n",
            "  ovn: {title: ML2/OVN}\n": "  ovn: {title: ML2/OVN, devstack: {disable_services: [q-agt]}}\n",
        },
        (
            "  - fake-live-migrate/fake-local/fake-net\n",
            "  - fake-live-migrate/fake-local/fake-net\n  - libvirt-qemu/local-qcow2/ovn\n",
        ),
        "combinations.yaml:8:5: combinations[1]: network/ovn disables service q-agt but "
        "hypervisor/libvirt-qemu enables it",
    ),
    "a plugin, at the include entry that made the combination": (
        {
            "    title: Libvirt with QEMU (emulation)\n": "    title: Libvirt with QEMU (emulation)\n"
            "    devstack: {plugins: {p: 'https://example.org/a'}}\n",
            "  ovn: {title: ML2/OVN}\n": "  ovn: {title: ML2/OVN, devstack: {plugins: {p: 'https://example.org/b'}}}\n",
        },
        (
            "  - {storage: ceph-rbd, reference: nova-live-migration-ceph}\n",
            "  - {storage: ceph-rbd, reference: nova-live-migration-ceph}\n"
            "  - {hypervisor: libvirt-qemu, storage: ceph-rbd, network: ovn}\n",
        ),
        "combinations.yaml:6:5: include[1]: network/ovn sets plugin p=https://example.org/b but "
        "hypervisor/libvirt-qemu sets it to https://example.org/a",
    ),
    "post-config and a subnode's localrc, both in one problem": (
        {
            "  ovs: {title: ML2/OVS}\n": "  ovs:\n    title: ML2/OVS\n    devstack:\n"
            "      subnode_localrc: {VIRT_DRIVER: fake}\n"
            "      post_config: {$NOVA_CPU_CONF: {libvirt: {virt_type: qemu}}}\n",
            "    devstack:\n      localrc: {VIRT_DRIVER: libvirt, LIBVIRT_TYPE: kvm}\n": "    devstack:\n"
            "      localrc: {VIRT_DRIVER: libvirt, LIBVIRT_TYPE: kvm}\n"
            "      post_config: {$NOVA_CPU_CONF: {libvirt: {virt_type: kvm}}}\n",
        },
        None,
        "combinations.yaml:1:10: product: combination 'libvirt-kvm/local-qcow2/ovs': network/ovs "
        "sets post_config $NOVA_CPU_CONF [libvirt] virt_type=qemu but hypervisor/libvirt-kvm sets "
        "it to kvm; network/ovs sets localrc VIRT_DRIVER=fake on subnodes but "
        "hypervisor/libvirt-kvm sets it to libvirt",
    ),
}


@pytest.mark.parametrize(
    ("axes", "entry", "expected"), list(CONFLICTS.values()), ids=list(CONFLICTS)
)
def test_values_whose_devstack_settings_conflict_are_a_problem_at_the_combination(
    small: Path, axes: dict[str, str], entry: tuple[str, str] | None, expected: str
) -> None:
    for old, new in axes.items():
        edit(small / "axes.yaml", old, new)
    if entry is not None:
        edit(small / "combinations.yaml", *entry)
    with pytest.raises(DeclarationError) as caught:
        load_matrix(small)
    found = [str(p) for p in caught.value.problems]
    assert f"{small}/{expected}" in found, "\n".join(found)


def test_each_conflicting_combination_is_one_problem_and_agreeing_values_are_none(
    small: Path,
) -> None:
    edit(
        small / "axes.yaml",
        "    title: Ceph RBD\n",
        "    title: Ceph RBD\n    devstack:\n      localrc: {LIBVIRT_TYPE: qemu, VIRT_DRIVER: libvirt}\n",
    )
    with pytest.raises(DeclarationError) as caught:
        load_matrix(small)
    assert [p.message.split(":")[1].strip() for p in caught.value.problems] == [
        "combination 'libvirt-kvm/ceph-rbd/ovn'",
        "combination 'libvirt-kvm/ceph-rbd/ovs'",
    ]  # VIRT_DRIVER: the same value twice is fine; libvirt-qemu declares no LIBVIRT_TYPE
    edit(small / "axes.yaml", "LIBVIRT_TYPE: qemu, ", "LIBVIRT_TYPE: kvm, ")
    assert "libvirt-kvm/ceph-rbd/ovn" in load_matrix(small).combinations


def test_a_lab_file_on_loaded_declarations_is_what_loading_them_together_gives(
    small: Path,
) -> None:
    lab = small / "labs" / "small.yaml"
    on_top = with_labs(load_matrix(small, labs_dir=False), [lab])
    assert on_top == load_matrix(small, [lab], labs_dir=False)
    assert list(on_top.labs) == ["small"]


def test_a_lab_file_on_loaded_declarations_has_the_same_problems_located(small: Path) -> None:
    lab = small / "labs" / "small.yaml"
    declarations = load_matrix(small, labs_dir=False)
    text = lab.read_text()
    lab.write_text(text.replace("combination: ", "combination: x", 1))
    with pytest.raises(DeclarationError) as together:
        load_matrix(small, [lab], labs_dir=False)
    with pytest.raises(DeclarationError) as on_top:
        with_labs(declarations, [lab])
    assert [str(p) for p in on_top.value.problems] == [str(p) for p in together.value.problems]
    assert any("labs/small.yaml:" in str(p) for p in on_top.value.problems)


def test_a_command_with_features_and_a_lab_reads_each_declaration_file_once(
    small: Path, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--feature` needs the declarations before the command loads its lab file: the lab
    file is then read on top of them, not with the declarations again."""
    read: list[str] = []

    def counted(path: Path) -> Any:
        read.append(path.name)
        return load_file(path)

    monkeypatch.setattr(loading, "load_file", counted)
    monkeypatch.chdir(small.parent)  # the repository the CI jobs would check out
    lab = small / "labs" / "small.yaml"
    done = run(
        "--matrix", str(small), "ci", "gitlab", "--lab", str(lab), "--feature", "live-snapshot"
    )
    assert done.code == 0, done.err
    assert sorted(read) == sorted(["axes.yaml", "features.yaml", "combinations.yaml",
                                   "levels.yaml", "small.yaml"])  # fmt: skip
