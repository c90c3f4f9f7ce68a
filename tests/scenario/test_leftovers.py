"""Leftovers are found by the run tag and deleted, servers first; the tag reads back as written.

This is a mock of the cloud: `FakeCloud` stands in for an openstacksdk Connection with plain
objects (types.SimpleNamespace) for its servers, ports, volumes and images, and records every
delete. It checks the harness's own logic (which resources match, in what order they go,
what a dry run leaves alone), not what a real cloud answers: the real-cloud path is covered
by tests/lab/test_run.py::test_cleanup_deletes_only_what_a_run_tagged against a lab cell.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from harness.declarations.model import Target
from harness.run.secrets import Redactor
from harness.scenario import leftovers
from harness.scenario.cleanup import Cleanup
from harness.scenario.leftovers import Leftover
from harness.scenario.resources import Resources
from harness.scenario.tags import (
    RUN_TAG,
    description_tag,
    metadata_tag,
    run_of_description,
    run_of_metadata,
)

if TYPE_CHECKING:
    from tests.conftest import Result


PROJECT = "0123456789abcdef0123456789abcdef"  # the project the connection is scoped to


def thing(rid: str, name: str | None = None, **fields: Any) -> SimpleNamespace:
    return SimpleNamespace(id=rid, name=name or rid, **fields)


def ours(rid: str, run: str, **fields: Any) -> SimpleNamespace:
    """A resource as a scenario of `run` names it."""
    return thing(rid, f"matrix-{run}-test-it-{rid}", **fields)


class FakeCloud:
    """Just the Connection calls leftovers.py and resources.py make, over lists of objects.

    `calls` is one log for all services, so the order of deletes across them can be checked.
    """

    def __init__(self, *, block_storage: bool = True) -> None:
        self.servers: list[SimpleNamespace] = []
        self.ports: list[SimpleNamespace] = []
        self.volumes: list[SimpleNamespace] = []
        self.images: list[SimpleNamespace] = []
        self.has_block_storage = block_storage
        self.current_project_id = PROJECT
        self.calls: list[tuple[str, str]] = []
        self.compute = SimpleNamespace(
            servers=self._listing(self.servers, details=True),
            find_server=self._find_server,
            delete_server=lambda server: self._log("delete_server", server.id),
            wait_for_delete=self._wait_for_delete,
            create_server=self._create_server,
            create_server_image=self._create_server_image,
        )
        self.network = SimpleNamespace(
            ports=self._listing(self.ports, project_id=PROJECT),
            delete_port=self._deleter("delete_port"),
            create_port=self._create_port,
        )
        self.block_storage = SimpleNamespace(
            volumes=self._listing(self.volumes, details=True),
            delete_volume=self._deleter("delete_volume"),
            create_volume=self._create_volume,
        )
        self.image = SimpleNamespace(
            images=self._listing(self.images, owner=PROJECT),
            delete_image=self._deleter("delete_image"),
        )

    def endpoint_for(self, service: str) -> str | None:
        assert service == "block-storage"
        return "http://cinder.example.org/v3" if self.has_block_storage else None

    def _log(self, call: str, rid: str) -> None:
        self.calls.append((call, rid))

    def _listing(self, items: list[SimpleNamespace], **expected: Any) -> Callable[..., Any]:
        def listing(**given: Any) -> list[SimpleNamespace]:
            assert given == expected
            self._log("list", str(id(items)))
            return list(items)

        return listing

    def _deleter(self, call: str) -> Callable[..., None]:
        def delete(rid: str, ignore_missing: bool = False) -> None:
            assert ignore_missing, f"{call} of a leftover that is already gone must not fail"
            self._log(call, rid)

        return delete

    def _find_server(self, rid: str, ignore_missing: bool = False) -> SimpleNamespace | None:
        assert ignore_missing
        return next((s for s in self.servers if s.id == rid), None)

    def _wait_for_delete(self, server: SimpleNamespace, wait: int) -> None:
        assert wait > 0
        self._log("wait_for_delete", server.id)

    # what Resources creates: the cloud keeps the metadata, description and properties given

    def _create_server(self, *, name: str, metadata: dict[str, str], **_: Any) -> Any:
        self.servers.append(thing(f"s{len(self.servers)}", name, metadata=metadata))
        return self.servers[-1]

    def _create_volume(self, *, name: str, metadata: dict[str, str], **_: Any) -> Any:
        self.volumes.append(thing(f"v{len(self.volumes)}", name, metadata=metadata))
        return self.volumes[-1]

    def _create_port(self, *, name: str, description: str, **_: Any) -> Any:
        self.ports.append(thing(f"p{len(self.ports)}", name, description=description))
        return self.ports[-1]

    def _create_server_image(
        self, server: Any, *, name: str, metadata: dict[str, str], wait: bool
    ) -> Any:
        # Nova makes the snapshot's metadata the image's (Glance extra) properties
        self.images.append(thing(f"i{len(self.images)}", name, properties=metadata, owner=PROJECT))
        return self.images[-1]

    @property
    def deletes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] != "list"]


@pytest.fixture
def cloud() -> FakeCloud:
    """Two runs' resources of every kind, and resources of no run beside them."""
    cloud = FakeCloud()
    cloud.servers += [
        ours("s-a", "run-a", metadata={RUN_TAG: "run-a", "role": "web"}),
        thing("s-none", metadata={}),
        thing("s-other", metadata={"owner": "matrix_run"}),
        ours("s-b", "run-b", metadata={RUN_TAG: "run-b"}),
        thing("s-empty", metadata={RUN_TAG: ""}),
    ]
    cloud.ports += [
        ours("p-a", "run-a", description="matrix_run=run-a"),
        thing("p-none", description=None),
        thing("p-mention", description="made by hand, not matrix_run=run-a"),
        ours("p-b", "run-b", description="matrix_run=run-b"),
        thing("p-bare", description="matrix_run="),
    ]
    cloud.volumes += [
        ours("v-a", "run-a", metadata={RUN_TAG: "run-a"}),
        thing("v-none", metadata={}),
        ours("v-b", "run-b", metadata={RUN_TAG: "run-b"}),
    ]
    cloud.images += [
        ours("i-a", "run-a", properties={RUN_TAG: "run-a", "os_type": "linux"}, owner=PROJECT),
        thing("i-none", properties=None, owner=PROJECT),
        thing("i-bare", owner=PROJECT),  # an image with no extra properties at all
        ours("i-meta", "run-a", metadata={RUN_TAG: "run-a"}, properties={}, owner=PROJECT),
        ours("i-b", "run-b", properties={RUN_TAG: "run-b"}, owner=PROJECT),
    ]
    return cloud


