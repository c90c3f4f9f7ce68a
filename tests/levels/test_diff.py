"""`matrix diff`: two states of the matrix compared, from histories and from published exports."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.errors import BadInput
from harness.levels.diff import (
    CellState,
    FailureSeen,
    PolicyShape,
    Rung,
    Snapshot,
    compare,
    level_order,
)
from harness.publish.diff_report import render_markdown
from harness.publish.export_schema import json_schema
from harness.publish.markdown import escape
from tests.builder import NOW, History
from tests.conftest import Result
from tests.levels.conftest import KVM, KVM_CEPH, LM, QEMU

AT = ("--at", NOW.isoformat())
Run = Callable[..., Result]
BROKEN = "Timed out waiting for the migration to complete"
HOSTILE = (
    "a | b `rm -rf` <script>alert(1)</script> **bold** [x](javascript:alert(2))\n"
    "| injected | row |\r\n\x1b]0;owned\x07\x1b[31mred\x1b[0m \u202eevil"
)


@pytest.fixture
def matrix(run: Run, matrix_dir: Path) -> Run:
    """`matrix --matrix <the small matrix> ARGS...`"""

    def invoke(*args: str) -> Result:
        return run("--matrix", str(matrix_dir), *args)

    return invoke


@pytest.fixture
def diff(matrix: Run) -> Run:
    def invoke(*args: str) -> Result:
        return matrix("diff", *args)

    return invoke


@pytest.fixture
def old(tmp_path: Path) -> History:
    return History(tmp_path / "old.sqlite")


@pytest.fixture
def new(tmp_path: Path) -> History:
    return History(tmp_path / "new.sqlite")


def planted(old: History, new: History, message: str = BROKEN) -> None:
    """KVM's live migration passed in OLD and fails in NEW; QEMU's the other way round."""
    old.run(KVM, {LM: "passed"}, days_ago=3)
    old.run(QEMU, {LM: "failed"}, days_ago=3, messages={LM: "qemu was broken"})
    new.run(KVM, {LM: "failed"}, days_ago=1, messages={LM: message})
    new.run(QEMU, {LM: "passed"}, days_ago=1)


def sections(markdown: str) -> list[str]:
    """The headings of the report's tables, in order."""
    return re.findall(r"^### (.+?) \(\d+\)$", markdown, re.M)


def rows(markdown: str, heading: str) -> list[list[str]]:
    """The cells of one table's rows (split on unescaped pipes)."""
    block = markdown.split(f"### {heading} (")[1].split("\n\n", 2)[1]
    lines = [line for line in block.splitlines() if line.startswith("| ")][2:]  # past the header
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


# --- histories -------------------------------------------------------------------------------


def test_a_planted_regression_comes_first_with_its_message(
    diff: Run, old: History, new: History
) -> None:
    planted(old, new)
    result = diff(str(old.db), str(new.db), *AT)
    assert result.code == 0, result.err
    out = result.out
    headline = out.splitlines()[0]
    assert headline.startswith("**matrix diff: 1 regression, 1 improvement, 1 new failure**")
    assert "old.sqlite as of 2026-11-21T12:00:00+00:00 → " in headline
    assert sections(out) == ["Regressions", "Improvements", "New failures"]
    [regression] = rows(out, "Regressions")
    assert regression[:4] == [LM, KVM, "reported", "failing"]
    assert regression[4] == f"failed in run-0000 (2026-11-20): {BROKEN}"
    [improvement] = rows(out, "Improvements")
    assert improvement[:4] == [LM, QEMU, "failing", "reported"]
    [failure] = rows(out, "New failures")
    assert failure == [LM, KVM, "reported", "run-0000", "2026-11-20T12:00:00+00:00", BROKEN]


