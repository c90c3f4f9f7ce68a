"""Tempest's output as evidence: per-test outcomes, then a run record like any other.

Two inputs are read: the subunit v2 stream `stestr last --subunit` writes (python-subunit
parses it), and the JUnit XML `subunit2junitxml` makes of it. Either becomes TempestCase
values; `to_record` turns them into a run header and one result per (test, feature it
proves), marked `source: tempest` with the test's id as the scenario, so ingest, levels,
`--explain` and the site treat them as what they are. Tests no feature lists are left out
(counted), and a skipped test is a skip (never a pass). A class whose setup failed runs none
of its tests and names none of their ids: its failure is left out like any unlisted test, and
its features show Tempest's verdict as "not run".
"""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.reading import read_bounded
from harness.run.records import NOT_CONFIGURED, Provenance, Result, RunHeader
from harness.tempest.selection import features_of

MAX_BYTES = 256 << 20  # a whole Tempest run's subunit stream is a few MiB
MESSAGE_CHARACTERS = 2000  # as much of a traceback as a scenario result keeps
SUBUNIT_STATUS = {
    "success": "passed", "xfail": "passed", "fail": "failed", "uxsuccess": "failed",
    "skip": "skipped",
}  # fmt: skip
"""subunit's final statuses -> a result's outcome ('exists' and 'inprogress' are not final)."""


class TempestOutputError(BadInput):
    """Not a Tempest result file the harness can read; the message says where and why."""


@dataclass(frozen=True)
class TempestCase:
    test_id: str
    outcome: str  # passed | failed | skipped
    duration_s: float
    message: str | None
    finished_at: str | None  # ISO 8601 with offset, when the input says


def read_output(path: Path) -> list[TempestCase]:
    """A subunit v2 stream or a JUnit XML file, told apart by their first bytes."""
    return parse_output(read_raw(path), path)


def read_raw(path: Path) -> bytes:
    """The output's bytes, from a regular file of at most MAX_BYTES."""
    try:
        return read_bounded(path, MAX_BYTES, path.name)
    except OSError as error:
        raise TempestOutputError(f"{path}: cannot read: {error.strerror or error}") from None


def parse_output(data: bytes, origin: Path) -> list[TempestCase]:
    """Subunit v2 or JUnit XML, told apart by their first bytes."""
    if data.lstrip()[:1] == b"<":
        return read_junit(data, origin)
    return read_subunit(data, origin)


def read_subunit(data: bytes, origin: Path) -> list[TempestCase]:
    import subunit
    import testtools

    tests: list[Any] = []
    collector = testtools.StreamToDict(tests.append)
    collector.startTestRun()
    subunit.ByteStreamToStreamResult(io.BytesIO(data), non_subunit_name="stdout").run(collector)
    collector.stopTestRun()
    cases = [case for test in tests if (case := _from_subunit(test)) is not None]
    if not cases:
        raise TempestOutputError(f"{origin}: no test result in it (is it a subunit v2 stream?)")
    return cases


def _from_subunit(test: Any) -> TempestCase | None:
    outcome = SUBUNIT_STATUS.get(test["status"])
    if outcome is None:
        return None
    start, stop = (test["timestamps"] + [None, None])[:2]
    duration = (stop - start).total_seconds() if start and stop else 0.0
    details = test["details"]
    wanted = ("reason",) if outcome == "skipped" else ("traceback", "reason")
    text = next((details[k].as_text() for k in wanted if k in details), None)
    return TempestCase(
        test_id=str(test["id"]),
        outcome=outcome,
        duration_s=max(duration, 0.0),
        message=_clip(text),
        finished_at=stop.astimezone(timezone.utc).isoformat(timespec="seconds") if stop else None,
    )


def read_junit(data: bytes, origin: Path) -> list[TempestCase]:
    """subunit2junitxml's XML: testcase classname + name is the test id."""
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise TempestOutputError(f"{origin}: a DOCTYPE or ENTITY in JUnit XML is refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise TempestOutputError(f"{origin}: not well-formed XML: {error}") from None
    cases = []
    for case in root.iter("testcase"):
        name, classname = case.get("name", ""), case.get("classname", "")
        if not name:
            continue
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            outcome, text = "failed", failure.text or failure.get("message")
        elif skipped is not None:
            outcome, text = "skipped", skipped.text or skipped.get("message")
        else:
            outcome, text = "passed", None
        try:
            duration = max(float(case.get("time", "0") or 0), 0.0)
        except ValueError:
            duration = 0.0
        test_id = f"{classname}.{name}" if classname else name
        cases.append(TempestCase(test_id, outcome, duration, _clip(text), None))
    if not cases:
        raise TempestOutputError(f"{origin}: no <testcase> in it (is it JUnit XML?)")
    return cases


def _clip(text: str | None) -> str | None:
    """A traceback's start and end: where it failed is at the end, but a schema check's
    complaint is in the first lines, before the instance it dumps."""
    if not text or not text.strip():
        return None
    text = text.strip()
    if len(text) <= MESSAGE_CHARACTERS:
        return text
    half = MESSAGE_CHARACTERS // 2
    return text[:half] + "\n…\n" + text[-half:]


@dataclass(frozen=True)
class Mapped:
    results: list[Result]
    unmapped: int  # tests that prove no declared feature


def to_results(
    cases: Iterable[TempestCase], mapping: dict[str, list[str]], finished_at: str
) -> Mapped:
    """One result per (test, feature it proves); `finished_at` stands in where the input
    gives no time (JUnit)."""
    results, unmapped = [], 0
    for case in cases:
        features = features_of(case.test_id, mapping)
        if not features:
            unmapped += 1
            continue
        for feature in features:
            results.append(
                Result(
                    feature=feature,
                    scenario=case.test_id[:500],
                    outcome=case.outcome,
                    skip_category=NOT_CONFIGURED if case.outcome == "skipped" else None,
                    duration_s=min(case.duration_s, 10**7),
                    message=case.message,
                    finished_at=case.finished_at or finished_at,
                )
            )
    return Mapped(results, unmapped)


def run_id_for(data: bytes, started_at: str, target: str) -> str:
    """The same output always gets the same run id, so ingesting it twice adds it once."""
    stamp = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    day = stamp.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{day}-{hashlib.sha256(data).hexdigest()[:6]}-tempest-{target}"[:128]


def header(
    run_id: str,
    *,
    combination: str,
    embedded: bool,
    target: str,
    lab: str,
    provenance: Provenance,
    started_at: str,
    ended_at: str,
    preflight: dict[str, Any] | None = None,
) -> RunHeader:
    return RunHeader(
        run_id=run_id,
        status="complete",
        source="tempest",
        started_at=started_at,
        ended_at=ended_at,
        combination=combination,
        embedded=embedded,
        target=target,
        lab=lab,
        provenance=provenance,
        preflight=preflight or {"status": "not-run"},
    )
