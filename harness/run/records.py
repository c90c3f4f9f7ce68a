"""Run records and the run-directory protocol: what one run against one target proved,
written as the run goes.

A run directory (`<out>/runs/<run id>/`) holds:
- `run.json` (`RUN_FILE`): who, what, where, when, preflight and facts; replaced atomically
  whenever it changes, so a reader can tell an unfinished run (no end time) from a finished one;
- `results.jsonl` (`RESULTS_FILE`): one line per finished result, appended and fsynced, so a
  run killed with SIGKILL keeps every result that finished;
- `planned` (`PLANNED_FILE`): how many scenarios the pytest session collected, for progress;
- `run.log` (`LOG_FILE`) and `junit.xml` (`JUNIT_FILE`), written by `matrix run`.
The models here are the format's schema; history ingest validates records against them.
Whoever starts a run (the orchestrator, or a bare pytest session) builds its header with
`start_header`, so both write the same thing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)
from pydantic_core import core_schema

from harness.declarations.model import ProvenanceKind
from harness.reading import open_regular, read_bounded

if TYPE_CHECKING:
    from harness.declarations.matrix import Combination, Lab
    from harness.declarations.model import Target

RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
PLANNED_FILE = "planned"
LOG_FILE = "run.log"
JUNIT_FILE = "junit.xml"
FORMAT_VERSION: Literal[1] = 1
RESULT_LINE_LIMIT = 1 << 20  # bytes of one results.jsonl line (a result is ~300)
RUN_FILE_BYTES = 16 << 20  # of run.json (a header with facts of many hosts is ~100 KiB)

# Skip categories a result may carry (the scenario side raises them through scenario.skips).
NOT_APPLICABLE = "not-applicable"  # the combination cannot do this by design
NOT_CONFIGURED = "not-configured"  # the target lacks a requirement (computes, flavor, service)
FLAGGED = "flagged"  # a known bug, with a link: the only skip that says something of a cell
UNPROVEN = "unproven"  # it ran, but this target could not show the feature's defining property
UNCATEGORISED = "uncategorised"  # a bare pytest.skip: a bug in the scenario
SKIP_CATEGORIES = (NOT_APPLICABLE, NOT_CONFIGURED, FLAGGED, UNPROVEN)
"""The categories a scenario skips in; an uncategorised skip is none of them."""

RUN_ID_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-]){0,127}$"
"""What a run id may be: it becomes a directory, a file and a URL name, so letters, digits,
'-', '_' and dots between them, starting with a letter or digit (new_run_id's ids are of it)."""
RunId = Annotated[str, StringConstraints(pattern=RUN_ID_PATTERN)]
EARLIEST, LATEST = 1970, 9999  # years a record's time may name


def _timestamp(text: str) -> str:
    """An ISO 8601 time with its offset, that exists in UTC too (a record from any machine)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text[:40]!r} has no UTC offset")
    if not EARLIEST < moment.year < LATEST:  # inside them, an offset cannot leave the range
        in_range(moment, text)
    return text


def in_range(moment: datetime, text: str) -> datetime:
    """The moment in UTC, when it is a year from EARLIEST to LATEST there: the times a record
    may state, and so the only ones worth judging at (date arithmetic near year 1 or 9999
    overflows). Else a ValueError quoting `text`."""
    try:
        in_utc = moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text[:40]!r} is out of range") from None
    if not EARLIEST <= in_utc.year <= LATEST:
        raise ValueError(f"{text[:40]!r} is not between {EARLIEST} and {LATEST}")
    return in_utc


Timestamp = Annotated[str, AfterValidator(_timestamp)]
"""A time a record states; validated so that every later reader can order and compare it."""


def _length(low: int, high: int) -> Any:
    """Bounds on a text's length. JSON (what ingest reads) cannot hold a lone surrogate, so
    pydantic checks it there itself, at a third of the cost; a Python string is checked in
    Python, since pydantic's own check refuses the lone surrogates that a scenario's output
    may carry, which the writers escape."""

    def check(text: str) -> str:
        if not low <= len(text) <= high:
            raise ValueError(f"has {len(text)} characters; between {low} and {high} expected")
        return text

    def schema(source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.json_or_python_schema(
            json_schema=core_schema.str_schema(min_length=low, max_length=high),
            python_schema=core_schema.no_info_after_validator_function(check, handler(source)),
        )

    return GetPydanticSchema(schema)


Name = Annotated[str, _length(1, 500)]
LongText = Annotated[str, _length(0, 65536)]  # messages: the recorder keeps 2,000 characters

Outcome = Literal["passed", "failed", "error", "skipped"]
Source = Literal["scenario", "tempest"]
SCENARIO, TEMPEST = "scenario", "tempest"
RunStatus = Literal["running", "complete", "interrupted", "unverified", "preflight-failed"]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Provenance(Record):
    kind: ProvenanceKind
    voting: bool = False
    job_url: Annotated[str, _length(1, 2000)] | None = None  # escaped wherever it is shown
    harness_version: Name
    scenarios_revision: Name | None = None


class Result(Record):
    feature: Name
    scenario: Name
    outcome: Outcome
    skip_category: Name | None = None
    duration_s: float = Field(ge=0, le=10**7, allow_inf_nan=False)  # under 4 months
    message: LongText | None = None
    microversion: Annotated[str, StringConstraints(pattern=r"^\d{1,3}\.\d{1,4}$")] | None = None
    api_requests: int | None = Field(None, ge=0, le=10**9)
    cleanup_error: LongText | None = None
    finished_at: Timestamp
    proof: Annotated[str, _length(1, 1000)] | None = None
    """How a pass showed the feature's defining property (e.g. the compute log's live snapshot
    line), where the scenario states it; a scenario that cannot show it skips as `unproven`."""


class RunHeader(Record):
    format: Literal[1] = FORMAT_VERSION  # an unknown format is refused, not guessed at
    run_id: RunId
    status: RunStatus
    started_at: Timestamp
    ended_at: Timestamp | None = None
    combination: Name
    embedded: bool
    target: Name
    lab: Name
    provenance: Provenance
    preflight: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, dict[str, str]] = Field(default_factory=dict)
    forced: bool = False
    source: Source = "scenario"
    """Who produced the results: the harness's scenarios, or Tempest (each result's scenario
    is then the Tempest test's id). Written only when it is Tempest, so every record made
    before it existed reads, and re-ingests, exactly as it was."""

    @model_serializer(mode="wrap")
    def _source_only_when_tempest(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("source") == SCENARIO:
            del data["source"]
        return data


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id(target_name: str | None = None) -> str:
    """A run id that sorts by start time and is unique: 20261202T061631-1a2b3c[-target]."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    return f"{stamp}-{target_name}" if target_name else stamp


