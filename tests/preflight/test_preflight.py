"""Preflight: checks and facts of a combination's values, run with testinfra on a target's hosts.

Three layers: a real sshd on 127.0.0.1 (hosts reached exactly as real labs are), the shipped
matrix's embedded combination on local:// hosts laid out like the embedded lab's, and the
semantics of each check kind on local:// with files in tmp dirs.
"""

from __future__ import annotations

import json
import platform
import shutil
import socket
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import testinfra

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from harness.declarations.model import (
    CommandCheck,
    FileCheck,
    Host,
    IniCheck,
    PackageCheck,
    ServiceCheck,
    Target,
)
from harness.preflight import names
from harness.preflight.checks import CHECKS, Verdict, parse_ini
from harness.preflight.runner import CheckOutcome, PreflightResult, run_preflight
from harness.run.secrets import hide_url_credentials
from tests.conftest import DATA, SHIPPED
from tests.preflight.conftest import SshServer, free_port, write

NOVA_CPU = "/etc/nova/nova-cpu.conf"
COMBINATION = "libvirt-kvm/local-qcow2/ovs"

AXES = """\
hypervisor:
  libvirt-kvm:
    title: Libvirt with KVM
    verify:
      - ini: {path: /etc/nova/nova-cpu.conf, section: DEFAULT, key: compute_driver, equals: libvirt.LibvirtDriver}
        role: compute
      - ini: {path: /etc/nova/nova-cpu.conf, section: libvirt, key: virt_type, equals: kvm}
        role: compute
      - file: {path: /etc/nova/nova-cpu.conf, type: file, contains: LibvirtDriver}
        role: compute
      - command: {run: uname -s, matches: '^Linux$'}
      - package: {name: openssh-server}
    facts:
      kernel: uname -r
      missing-tool: no-such-tool-preflight --version
storage:
  local-qcow2:
    title: Local qcow2 files
    verify:
      - ini: {path: /etc/nova/nova-cpu.conf, section: libvirt, key: images_type, equals: qcow2}
        role: compute
      - file: {path: /opt/stack/data/nova/instances, type: directory}
        role: compute
network:
  ovs:
    title: ML2/OVS
    verify:
      - ini: {path: /etc/neutron/plugins/ml2/ml2_conf.ini, section: ml2, key: mechanism_drivers, contains: openvswitch}
        role: controller
      - command: {run: "echo ovs; exit 3", exit_status: 3, matches: ^ovs$}
    facts:
      os: uname -s
"""

FEATURES = """\
launch:
  title: Launch a server
  family: lifecycle
  nova: launch
"""


def nova_cpu(virt_type: str) -> str:
    return f"""\
        [DEFAULT]
        compute_driver = libvirt.LibvirtDriver

        [libvirt]
        virt_type = {virt_type}
        images_type = qcow2
        """


def plant(root: Path, virt_type: str) -> Path:
    """A host root laid out like a devstack compute and controller."""
    write(root / NOVA_CPU.lstrip("/"), nova_cpu(virt_type))
    (root / "opt/stack/data/nova/instances").mkdir(parents=True)
    write(
        root / "etc/neutron/plugins/ml2/ml2_conf.ini",
        "[ml2]\nmechanism_drivers = openvswitch,l2population\n",
    )
    return root


@pytest.fixture
def matrix(tmp_path: Path) -> Matrix:
    root = tmp_path / "matrix"
    write(root / "axes.yaml", AXES)
    write(root / "features.yaml", FEATURES)
    write(root / "combinations.yaml", f"combinations: [{COMBINATION}]\n")
    shutil.copy(DATA / "small" / "levels.yaml", root / "levels.yaml")
    return load_matrix(root)


def target(*hosts: Host | str, combination: str = COMBINATION) -> Target:
    return Target(combination=combination, cloud="test", hosts=list(hosts))


def by_description(result: PreflightResult, host: str) -> dict[str, CheckOutcome]:
    return {o.description: o for o in result.outcomes if o.host == host}


