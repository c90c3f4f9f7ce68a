"""Find and delete what earlier runs left behind, by the tag every scenario resource carries.

Only resources tagged `matrix_run` (servers and volumes in metadata, images in properties,
ports in their description) are ever touched, and with --run only that run's. Servers go
first so their volumes and ports are released before those are deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.scenario.tags import run_of_description, run_of_metadata


@dataclass(frozen=True)
class Leftover:
    kind: str
    id: str
    name: str
    run_id: str


def find(conn: Any, run_id: str | None = None) -> Iterator[Leftover]:
    """Tagged resources, servers first, optionally of one run only."""
    found = []
    for server in conn.compute.servers(details=True):
        found.append(("server", server.id, server.name, run_of_metadata(server.metadata)))
    for port in conn.network.ports():
        found.append(("port", port.id, port.name, run_of_description(port.description)))
    if conn.endpoint_for("block-storage"):
        for volume in conn.block_storage.volumes(details=True):
            found.append(("volume", volume.id, volume.name, run_of_metadata(volume.metadata)))
    for image in conn.image.images():
        properties = dict(getattr(image, "properties", None) or {})  # Glance's extra properties
        found.append(("image", image.id, image.name, run_of_metadata(properties)))
    for kind, rid, name, run in found:
        if run and (run_id is None or run == run_id):
            yield Leftover(kind, rid, name, run)


def delete(conn: Any, leftover: Leftover) -> None:
    if leftover.kind == "server":
        server = conn.compute.find_server(leftover.id, ignore_missing=True)
        if server is not None:
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=120)
    elif leftover.kind == "port":
        conn.network.delete_port(leftover.id, ignore_missing=True)
    elif leftover.kind == "volume":
        conn.block_storage.delete_volume(leftover.id, ignore_missing=True)
    elif leftover.kind == "image":
        conn.image.delete_image(leftover.id, ignore_missing=True)
