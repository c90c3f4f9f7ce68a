"""Turn pytest's per-phase reports into run-record results, one per scenario, as each ends.

A scenario's outcome is its own: skipped if its setup skipped (with the category), error if
setup broke, failed or passed from its call. A cleanup failure at teardown does not change
that outcome; it is recorded beside it (`cleanup_error`), so it is neither lost nor mistaken
for the scenario's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.run.records import Result, append_result, now
from harness.run.secrets import Redactor

MESSAGE_LIMIT = 2000  # characters of a failure kept in the record; the log has the rest
PROOF_LIMIT = 1000  # characters of a pass's proof (the record's bound)
PROOF_PROPERTY = "proof"  # the user property a pass's proof travels in (fixtures.Proof)


@dataclass
class _Scenario:
    outcome: str = "passed"
    duration: float = 0.0
    message: str | None = None
    skip_category: str | None = None
    cleanup_error: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


class Recorder:
    def __init__(self, run_dir: Path, redactor: Redactor) -> None:
        self.run_dir = run_dir
        self.redactor = redactor
        self._open: dict[str, _Scenario] = {}
        self.counts: dict[str, int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Registered as a plugin where the record is written: a plain session, or an xdist
        controller, which receives every worker's reports with their properties."""
        self.report(report)

    def report(self, report: pytest.TestReport) -> None:
        scenario = self._open.setdefault(report.nodeid, _Scenario())
        scenario.duration += report.duration
        scenario.properties.update(dict(report.user_properties))
        if report.when in ("setup", "call"):
            if report.skipped:
                scenario.outcome = "skipped"
                scenario.message = _skip_reason(report)
                scenario.skip_category = str(scenario.properties.get("skip_category", ""))
            elif report.failed:
                scenario.outcome = "error" if report.when == "setup" else "failed"
                scenario.message = _failure(report)
        elif report.failed:  # teardown: the cleanup registry or a fixture's own teardown
            scenario.cleanup_error = _failure(report)
        if report.when == "teardown":
            self._finish(report.nodeid, self._open.pop(report.nodeid))

    def _text(self, text: str, limit: int) -> str:
        """Text from a scenario, as it may be recorded: redacted, storable, within the limit."""
        return _storable(self.redactor.redact(text))[:limit]

    def _finish(self, nodeid: str, scenario: _Scenario) -> None:
        props = scenario.properties
        if "feature" not in props:
            return  # not a scenario (no feature marker): nothing to record
        message = scenario.message
        if scenario.cleanup_error:
            message = (message + "\n" if message else "") + "cleanup: " + scenario.cleanup_error
        requests = props.get("api_requests")
        proof = props.get(PROOF_PROPERTY) if scenario.outcome == "passed" else None
        result = Result(
            feature=str(props["feature"]),
            scenario=nodeid,
            outcome=scenario.outcome,
            skip_category=scenario.skip_category or None,
            duration_s=round(scenario.duration, 3),
            message=self._text(message, MESSAGE_LIMIT) if message else None,
            microversion=str(props.get("microversion") or "") or None,
            api_requests=int(requests) if requests is not None else None,
            cleanup_error=(
                self._text(scenario.cleanup_error, MESSAGE_LIMIT)
                if scenario.cleanup_error
                else None
            ),
            finished_at=now(),
            proof=self._text(str(proof), PROOF_LIMIT) if proof else None,
        )
        append_result(self.run_dir, result)
        self.counts[result.outcome] = self.counts.get(result.outcome, 0) + 1


def _storable(text: str) -> str:
    """Text any UTF-8 writer takes: a cloud's message may carry lone surrogates (from bytes
    decoded with surrogateescape), which JSON, XML and SQLite refuse; they are shown as
    backslash escapes instead of failing the record."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _failure(report: pytest.TestReport, lines: int = 12) -> str:
    """The exception's own message first (what a reader needs), then the end of the traceback."""
    crash = getattr(report.longrepr, "reprcrash", None)
    tail = "\n".join(report.longreprtext.rstrip().splitlines()[-lines:])
    return f"{crash.message}\n{tail}" if crash is not None else tail