# --- a real sshd ------------------------------------------------------------------------


def test_ssh_matching_host_passes_every_check_and_roles_filter(
    sshd: SshServer, matrix: Matrix, tmp_path: Path
) -> None:
    good = str(plant(tmp_path / "good", "kvm"))
    compute, controller = sshd.spec("127.0.0.1"), sshd.spec("localhost")
    result = run_preflight(
        matrix,
        target(
            Host(spec=compute, roles=["compute"], root=good),
            Host(spec=controller, roles=["controller"], root=good),
        ),
    )

    assert result.status == "passed", result.failures
    assert result.failures == []
    assert all(o.error is None for o in result.outcomes)
    # hosts are named by spec and root: lab hosts share a spec and differ by root
    on_compute = by_description(result, f"{compute}{good}")
    on_controller = by_description(result, f"{controller}{good}")
    assert set(on_compute) == {
        f"ini {NOVA_CPU} [DEFAULT] compute_driver == libvirt.LibvirtDriver",
        f"ini {NOVA_CPU} [libvirt] virt_type == kvm",
        f"file {NOVA_CPU} is a regular file and contains 'LibvirtDriver'",
        "command 'uname -s' exits 0 and stdout matches /^Linux$/",
        "package openssh-server installed",
        f"ini {NOVA_CPU} [libvirt] images_type == qcow2",
        "file /opt/stack/data/nova/instances is a directory",
        "command 'echo ovs; exit 3' exits 3 and stdout matches /^ovs$/",
    }
    # compute-only checks never ran on the controller-only host, and the other way round
    assert set(on_controller) == {
        "command 'uname -s' exits 0 and stdout matches /^Linux$/",
        "package openssh-server installed",
        "ini /etc/neutron/plugins/ml2/ml2_conf.ini [ml2] mechanism_drivers contains openvswitch",
        "command 'echo ovs; exit 3' exits 3 and stdout matches /^ovs$/",
    }
    assert on_compute[f"ini {NOVA_CPU} [libvirt] virt_type == kvm"].found == "virt_type = kvm"
    assert {o.value for o in result.outcomes} == {
        "hypervisor/libvirt-kvm",
        "storage/local-qcow2",
        "network/ovs",
    }

    # facts: every value's, on every host, roles ignored
    for spec in (compute, controller):
        facts = result.facts[f"{spec}{good}"]
        assert facts["kernel"] == platform.release()
        assert facts["os"] == "Linux"
        assert facts["missing-tool"].startswith("exit 127: ")
    assert json.loads(json.dumps(result.to_json())) == result.to_json()


def test_ssh_mismatching_host_fails_exactly_the_virt_type_check(
    sshd: SshServer, matrix: Matrix, tmp_path: Path
) -> None:
    bad = str(plant(tmp_path / "bad", "qemu"))
    spec = sshd.spec()
    result = run_preflight(matrix, target(Host(spec=spec, roles=["compute"], root=bad)))

    assert result.status == "failed"
    [failure] = result.failures
    assert failure == CheckOutcome(
        host=f"{spec}{bad}",
        value="hypervisor/libvirt-kvm",
        kind="ini",
        description=f"ini {NOVA_CPU} [libvirt] virt_type == kvm",
        passed=False,
        found="virt_type = qemu",
        error=None,
    )
    assert len(result.outcomes) == 8
    assert result.facts[f"{spec}{bad}"]["kernel"] == platform.release()