def test_fail_on_regression_exits_1_after_the_report(diff: Run, old: History, new: History) -> None:
    planted(old, new)
    result = diff(str(old.db), str(new.db), *AT, "--fail-on-regression")
    assert result.code == 1
    assert result.out.startswith("**matrix diff: 1 regression")  # the report is still printed
    assert result.err == (
        f"matrix: 1 regression from {old.db} to {new.db} (--fail-on-regression)\n"
    )


def test_an_improvement_alone_passes_the_gate(diff: Run, old: History, new: History) -> None:
    old.run(QEMU, {LM: "failed"}, days_ago=3)
    new.run(QEMU, {LM: "passed"}, days_ago=1)
    result = diff(str(old.db), str(new.db), *AT, "--fail-on-regression")
    assert result.code == 0, result.err
    assert result.out.startswith("**matrix diff: 1 improvement**")
    assert sections(result.out) == ["Improvements"]


def test_no_change_is_one_line(diff: Run, old: History) -> None:
    old.run(KVM, {LM: "passed"})
    result = diff(str(old.db), str(old.db), *AT, "--fail-on-regression")
    assert result.code == 0, result.err
    name = escape(str(old.db))  # a path is text like any other: its underscores escaped
    assert result.out == (
        f"No level changed: {name} as of 2026-11-21T12:00:00+00:00 → {name} as of "
        "2026-11-21T12:00:00+00:00, 21 cells.\n"
    )
    data = json.loads(diff(str(old.db), str(old.db), *AT, "--json").out)
    assert data["changed"] is False and not any(data["counts"].values())


def test_json_output_has_its_schema_and_whole_messages(
    diff: Run, old: History, new: History
) -> None:
    planted(old, new, message=HOSTILE)
    data = json.loads(diff(str(old.db), str(new.db), *AT, "--json").out)
    jsonschema.validate(data, json_schema("diff"))
    assert data["counts"]["regressions"] == 1 and data["changed"] is True
    assert data["levels"] == ["gated", "tested", "reported", "unknown", "failing"]
    [regression] = data["regressions"]
    assert (regression["old"]["level"], regression["new"]["level"]) == ("reported", "failing")
    assert regression["new"]["last_failure"]["message"] == HOSTILE  # escaped by JSON alone
    assert data["new_failures"] == [regression]
    assert data["old"]["kind"] == "history" and data["old"]["cells"] == 21


def test_the_diff_schema_documents_every_field() -> None:
    schema = json_schema("diff")
    jsonschema.Draft202012Validator.check_schema(schema)
    undocumented = [
        f"{name}.{field}"
        for name, definition in [("DiffExport", schema), *schema["$defs"].items()]
        for field, spec in definition["properties"].items()
        if "description" not in spec and "$ref" not in spec
    ]
    assert undocumented == []


# --- one history at two moments --------------------------------------------------------------


def test_one_history_since_and_at(diff: Run, history: History) -> None:
    history.run(KVM, {LM: "passed"}, days_ago=10)
    history.run(KVM, {LM: "failed"}, days_ago=2, messages={LM: BROKEN})
    since = (NOW - timedelta(days=5)).isoformat()
    result = diff(str(history.db), "--since", since, *AT, "--fail-on-regression")
    assert result.code == 1
    [regression] = rows(result.out, "Regressions")
    assert regression[:4] == [LM, KVM, "reported", "failing"] and BROKEN in regression[4]
    assert "as of 2026-11-16T12:00:00+00:00 → " in result.out.splitlines()[0]
    # before the run that failed, nothing had changed since the day before
    before = (NOW - timedelta(days=3)).isoformat()
    quiet = diff(
        str(history.db), "--since", before, "--at", (NOW - timedelta(days=2, seconds=1)).isoformat()
    )
    assert quiet.code == 0 and quiet.out.startswith("No level changed")


