"""A scenario's volume cleanup frees the volume from attachments whose servers are gone."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from harness.declarations.model import Target, Timeouts
from harness.scenario.accounting import RequestLog
from harness.scenario.cleanup import Cleanup
from harness.scenario.resources import Resources
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