def found(cloud: FakeCloud, run_id: str | None = None) -> list[tuple[str, str, str]]:
    return [(lo.kind, lo.id, lo.run_id) for lo in leftovers.find(cloud, run_id)]


# --- finding -----------------------------------------------------------------------------------


def test_only_tagged_resources_are_found_servers_first(cloud: FakeCloud) -> None:
    assert found(cloud) == [
        ("server", "s-a", "run-a"),
        ("server", "s-b", "run-b"),
        ("port", "p-a", "run-a"),
        ("port", "p-b", "run-b"),
        ("volume", "v-a", "run-a"),
        ("volume", "v-b", "run-b"),
        ("image", "i-a", "run-a"),
        ("image", "i-b", "run-b"),
    ]
    assert cloud.deletes == []  # finding touches nothing


def test_run_selects_one_runs_leftovers(cloud: FakeCloud) -> None:
    assert found(cloud, "run-b") == [
        ("server", "s-b", "run-b"),
        ("port", "p-b", "run-b"),
        ("volume", "v-b", "run-b"),
        ("image", "i-b", "run-b"),
    ]
    assert found(cloud, "run-c") == []


def test_a_leftover_keeps_the_resources_name(cloud: FakeCloud) -> None:
    cloud.servers[0].name = "matrix-run-a-test-launch-server1"  # how Resources names it
    (first, *_) = leftovers.find(cloud, "run-a")
    assert first == Leftover("server", "s-a", "matrix-run-a-test-launch-server1", "run-a")


def test_without_block_storage_volumes_are_not_asked_for(cloud: FakeCloud) -> None:
    cloud.has_block_storage = False
    cloud.block_storage.volumes = lambda **_: pytest.fail("a cloud without cinder was asked")
    assert [kind for kind, _, _ in found(cloud)] == ["server"] * 2 + ["port"] * 2 + ["image"] * 2


