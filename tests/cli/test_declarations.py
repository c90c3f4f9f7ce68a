"""The `matrix` command: exit codes, output shapes, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import SHIPPED, edit


def test_validate_prints_a_summary_and_exits_0(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("--matrix", str(small), "validate")
    assert result.code == 0, result.err
    assert (
        "valid — 3 axes (9 values), 3 features, 7 combinations, 3 levels, 1 labs (2 targets)"
        in result.out
    )


def test_three_mistakes_in_one_file_give_three_located_errors_and_exit_2(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    features = small / "features.yaml"
    edit(features, "  nova: snapshot\n", "  nova: snapshoot\n")
    edit(features, "{computes: 2}\nblock", "{computes: two}\nblock")
    edit(features, "- when: {storage: {shared: true}}", "- when: {storage: cepf-rbd}")
    result = run("validate", str(features))
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines == [
        f"{features}:5:24: live-migration.requires.computes: expected an integer; got 'two'",
        f"{features}:13:23: block-live-migration.not_applicable[0].when.storage: unknown storage "
        "'cepf-rbd'; did you mean 'ceph-rbd'?",
        f"{features}:18:9: live-snapshot.nova: 'snapshoot' is not allowed; did you mean 'snapshot'?",
        "3 problems in 1 file",
    ]
    assert result.out == ""


def test_validate_a_lab_file_against_the_matrix_option(run, small: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab = tmp_path / "mylab.yaml"
    lab.write_text("targets:\n  - {combination: libvirt-kvm/ceph-rbd/ovz, cloud: devstack}\n")
    result = run("--matrix", str(small), "validate", str(lab))
    assert result.code == 2
    assert (
        f"{lab}:2:19: targets[0].combination: unknown combination 'libvirt-kvm/ceph-rbd/ovz'"
        in result.err
    )
    lab.write_text("targets:\n  - {combination: libvirt-kvm/ceph-rbd/ovn, cloud: devstack}\n")
    result = run("--matrix", str(small), "validate", str(lab))
    assert result.code == 0, result.err
    assert "1 labs (1 targets)" in result.out  # only the named lab, not the matrix's own labs/


def test_list_filters_by_axis_values(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--matrix",
        str(small),
        "list",
        "--json",
        "--axis",
        "storage=ceph-rbd",
        "--axis",
        "network=ovs",
    )
    assert result.code == 0
    assert [c["id"] for c in json.loads(result.out)] == [
        "libvirt-kvm/ceph-rbd/ovs",
        "libvirt-qemu/ceph-rbd/ovs",
    ]
    either = run(
        "--matrix",
        str(small),
        "list",
        "--json",
        "--axis",
        "network=ovn",
        "--axis",
        "network=fake-net",
    )
    assert [c["id"] for c in json.loads(either.out)] == [
        "libvirt-kvm/local-qcow2/ovn",
        "libvirt-kvm/ceph-rbd/ovn",
        "fake-live-migrate/fake-local/fake-net",
    ]


def test_list_json_explains_applicability(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("--matrix", str(small), "list", "--json", "--axis", "hypervisor=libvirt-qemu")
    by_id = {c["id"]: c for c in json.loads(result.out)}
    ceph = by_id["libvirt-qemu/ceph-rbd/ovs"]
    assert ceph["features"] == ["live-migration", "live-snapshot"]
    assert ceph["not_applicable"] == {
        "block-live-migration": "disks on shared storage are not copied"
    }
    assert ceph["flagged"] == {"live-snapshot": ["https://bugs.launchpad.net/nova/+bug/1"]}
    assert ceph["reference"] == "nova-live-migration-ceph"


def test_list_table_counts_features(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("--matrix", str(small), "list", "--axis", "storage=ceph-rbd")
    assert "3 of 7 combinations" in result.out
    row = next(line for line in result.out.splitlines() if "libvirt-kvm/ceph-rbd/ovs" in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [
        "libvirt-kvm/ceph-rbd/ovs",
        "nova-live-migration-ceph",
        "2",
        "1",
    ]


def test_list_features(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("--matrix", str(small), "list", "--features", "--json")
    features = json.loads(result.out)
    assert list(features) == ["live-migration", "block-live-migration", "live-snapshot"]
    assert features["block-live-migration"]["tempest"] == ["1dce86b8-eb04-4c03-a9d8-9c1dc3ee0c7b"]
    table = run("--matrix", str(small), "list", "--features")
    assert "block-live-migration" in table.out and "2 computes" in table.out


def test_bad_axis_filter_is_one_line_exit_2(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    for value, message in [
        ("storage=cepf-rbd", "unknown storage 'cepf-rbd'; did you mean 'ceph-rbd'?"),
        ("storge=ceph-rbd", "unknown axis 'storge'; did you mean 'storage'?"),
        ("storage", "'storage': expected AXIS=VALUE"),
    ]:
        result = run("--matrix", str(small), "list", "--axis", value)
        assert result.code == 2
        assert result.err == f"matrix: Invalid value for '--axis': {message}\n"


def test_show_explains_not_applicable_features(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("--matrix", str(small), "show", "libvirt-qemu/ceph-rbd/ovs")
    assert result.code == 0
    assert "modelled on: nova-live-migration-ceph" in result.out
    assert "features that apply (2)" in result.out
    assert "not applicable (1)" in result.out
    na_part = result.out.split("not applicable (1)")[1]
    assert "block-live-migration" in na_part and "disks on shared storage are not copied" in na_part
    assert "shared=true" in result.out
    assert "example flag (https://bugs.launchpad.net/nova/+bug/1)" in result.out


def test_show_unknown_combination_suggests_the_nearest(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("--matrix", str(small), "show", "libvirt-kvm/cepf-rbd/ovs")
    assert result.code == 2
    assert result.err == (
        "matrix: Invalid value for COMBINATION: unknown combination 'libvirt-kvm/cepf-rbd/ovs'; "
        "did you mean 'libvirt-kvm/ceph-rbd/ovs'?\n"
    )


def test_commands_on_a_broken_matrix_exit_2_with_the_problems(run, small: Path) -> None:  # type: ignore[no-untyped-def]
    edit(small / "axes.yaml", "  ovn: {title: ML2/OVN}\n", "  ovn: {title: ML2/OVN, colour: red}\n")
    for command in (["list"], ["show", "libvirt-kvm/ceph-rbd/ovn"], ["validate"]):
        result = run("--matrix", str(small), *command)
        assert result.code == 2
        assert "axes.yaml:30:25: network.ovn: unknown key 'colour'" in result.err
        assert "Traceback" not in result.err


def test_usage_errors_are_one_line_exit_2(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bogus = run("list", "--bogus")
    assert bogus.code == 2
    assert bogus.err.startswith("matrix: No such option") and bogus.err.count("\n") == 1
    missing = run("validate", str(tmp_path / "nope"))
    assert missing.code == 2 and missing.err.count("\n") == 1 and "does not exist" in missing.err
    empty = run("--matrix", str(tmp_path), "list")
    assert empty.code == 2 and "axes.yaml:1:1: cannot read: No such file or directory" in empty.err


def test_schema_writes_one_file_per_kind(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("schema", "--out", str(tmp_path))
    assert result.code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        f"{k}.schema.json" for k in ("axes", "combinations", "features", "lab", "levels")
    ]
    one = run("schema", "features")
    assert json.loads(one.out)["title"].startswith("Features to prove")


def test_console_script_is_installed_and_uses_the_shipped_matrix() -> None:
    done = subprocess.run(
        [Path(sys.executable).parent / "matrix", "validate"],
        cwd=SHIPPED.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("matrix: valid")