def test_since_reads_the_default_history(
    diff: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    history = History(tmp_path / "results" / "history.sqlite")
    history.run(KVM, {LM: "passed"}, days_ago=1)
    result = diff("--since", (NOW - timedelta(days=2)).isoformat(), *AT)
    assert result.code == 0, result.err
    assert "results/history.sqlite as of" in result.out
    [improvement] = rows(result.out, "Improvements")
    assert improvement[:4] == [LM, KVM, "unknown", "reported"]


def test_cells_that_became_flaky_or_stale(
    matrix: Run, diff: Run, history: History, tmp_path: Path
) -> None:
    """At --since, KVM passed three times and QEMU's one pass was 87 days old. By --at a
    failure then a pass leave KVM flaky (80% < 90%), and QEMU's pass is 95 days old: stale,
    so unknown, which is below every ladder level: a regression."""
    for days in (20, 15, 10):
        history.run(KVM, {LM: "passed"}, days_ago=days)
    history.run(KVM, {LM: "failed"}, days_ago=6)
    history.run(KVM, {LM: "passed"}, days_ago=1)
    history.run(QEMU, {LM: "passed"}, days_ago=95)
    since = (NOW - timedelta(days=8)).isoformat()
    result = diff(str(history.db), "--since", since, *AT)
    assert result.code == 0, result.err
    assert sections(result.out) == ["Regressions", "Became flaky", "Became stale"]
    assert [r[:4] for r in rows(result.out, "Regressions")] == [
        [LM, QEMU, "reported", "unknown (stale)"]
    ]
    assert rows(result.out, "Became flaky")[0][:3] == [LM, KVM, "reported (flaky)"]
    [stale] = rows(result.out, "Became stale")
    assert stale[:2] == [LM, QEMU] and "older than 90 days" in stale[3]
    data = json.loads(diff(str(history.db), "--since", since, *AT, "--json").out)
    jsonschema.validate(data, json_schema("diff"))
    assert [(c["feature"], c["combination"]) for c in data["became_flaky"]] == [(LM, KVM)]
    assert data["became_stale"][0]["new"]["stale"] is True
    # the other way round (exports of both moments), they are no longer flaky or stale
    then, now = tmp_path / "then.json", tmp_path / "now.json"
    for path, moment in ((then, since), (now, NOW.isoformat())):
        path.write_text(matrix("levels", "--db", str(history.db), "--at", moment, "--json").out)
    back = json.loads(diff(str(now), str(then), "--json").out)
    assert (back["counts"]["no_longer_flaky"], back["counts"]["no_longer_stale"]) == (1, 1)
    assert back["counts"]["improvements"] == 1


# --- published exports -----------------------------------------------------------------------


def publish(matrix: Run, history: History, out: Path) -> Path:
    result = matrix("publish", "--out", str(out), "--db", str(history.db), *AT)
    assert result.code == 0, result.err
    return out / "matrix.json"


def test_two_published_matrix_json(
    matrix: Run, diff: Run, old: History, new: History, tmp_path: Path
) -> None:
    planted(old, new)
    before = publish(matrix, old, tmp_path / "site-old")
    after = publish(matrix, new, tmp_path / "site-new")
    result = diff(str(before), str(after), "--fail-on-regression")
    assert result.code == 1
    [regression] = rows(result.out, "Regressions")
    assert regression[:4] == [LM, KVM, "reported", "failing"] and BROKEN in regression[4]
    data = json.loads(diff(str(before), str(after), "--json").out)
    jsonschema.validate(data, json_schema("diff"))
    assert (data["old"]["kind"], data["new"]["kind"]) == ("matrix.json", "matrix.json")
    assert data["regressions"][0]["new"]["last_failure"]["message"] == BROKEN
    assert data["counts"]["improvements"] == 1


def test_a_history_and_its_own_export_agree(
    matrix: Run, diff: Run, history: History, tmp_path: Path
) -> None:
    """Both adapters read the same cells the same way: levels, flaky and stale marks."""
    for days in (20, 15, 10):
        history.run(KVM, {LM: "passed"}, days_ago=days)
    history.run(KVM, {LM: "failed"}, days_ago=6)
    history.run(KVM, {LM: "passed"}, days_ago=1)
    history.run(QEMU, {LM: "passed"}, days_ago=95)
    history.run(KVM_CEPH, {LM: "failed"}, days_ago=2, messages={LM: BROKEN})
    exported = publish(matrix, history, tmp_path / "site")
    for args in ((str(history.db), str(exported)), (str(exported), str(history.db))):
        result = diff(*args, *AT)
        assert result.code == 0, result.err
        assert result.out.startswith("No level changed"), result.out


def test_cells_added_and_removed(matrix: Run, diff: Run, history: History, tmp_path: Path) -> None:
    """`matrix levels --json` has matrix.json's shape: a filtered one has fewer cells."""
    history.run(KVM, {LM: "failed"}, messages={LM: BROKEN})
    some = tmp_path / "kvm.json"
    some.write_text(
        matrix(
            "levels", "--db", str(history.db), *AT, "--json", "--axis", "hypervisor=libvirt-kvm"
        ).out
    )
    every = tmp_path / "all.json"
    every.write_text(matrix("levels", "--db", str(history.db), *AT, "--json").out)
    grown = json.loads(diff(str(some), str(every), "--json").out)
    assert grown["counts"]["added"] == 3 * 3  # the three QEMU and the embedded combinations
    assert grown["counts"]["removed"] == 0 and grown["counts"]["regressions"] == 0
    assert all("libvirt-kvm" not in c["combination"] for c in grown["added"])
    shrunk = diff(str(every), str(some), "--fail-on-regression")
    assert shrunk.code == 0, shrunk.err
    assert sections(shrunk.out) == ["Cells removed"]
    assert shrunk.out.startswith("**matrix diff: 9 cells removed**")


def test_different_ladders_cannot_be_compared(
    matrix: Run, diff: Run, history: History, tmp_path: Path
) -> None:
    history.run(KVM, {LM: "passed"})
    exported = publish(matrix, history, tmp_path / "site")
    data = json.loads(exported.read_text())
    data["policy"]["ladder"][2]["id"] = "works"
    for cell in data["cells"]:
        cell["level"] = "works" if cell["level"] == "reported" else cell["level"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    result = diff(str(exported), str(other))
    assert result.code == 2
    assert result.err == (
        f"matrix: {exported} and {other} were judged by different ladders (gated > tested > "
        "reported; gated > tested > works), so their levels cannot be compared: compare states "
        "judged by the same levels.yaml ladder\n"
    )


def test_a_policy_that_changed_otherwise_is_noted(
    matrix: Run, diff: Run, history: History, tmp_path: Path
) -> None:
    history.run(KVM, {LM: "passed"})
    exported = publish(matrix, history, tmp_path / "site")
    data = json.loads(exported.read_text())
    data["policy"]["stale_after_days"] = 30
    data["cells"][0]["level"] = "unknown"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    out = diff(str(exported), str(other)).out
    assert "> Note: the two policies differ in stale\\_after\\_days: some changes may come" in out


# --- hostile text, bad input -----------------------------------------------------------------


def test_a_hostile_message_is_escaped_in_markdown_and_for_the_terminal(
    diff: Run, old: History, new: History
) -> None:
    planted(old, new, message=HOSTILE)
    out = diff(str(old.db), str(new.db), *AT).out
    for raw in ("\x1b", "\x07", "\u202e", "\r"):  # the terminal's policy: shown, not obeyed
        assert raw not in out, repr(raw)
    assert not re.search(r"(?<!\\)[`*<>\[\]]", out.split("\n### ", 1)[1])  # all escaped
    [regression] = rows(out, "Regressions")  # one row, of five cells: no pipe or newline split it
    assert len(regression) == 5
    why = regression[4]
    assert why.startswith("failed in run-0000 (2026-11-20): a \\| b \\`rm -rf\\` \\<script\\>")
    assert "\\*\\*bold\\*\\* \\[x\\](javascript:alert(2)) \\| injected \\| row \\|" in why
    assert "\\x1b\\]0;owned\\x07\\x1b\\[31mred\\x1b\\[0m \\u202eevil" in why  # visible escapes
    [failure] = rows(out, "New failures")
    assert len(failure) == 6 and failure[5] == why.split(": ", 1)[1]


def test_a_long_message_is_cut_in_markdown_not_in_json(
    diff: Run, old: History, new: History
) -> None:
    planted(old, new, message="x" * 5000)
    out = diff(str(old.db), str(new.db), *AT).out
    assert "x" * 299 + "…" in out and "x" * 300 not in out
    data = json.loads(diff(str(old.db), str(new.db), *AT, "--json").out)
    assert len(data["new_failures"][0]["new"]["last_failure"]["message"]) == 5000


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (
            b"GIF89a\x00\x01garbage",
            "neither a matrix history (SQLite) nor a matrix.json export: not JSON (Invalid JSON: ",
        ),
        (
            b"",
            "neither a matrix history (SQLite) nor a matrix.json export: not JSON (Invalid JSON: ",
        ),
        (
            b'["a", "list"]',
            "neither a matrix history (SQLite) nor a matrix.json export: JSON without matrix.json's 'format'",
        ),
        (b'{"format": 2}', "a matrix.json of another format; this harness reads format 1"),
        (
            b'{"format": 1, "cells": []}',
            "not a valid matrix.json export: computed_at: Field required (and 1 more problem(s))",
        ),
        (b"SQLite format 3\x00" + b"\x00" * 200, "not a readable SQLite database"),
    ],
)
def test_a_file_that_is_neither_is_bad_input_naming_it(
    diff: Run, history: History, tmp_path: Path, content: bytes, why: str
) -> None:
    history.run(KVM, {LM: "passed"})
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(content)
    for args in ((str(garbage), str(history.db)), (str(history.db), str(garbage))):
        result = diff(*args, *AT)
        assert result.code == 2, result.err
        assert result.out == ""
        assert result.err.startswith(f"matrix: {garbage}: "), result.err
        assert why in result.err and result.err.count("\n") == 1, result.err


