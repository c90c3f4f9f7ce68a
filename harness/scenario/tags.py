"""The run tag and the resource name, written and read in one place so the two cannot drift.

Every resource a scenario creates carries the id of the run that made it: servers, volumes
and images as metadata `{matrix_run: <run id>}`, ports (which have no metadata) as their
description `matrix_run=<run id>`, and in its name, which starts `matrix-<run id>-`.
`matrix cleanup` finds leftovers by reading both back: a tag alone can be copied (Nova
copies an image's properties into a user's snapshot of a server booted from it).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from harness.run.records import RUN_ID_PATTERN

RUN_TAG = "matrix_run"
NAME_PREFIX = "matrix"
_RUN_ID = re.compile(RUN_ID_PATTERN)
_STARTED = re.compile(r"^(\d{8}T\d{6})-")  # new_run_id's ids begin with their start time


def name_prefix(run_id: str) -> str:
    """How the name of every resource of this run begins."""
    return f"{NAME_PREFIX}-{run_id}-"


def is_run_id(text: str) -> bool:
    return bool(_RUN_ID.match(text))


def run_started(run_id: str) -> datetime | None:
    """When a run began, read from its id (None for an id that does not say)."""
    found = _STARTED.match(run_id)
    if not found:
        return None
    try:
        return datetime.strptime(found[1], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def metadata_tag(run_id: str) -> dict[str, str]:
    """The metadata (or image properties) that mark a resource as this run's."""
    return {RUN_TAG: run_id}


def description_tag(run_id: str) -> str:
    """The description that marks a port as this run's."""
    return f"{RUN_TAG}={run_id}"


def run_of_metadata(tags: object) -> str | None:
    """The run id in metadata or image properties, or None when it is not a run's."""
    if isinstance(tags, dict):
        value = tags.get(RUN_TAG)
        return str(value) if value else None
    return None


def run_of_description(text: str | None) -> str | None:
    """The run id in a port's description, or None when it does not start with the tag."""
    prefix = description_tag("")
    if text and text.startswith(prefix):
        return text[len(prefix) :] or None
    return None