def test_ssh_unreachable_host_fails_its_checks_with_an_error(
    sshd: SshServer, matrix: Matrix, tmp_path: Path
) -> None:
    good = str(plant(tmp_path / "good", "kvm"))
    closed = sshd.spec(port=free_port())  # nothing listens there
    result = run_preflight(
        matrix,
        target(Host(spec=sshd.spec(), root=good), Host(spec=closed, root=good)),
    )

    assert result.status == "failed"
    closed_label = f"{closed}{good}"
    assert result.failures and all(o.host == closed_label for o in result.failures)
    unreachable = [o for o in result.outcomes if o.host == closed_label]
    assert len(unreachable) == 9  # every check of both roles: all failed, none skipped
    for outcome in unreachable:
        assert not outcome.passed
        assert outcome.error is not None
        assert outcome.error.startswith("host unreachable: ")
        assert "Connection refused" in outcome.error
    assert all(v.startswith("error: host unreachable") for v in result.facts[closed_label].values())
    assert result.facts[f"{sshd.spec()}{good}"]["os"] == "Linux"


# --- the shipped matrix's embedded combination ------------------------------------------

EMBEDDED = "fake-live-migrate/fake-local/fake-neutron"


def lab_hosts(tmp_path: Path, driver: str) -> list[Host]:
    """Two hosts laid out like the embedded lab's cells/<cell>/hosts/<host>/etc/nova/."""
    hosts = []
    for index, name in enumerate(("compute1", "compute2")):
        root = tmp_path / "cells" / "live-local" / "hosts" / name
        write(
            root / "etc/nova/nova-cpu.conf",
            f"""\
            # Effective nova configuration of {name} in embedded-lab cell live-local.
            [DEFAULT]
            compute_driver = {driver}
            host = {name}
            vif_plugging_timeout = 0

            [libvirt]
            live_migration_scheme = tcp
            """,
        )
        roles: list[Any] = ["controller", "compute"] if index == 0 else ["compute"]
        hosts.append(Host(spec="local://", roles=roles, root=str(root)))
    return hosts


def test_shipped_embedded_combination_passes_on_lab_like_hosts(tmp_path: Path) -> None:
    shipped = load_matrix(SHIPPED)
    hosts = lab_hosts(tmp_path, "labfake.LocalStorageLiveMigrateDriver")
    result = run_preflight(shipped, target(*hosts, combination=EMBEDDED))

    assert result.status == "passed", result.failures
    assert {o.value for o in result.outcomes} == {
        "hypervisor/fake-live-migrate",
        "storage/fake-local",
        "network/fake-neutron",
    }
    assert len(result.outcomes) == 6  # three compute checks on each of the two hosts
    found = {o.found for o in result.outcomes}
    assert "vif_plugging_timeout = 0" in found


def test_shipped_embedded_combination_fails_the_storage_check_with_shared_driver(
    tmp_path: Path,
) -> None:
    shipped = load_matrix(SHIPPED)
    hosts = lab_hosts(tmp_path, "labfake.SharedStorageLiveMigrateDriver")
    result = run_preflight(shipped, target(*hosts, combination=EMBEDDED))

    assert result.status == "failed"
    assert {(o.value, o.kind, o.found) for o in result.failures} == {
        ("storage/fake-local", "ini", "compute_driver = labfake.SharedStorageLiveMigrateDriver")
    }
    assert len(result.failures) == 2  # once per host


# --- result shape ---------------------------------------------------------------------


def test_a_target_without_hosts_is_skipped_not_passed(matrix: Matrix) -> None:
    def never(spec: str) -> Any:
        raise AssertionError("no host to connect to")

    result = run_preflight(matrix, target(), connect=never)
    assert result.status == "skipped"
    assert result.outcomes == [] and result.facts == {} and result.failures == []
    assert result.to_json()["status"] == "skipped"


def test_spec_strings_are_hosts_of_both_roles(matrix: Matrix) -> None:
    result = run_preflight(matrix, target("local://"))
    # unrooted: the compute checks read this machine's /etc/nova, which has no nova-cpu.conf
    kinds = {(o.value, o.description) for o in result.outcomes}
    assert len(kinds) == 9
    assert result.status == "failed"