@pytest.mark.parametrize(
    "impostor",
    [
        thing("s-x", "users-snapshot", metadata={RUN_TAG: "run-a"}),  # the tag, not the name
        thing("s-x", "matrix-run-b-test-it-s", metadata={RUN_TAG: "run-a"}),  # another run's
        thing("s-x", "web-1", metadata={RUN_TAG: "false"}),  # a person's tag
        thing("s-x", "matrix-see ticket 42-x", metadata={RUN_TAG: "see ticket 42"}),
        thing("s-x", "matrix-../x-y", metadata={RUN_TAG: "../x"}),
    ],
    ids=["tag only", "other run's name", "tag 'false'", "tag of prose", "tag with .."],
)
def test_a_tag_without_a_well_formed_run_id_and_matching_name_is_no_leftover(
    cloud: FakeCloud, impostor: SimpleNamespace
) -> None:
    cloud.servers.insert(0, impostor)
    assert "s-x" not in [rid for _, rid, _ in found(cloud)]


def test_other_projects_images_and_ports_are_never_leftovers(cloud: FakeCloud) -> None:
    cloud.images.append(ours("i-pub", "run-a", properties={RUN_TAG: "run-a"}, owner="someone"))
    assert "i-pub" not in [rid for _, rid, _ in found(cloud)]  # listed for an admin, not ours
    calls = [call for call in cloud.calls if call[0] == "list"]
    assert len(calls) == 4  # ports and images were asked for this project's only (asserted)


def test_without_run_only_runs_that_began_long_enough_ago_are_taken(cloud: FakeCloud) -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
    old, new = "20261202T070000-aaaaaa-lab", "20261202T113000-bbbbbb-lab"
    cloud.servers += [ours("s-old", old, metadata={RUN_TAG: old}),
                      ours("s-new", new, metadata={RUN_TAG: new})]  # fmt: skip
    aged = [rid for _, rid, _ in
            [(lo.kind, lo.id, lo.run_id) for lo in
             leftovers.find(cloud, older_than=timedelta(hours=3), now=now)]]  # fmt: skip
    assert aged == ["s-old"]  # run-a and run-b say no start time: only --run takes them
    assert [lo.id for lo in leftovers.find(cloud, new, older_than=None)] == ["s-new"]


# --- deleting ----------------------------------------------------------------------------------


def test_a_server_is_deleted_and_waited_for(cloud: FakeCloud) -> None:
    leftovers.delete(cloud, Leftover("server", "s-a", "s-a", "run-a"))
    assert cloud.deletes == [("delete_server", "s-a"), ("wait_for_delete", "s-a")]


def test_a_server_already_gone_is_not_deleted_again(cloud: FakeCloud) -> None:
    leftovers.delete(cloud, Leftover("server", "s-gone", "s-gone", "run-a"))
    assert cloud.deletes == []


@pytest.mark.parametrize(
    ("kind", "call"),
    [("port", "delete_port"), ("volume", "delete_volume"), ("image", "delete_image")],
)
def test_each_kind_is_deleted_by_its_service(cloud: FakeCloud, kind: str, call: str) -> None:
    leftovers.delete(cloud, Leftover(kind, "x-1", "x-1", "run-a"))
    assert cloud.deletes == [(call, "x-1")]


def test_deleting_everything_found_goes_servers_first(cloud: FakeCloud) -> None:
    """A server is gone (waited for) before the volumes and ports it held are deleted."""
    for leftover in leftovers.find(cloud, "run-a"):
        leftovers.delete(cloud, leftover)
    assert cloud.deletes == [
        ("delete_server", "s-a"),
        ("wait_for_delete", "s-a"),
        ("delete_port", "p-a"),
        ("delete_volume", "v-a"),
        ("delete_image", "i-a"),
    ]


# --- matrix cleanup over the fake cloud ------------------------------------------------------------


@pytest.fixture
def lab_file(tmp_path: Path) -> Path:
    lab = tmp_path / "lab.yaml"
    lab.write_text("targets:\n  - {combination: libvirt-kvm/local-qcow2/ovs, cloud: c, name: t}\n")
    return lab


