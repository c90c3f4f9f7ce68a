"""`matrix localconf` read back by devstack's own tools: devstack-tools' LocalConf extracts
localrc (then sourced by bash, as stackrc does) and merges each post-config block into a
file, and every setting of every value must be there with its value."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from devstack.dsconf import LocalConf

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from harness.declarations.model import AxisValue, Devstack, Scalar
from harness.devstack import multinode
from harness.devstack.localconf import local_conf
from harness.errors import BadInput
from tests.conftest import SHIPPED, Result, edit

Run = Callable[..., Result]
CONTROLLER_IP = "192.0.2.10"

# Records what localrc does when sourced: devstack's functions replaced by ones that print.
SOURCE = r"""
enable_plugin() { printf 'plugin\t%s\t%s\n' "$1" "$2"; }
enable_service() { for s in "$@"; do printf 'service\t%s\tTrue\n' "$s"; done; }
disable_service() { for s in "$@"; do printf 'service\t%s\tFalse\n' "$s"; done; }
disable_all_services() { printf 'disable_all_services\n'; }
before=" $(compgen -v | tr '\n' ' ') "
source "$1"
for name in $(compgen -v); do
    case "$before" in *" $name "*) continue;; esac
    if [[ $name =~ ^[A-Z][A-Z0-9_]*$ ]]; then printf 'var\t%s\t%s\n' "$name" "${!name}"; fi