def start_header(
    run_id: str,
    combination: Combination,
    target: Target,
    lab: Lab,
    provenance: Provenance,
    **fields: Any,
) -> RunHeader:
    """The header of a run that starts now."""
    return RunHeader(
        run_id=run_id,
        status="running",
        started_at=now(),
        combination=combination.id,
        embedded=combination.embedded,
        target=target.target_name,
        lab=lab.name,
        provenance=provenance,
        **fields,
    )


def utc(timestamp: str) -> str:
    """The same moment as ISO 8601 in UTC to the second, so times compare as strings; text
    that is not a time is returned as it is."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def write_header(run_dir: Path, header: RunHeader) -> None:
    """Replace run.json atomically: a reader sees the old or the new header, never half."""
    run_dir.mkdir(parents=True, exist_ok=True)
    temporary = run_dir / (RUN_FILE + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(header.model_dump_json(indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(run_dir / RUN_FILE)


def append_result(run_dir: Path, result: Result) -> None:
    """One line per result, on disk before the next scenario starts."""
    with (run_dir / RESULTS_FILE).open("a", encoding="utf-8") as handle:
        handle.write(result.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_header(run_dir: Path) -> RunHeader:
    """The run's header, read only from a regular file of at most RUN_FILE_BYTES."""
    text = read_bounded(run_dir / RUN_FILE, RUN_FILE_BYTES, RUN_FILE)
    return RunHeader.model_validate_json(text.decode("utf-8"))


def read_results(run_dir: Path) -> Iterator[Result]:
    """Every complete line; a line cut short by a kill (no newline yet) is not a result."""
    path = run_dir / RESULTS_FILE
    if not path.exists():
        return
    with open_regular(path) as handle:  # never a FIFO
        for line in _complete_lines(handle):
            if line.strip():
                yield _VALIDATE(line)


class ResultsFollower:
    """A run's results as they are appended: each look returns only the complete lines added
    since the last one (a line still being written waits for its newline). Watching a run then
    costs its new results, not all of them again at every look."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / RESULTS_FILE
        self.offset = 0  # just past the last complete line read

    def new(self) -> list[Result]:
        if not self.path.exists():
            return []
        found = []
        with open_regular(self.path) as handle:
            handle.seek(self.offset)
            for line in _complete_lines(handle):
                if line.strip():
                    found.append(_VALIDATE(line))
                self.offset += len(line)
        return found


_VALIDATE = Result.__pydantic_validator__.validate_json
"""pydantic's own parser, as for run.json, on the bytes (it checks the UTF-8): deep nesting and
escaped lone surrogates (which nothing can store) are invalid JSON to it, not a crash."""


def _complete_lines(handle: BinaryIO) -> Iterator[bytes]:
    """The lines from where the handle is, each bounded (never a 1 GiB line), up to one with
    no newline yet."""
    while line := handle.readline(RESULT_LINE_LIMIT + 1):
        if len(line) > RESULT_LINE_LIMIT:
            raise ValueError(f"a line longer than {RESULT_LINE_LIMIT} bytes")
        if not line.endswith(b"\n"):
            return
        yield line
