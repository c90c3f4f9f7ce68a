"""Real Nova cells over HTTP: boot, live-migrate, volumes, the openstack CLI."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from openstack import exceptions
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from harness.declarations.loading import load_matrix
from harness.lab import control
from harness.lab.cells import cells_from
from harness.lab.state import LabState
from tests.conftest import SHIPPED
from tests.lab.conftest import connect, wait_for

IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"  # seeded by Nova's Glance fixture


@contextmanager
def booted(conn: Connection, name: str, host: str | None = None) -> Iterator[Server]:
    """A server on the cell's network (on `host` if given), ACTIVE with no task state;
    deleted afterwards."""
    network = conn.network.find_network("private", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    server = conn.compute.create_server(
        name=name, image_id=IMAGE, flavor_id=flavor.id, networks=[{"uuid": network.id}],
        **({"availability_zone": f"nova:{host}"} if host else {}),
    )  # fmt: skip
    try:
        yield wait_for(lambda: settled(conn, server.id, "ACTIVE"), what=f"{name} ACTIVE")
    finally:
        conn.compute.delete_server(server.id, ignore_missing=True)


def settled(conn: Connection, server_id: str, status: str) -> Server | None:
    server = conn.compute.get_server(server_id)
    return server if server.status == status and server.task_state is None else None


def migration(conn: Connection, server_id: str, statuses: tuple[str, ...]) -> Any:
    """The record stays 'running' a moment after the server is ACTIVE elsewhere: poll it."""
    found = conn.compute.migrations(instance_uuid=server_id)
    return next((m for m in found if m.status in statuses), None)


def volume_status(conn: Connection, volume_id: str, status: str) -> Any:
    volume = conn.block_storage.get_volume(volume_id)
    return volume if volume.status == status else None


@contextmanager
def available_volume(conn: Connection, name: str) -> Iterator[Any]:
    """A 1 GB volume created through the volume API, available; deleted afterwards."""
    volume = conn.block_storage.create_volume(size=1, name=name)
    try:
        yield wait_for(lambda: volume_status(conn, volume.id, "available"), what="available")
    finally:
        conn.block_storage.delete_volume(volume.id, ignore_missing=True)


def attach(conn: Connection, server: Server, volume: Any) -> Any:
    """Attach through Nova; the volume API must then say in-use."""
    conn.compute.create_volume_attachment(server, volume=volume)
    return wait_for(lambda: volume_status(conn, volume.id, "in-use"), what="in-use")


def detach(conn: Connection, server: Server, volume: Any) -> Any:
    conn.compute.delete_volume_attachment(server, volume.id)
    return wait_for(lambda: volume_status(conn, volume.id, "available"), what="detached")


@pytest.fixture
def live_local(running_lab: LabState) -> Connection:
    return connect(running_lab, "embedded-live-local")


def test_cells_differ_in_driver_and_write_each_hosts_config(running_lab: LabState) -> None:
    drivers = {}
    for cell in ("live-local", "live-shared", "nolive-local"):
        endpoint = running_lab.endpoint(cell)
        assert endpoint is not None and endpoint.hosts == ("host1", "host2")
        for host in endpoint.hosts:
            conf = configparser.ConfigParser(interpolation=None)
            path = running_lab.cell_dir(cell) / "hosts" / host / "etc/nova/nova-cpu.conf"
            assert conf.read(path) == [str(path)]
            assert conf["DEFAULT"]["host"] == host
            drivers[cell] = conf["DEFAULT"]["compute_driver"]
    assert drivers == {
        "live-local": "labfake.LocalStorageLiveMigrateDriver",
        "live-shared": "labfake.SharedStorageLiveMigrateDriver",
        "nolive-local": "labfake.NoLiveMigrateDriver",
    }


def test_keystone_decides_who_may_do_what(running_lab: LabState) -> None:
    """No token or a forged one: 401 from Nova and from every front alike. A project member
    (password auth through Keystone) meets Nova's real policy: no hypervisors for them."""
    endpoint = running_lab.endpoint("live-local")
    assert endpoint is not None
    for url in (
        endpoint.compute + "/servers",
        endpoint.volume + "/volumes",
        endpoint.network + "/networks",
    ):
        for headers in ({}, {"X-Auth-Token": "gAAAAABforged"}):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
            assert caught.value.code == 401, url
    member = connect(running_lab, "embedded-live-local-member")
    with pytest.raises(exceptions.ForbiddenException, match="os-hypervisors"):
        list(member.compute.hypervisors())
    admin = connect(running_lab, "embedded-live-local")
    assert {h.name for h in admin.compute.hypervisors()} == {"host1", "host2"}
    assert member.current_project_id != admin.current_project_id


