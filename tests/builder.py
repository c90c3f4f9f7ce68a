"""Constructed histories: runs with chosen outcomes, days, kinds and labs, straight into SQLite.

Records go through the same models and `ingest_run` as `matrix ingest`, so a history built
here is one the harness could have recorded; only the run directories are skipped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness.history.database import connect
from harness.history.store import ingest_run
from harness.run.records import Provenance, Result, RunHeader

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


@dataclass
class History:
    db: Path
    now: datetime = NOW
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def run(
        self,
        combination: str,
        outcomes: dict[str, str] | list[tuple[str, str]],
        *,
        days_ago: float = 1,
        kind: str = "manual",
        voting: bool = False,
        lab: str = "lab-a",
        preflight: str = "passed",
        status: str = "complete",
        forced: bool = False,
        embedded: bool = False,
        job_url: str | None = None,
        facts: dict[str, dict[str, str]] | None = None,
        messages: dict[str, str] | None = None,
        skip_category: str | None = None,
        started_at: str | None = None,
        source: str = "scenario",
    ) -> str:
        """Record one run; `outcomes` maps feature -> passed/failed/error/skipped. A Tempest
        run's results are named like Tempest's tests."""
        run_id = f"run-{next(self._ids):04d}"
        started = started_at or (self.now - timedelta(days=days_ago)).isoformat(timespec="seconds")
        header = RunHeader(
            run_id=run_id, status=status, started_at=started, ended_at=started,  # type: ignore[arg-type]
            combination=combination, embedded=embedded, target="t", lab=lab,
            provenance=Provenance(kind=kind, voting=voting, job_url=job_url, harness_version="0.1.0"),
            preflight={"status": preflight}, facts=facts or {}, forced=forced,
            source=source,  # type: ignore[arg-type]
        )  # fmt: skip
        items = outcomes.items() if isinstance(outcomes, dict) else outcomes
        results = [
            Result(
                feature=feature,
                scenario=(
                    f"tempest.api.compute.test_{feature.replace('-', '_')}.T.test_{i}[id-{i}]"
                    if source == "tempest"
                    else f"scenarios/test_{feature}.py::test_{i}"
                ),
                outcome=outcome,  # type: ignore[arg-type]
                skip_category=skip_category if outcome == "skipped" else None,
                duration_s=2.0,
                message=(messages or {}).get(feature),
                finished_at=started,
            )
            for i, (feature, outcome) in enumerate(items)
        ]
        connection = connect(self.db)
        try:
            ingest_run(connection, header, results)
        finally:
            connection.close()
        return run_id
