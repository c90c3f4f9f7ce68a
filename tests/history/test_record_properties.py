"""Whatever a run record holds, `matrix ingest` adds it or rejects it (exit 0 or 2), never a
bug (70) or a traceback; and whatever went in, `levels`, `check` and `publish` still work.

Records start from a run directory the harness really writes (make_run: write_header and
append_result), then are mutated at the JSON level (a field's value replaced, removed, or a
key added) and at the byte level (tokens spliced in, a stretch cut out), or are arbitrary
bytes. Example counts follow the hypothesis profile (tests/conftest.py): a few dozen by
default, twenty times more under HYPOTHESIS_PROFILE=thorough.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.cli.main import main
from tests.conftest import DATA, with_shipped_policy
from tests.history.test_ingest import make_run

COMBINATION = "libvirt-kvm/ceph-rbd/ovs"  # declared in tests/data/small
PROFILE = settings().max_examples  # 150 by default, 3000 under the thorough profile
INGESTS = settings(
    max_examples=PROFILE // 5, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SEQUENCES = settings(
    max_examples=PROFILE // 15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SUMMARY = re.compile(
    r"added (\d+) run\(s\) with \d+ result\(s\); (\d+) already there; (\d+) rejected"
)


def _written_record() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and results of a run directory as the harness writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = make_run(Path(tmp), "run-1", ["passed", "failed", "skipped"], COMBINATION)
        header = json.loads((run_dir / "run.json").read_text())
        results = [
            json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()
        ]
    return header, results


HEADER, RESULTS = _written_record()

NOTABLE_TEXT = [
    "", " ", "x" * 600, "a\nb", "\x1b[31m", "\u202e", "\ud800", "\udc80", "\x00", "../../etc",
    "run-1", "run-2", "2026-11-20T10:00:00", "2026-11-20T10:00:00+00:00",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1969-12-31T23:59:59Z",
    "passed", "failed", "error", "skipped", "flagged", "not-applicable", "complete", "running",
    "unverified", "preflight-failed", "periodic", "gate", "embedded", "manual", "2.90", "1.5",
    COMBINATION, "fake-live-migrate/fake-local/fake-net", "live-snapshot", "live-migration",
]  # fmt: skip
scalars = st.one_of(
    st.sampled_from(NOTABLE_TEXT), st.none(), st.booleans(), st.integers(),
    st.sampled_from([10**30, -1, 2**63, 10**9 + 1]), st.floats(), st.text(max_size=20),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.sampled_from(["status", "x"])), inner, max_size=3
        ),
    ),
    max_leaves=8,
)

RAW_VALUES = [
    b"[" * 3000 + b"]" * 3000, b'{"a":' * 3000 + b"1" + b"}" * 3000, b"9" * 5000, b"1e999",
    b"-1e999", b"NaN", b"Infinity", b'"\\ud800"', b'"x\\udc80y"', b'"\\u0000"', b"-0", b"1.0",
    b"[]", b"{}", b'"' + b"x" * 70_000 + b'"', b"0.1e-400", b'"\\u001b]0;title\\u0007"',
]  # fmt: skip
"""JSON values that only a parser meets: nesting past any recursion limit, numbers past any
float or 4,300 digits, escapes of lone surrogates and NUL."""
MARKER = "\x00raw\x00"

TOKENS = [
    b"{", b"}", b"[", b"]", b'"', b"\\", b",", b":", b"\n", b"\r", b"\x00", b"\xff", b"\xc3",
    b"\xef\xbb\xbf", b"NaN", b"Infinity", b"1e999", b"-0", b"9" * 5000, b"[" * 3000,
    b'"\\ud800"', b'"\\u0000"', b"null", b"true", b'{"a":' * 50, b" " * 100,
]  # fmt: skip


@st.composite
def json_mutation(
    draw: st.DrawFn, document: Any, values: st.SearchStrategy[Any] = json_values
) -> Any:
    """`document` with one field replaced, removed or added, anywhere in it."""
    document = json.loads(json.dumps(document))
    parent = document
    while True:
        keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        if isinstance(parent[key], dict | list) and parent[key] and draw(st.booleans()):
            parent = parent[key]
            continue
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[key] = draw(values)
        elif action == "remove" and isinstance(parent, dict):
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "x-" + str(key)]))] = draw(values)
        else:
            parent.insert(key, draw(values))
        break
    return document


@st.composite
def byte_mutation(draw: st.DrawFn, text: bytes) -> bytes:
    """`text` with one to three tokens spliced in or stretches cut out."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 12)) if draw(st.booleans()) else 0
        text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at + cut :]
    return text


@st.composite
def raw_mutation(draw: st.DrawFn, document: Any, dump: Callable[[Any], bytes]) -> bytes:
    """`document` written out with one field's value (or a new one) replaced by a RAW_VALUE."""
    written = dump(draw(json_mutation(document, st.just(MARKER))))
    return written.replace(json.dumps(MARKER).encode(), draw(st.sampled_from(RAW_VALUES)), 1)