def test_a_dry_run_lists_and_deletes_nothing(
    cloud: FakeCloud,
    lab_file: Path,
    small: Path,
    run: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("harness.cli.cleanup.connect", lambda *_: cloud)
    monkeypatch.setattr("harness.cli.cleanup.redactor", lambda *_: Redactor())  # no clouds.yaml
    done = run(
        "--matrix", str(small), "cleanup", "--lab", str(lab_file), "--run", "run-a", "--dry-run"
    )
    assert done.code == 0, done.err
    assert cloud.deletes == []
    assert "t: would delete server matrix-run-a-test-it-s-a (run run-a)" in done.out
    assert "t: would delete image matrix-run-a-test-it-i-a (run run-a)" in done.out
    assert "would delete 4 leftover(s)" in done.out
    assert "run-b" not in done.out


def test_cleanup_deletes_one_runs_leftovers_servers_first(
    cloud: FakeCloud,
    lab_file: Path,
    small: Path,
    run: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("harness.cli.cleanup.connect", lambda *_: cloud)
    monkeypatch.setattr("harness.cli.cleanup.redactor", lambda *_: Redactor())  # no clouds.yaml
    done = run("--matrix", str(small), "cleanup", "--lab", str(lab_file), "--run", "run-a")
    assert done.code == 0, done.err
    assert cloud.deletes == [
        ("delete_server", "s-a"),
        ("wait_for_delete", "s-a"),
        ("delete_port", "p-a"),
        ("delete_volume", "v-a"),
        ("delete_image", "i-a"),
    ]
    assert "t: deleted server matrix-run-a-test-it-s-a (run run-a)" in done.out
    assert "deleted 4 leftover(s)" in done.out


# --- the tag: written, then read back ---------------------------------------------------------


@pytest.mark.parametrize("run_id", ["run-1", "20260501-100000-abc", "odd=run=id"])
def test_a_written_tag_reads_back_as_its_run(run_id: str) -> None:
    assert run_of_metadata(metadata_tag(run_id)) == run_id
    assert run_of_description(description_tag(run_id)) == run_id


def test_the_tag_is_written_as_the_lab_tests_and_scenarios_expect_it() -> None:
    assert metadata_tag("run-9") == {"matrix_run": "run-9"}
    assert description_tag("run-9") == "matrix_run=run-9"


@pytest.mark.parametrize(
    "description",
    [
        None,
        "",
        "matrix_run",
        "matrix_run=",
        "matrix_runs=run-1",
        "matrix-run=run-1",
        " matrix_run=run-1",
        "port for matrix_run=run-1",
        "note: matrix_run=run-1",
    ],
)
def test_a_description_that_does_not_start_with_the_tag_is_no_runs(
    description: str | None,
) -> None:
    assert run_of_description(description) is None


@pytest.mark.parametrize(
    "tags",
    [
        None,
        {},
        {RUN_TAG: ""},
        {RUN_TAG: None},
        {"matrix_runs": "run-1"},
        {"note": "matrix_run=run-1"},
        [(RUN_TAG, "run-1")],
        "matrix_run=run-1",
    ],
)
def test_metadata_without_the_tag_is_no_runs(tags: object) -> None:
    assert run_of_metadata(tags) is None


def test_a_non_string_tag_value_reads_as_text() -> None:
    assert run_of_metadata({RUN_TAG: 7}) == "7"


def test_what_resources_tags_is_what_cleanup_finds() -> None:
    """Resources writes the tag and leftovers reads it: every kind made for a run is found."""
    cloud = FakeCloud()
    target = Target(combination="libvirt-kvm/local-qcow2/ovs", cloud="c")
    make = Resources(cloud, target, "run-9", "test tags", Cleanup(), wait=None)  # type: ignore[arg-type]
    flavor, network = SimpleNamespace(id="f"), SimpleNamespace(id="n")
    server = make.server(wait=False, flavor=flavor, image_id="img", networks=[{"uuid": "n"}])
    make.volume(wait=False)
    make.port(network)
    make.snapshot(server, wait=False)
    assert found(cloud, "run-9") == [
        ("server", "s0", "run-9"),
        ("port", "p0", "run-9"),
        ("volume", "v0", "run-9"),
        ("image", "i0", "run-9"),
    ]
    assert found(cloud, "run-8") == []
