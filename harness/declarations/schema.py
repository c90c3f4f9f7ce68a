"""JSON Schema for each declaration file, so editors with a YAML language server check as you type.

Shipped YAML files carry a `# yaml-language-server: $schema=...` modeline pointing here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.declarations.loading import ADAPTERS

SCHEMA_FILES = {kind: f"{kind}.schema.json" for kind in ADAPTERS}
TITLES = {
    "axes": "Axes and their values (matrix/axes.yaml)",
    "features": "Features to prove (matrix/features.yaml)",
    "combinations": "Combinations: product, exclude, include, explicit (matrix/combinations.yaml)",
    "levels": "Known-to-work level policy (matrix/levels.yaml)",
    "lab": "A lab: targets and how to reach them (matrix/labs/*.yaml)",
}


def json_schema(kind: str) -> dict[str, Any]:
    schema = ADAPTERS[kind].json_schema()
    _close_pattern_maps(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": TITLES[kind],
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _close_pattern_maps(node: Any) -> None:
    """Pydantic leaves maps keyed by id patterns open; an editor should flag a bad id."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_pattern_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_maps(value)


def render(kind: str) -> str:
    return json.dumps(json_schema(kind), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, name in SCHEMA_FILES.items():
        path = directory / name
        path.write_text(render(kind), encoding="utf-8")
        written.append(path)
    return written