def test_a_level_outside_the_policy_is_bad_input(
    matrix: Run, diff: Run, history: History, tmp_path: Path
) -> None:
    exported = publish(matrix, history, tmp_path / "site")
    data = json.loads(exported.read_text())
    data["cells"][3]["level"] = "\x1b[31mgolden"
    exported.write_text(json.dumps(data))
    result = diff(str(exported), str(exported))
    assert result.code == 2
    assert result.err == (
        f"matrix: {exported}: cells.3.level: '\\x1b[31mgolden' is not one of its policy's "
        "levels (gated, tested, reported, failing, unknown, n/a)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "expected OLD and NEW (or one HISTORY with --since TIME)"),
        (("{db}",), "expected OLD and NEW (or one HISTORY with --since TIME)"),
        (("{db}", "{db}", "--since", NOW.isoformat()), "--since compares one HISTORY with itself"),
        (("{db}", "--since", (NOW + timedelta(days=1)).isoformat(), *AT), "is after"),
        (("{db}", "{db}", "{db}"), "expected OLD and NEW"),
        (("missing.sqlite", "{db}"), "'missing.sqlite' does not exist"),
        (("{db}", "--since", "yesterday"), "expected an ISO 8601 time"),
    ],
)
def test_usage_errors(diff: Run, history: History, args: tuple[str, ...], message: str) -> None:
    history.run(KVM, {LM: "passed"})
    result = diff(*(a.format(db=history.db) for a in args))
    assert result.code == 2
    assert message in result.err and result.err.count("\n") == 1, result.err


