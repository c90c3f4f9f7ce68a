"""A validated run as the history stores it: its rows, ready to insert.

Rows are made where the record is read and validated (a worker process, for a big ingest),
so the process that writes the history does nothing per result but insert it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from harness.errors import BadInput
from harness.history.database import MAX_RESULTS_PER_RUN
from harness.run.records import Result, RunHeader, utc

RUN_COLUMNS = (
    "run_id", "combination", "embedded", "target", "lab", "status", "started_at", "ended_at",
    "kind", "voting", "job_url", "harness_version", "scenarios_revision", "preflight", "forced",
    "header", "source",
)  # fmt: skip
RESULT_COLUMNS = (
    "seq", "feature", "scenario", "outcome", "skip_category", "duration_s", "message",
    "microversion", "api_requests", "finished_at", "proof",
)  # fmt: skip
"""A result's columns after its run's key, which only the history gives."""
FACT_COLUMNS = ("host", "name", "value")


class StoredRun(NamedTuple):
    """One run's rows (a tuple: the cheapest thing to send from a worker process)."""

    run_id: str
    header: str  # as JSON: stored, and compared when the same run id is ingested again
    run: tuple[Any, ...]  # RUN_COLUMNS
    results: list[tuple[Any, ...]]  # RESULT_COLUMNS
    facts: list[tuple[str, str, str]]  # FACT_COLUMNS


class TooManyResults(BadInput):
    """A run with more results than a result's key can number (MAX_RESULTS_PER_RUN)."""


def rows_of(header: RunHeader, results: Sequence[Result]) -> StoredRun:
    """The rows of a validated run."""
    if len(results) > MAX_RESULTS_PER_RUN:
        raise TooManyResults(
            f"run {header.run_id} has {len(results):,} results; a run holds at most "
            f"{MAX_RESULTS_PER_RUN:,}"
        )
    provenance = header.provenance
    header_json = header.model_dump_json()
    run = (
        header.run_id, header.combination, int(header.embedded), header.target, header.lab,
        header.status, utc(header.started_at), header.ended_at, provenance.kind,
        int(provenance.voting), provenance.job_url, provenance.harness_version,
        provenance.scenarios_revision, str(header.preflight.get("status", "not-run")),
        int(header.forced), header_json, header.source,
    )  # fmt: skip
    rows = [
        (
            seq, r.feature, r.scenario, r.outcome, r.skip_category, r.duration_s, r.message,
            r.microversion, r.api_requests, r.finished_at, r.proof,
        )
        for seq, r in enumerate(results)
    ]  # fmt: skip
    facts = [
        (host, name, value)
        for host, values in header.facts.items()
        for name, value in values.items()
    ]
    return StoredRun(header.run_id, header_json, run, rows, facts)
