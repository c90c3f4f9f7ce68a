"""matrix.json: the computed levels as one compact, versioned JSON document, and its schema.

The document is built from plain dicts and written with `json.dumps` (no per-cell model
validation): at 200 combinations x 40 features it stays a few MB and takes well under a
second. Per-result evidence is left out; each cell keeps its counts, its last pass and last
failure, the versions and labs seen. The shape is `harness.publish.export_schema`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.declarations.matrix import Matrix
from harness.history.evidence import Evidence
from harness.levels.compute import Cell, LevelMatrix
from harness.publish.export_schema import FORMAT, json_schema

JSON_NAME = "matrix.json"
SCHEMA_NAME = "matrix.schema.json"


def document(levels: LevelMatrix, matrix: Matrix) -> dict[str, Any]:
    """matrix.json's content."""
    policy = levels.policy
    return {
        "format": FORMAT,
        "computed_at": levels.computed_at,
        "policy": {
            "criteria": [
                {
                    "id": criterion_id,
                    "name": c.name,
                    "weight": c.weight,
                    "description": c.description,
                    "window_days": c.window_days,
                    "min_runs": c.min_runs,
                    "min_pass_rate": c.min_pass_rate,
                    "min_labs": c.min_labs,
                }
                for criterion_id, c in policy.criteria.items()
            ],
            "ladder": [
                {
                    "id": level.id,
                    "title": level.title,
                    "nova_rating": level.nova_rating,
                    "needs": list(level.needs),
                    "min_score": level.min_score,
                }
                for level in policy.ladder
            ],
            "stale_after_days": policy.stale_after_days,
            "max_score": sum(c.weight for c in policy.criteria.values()),
            "levels": levels.levels,
        },
        "axes": [
            {
                "id": axis,
                "values": [
                    {"id": value_id, "title": value.title, "embedded": value.embedded}
                    for value_id, value in values.items()
                ],
            }
            for axis, values in matrix.axes.items()
        ],
        "combinations": [_combination(matrix, c) for c in levels.combinations],
        "features": [_feature(matrix, f) for f in levels.features],
        "cells": [
            cell_json(levels.cell(feature, combination))
            for combination in levels.combinations
            for feature in levels.features
        ],
    }


def _combination(matrix: Matrix, combination_id: str) -> dict[str, Any]:
    c = matrix.combinations[combination_id]
    return {
        "id": c.id,
        "values": dict(c.values),
        "title": c.title,
        "description": c.description,
        "reference": c.reference,
        "embedded": c.embedded,
    }


def _feature(matrix: Matrix, feature_id: str) -> dict[str, Any]:
    f = matrix.features[feature_id]
    return {
        "id": feature_id,
        "title": f.title,
        "family": f.family,
        "nova": f.nova,
        "tempest": list(f.tempest),
        "status": f.status,
        "microversion": f.microversion,
        "notes": f.notes,
    }


def cell_json(cell: Cell) -> dict[str, Any]:
    rate = cell.pass_rate
    return {
        "feature": cell.feature,
        "combination": cell.combination,
        "level": cell.level,
        "score": cell.score,
        "reason": cell.reason,
        "flaky": cell.flaky,
        "flagged": cell.flagged,
        "flags": [{"bug": flag.bug, "why": flag.why} for flag in cell.flags],
        "not_applicable": cell.why_not_applicable,
        "criteria": {
            "met": [c.id for c in cell.criteria if c.met],
            "missed": {c.id: c.why for c in cell.criteria if not c.met},
        },
        "passed": cell.passed,
        "failed": cell.failed,
        "pass_rate": None if rate is None else round(rate, 4),
        "ignored": cell.ignored,
        "last_pass": evidence_json(cell.last_pass),
        "last_failure": evidence_json(cell.last_failure),
        "versions": {name: list(values) for name, values in cell.versions.items()},
        "labs": list(cell.labs),
        "job_urls": list(cell.job_urls),
        "tempest_latest": tempest_json(cell.tempest[0]) if cell.tempest else None,
    }


def evidence_json(evidence: Evidence | None) -> dict[str, Any] | None:
    return None if evidence is None else _evidence_fields(evidence)


def _evidence_fields(evidence: Evidence) -> dict[str, Any]:
    return {
        "run_id": evidence.run_id,
        "started_at": evidence.started_at,
        "outcome": evidence.outcome,
        "job_url": evidence.job_url,
        "message": evidence.message,
        "proof": evidence.proof,
    }


def tempest_json(evidence: Evidence) -> dict[str, Any]:
    return {**_evidence_fields(evidence), "test": evidence.scenario}


def write_json(levels: LevelMatrix, matrix: Matrix, out: Path) -> list[Path]:
    """Write matrix.json and matrix.schema.json into `out`; return their paths."""
    data_path, schema_path = out / JSON_NAME, out / SCHEMA_NAME
    with data_path.open("w", encoding="utf-8") as stream:
        # dumps, not dump: only the one-shot encoder is the C one, several times faster
        text = json.dumps(document(levels, matrix), ensure_ascii=False, separators=(",", ":"))
        stream.write(text)
        stream.write("\n")
    schema_path.write_text(
        json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return [data_path, schema_path]