def test_a_check_that_raises_fails_with_an_error_and_others_still_run(
    matrix: Matrix, tmp_path: Path
) -> None:
    good = str(plant(tmp_path / "good", "kvm"))
    real = testinfra.get_host("local://")

    class Broken:
        def __getattr__(self, name: str) -> Any:
            if name == "package":
                raise NotImplementedError("no package manager known")
            return getattr(real, name)

    result = run_preflight(matrix, target(Host(spec="local://", root=good)), lambda _: Broken())
    [failure] = result.failures
    assert failure.kind == "package"
    assert failure.error == "no package manager known"
    assert len(result.outcomes) == 9


def test_each_service_looks_its_names_up_at_the_same_time_as_the_others() -> None:
    """Image, compute and network lookups each wait for the other two (a barrier): looked up
    one after another they would all time out. Both flavors come from one listing."""
    met = threading.Barrier(3, timeout=10)
    asked: list[tuple[str, str]] = []

    def lister(service: str, names: list[str]) -> Any:
        def listing(**query: str) -> list[Any]:
            if all(s != service for s, _ in asked):
                met.wait()  # the first request of each service meets the other services'
            asked.append((service, query.get("name", "*")))
            return [
                SimpleNamespace(name=name, id=f"{service}-{name}")
                for name in names
                if query.get("name", name) == name
            ]

        return listing

    cloud = SimpleNamespace(
        image=SimpleNamespace(images=lister("image", ["cirros", "fedora"])),
        compute=SimpleNamespace(flavors=lister("compute", ["m1.small", "m1.tiny"])),
        network=SimpleNamespace(networks=lister("network", ["private", "public"])),
    )
    lab_target = Target(
        combination=COMBINATION, cloud="test", image="cirros", flavor="m1.tiny",
        flavor_alt="m1.small", network="private",
    )  # fmt: skip
    outcomes, found = names.check_names(lambda: cloud, lab_target)
    assert [(o.value, o.passed) for o in outcomes] == [
        ("lab/image", True), ("lab/flavor", True), ("lab/flavor_alt", True),
        ("lab/network", True),
    ]  # fmt: skip
    assert sorted(asked) == [("compute", "*"), ("image", "cirros"), ("network", "private")]
    assert {field: resource.id for field, resource in found.items()} == {
        "image": "image-cirros", "flavor": "compute-m1.tiny", "flavor_alt": "compute-m1.small",
        "network": "network-private",
    }  # fmt: skip


class Service:
    """One service's API as openstacksdk's proxy shows it, counting its requests."""

    def __init__(self, listing: str, find: str, resources: list[tuple[str, str]]) -> None:
        self.resources = [SimpleNamespace(id=rid, name=name) for rid, name in resources]
        self.requests: list[str] = []
        setattr(self, listing, self._list)
        setattr(self, find, self._find)

    def _list(self, name: str | None = None) -> list[Any]:
        self.requests.append(f"list name={name}" if name else "list")
        return [r for r in self.resources if name is None or r.name == name]

    def _find(self, name_or_id: str, ignore_missing: bool = True) -> Any:
        self.requests.append(f"find {name_or_id}")
        by_id = [r for r in self.resources if r.id == name_or_id]
        return by_id[0] if by_id else next((r for r in self._list(name_or_id)), None)


IMAGE_ID = "155d900f-4e14-4e4c-a73d-069cbf4541e6"


def look_up(**services: Service) -> tuple[list[CheckOutcome], dict[str, Any]]:
    lab_target = Target(
        combination=COMBINATION, cloud="test", image="cirros", flavor="m1.tiny",
        flavor_alt="2", network="private",
    )  # fmt: skip
    return names.check_names(lambda: SimpleNamespace(**services), lab_target)