done
"""


@dataclass
class Parsed:
    """What devstack would take from a local.conf."""

    variables: dict[str, str] = field(default_factory=dict)
    plugins: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)  # service calls, in order
    post_config: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    @property
    def services(self) -> dict[str, bool]:
        state: dict[str, bool] = {}
        for call in self.calls:
            if call == ("disable_all_services",):
                state = dict.fromkeys(state, False)
            else:
                state[call[1]] = call[2] == "True"
        return state


def parse(text: str, directory: Path, env: dict[str, str] | None = None) -> Parsed:
    conf = directory / "local.conf"
    conf.write_text(text)
    local = LocalConf(str(conf))
    parsed = Parsed()
    localrc = directory / "localrc"
    localrc.unlink(missing_ok=True)
    local.extract_localrc(str(localrc))
    done = subprocess.run(
        ["bash", "-c", SOURCE, "bash", str(localrc)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **(env or {})},
        check=True,
    )
    for line in done.stdout.splitlines():
        kind, *rest = line.split("\t")
        if kind == "var":
            parsed.variables[rest[0]] = rest[1]
        elif kind == "plugin":
            parsed.plugins[rest[0]] = rest[1]
        else:
            parsed.calls.append((kind, *rest))
    for group, file in local.groups():
        if group != "post-config":
            continue
        merged = directory / f"merged-{len(parsed.post_config)}.ini"
        local.extract(group, file, str(merged))
        ini = configparser.RawConfigParser(default_section="\0", interpolation=None)
        ini.optionxform = str  # type: ignore[assignment,method-assign]
        ini.read(merged)
        parsed.post_config[file] = {s: dict(ini[s]) for s in ini.sections()}
    assert [g for g, _ in local.groups()][:1] == ["local"]
    return parsed


def text(value: Scalar) -> str:
    """A declared value as devstack reads it (written out here, not taken from the harness)."""
    return ("True" if value else "False") if isinstance(value, bool) else str(value)


def declared(matrix: Matrix, combination: str) -> dict[str, Devstack]:
    found = matrix.combinations[combination]
    return {f"{a}/{v}": matrix.value(a, v).devstack for a, v in found.values.items()}


@pytest.fixture(scope="module")
def shipped() -> Matrix:
    return load_matrix(SHIPPED)


REAL = [c for c, found in load_matrix(SHIPPED).combinations.items() if not found.embedded]


@pytest.mark.parametrize("combination", REAL)
def test_every_setting_of_every_value_reaches_the_controller(
    shipped: Matrix, combination: str, tmp_path: Path
) -> None:
    parsed = parse(local_conf(shipped, combination), tmp_path)
    assert ("disable_all_services",) not in parsed.calls  # devstack's defaults, changed
    for origin, devstack in declared(shipped, combination).items():
        for name, value in devstack.localrc.items():
            assert parsed.variables[name] == text(value), (origin, name)
        for name, url in devstack.plugins.items():
            assert parsed.plugins[name] == url, origin
        for name in devstack.enable_services:
            assert parsed.services[name] is True, (origin, name)
        for name in devstack.disable_services:
            assert parsed.services[name] is False, (origin, name)
        for file, sections in devstack.post_config.items():
            for section, keys in sections.items():
                for key, value in keys.items():
                    assert parsed.post_config[file][section][key] == text(value), origin
        assert not set(devstack.subnode_localrc) - set(devstack.localrc) & set(parsed.variables)


@pytest.mark.parametrize("combination", REAL)
def test_a_subnode_gets_its_values_compute_side_and_the_controller(
    shipped: Matrix, combination: str, tmp_path: Path
) -> None:
    parsed = parse(
        local_conf(shipped, combination, "subnode"), tmp_path, {"CONTROLLER_IP": CONTROLLER_IP}
    )
    assert parsed.calls[0] == ("disable_all_services",)
    for name in ("SERVICE_HOST", "DATABASE_HOST", "RABBIT_HOST", "Q_HOST"):
        assert parsed.variables[name] == CONTROLLER_IP
    assert parsed.variables["GLANCE_HOSTPORT"] == f"{CONTROLLER_IP}:9292"
    running = {name for name, on in parsed.services.items() if on}
    assert running <= multinode.COMPUTE_SERVICES and "n-cpu" in running
    for origin, devstack in declared(shipped, combination).items():
        for name, value in {**devstack.localrc, **devstack.subnode_localrc}.items():
            assert parsed.variables[name] == text(value), (origin, name)
        assert {n: parsed.plugins[n] for n in devstack.plugins} == devstack.plugins
        for wanted, services in (
            (True, devstack.enable_services),
            (False, devstack.disable_services),
        ):
            for name in services:
                if name in multinode.COMPUTE_SERVICES:
                    assert parsed.services[name] is wanted, (origin, name)
                else:
                    assert name not in parsed.services, (origin, name)
        for file, sections in devstack.post_config.items():
            if file not in multinode.SUBNODE_FILES:
                assert file not in parsed.post_config
                continue
            for section, keys in sections.items():
                for key, value in keys.items():
                    assert parsed.post_config[file][section][key] == text(value), origin


def test_a_ceph_subnode_uses_the_controllers_cluster(shipped: Matrix, tmp_path: Path) -> None:
    """As devstack-plugin-ceph-multinode-tempest-py3: the plugin everywhere, REMOTE_CEPH on the
    subnode, and one CINDER_CEPH_UUID for both (devstack-plugin-ceph .zuul.yaml)."""
    combination = "libvirt-qemu/ceph-rbd/ovn"
    controller = parse(local_conf(shipped, combination), tmp_path)
    subnode = parse(
        local_conf(shipped, combination, "subnode"), tmp_path, {"CONTROLLER_IP": CONTROLLER_IP}
    )
    assert "REMOTE_CEPH" not in controller.variables  # devstack-plugin-ceph's default: False
    assert subnode.variables["REMOTE_CEPH"] == "True"
    uuid = "d531d2d4-3937-429c-b0c2-658fe41e82aa"
    assert controller.variables["CINDER_CEPH_UUID"] == subnode.variables["CINDER_CEPH_UUID"] == uuid
    assert (
        controller.plugins
        == subnode.plugins
        == {"devstack-plugin-ceph": "https://opendev.org/openstack/devstack-plugin-ceph"}
    )
    assert {s for s, on in subnode.services.items() if on} == {
        "n-cpu", "placement-client", "ovn-controller", "ovs-vswitchd", "ovsdb-server",
        "q-ovn-agent", "c-vol",
    }  # fmt: skip


def test_an_ovs_subnode_is_the_one_devstacks_ovs_job_deploys(
    shipped: Matrix, tmp_path: Path
) -> None:
    """devstack .zuul.yaml devstack-platform-ubuntu-noble-ovs, group-vars.subnode: OVN's
    services off, q-agt on."""
    parsed = parse(
        local_conf(shipped, "libvirt-qemu/local-qcow2/ovs", "subnode"),
        tmp_path,
        {"CONTROLLER_IP": CONTROLLER_IP},
    )
    services = parsed.services
    assert {s for s, on in services.items() if on} == {
        "n-cpu",
        "placement-client",
        "c-vol",
        "q-agt",
    }
    for name in ("ovn-controller", "ovs-vswitchd", "ovsdb-server", "q-ovn-metadata-agent"):
        assert services[name] is False
    assert parsed.variables["Q_AGENT"] == "openvswitch"
    assert parsed.post_config == {"$NOVA_CPU_CONF": {"libvirt": {"images_type": "qcow2"}}}


def test_a_subnode_without_a_lab_stops_until_the_controller_is_given(
    shipped: Matrix, tmp_path: Path
) -> None:
    with pytest.raises(subprocess.CalledProcessError) as caught:
        parse(local_conf(shipped, "libvirt-qemu/local-qcow2/ovn", "subnode"), tmp_path)
    assert (
        "CONTROLLER_IP: set CONTROLLER_IP to the address of the controller" in caught.value.stderr
    )


def test_each_line_names_the_value_it_comes_from(shipped: Matrix) -> None:
    combination = "libvirt-qemu/local-qcow2/ovs"
    origins = {*declared(shipped, combination), multinode.MULTINODE}
    for node in ("controller", "subnode"):
        lines = local_conf(shipped, combination, node).splitlines()  # type: ignore[arg-type]
        start = lines.index("[[local|localrc]]")
        in_localrc = True
        for i, line in enumerate(lines[start + 1 :], start + 1):
            if line.startswith("[[") or not line:
                in_localrc = False
            elif in_localrc:
                assert line.rsplit("  # ", 1)[1].split(":")[0] in origins, line
            elif " = " in line:
                assert lines[i - 1].removeprefix("# ") in origins, line
        assert lines[:start] and all(line.startswith("#") for line in lines[:start])


def test_passwords_are_left_to_the_user(shipped: Matrix) -> None:
    out = local_conf(shipped, "libvirt-qemu/ceph-rbd/ovn")
    assert "PASSWORD=" not in out
    assert (
        "# every node (ADMIN_PASSWORD, DATABASE_PASSWORD, RABBIT_PASSWORD, SERVICE_PASSWORD)" in out
    )


# --- a value's own post-config, several files and sections, with devstack-tools --------------


def test_post_config_blocks_merge_into_their_files(small: Path, tmp_path: Path) -> None:
    matrix = load_matrix(small)
    matrix.axes["storage"]["ceph-rbd"] = AxisValue(
        title="t",
        devstack=Devstack(
            localrc={"IMAGE_DIR": "$DEST/images", "COUNT": 2, "ON": True},
            post_config={
                "$NOVA_CPU_CONF": {
                    "libvirt": {"images_type": "rbd", "live_migration_permit_post_copy": True},
                    "DEFAULT": {"my_ip": "$HOST_IP"},
                },
                "/etc/glance/glance-api.conf": {"DEFAULT": {"workers": 2}},
            },
        ),
    )
    combination = "libvirt-kvm/ceph-rbd/ovs"
    parsed = parse(local_conf(matrix, combination), tmp_path, {"DEST": "/opt/stack"})
    assert parsed.variables["IMAGE_DIR"] == "/opt/stack/images"
    assert (parsed.variables["COUNT"], parsed.variables["ON"]) == ("2", "True")
    assert parsed.post_config == {
        "$NOVA_CPU_CONF": {
            "libvirt": {"images_type": "rbd", "live_migration_permit_post_copy": "True"},
            "DEFAULT": {"my_ip": "$HOST_IP"},  # devstack's iniset line expands it
        },
        "/etc/glance/glance-api.conf": {"DEFAULT": {"workers": "2"}},
    }
    subnode = parse(local_conf(matrix, combination, "subnode"), tmp_path, {"CONTROLLER_IP": "c"})
    assert list(subnode.post_config) == ["$NOVA_CPU_CONF"]


UNSAFE: dict[str, tuple[Devstack, str]] = {
    "command substitution in localrc": (
        Devstack(localrc={"X": "$(reboot)"}),
        "storage/ceph-rbd: localrc X: '$(reboot)' cannot be written to local.conf",
    ),
    "a quote in a post-config value": (
        Devstack(post_config={"$NOVA_CONF": {"DEFAULT": {"k": 'a"; reboot; "'}}}),
        "storage/ceph-rbd: post_config $NOVA_CONF [DEFAULT] k: 'a\"; reboot; \"' cannot be",
    ),
    "a line break": (
        Devstack(localrc={"X": "a\n[[post-config|/etc/x]]"}),
        "storage/ceph-rbd: localrc X:",
    ),
    "two services in one name": (
        Devstack(enable_services=["n-cpu; reboot"]),
        "storage/ceph-rbd: service: 'n-cpu; reboot' cannot be written",
    ),
    "a key with a space": (
        Devstack(post_config={"$NOVA_CONF": {"DEFAULT": {"a b": 1}}}),
        "storage/ceph-rbd: post_config $NOVA_CONF [DEFAULT] a b: 'a b' cannot be written",
    ),
    "a plugin URL a shell would split": (
        Devstack(plugins={"p": "https://example.org/p;reboot"}),
        "storage/ceph-rbd: plugin p: 'https://example.org/p;reboot' cannot be written",
    ),
}


@pytest.mark.parametrize(("devstack", "message"), UNSAFE.values(), ids=list(UNSAFE))
def test_what_a_shell_would_run_is_refused_naming_the_value(
    small: Path, devstack: Devstack, message: str
) -> None:
    matrix = load_matrix(small)
    matrix.axes["storage"]["ceph-rbd"] = AxisValue(title="t", devstack=devstack)
    with pytest.raises(BadInput) as caught:
        local_conf(matrix, "libvirt-kvm/ceph-rbd/ovs")
    assert str(caught.value).startswith(message), str(caught.value)


def test_the_embedded_lab_has_no_local_conf(shipped: Matrix) -> None:
    with pytest.raises(BadInput, match="embedded-lab combination"):
        local_conf(shipped, "fake-live-migrate/fake-local/fake-neutron")


# --- determinism -----------------------------------------------------------------------------


def test_the_same_declarations_give_the_same_bytes(run: Run, tmp_path: Path) -> None:
    args = ["--matrix", str(SHIPPED), "localconf", "libvirt-qemu/ceph-rbd/ovn", "--node", "subnode"]
    outputs = set()
    for seed in ("0", "1", "4242"):  # set and dict orders that hash seeds could change
        done = subprocess.run(
            [sys.executable, "-m", "harness", *args],
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
        outputs.add(done.stdout)
    first = run(*args)
    assert first.code == 0, first.err
    assert outputs == {first.out.encode()}
    written = tmp_path / "local.conf"
    again = run(*args, "--out", str(written))
    assert again.code == 0 and written.read_bytes() == first.out.encode()


# --- the command -----------------------------------------------------------------------------


def test_an_unknown_combination_exits_2_with_the_nearest(run: Run) -> None:
    result = run("--matrix", str(SHIPPED), "localconf", "libvirt-qemu/ceph-rbd/ovm")
    assert result.code == 2
    assert result.err.strip() == (
        "matrix: unknown combination 'libvirt-qemu/ceph-rbd/ovm'; "
        "did you mean 'libvirt-qemu/ceph-rbd/ovn'?"
    )


def test_a_conflicting_combination_is_refused_naming_both_values(run: Run, small: Path) -> None:
    edit(
        small / "axes.yaml",
        "    title: Ceph RBD\n",
        "    title: Ceph RBD\n    devstack: {localrc: {LIBVIRT_TYPE: qemu}}\n",
    )
    result = run("--matrix", str(small), "localconf", "libvirt-kvm/ceph-rbd/ovs")
    assert result.code == 2
    assert (
        "combination 'libvirt-kvm/ceph-rbd/ovs': storage/ceph-rbd sets localrc "
        "LIBVIRT_TYPE=qemu but hypervisor/libvirt-kvm sets it to kvm"
    ) in result.err


EXAMPLE_LAB = SHIPPED / "labs" / "example-devstack.yaml"


def test_a_lab_target_gives_the_subnode_its_controller(run: Run, tmp_path: Path) -> None:
    result = run(
        "--matrix", str(SHIPPED), "localconf", "libvirt-qemu/local-qcow2/ovn", "--node", "subnode",
        "--lab", str(EXAMPLE_LAB), "--target", "libvirt-qemu-local-qcow2-ovn",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert re.search(r'^SERVICE_HOST="controller" +# devstack-multinode$', result.out, re.M)
    assert "host ssh://stack@controller." in result.out
    assert parse(result.out, tmp_path).variables["RABBIT_HOST"] == "controller"


def lab(directory: Path, hosts: str, combination: str = "libvirt-qemu/local-qcow2/ovn") -> Path:
    path = directory / "lab.yaml"
    path.write_text(
        f"name: l\ntargets:\n  - {{name: t, combination: {combination}, cloud: c, hosts: {hosts}}}\n"
    )
    return path


LAB_ANSWERS = {
    "an address and a port": (
        '[{spec: "ssh://stack@10.0.0.1:2222", roles: [controller]}, "ssh://stack@10.0.0.2"]',
        0,
        'SERVICE_HOST="10.0.0.1"',
    ),
    "IPv6": (
        '[{spec: "paramiko://stack@[2001:db8::1]", roles: [controller]}]',
        0,
        'SERVICE_HOST="2001:db8::1"',
    ),
    "bare specs": (
        '["ssh://stack@a", "ssh://stack@b"]',
        2,
        "matrix: lab l, target t: which host is the controller? hosts ssh://stack@a, ssh://stack@b may each be it: declare one with roles: [controller]",
    ),
    "no controller": (
        '[{spec: "ssh://stack@a", roles: [compute]}]',
        2,
        "matrix: lab l, target t: which host is the controller? no host has the controller role",
    ),
    "a local controller": (
        '["local://"]',
        2,
        "matrix: lab l, target t: the controller host local:// names no address to reach it at; leave out --lab and set CONTROLLER_IP instead",
    ),
}


@pytest.mark.parametrize(("hosts", "code", "expected"), LAB_ANSWERS.values(), ids=list(LAB_ANSWERS))
def test_the_controller_is_the_lab_targets_controller_host(
    run: Run, tmp_path: Path, hosts: str, code: int, expected: str
) -> None:
    path = lab(tmp_path, hosts)
    result = run(
        "--matrix", str(SHIPPED), "localconf", "libvirt-qemu/local-qcow2/ovn", "--node", "subnode",
        "--lab", str(path), "--target", "t",
    )  # fmt: skip
    assert result.code == code
    assert expected in (result.out if code == 0 else result.err.strip()), result.err


def test_lab_mistakes_exit_2(run: Run, tmp_path: Path) -> None:
    path = lab(tmp_path, '["ssh://stack@a"]')
    base = ["--matrix", str(SHIPPED), "localconf", "libvirt-qemu/local-qcow2/ovn"]
    wrong_target = run(*base, "--lab", str(path), "--target", "tt")
    assert wrong_target.code == 2 and "unknown target 'tt'; did you mean 't'?" in wrong_target.err
    other = run(*base[:-1], "libvirt-qemu/ceph-rbd/ovn", "--lab", str(path), "--target", "t")
    assert other.code == 2
    assert "deploys libvirt-qemu/local-qcow2/ovn, not libvirt-qemu/ceph-rbd/ovn" in other.err
    alone = run(*base, "--lab", str(path))
    assert alone.code == 2 and "--lab and --target go together" in alone.err


def test_the_command_is_registered_with_its_help(run: Run) -> None:
    from harness.cli.main import cli

    with cli.make_context("matrix", ["localconf", "--help"], resilient_parsing=True) as ctx:
        command = cli.get_command(ctx, "localconf")
    assert command is not None and command.name == "localconf"
    assert command.get_short_help_str(limit=200) == "The devstack local.conf for a combination."
    shown = run("localconf", "--help")
    assert shown.code == 0 and "--node [controller|subnode]" in shown.out
