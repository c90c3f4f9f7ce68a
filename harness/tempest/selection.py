"""Which Tempest tests prove which feature: the idempotent ids features.yaml lists.

A Tempest test id carries its idempotent id in its attributes
(`tempest.api.compute...test_verify_server_details[id-5de47127-...,smoke]`); that id, not the
test's name (which Tempest renames), ties a test to the features that list it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harness.declarations.matrix import Matrix

IDEMPOTENT_ID = re.compile(r"\bid-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def idempotent_ids(test_id: str) -> list[str]:
    return IDEMPOTENT_ID.findall(test_id)


def features_by_id(matrix: Matrix, features: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Idempotent id -> the features (of those asked for; all when None) that list it."""
    wanted = set(features) if features is not None else None
    mapping: dict[str, list[str]] = {}
    for feature_id, feature in matrix.features.items():
        if wanted is not None and feature_id not in wanted:
            continue
        for uuid in feature.tempest:
            mapping.setdefault(str(uuid), []).append(feature_id)
    return mapping


def features_of(test_id: str, mapping: dict[str, list[str]]) -> list[str]:
    """The features a test proves, in declaration order, each once."""
    found: list[str] = []
    for uuid in idempotent_ids(test_id):
        for feature in mapping.get(uuid, ()):
            if feature not in found:
                found.append(feature)
    return found


def include_list(mapping: dict[str, list[str]]) -> str:
    """`tempest run --include-list` lines: one regex per idempotent id."""
    return "".join(f"id-{uuid}\n" for uuid in sorted(mapping))