def test_names_are_found_in_one_request_each_and_both_flavors_in_one() -> None:
    """A Glance or Neutron id is a UUID, so a name that is not one is asked for by name alone
    (openstacksdk's finder would first ask for it by id, a 404); Nova's flavor ids are any
    string, so one listing answers both flavors by id or by name."""
    image = Service("images", "find_image", [(IMAGE_ID, "cirros")])
    compute = Service("flavors", "find_flavor", [("1", "m1.tiny"), ("2", "m1.small")])
    network = Service("networks", "find_network", [("n-1", "private")])
    outcomes, found = look_up(image=image, compute=compute, network=network)
    assert all(o.passed for o in outcomes), outcomes
    assert (found["flavor"].name, found["flavor_alt"].name) == ("m1.tiny", "m1.small")  # by id
    assert image.requests == ["list name=cirros"] and network.requests == ["list name=private"]
    assert compute.requests == ["list"]


def test_an_image_given_by_its_id_is_found_by_id() -> None:
    image = Service("images", "find_image", [(IMAGE_ID, "cirros")])
    lab_target = Target(combination=COMBINATION, cloud="test", image=IMAGE_ID)
    outcomes, found = names.check_names(lambda: SimpleNamespace(image=image), lab_target)
    assert outcomes[0].passed and found["image"].name == "cirros"
    assert image.requests == [f"find {IMAGE_ID}"]


def test_a_name_several_resources_have_fails_and_a_missing_one_says_what_exists() -> None:
    image = Service("images", "find_image", [("i-1", "cirros"), ("i-2", "cirros")])
    compute = Service("flavors", "find_flavor", [("1", "m1.tiny"), ("3", "m1.smal")])
    network = Service("networks", "find_network", [("n-1", "privat")])
    outcomes, found = look_up(image=image, compute=compute, network=network)
    by_field = {o.value: o for o in outcomes}
    assert by_field["lab/image"].error == "more than one image has the name or id 'cirros'"
    assert by_field["lab/flavor"].passed
    assert "no flavor_alt of that name or id" in by_field["lab/flavor_alt"].found
    assert "did you mean 'privat'" in by_field["lab/network"].found
    assert compute.requests == ["list"]  # the did-you-mean of a flavor reads the same listing
    assert set(found) == {"flavor"}


def test_connect_failure_is_an_unreachable_host(matrix: Matrix) -> None:
    def refuse(spec: str) -> Any:
        raise RuntimeError("Unknown connection type 'nope'")

    result = run_preflight(matrix, target("ssh://nowhere"), connect=refuse)
    assert result.status == "failed"
    assert {o.error for o in result.outcomes} == {
        "host unreachable: Unknown connection type 'nope'"
    }
    assert result.facts["ssh://nowhere"]["os"].startswith("error: host unreachable")


def test_the_clouds_names_are_looked_up_while_the_hosts_are_checked(
    matrix: Matrix, tmp_path: Path
) -> None:
    good = str(plant(tmp_path / "good", "kvm"))
    checking_hosts = threading.Event()
    saw_hosts_checked: list[bool] = []

    def connect(spec: str) -> Any:
        checking_hosts.set()
        return testinfra.get_host(spec)

    def cloud() -> Any:  # waits for the host checks: one after the other, it would time out
        saw_hosts_checked.append(checking_hosts.wait(timeout=30))
        raise RuntimeError("no cloud here")

    lab_target = Target(
        combination=COMBINATION, cloud="test", hosts=[Host(spec="local://", root=good)],
        image="cirros",
    )  # fmt: skip
    result = run_preflight(matrix, lab_target, connect, cloud=cloud)
    assert saw_hosts_checked == [True]
    assert [o.error for o in result.failures] == ["no cloud here"]  # the names' outcome, first
    assert result.outcomes[0].value == "lab/image" and len(result.outcomes) == 10


def test_unknown_combination_is_a_clear_error(matrix: Matrix) -> None:
    with pytest.raises(ValueError, match="unknown combination 'a/b/c'"):
        run_preflight(matrix, target("local://", combination="a/b/c"))


# --- check kinds ------------------------------------------------------------------------

local = testinfra.get_host("local://")


def ini(root: Path, **fields: Any) -> Verdict:
    fields.setdefault("path", "/nova.conf")
    fields.setdefault("section", "DEFAULT")
    return CHECKS["ini"].run(local, IniCheck(**fields), str(root))