def test_a_members_server_is_theirs_with_its_addresses(running_lab: LabState) -> None:
    """Ports carry the owner's project (the fixture stamped its own, hiding the addresses)."""
    member = connect(running_lab, "embedded-live-local-member")
    with booted(member, "lab-test-member") as server:
        assert server.project_id == member.current_project_id
        assert server.addresses and server.addresses["private"][0]["addr"]
        (port,) = member.network.ports(device_id=server.id)
        assert port.project_id == member.current_project_id


def test_boot_and_live_migrate_over_http(live_local: Connection) -> None:
    with booted(live_local, "lab-test-live-migrate") as server:
        source = server.compute_host
        live_local.compute.live_migrate_server(server, block_migration="auto")
        record = wait_for(
            lambda: migration(live_local, server.id, ("completed",)), what="migration completed"
        )
        moved = wait_for(lambda: settled(live_local, server.id, "ACTIVE"), what="ACTIVE again")
        assert moved.compute_host != source
        assert (record.source_compute, record.dest_compute) == (source, moved.compute_host)
        assert record.migration_type == "live-migration"


def test_aborting_one_migration_leaves_another_from_the_same_host_running(
    live_local: Connection,
) -> None:
    """The fake driver's migration state was one per host: an abort cancelled every migration
    leaving that host, which scenarios running side by side met."""
    with (
        booted(live_local, "lab-test-abort-one") as first,
        booted(live_local, "lab-test-keep-one", host=first.compute_host) as second,
    ):
        assert second.compute_host == first.compute_host
        for server in (first, second):
            live_local.compute.live_migrate_server(server, block_migration="auto")
        running = [
            wait_for(lambda s=s: migration(live_local, s.id, ("running",)), what="running")
            for s in (first, second)
        ]
        live_local.compute.abort_server_migration(running[0].id, first)
        cancelled = wait_for(
            lambda: migration(live_local, first.id, ("cancelled",)), what="cancelled"
        )
        completed = wait_for(
            lambda: migration(live_local, second.id, ("completed",)), what="completed"
        )
        assert (cancelled.id, completed.id) == (running[0].id, running[1].id)
        stayed = wait_for(lambda: settled(live_local, first.id, "ACTIVE"), what="stayed")
        moved = wait_for(lambda: settled(live_local, second.id, "ACTIVE"), what="moved")
        assert stayed.compute_host == first.compute_host
        assert moved.compute_host != first.compute_host


def test_a_volume_created_over_http_attaches_and_shows_in_use(live_local: Connection) -> None:
    with (
        available_volume(live_local, "lab-test-volume") as volume,
        booted(live_local, "lab-test-volume-server") as server,
    ):
        in_use = attach(live_local, server, volume)
        assert [a["server_id"] for a in in_use.attachments] == [server.id]
        attached = live_local.compute.volume_attachments(server)
        assert [a.volume_id for a in attached] == [volume.id]
        assert detach(live_local, server, volume).attachments == []