def test_since_needs_a_history_and_at_needs_one(
    matrix: Run, diff: Run, history: History, tmp_path: Path
) -> None:
    exported = publish(matrix, history, tmp_path / "site")
    result = diff(str(exported), "--since", NOW.isoformat(), *AT)
    assert result.code == 2
    assert result.err == (
        f"matrix: {exported}: not a matrix history (SQLite): --since compares a history with "
        "itself\n"
    )
    both = diff(str(exported), str(exported), *AT)
    assert both.code == 2 and "--at judges histories" in both.err


# --- the comparison itself -------------------------------------------------------------------

LADDER = ("gated", "tested", "reported")
POLICY = PolicyShape(tuple(Rung(level, (), None) for level in LADDER), (), 90)


def snapshot(source: str, **levels: str) -> Snapshot:
    """Cells named f1, f2... on combination c, each at the level given."""
    cells = {
        (feature, "c"): CellState(
            level,
            f"why {level}",
            flaky=False,
            stale=False,
            failure=FailureSeen(
                "r", "2026-11-20T00:00:00+00:00", "failed", f"{feature} broke", None
            )
            if level == "failing"
            else None,
        )
        for feature, level in levels.items()
    }
    return Snapshot(source, "matrix.json", NOW.isoformat(), POLICY, cells)