def _header_bytes(header: Any) -> bytes:
    return json.dumps(header, indent=2).encode()


def _results_bytes(results: Any) -> bytes:
    lines = results if isinstance(results, list) else [results]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


KINDS = [
    "json header",
    "json results",
    "raw header",
    "raw results",
    "bytes",
    "arbitrary",
    "as written",
]


@st.composite
def records(draw: st.DrawFn) -> tuple[bytes | None, bytes | None]:
    """The bytes of run.json and results.jsonl (None: the file is absent); of a few run ids,
    so that a sequence of them adds several runs, or meets one again, or a conflict."""
    header = {**HEADER, "run_id": draw(st.sampled_from(["run-1", "run-2", "run-3"]))}
    results = RESULTS
    kind = draw(st.sampled_from(KINDS))
    if kind == "json header":
        header = draw(json_mutation(header))
    elif kind == "json results":
        results = draw(json_mutation(RESULTS))
    header_bytes, results_bytes = _header_bytes(header), _results_bytes(results)
    if kind == "raw header":
        header_bytes = draw(raw_mutation(header, _header_bytes))
    elif kind == "raw results":
        results_bytes = draw(raw_mutation(RESULTS, _results_bytes))
    elif kind == "bytes":
        which = draw(st.sampled_from(["header", "results", "both"]))
        if which != "results":
            header_bytes = draw(byte_mutation(header_bytes))
        if which != "header":
            results_bytes = draw(byte_mutation(results_bytes))
    elif kind == "arbitrary":
        header_bytes = draw(st.one_of(st.binary(max_size=200), st.just(header_bytes)))
        results_bytes = draw(st.binary(max_size=200))
    absent = draw(st.sampled_from([None, None, None, "header", "results"]))
    return (
        None if absent == "header" else header_bytes,
        None if absent == "results" else results_bytes,
    )


def write_run(folder: Path, record: tuple[bytes | None, bytes | None]) -> Path:
    folder.mkdir(parents=True)
    header, results = record
    if header is not None:
        (folder / "run.json").write_bytes(header)
    if results is not None:
        (folder / "results.jsonl").write_bytes(results)
    return folder


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
    return code, out.getvalue(), err.getvalue()


OUTCOMES = {(1, 0, 0): "added", (0, 1, 0): "already", (0, 0, 1): "rejected"}


def ingest_one(root: Path, db: Path, run_dir: Path) -> str:
    """`matrix ingest` of one run directory: 'added', 'already' or 'rejected', and nothing else."""
    code, out, err = cli("--matrix", str(root), "ingest", str(run_dir), "--db", str(db))
    assert "Traceback" not in out + err and "internal error" not in err, err
    found = SUMMARY.search(out)
    assert found is not None, (code, out, err)
    counts = tuple(int(n) for n in found.groups())
    outcome = OUTCOMES.get(counts)
    assert outcome is not None, out
    assert code == (2 if outcome == "rejected" else 0), (code, err)
    if outcome == "rejected":
        assert err.startswith(f"rejected {run_dir}") and err.count("\n") == 1, err
    return outcome


@contextmanager
def matrix_and_history() -> Iterator[tuple[Path, Path]]:
    """The small matrix judged by the shipped policy, and where its history goes."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "matrix"
        shutil.copytree(DATA / "small", root)
        yield with_shipped_policy(root), Path(tmp) / "history.sqlite"


FOUND = [
    (_header_bytes(HEADER), b"[" * 3000 + b"]" * 3000 + b"\n"),
    (_header_bytes(HEADER), _results_bytes(RESULTS).replace(b'"s::t0"', b'"\\udc80"')),
]
"""What these properties found: a results line nested past Python's recursion limit, and a
lone surrogate escaped in a result (SQLite cannot store it); both were internal errors."""


@INGESTS
@example(record=FOUND[0])
@example(record=FOUND[1])
@given(record=records())
def test_any_record_is_added_or_rejected(record: tuple[bytes | None, bytes | None]) -> None:
    with matrix_and_history() as (root, db):
        ingest_one(root, db, write_run(db.parent / "runs" / "run-x", record))


@SEQUENCES
@given(
    sequence=st.lists(records(), min_size=1, max_size=4),
    combination=st.sampled_from([COMBINATION, "fake-live-migrate/fake-local/fake-net"]),
)
def test_after_any_ingests_levels_check_and_publish_succeed(
    sequence: list[tuple[bytes | None, bytes | None]], combination: str
) -> None:
    with matrix_and_history() as (root, db):
        outcomes = [
            ingest_one(root, db, write_run(db.parent / "runs" / f"run-{i}", record))
            for i, record in enumerate(sequence)
        ]
        site = db.parent / "site"
        for args in (
            ["levels"],
            ["levels", "--explain", f"live-snapshot@{combination}"],
            ["check", combination],
            ["publish", "--out", str(site)],
        ):
            code, out, err = cli("--matrix", str(root), *args, "--db", str(db))
            assert code == 0, (args, outcomes, err)
            assert "Traceback" not in out + err, err
        assert (site / "index.html").is_file()