def test_an_attachment_left_behind_can_be_deleted_through_the_volume_api(
    live_local: Connection,
) -> None:
    """What frees a volume from an attachment a failed live migration left (harness cleanup,
    or an operator's `openstack volume attachment delete`)."""
    with (
        available_volume(live_local, "lab-test-orphan") as volume,
        booted(live_local, "lab-test-orphan-server") as server,
    ):
        [attachment] = attach(live_local, server, volume).attachments
        live_local.block_storage.delete_attachment(attachment["attachment_id"])
        freed = wait_for(lambda: volume_status(live_local, volume.id, "available"), what="freed")
        assert freed.attachments == []
        with pytest.raises(exceptions.NotFoundException):
            live_local.block_storage.delete_attachment(
                attachment["attachment_id"], ignore_missing=False
            )


def test_shared_storage_refuses_block_migration(running_lab: LabState) -> None:
    conn = connect(running_lab, "embedded-live-shared")
    with booted(conn, "lab-test-shared") as server:
        with pytest.raises(exceptions.BadRequestException):
            conn.compute.live_migrate_server(server, block_migration=True)
        after = conn.compute.get_server(server.id)
        assert (after.status, after.compute_host) == ("ACTIVE", server.compute_host)


def test_a_driver_without_live_migration_cannot_live_migrate(running_lab: LabState) -> None:
    conn = connect(running_lab, "embedded-nolive-local")
    with booted(conn, "lab-test-nolive") as server:
        with suppress(exceptions.HttpException):  # refused synchronously at this microversion
            conn.compute.live_migrate_server(server, block_migration="auto")
        failed = wait_for(
            lambda: migration(conn, server.id, ("error", "failed")), what="migration failed"
        )
        assert failed.source_compute == server.compute_host
        assert conn.compute.get_server(server.id).compute_host == server.compute_host