CONF = """\
    [DEFAULT]
    compute_driver = libvirt.LibvirtDriver
    Debug = True
    vif_plugging_timeout = 0
    my_ip = "10.0.0.5"
    transport_url = rabbit://stackrabbit:s3cret@10.0.0.5:5672/
    enabled_filters = ComputeFilter, ImagePropertiesFilter,PciPassthroughFilter
    use_journal = False

    [libvirt]
    virt_type = kvm
    images_type = qcow2
    images_type = rbd

    [database]
    connection_password = hunter2
    """


@pytest.fixture
def conf_root(tmp_path: Path) -> Path:
    write(tmp_path / "nova.conf", CONF)
    return tmp_path


@pytest.mark.parametrize(
    ("fields", "passed", "found"),
    [
        (
            {"key": "compute_driver", "equals": "libvirt.LibvirtDriver"},
            True,
            "compute_driver = libvirt.LibvirtDriver",
        ),
        (
            {"key": "compute_driver", "equals": "libvirt.libvirtdriver"},
            False,
            "compute_driver = libvirt.LibvirtDriver",
        ),
        # keys are case-insensitive, as in oslo.config
        (
            {"key": "COMPUTE_DRIVER", "equals": "libvirt.LibvirtDriver"},
            True,
            "COMPUTE_DRIVER = libvirt.LibvirtDriver",
        ),
        ({"key": "debug", "equals": True}, True, "debug = True"),
        ({"key": "debug", "equals": "true"}, True, "debug = True"),
        ({"key": "debug", "equals": False}, False, "debug = True"),
        ({"key": "use_journal", "equals": False}, True, "use_journal = False"),
        ({"key": "vif_plugging_timeout", "equals": 0}, True, "vif_plugging_timeout = 0"),
        ({"key": "vif_plugging_timeout", "equals": "0"}, True, "vif_plugging_timeout = 0"),
        ({"key": "vif_plugging_timeout", "equals": 300}, False, "vif_plugging_timeout = 0"),
        # one pair of quotes is stripped, as oslo.config does
        ({"key": "my_ip", "equals": "10.0.0.5"}, True, "my_ip = 10.0.0.5"),
        (
            {"key": "compute_driver", "matches": r"^libvirt\."},
            True,
            "compute_driver = libvirt.LibvirtDriver",
        ),
        (
            {"key": "compute_driver", "matches": "^Libvirt"},
            False,
            "compute_driver = libvirt.LibvirtDriver",
        ),
        (
            {"key": "compute_driver", "matches": "Driver"},
            True,
            "compute_driver = libvirt.LibvirtDriver",
        ),
        ({"key": "enabled_filters", "contains": "ImagePropertiesFilter"}, True, None),
        ({"key": "enabled_filters", "contains": "PciPassthroughFilter"}, True, None),
        ({"key": "enabled_filters", "contains": "Properties"}, True, None),
        ({"key": "enabled_filters", "contains": "NUMATopologyFilter"}, False, None),
        ({"key": "debug"}, True, "debug = True"),
        ({"key": "debug", "absent": False}, True, "debug = True"),
        ({"key": "nonexistent"}, False, "key nonexistent missing in [DEFAULT]"),
        ({"key": "nonexistent", "absent": True}, True, "nonexistent not set"),
        ({"key": "debug", "absent": True}, False, "debug = True"),
        ({"section": "libvirt", "key": "virt_type", "equals": "kvm"}, True, "virt_type = kvm"),
        # repeated keys: the last one wins (strict=False)
        ({"section": "libvirt", "key": "images_type", "equals": "rbd"}, True, "images_type = rbd"),
        # DEFAULT keys are not copied into other sections (oslo.config groups do not inherit)
        (
            {"section": "libvirt", "key": "compute_driver"},
            False,
            "key compute_driver missing in [libvirt]",
        ),
        ({"section": "vnc", "key": "enabled", "equals": True}, False, "section [vnc] missing"),
        ({"section": "vnc", "key": "enabled", "absent": True}, True, "section [vnc] missing"),
        ({"path": "/missing.conf", "key": "debug"}, False, "file missing"),
        ({"path": "/missing.conf", "key": "debug", "absent": True}, False, "file missing"),
    ],
)
def test_ini_semantics(
    conf_root: Path, fields: dict[str, Any], passed: bool, found: str | None
) -> None:
    verdict = ini(conf_root, **fields)
    assert verdict.passed is passed
    if found is not None:
        assert verdict.found == found


