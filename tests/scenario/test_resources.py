"""What a scenario makes and reads: volume cleanup frees the volume from attachments whose servers
are gone; the target's image and flavor are looked up once, and not at all when `matrix run`'s
preflight found them; a server the scenario deleted is not waited on, nor asked about again once
it saw it gone."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from openstack.compute.v2.flavor import Flavor
from openstack.exceptions import NotFoundException
from openstack.image.v2.image import Image

from harness.declarations.model import Target, Timeouts
from harness.run.launcher import described
from harness.scenario.accounting import RequestLog
from harness.scenario.cleanup import Cleanup
from harness.scenario.resources import Provided, Resources, provided_from
from harness.scenario.waiters import Poll, Waiter, WaitFailed


class FakeBlockStorage:
    """One volume whose attachments name servers; it is available once none is left."""

    def __init__(self, attachments: list[dict[str, str]]) -> None:
        self.attachments = attachments
        self.deleted_attachments: list[str] = []
        self.deleted_volumes: list[str] = []

    def _volume(self) -> Any:
        status = "in-use" if self.attachments else "available"
        return SimpleNamespace(id="v1", status=status, attachments=list(self.attachments))

    def find_volume(self, volume_id: str, ignore_missing: bool = True) -> Any:
        return self._volume()

    def get_volume(self, volume_id: str) -> Any:
        return self._volume()

    def delete_attachment(self, attachment_id: str) -> None:
        self.deleted_attachments.append(attachment_id)
        self.attachments = [a for a in self.attachments if a["attachment_id"] != attachment_id]

    def delete_volume(self, volume_id: str, ignore_missing: bool = True) -> None:
        self.deleted_volumes.append(volume_id)


class FakeCompute:
    def __init__(self, servers: set[str]) -> None:
        self.servers = servers

    def find_server(self, server_id: str, ignore_missing: bool = True) -> Any:
        return SimpleNamespace(id=server_id) if server_id in self.servers else None


def resources(block_storage: FakeBlockStorage, servers: set[str]) -> Resources:
    conn = SimpleNamespace(block_storage=block_storage, compute=FakeCompute(servers))
    now = [0.0]
    poll = Poll(sleep=lambda seconds: now.__setitem__(0, now[0] + seconds), clock=lambda: now[0])
    waiter = Waiter(conn, Timeouts(default=5, volume=5), RequestLog(), poll)
    target = Target(combination="a/b/c", cloud="c")
    return Resources(conn, target, "run-1", "test", Cleanup(), waiter)


def test_an_attachment_of_a_deleted_server_is_deleted_and_the_volume_with_it() -> None:
    storage = FakeBlockStorage([{"server_id": "gone", "attachment_id": "a-dest"}])
    resources(storage, servers=set())._delete_volume("v1")
    assert storage.deleted_attachments == ["a-dest"]
    assert storage.deleted_volumes == ["v1"]


def test_an_attachment_of_a_server_that_exists_is_left_to_it() -> None:
    storage = FakeBlockStorage(
        [
            {"server_id": "gone", "attachment_id": "a-dest"},
            {"server_id": "alive", "attachment_id": "a-alive"},
        ]
    )
    with pytest.raises(WaitFailed, match="to be available"):  # in-use while its server lives
        resources(storage, servers={"alive"})._delete_volume("v1")
    assert storage.deleted_attachments == ["a-dest"]
    assert storage.deleted_volumes == []


class CountingLookups:
    """A compute, image and network API that count the target lookups made against them."""

    def __init__(self, flavors: set[str]) -> None:
        self.flavor_names = flavors
        self.lookups: list[str] = []
        self.deleted: list[str] = []
        self.delete_requests: list[str] = []
        self.servers: set[str] = set()

    def flavors(self) -> list[Any]:
        self.lookups.append("flavors")
        return [SimpleNamespace(id=f"id-{name}", name=name) for name in sorted(self.flavor_names)]

    def images(self, name: str | None = None) -> list[Any]:
        self.lookups.append(f"images named {name}")
        return [SimpleNamespace(id=f"id-{name}", name=name)]

    def delete_server(self, server_id: str, ignore_missing: bool = True) -> None:
        self.delete_requests.append(server_id)
        if server_id not in self.servers:
            if ignore_missing:
                return
            raise NotFoundException(f"no server {server_id}")
        self.deleted.append(server_id)
        self.servers.discard(server_id)

    def get_server(self, server_id: str) -> Any:
        self.lookups.append(f"server {server_id}")
        if server_id not in self.servers:
            raise NotFoundException(f"no server {server_id}")
        return SimpleNamespace(id=server_id)


def counting(api: CountingLookups, provided: Provided) -> Resources:
    conn = SimpleNamespace(compute=api, image=api)
    waiter = Waiter(conn, Timeouts(default=5), RequestLog(), Poll(sleep=lambda s: None))
    target = Target(combination="a/b/c", cloud="c", image="cirros", flavor="m1.tiny")
    return Resources(conn, target, "run-1", "test", Cleanup(), waiter, provided)


def test_the_targets_image_and_flavor_are_looked_up_once_per_session() -> None:
    api, provided = CountingLookups({"m1.tiny"}), {}
    for _ in range(3):  # three scenarios of one session
        make = counting(api, provided)
        assert make.flavor().id == "id-m1.tiny" and make.image().id == "id-cirros"
    assert api.lookups == ["flavors", "images named cirros"]


def test_a_missing_flavor_is_looked_up_again_by_the_next_scenario() -> None:
    api, provided = CountingLookups(set()), {}
    for _ in range(2):
        with pytest.raises(pytest.skip.Exception, match=r"flavor 'm1\.tiny' does not exist"):
            counting(api, provided).flavor()
    assert api.lookups == ["flavors", "flavors"]


def handed_over(found: dict[str, Any]) -> Provided:
    """What the preflight found, through the pipe's JSON, as the scenarios' session takes it."""
    target = Target(combination="a/b/c", cloud="c", image="cirros", flavor="m1.tiny")
    return provided_from(json.loads(json.dumps(described(found))), target)


def test_what_the_preflight_found_is_not_looked_up_again() -> None:
    flavor = Flavor.existing(id="f1", name="m1.tiny", ram=512, vcpus=1, disk=1)
    provided = handed_over({"flavor": flavor, "image": Image.existing(id="i1", name="cirros")})
    api = CountingLookups({"m1.tiny"})
    make = counting(api, provided)
    assert (make.flavor().id, make.flavor().ram, make.image().id) == ("f1", 512, "i1")
    assert isinstance(make.flavor(), Flavor) and make.flavor().to_dict() == flavor.to_dict()
    assert api.lookups == []


def test_only_openstacksdk_resources_of_names_the_target_gives_are_taken() -> None:
    wire = {
        "flavor": {"class": "os:system", "attrs": {}},  # not openstacksdk's: never imported
        "image": {"class": "openstack.resource:TagMixin", "attrs": {}},  # not a Resource
        "network": {"class": "openstack.network.v2.network:Network", "attrs": {"id": "n1"}},
        "volume": {"class": "openstack.image.v2.image:Image", "attrs": {"id": "v1"}},
    }  # the target gives no network, and volume is no name the preflight looks up
    target = Target(combination="a/b/c", cloud="c", image="cirros", flavor="m1.tiny")
    assert provided_from(wire, target) == {}


def test_cleanup_of_a_server_the_scenario_deleted_makes_one_request() -> None:
    api = CountingLookups(set())
    counting(api, {})._delete_server("s-deleted")
    assert api.lookups == [] and api.deleted == []


def test_cleanup_of_a_server_the_scenario_saw_gone_makes_no_request() -> None:
    """As the launch scenario does: delete, wait until the API no longer finds it; its
    cleanup, registered when it was made, then asks nothing."""
    api = CountingLookups(set())
    api.servers.add("s-launched")
    make = counting(api, {})
    api.delete_server("s-launched")
    make.wait.gone("s-launched")
    asked = (list(api.delete_requests), list(api.lookups))
    make._delete_server("s-launched")
    assert (api.delete_requests, api.lookups) == asked == (["s-launched"], ["server s-launched"])


def test_cleanup_of_a_live_server_deletes_it_and_waits_until_it_is_gone() -> None:
    api = CountingLookups(set())
    api.servers.add("s-live")
    counting(api, {})._delete_server("s-live")
    assert api.deleted == ["s-live"] and api.lookups == ["server s-live"]