def openstack_cli(state: LabState, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(state.clouds_file))
    executable = Path(sys.executable).parent / "openstack"
    command = [str(executable), "--os-cloud", "embedded-live-local", *args]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_openstack_cli_works_with_the_written_clouds_yaml(running_lab: LabState) -> None:
    listed = openstack_cli(running_lab, "server", "list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)
    created = openstack_cli(
        running_lab, "volume", "create", "--size", "1", "lab-cli-vol", "-f", "json"
    )
    assert created.returncode == 0, created.stderr
    volume = json.loads(created.stdout)
    assert (volume["name"], volume["size"]) == ("lab-cli-vol", 1)
    deleted = openstack_cli(running_lab, "volume", "delete", volume["id"])
    assert deleted.returncode == 0, deleted.stderr


def test_openstack_server_create_wait_as_the_readme_shows(running_lab: LabState) -> None:
    created = openstack_cli(
        running_lab,
        *("server", "create", "--wait", "--image", IMAGE, "--flavor", "m1.tiny"),
        *("--network", "private", "lab-cli-server", "-f", "json"),
    )
    assert created.returncode == 0, created.stderr
    server = json.loads(created.stdout)
    try:
        assert (server["name"], server["status"]) == ("lab-cli-server", "ACTIVE")
    finally:
        deleted = openstack_cli(running_lab, "server", "delete", "--wait", server["id"])
        assert deleted.returncode == 0, deleted.stderr


def test_a_snapshot_appears_in_the_image_api(live_local: Connection) -> None:
    with booted(live_local, "lab-test-snapshot") as server:
        image = live_local.compute.create_server_image(server, name="lab-test-snap", wait=False)
        try:
            active = wait_for(
                lambda: (i := live_local.image.get_image(image.id)).status == "active" and i,
                what="snapshot image active",
            )
            assert active.name == "lab-test-snap"
            assert image.id in [i.id for i in live_local.image.images()]
        finally:
            live_local.image.delete_image(image.id, ignore_missing=True)
        with pytest.raises(exceptions.NotFoundException):
            live_local.image.get_image(image.id)


def test_an_attached_volume_can_be_extended(live_local: Connection) -> None:
    with (
        available_volume(live_local, "lab-test-extend") as volume,
        booted(live_local, "lab-test-extend-server") as server,
    ):
        attach(live_local, server, volume)
        live_local.block_storage.extend_volume(volume, 2)
        grown = wait_for(
            lambda: (v := live_local.block_storage.get_volume(volume.id)).size == 2 and v,
            what="size 2",
        )
        assert grown.status == "in-use"
        detach(live_local, server, volume)


def test_interface_attach_creates_a_port_the_network_api_lists(live_local: Connection) -> None:
    network = live_local.network.find_network("private", ignore_missing=False)
    with booted(live_local, "lab-test-interface") as server:
        before = {p.id for p in live_local.network.ports(device_id=server.id)}
        attached = live_local.compute.create_server_interface(server, net_id=network.id)
        ports = wait_for(
            lambda: {p.id for p in live_local.network.ports(device_id=server.id)} - before,
            what="a new port on the server",
        )
        assert ports == {attached.port_id}
        live_local.compute.delete_server_interface(attached, server=server)
        wait_for(
            lambda: (
                attached.port_id
                not in {i.port_id for i in live_local.compute.server_interfaces(server)}
            ),
            what="the interface detached",
        )


def test_make_port_names_tags_and_cleans_up(running_lab: LabState, live_local: Connection) -> None:
    from harness.declarations.model import Target, Timeouts
    from harness.scenario.accounting import RequestLog
    from harness.scenario.cleanup import Cleanup
    from harness.scenario.resources import Resources
    from harness.scenario.waiters import Waiter

    target = Target(
        combination="fake-live-migrate/fake-local/fake-neutron",
        cloud="embedded-live-local",
        network="private",
    )
    cleanup = Cleanup()
    make = Resources(
        live_local,
        target,
        "run-9",
        "test port",
        cleanup,
        Waiter(live_local, Timeouts(), RequestLog()),
    )
    port = make.port()
    assert port.name == "matrix-run-9-test-port-port1"
    assert port.description == "matrix_run=run-9"
    assert live_local.network.find_port(port.id, ignore_missing=True) is not None
    cleanup.run()
    assert live_local.network.find_port(port.id, ignore_missing=True) is None


def test_a_cell_replays_the_schemas_of_its_virtualenv_and_remakes_a_damaged_seed(
    tmp_path: Path, lab_python: Path
) -> None:
    """Nova's migrations run once per lab virtualenv: a cell replays the kept schemas (and
    serves from them); a seed it cannot use is migrated anew and replaced."""
    matrix = load_matrix(SHIPPED)
    (cell,) = [c for c in cells_from(matrix, matrix.labs["embedded"]) if c.name == "nolive-local"]
    seed = lab_python.parent.parent / "nova-schema-seed.json"

    def boot(name: str) -> str:
        state = LabState(tmp_path / name)
        try:
            control.up(state, [cell], lab_python)
            conn = connect(state, "embedded-nolive-local")
            assert conn.compute.find_flavor("m1.tiny", ignore_missing=False)  # the DB serves
            return (state.cell_dir(cell.name) / "cell.log").read_text()
        finally:
            control.down(state)

    boot("first")  # makes the seed if no cell made it before
    kept = json.loads(seed.read_text())
    assert sorted(kept["schemas"]) == ["api", "main"]
    assert all("CREATE TABLE" in sql for sql in kept["schemas"].values())
    log = boot("replayed")
    assert f"database schemas replayed from {seed}" in log
    assert "Applying migration(s)" not in log

    seed.write_text('{"nova": "34.0.0", "schemas": {"main": ')  # cut short
    log = boot("remade")
    assert "Applying migration(s)" in log
    assert f"database schemas migrated, and kept in {seed}" in log
    remade = json.loads(seed.read_text())
    assert remade["nova"] == kept["nova"]
    for kind, sql in kept["schemas"].items():  # the same statements (index order varies)
        assert sorted(remade["schemas"][kind].split(";")) == sorted(sql.split(";"))