def test_ini_never_shows_secrets(conf_root: Path) -> None:
    shown = ini(conf_root, key="transport_url", matches="^rabbit://").found
    assert shown == "transport_url = rabbit://stackrabbit:***@10.0.0.5:5672/"
    assert ini(conf_root, section="database", key="connection_password").found == (
        "connection_password = ***"
    )
    assert "s3cret" not in hide_url_credentials("mysql+pymysql://root:s3cret@127.0.0.1/nova")


def test_ini_unparseable_file_fails_saying_so(tmp_path: Path) -> None:
    write(tmp_path / "nova.conf", "compute_driver = x\n")
    verdict = ini(tmp_path, key="compute_driver")
    assert not verdict.passed
    assert verdict.found.startswith("not an INI file: File contains no section headers.")


def test_parse_ini_keeps_default_a_plain_section() -> None:
    parser = parse_ini("[DEFAULT]\nA = 1\n[x]\nb = 2\n")
    assert parser.has_option("DEFAULT", "a") and not parser.has_option("x", "a")


def file_check(root: Path | None, **fields: Any) -> Verdict:
    return CHECKS["file"].run(local, FileCheck(**fields), None if root is None else str(root))


def test_file_semantics(tmp_path: Path) -> None:
    write(tmp_path / "etc/thing.conf", "[DEFAULT]\nkey = needle\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "etc/thing.conf")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")

    assert file_check(tmp_path, path="/etc/thing.conf") == Verdict(True, "exists")
    assert file_check(tmp_path, path="/etc/other.conf") == Verdict(False, "file missing")
    assert file_check(tmp_path, path="/etc/thing.conf", type="file").passed
    assert file_check(tmp_path, path="/dir", type="directory") == Verdict(True, "a directory")
    assert file_check(tmp_path, path="/dir", type="file") == Verdict(False, "a directory")
    assert file_check(tmp_path, path="/etc/thing.conf", type="directory") == Verdict(
        False, "a regular file"
    )
    assert file_check(tmp_path, path="/link", type="symlink") == Verdict(True, "a symlink")
    assert file_check(tmp_path, path="/dangling", type="symlink").passed
    assert file_check(tmp_path, path="/dangling") == Verdict(False, "file missing")
    assert file_check(tmp_path, path="/etc/thing.conf", contains="key = needle") == Verdict(
        True, "contains 'key = needle'"
    )
    assert file_check(tmp_path, path="/etc/thing.conf", contains="haystack") == Verdict(
        False, "does not contain 'haystack'"
    )
    assert file_check(tmp_path, path="/dir", contains="x") == Verdict(
        False, "a directory, not read"
    )
    # unrooted: the host's own files (a character device is never read)
    assert file_check(None, path="/dev/null", type="char") == Verdict(True, "a character device")
    assert file_check(None, path="/dev/null", type="block") == Verdict(False, "a character device")
    assert file_check(None, path="/dev/null", contains="x") == Verdict(
        False, "a character device, not read"
    )


