"""Find and delete what earlier runs left behind, by the tag every scenario resource carries.

A resource is a leftover only when all of these hold (tags.py says how each is written):
- it is tagged `matrix_run` (servers and volumes in metadata, images in properties, ports in
  their description) with a well-formed run id;
- its name starts `matrix-<that run id>-` (a user's snapshot of a tagged image inherits the
  tag, not the name);
- it belongs to the project the connection is scoped to (an admin lists other projects'
  ports and sees public images of other owners; those are never touched);
- with `run_id`, it is that run's; with `older_than`, its run began longer ago than that, by
  the start time in its id (a run still going in another job is left alone; a run whose id
  does not say when it began is taken only by naming it).
Servers go first so their volumes and ports are released before those are deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from harness.scenario.tags import (
    is_run_id,
    name_prefix,
    run_of_description,
    run_of_metadata,
    run_started,
)


@dataclass(frozen=True)
class Leftover:
    kind: str
    id: str
    name: str
    run_id: str


def find(
    conn: Any,
    run_id: str | None = None,
    *,
    older_than: timedelta | None = None,
    now: datetime | None = None,
) -> Iterator[Leftover]:
    """Leftovers (see the module docstring), servers first."""
    project = conn.current_project_id  # None for a token without a project: names still decide
    scoped = {"project_id": project} if project else {}
    found = []
    for server in conn.compute.servers(details=True):  # the scoped project's by default
        found.append(("server", server.id, server.name, run_of_metadata(server.metadata)))
    for port in conn.network.ports(**scoped):
        found.append(("port", port.id, port.name, run_of_description(port.description)))
    if conn.endpoint_for("block-storage"):
        for volume in conn.block_storage.volumes(details=True):  # the scoped project's
            found.append(("volume", volume.id, volume.name, run_of_metadata(volume.metadata)))
    for image in conn.image.images(**({"owner": project} if project else {})):
        if project and getattr(image, "owner", None) != project:
            continue  # a public or shared image of someone else
        properties = dict(getattr(image, "properties", None) or {})  # Glance's extra properties
        found.append(("image", image.id, image.name, run_of_metadata(properties)))
    cutoff = (now or datetime.now(timezone.utc)) - older_than if older_than else None
    for kind, rid, name, run in found:
        if not run or not is_run_id(run) or not str(name or "").startswith(name_prefix(run)):
            continue
        if run_id is not None and run != run_id:
            continue
        if cutoff is not None and not ((started := run_started(run)) and started < cutoff):
            continue
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
