"""The run tag, written and read in one place so the two cannot drift.

Every resource a scenario creates carries the id of the run that made it: servers, volumes
and images as metadata `{matrix_run: <run id>}`, ports (which have no metadata) as their
description `matrix_run=<run id>`. `matrix cleanup` finds leftovers by reading it back.
"""

from __future__ import annotations

RUN_TAG = "matrix_run"


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