def test_file_socket(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert file_check(tmp_path, path="/s.sock", type="socket") == Verdict(True, "a socket")


def command(root: str | None = None, **fields: Any) -> Verdict:
    return CHECKS["command"].run(local, CommandCheck(**fields), root)


def test_command_semantics() -> None:
    assert command(run="uname -s") == Verdict(True, "exit 0")
    assert command(run="uname -s", matches="^Linux$") == Verdict(True, "exit 0, stdout: 'Linux'")
    assert command(run="uname -s", matches="^Darwin") == Verdict(False, "stdout: 'Linux'")
    assert command(run="echo oops >&2; exit 4") == Verdict(False, "exit 4: oops")
    assert command(run="exit 4", exit_status=4) == Verdict(True, "exit 4")
    assert command(run="true", exit_status=1) == Verdict(False, "exit 0")
    assert command(run="test -d /proc").passed  # absolute paths are the host's own


def test_commands_run_from_the_hosts_root(tmp_path: Path) -> None:
    """The same relative path names /etc/nova on a real host and a lab host's copy."""
    (tmp_path / "etc" / "nova").mkdir(parents=True)
    (tmp_path / "etc" / "nova" / "nova-cpu.conf").write_text("[libvirt]\nvirt_type = qemu\n")
    sed = "sed -n 's/^virt_type = //p' etc/nova/nova-cpu.conf"
    assert command(str(tmp_path), run=sed, matches="^qemu$").passed
    assert command(None, run="pwd", matches="^/$").passed  # a host without a root: from /
    assert not command(str(tmp_path / "missing"), run="true").passed  # no such root: fails


def test_lab_hosts_sharing_a_spec_are_told_apart_by_root(tmp_path: Path, matrix: Matrix) -> None:
    first, second = plant(tmp_path / "h1", "kvm"), plant(tmp_path / "h2", "qemu")
    result = run_preflight(
        matrix,
        target(Host(spec="local://", root=str(first)), Host(spec="local://", root=str(second))),
    )
    assert set(result.facts) == {f"local://{first}", f"local://{second}"}
    [failure] = [o for o in result.failures if "virt_type" in o.description]
    assert failure.host == f"local://{second}"


def test_package_semantics() -> None:
    package = CHECKS["package"].run
    assert package(local, PackageCheck(name="openssh-server"), None) == Verdict(True, "installed")
    assert not package(local, PackageCheck(name="no-such-package-preflight"), None).passed
    version = local.package("openssh-server").version
    assert package(local, PackageCheck(name="openssh-server", version=version[:3]), None).passed
    assert package(local, PackageCheck(name="openssh-server", version="0.0"), None) == Verdict(
        False, f"version {version}"
    )


def fake_service(running: bool, enabled: bool) -> Any:
    service = SimpleNamespace(is_running=running, is_enabled=enabled)
    return SimpleNamespace(service=lambda name: service)


@pytest.mark.parametrize(
    ("declared", "running", "enabled", "passed", "found"),
    [
        ({"running": True}, True, False, True, "service running"),
        ({"running": True}, False, True, False, "service not running"),
        ({"running": False}, False, True, True, "service not running"),
        ({"running": False}, True, True, False, "service running"),
        ({"running": True, "enabled": True}, True, True, True, "service running, enabled"),
        ({"running": True, "enabled": True}, True, False, False, "service running, not enabled"),
        (
            {"running": False, "enabled": False},
            False,
            False,
            True,
            "service not running, not enabled",
        ),
    ],
)
def test_service_semantics(
    declared: dict[str, bool], running: bool, enabled: bool, passed: bool, found: str
) -> None:
    check = ServiceCheck(name="devstack@n-cpu", **declared)
    verdict = CHECKS["service"].run(fake_service(running, enabled), check, None)
    assert verdict == Verdict(passed, found)


def test_registry_covers_every_check_kind() -> None:
    from harness.declarations.model import CHECK_KINDS

    assert set(CHECKS) == set(CHECK_KINDS)


def test_nothing_on_the_host_is_modified(tmp_path: Path, matrix: Matrix) -> None:
    root = plant(tmp_path / "host", "qemu")
    before = {
        p: (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"") for p in root.rglob("*")
    }
    run_preflight(matrix, target(Host(spec="local://", root=str(root))))
    after = {
        p: (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"") for p in root.rglob("*")
    }
    assert before == after