def pairs(changes: list[Any]) -> list[tuple[str, str, str]]:
    return [
        (c.feature, c.old.level if c.old else "-", c.new.level if c.new else "-") for c in changes
    ]


def test_unknown_sits_below_the_ladder_and_above_failing() -> None:
    assert level_order(LADDER) == ("gated", "tested", "reported", "unknown", "failing")
    before = snapshot(
        "old", f1="gated", f2="reported", f3="failing", f4="unknown", f5="n/a", f6="tested",
        f7="reported", gone="tested",
    )  # fmt: skip
    after = snapshot(
        "new", f1="unknown", f2="failing", f3="unknown", f4="reported", f5="failing",
        f6="gated", f7="reported", born="failing",
    )  # fmt: skip
    found = compare(before, after)
    # worst new level first, then in the snapshot's order
    assert pairs(found.regressions) == [("f2", "reported", "failing"), ("f1", "gated", "unknown")]
    assert pairs(found.improvements) == [
        ("f3", "failing", "unknown"),
        ("f4", "unknown", "reported"),
        ("f6", "tested", "gated"),
    ]
    assert pairs(found.reclassified) == [("f5", "n/a", "failing")]
    assert pairs(found.new_failures) == [
        ("f2", "reported", "failing"),
        ("f5", "n/a", "failing"),
        ("born", "-", "failing"),
    ]
    assert pairs(found.added) == [("born", "-", "failing")]
    assert pairs(found.removed) == [("gone", "tested", "-")]
    markdown = render_markdown(found)
    assert markdown.startswith(
        "**matrix diff: 2 regressions, 3 improvements, 1 n/a change, 3 new failures, "
        "1 cell added, 1 cell removed** (old as of "
    )
    assert sections(markdown) == [
        "Regressions", "Improvements", "To or from n/a (declarations, not evidence)",
        "New failures", "Cells added", "Cells removed",
    ]  # fmt: skip


def test_a_ladder_of_other_ids_is_refused() -> None:
    other = PolicyShape((Rung("gold", (), None),), (), 90)
    theirs = Snapshot("b.json", "matrix.json", NOW.isoformat(), other, {})
    with pytest.raises(BadInput, match=r"^a.json and b.json were judged by different ladders"):
        compare(snapshot("a.json"), theirs)


def test_a_long_table_is_cut_for_a_comment() -> None:
    before = snapshot("old", **{f"f{i}": "reported" for i in range(150)})
    after = snapshot("new", **{f"f{i}": "failing" for i in range(150)})
    markdown = render_markdown(compare(before, after))
    assert len(rows(markdown, "Regressions")) == 100
    assert "… and 50 more (`matrix diff --json` lists them all)" in markdown
