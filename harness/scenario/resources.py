"""Create the resources a scenario needs: named and tagged with the run id, registered for
cleanup the moment they exist, and waited on until usable.

A scenario touches only what it made here; the target's image, flavors and network are read,
never changed. `matrix cleanup` (and the tests) find leftovers by the `matrix_run` tag.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from openstack.exceptions import NotFoundException
from openstack.resource import Resource

from harness.declarations.model import Target
from harness.preflight.names import LOOKUPS, Finder
from harness.scenario.cleanup import Cleanup
from harness.scenario.skips import not_configured
from harness.scenario.tags import description_tag, metadata_tag, name_prefix
from harness.scenario.waiters import Waiter


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


Provided = dict[tuple[str, str], Any]
"""The target's image, flavors and network as found, by (lab-file field, name): looked up once
per session, since a scenario never changes them, and not at all after `matrix run`'s
preflight found them (`provided_from`)."""


def provided_from(found: dict[str, dict[str, Any]], target: Target) -> Provided:
    """What the preflight found (`harness.run.launcher.described`), as openstacksdk resources
    again; only openstacksdk's own resource classes, and only for the names the target gives."""
    provided: Provided = {}
    for field, entry in found.items():
        module, _, name = str(entry.get("class", "")).partition(":")
        wanted = getattr(target, field) if field in LOOKUPS else None
        if not wanted or not module.startswith("openstack.") or not name.isidentifier():
            continue
        resource = getattr(importlib.import_module(module), name, None)
        if isinstance(resource, type) and issubclass(resource, Resource):
            provided[field, wanted] = resource.existing(**entry.get("attrs", {}))
    return provided


class Resources:
    def __init__(
        self,
        conn: Any,
        target: Target,
        run_id: str,
        test_name: str,
        cleanup: Cleanup,
        wait: Waiter,
        provided: Provided | None = None,
    ) -> None:
        self.conn = conn
        self.target = target
        self.run_id = run_id
        self.cleanup = cleanup
        self.wait = wait
        self.provided: Provided = {} if provided is None else provided
        self.prefix = f"{name_prefix(run_id)}{slug(test_name)}"
        self._count = 0

    @property
    def tag(self) -> dict[str, str]:
        return metadata_tag(self.run_id)

    def name(self, kind: str) -> str:
        self._count += 1
        return f"{self.prefix}-{kind}{self._count}"

    # --- what the target provides (read only) -------------------------------------------

    def flavor(self, alt: bool = False) -> Any:
        return self._provided("flavor_alt" if alt else "flavor")

    def image(self) -> Any:
        return self._provided("image")

    def network(self) -> Any:
        return self._provided("network")

    def _provided(self, field: str) -> Any:
        """The target's `field` as the cloud has it, looked up as the preflight does."""
        name = getattr(self.target, field)
        if not name:
            not_configured(f"the target declares no {field}")
        found = self.provided.get((field, name))
        if found is None:
            found = Finder(self.conn, LOOKUPS[field]).find(name)
            if found is None:  # not kept: the next scenario looks again
                not_configured(f"{field} '{name}' does not exist on the target")
            self.provided[field, name] = found
        return found

    # --- what the scenario creates --------------------------------------------------------

    def server(self, *, wait: bool = True, flavor: Any = None, **extra: Any) -> Any:
        """Boot a server from the target's image on its network (unless `extra` says otherwise)."""
        if "block_device_mapping" not in extra and "image_id" not in extra:
            extra["image_id"] = self.image().id
        if "networks" not in extra:
            extra["networks"] = [{"uuid": self.network().id}]
        server = self.conn.compute.create_server(
            name=self.name("server"),
            flavor_id=(flavor or self.flavor()).id,
            metadata=dict(self.tag),
            **extra,
        )
        self.cleanup.add(f"server {server.id}", lambda: self._delete_server(server.id))
        return self.wait.server(server.id) if wait else server

    def _delete_server(self, server_id: str) -> None:
        if server_id in self.wait.seen_gone:  # the scenario deleted it and waited: no request
            return
        try:
            self.conn.compute.delete_server(server_id, ignore_missing=False)
        except NotFoundException:  # the scenario deleted it, and it is gone: nothing to wait for
            return
        self.wait.gone(server_id)

    def volume(self, size: int = 1, *, wait: bool = True, **extra: Any) -> Any:
        volume = self.conn.block_storage.create_volume(
            size=size, name=self.name("volume"), metadata=dict(self.tag), **extra
        )
        self.cleanup.add(f"volume {volume.id}", lambda: self._delete_volume(volume.id))
        return self.wait.volume(volume.id) if wait else volume

    def _delete_volume(self, volume_id: str) -> None:
        volume = self.conn.block_storage.find_volume(volume_id, ignore_missing=True)
        if volume is None:
            return
        if volume.status != "available" and not volume.status.startswith("error"):
            # in-use, detaching, reserved...: its server is gone or going; let the detach settle
            self._release_orphans(volume)
            self.wait.volume(volume_id, "available")
        self.conn.block_storage.delete_volume(volume_id, ignore_missing=True)

    def _release_orphans(self, volume: Any) -> None:
        """Delete the volume's attachments whose servers are gone, as an operator would: a live
        migration that fails too late for Nova to roll back leaves the destination's
        attachment behind, and the volume would stay in-use, never deletable. (Attachments of
        servers that still exist are theirs to detach.)"""
        for attachment in volume.attachments or []:
            server_id, attachment_id = attachment.get("server_id"), attachment.get("attachment_id")
            if not (server_id and attachment_id):
                continue
            if self.conn.compute.find_server(server_id, ignore_missing=True) is None:
                self.conn.block_storage.delete_attachment(attachment_id)

    def port(self, network: Any = None) -> Any:
        port = self.conn.network.create_port(
            network_id=(network or self.network()).id,
            name=self.name("port"),
            description=description_tag(self.run_id),
        )
        self.cleanup.add(f"port {port.id}", lambda: self.conn.network.delete_port(port.id))
        return port

    def snapshot(self, server: Any, *, wait: bool = True) -> Any:
        """An image of the server, deleted afterwards (also when the wait fails)."""
        image = self.conn.compute.create_server_image(
            server, name=self.name("image"), metadata=dict(self.tag), wait=False
        )
        self.adopt_image(image.id)
        return self.wait.image(image.id) if wait else image

    def adopt_image(self, image_id: str) -> None:
        """Images that Nova makes on the scenario's behalf (shelve) are cleaned up too."""
        self.cleanup.add(
            f"image {image_id}", lambda: self.conn.image.delete_image(image_id, ignore_missing=True)
        )
