"""`matrix levels` and `matrix check` as users call them, on constructed histories."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from harness.cli.levels import print_matrix
from harness.declarations.loading import load_matrix
from harness.levels.compute import Cell, LevelMatrix
from harness.publish.export_schema import json_schema
from tests.builder import NOW, History
from tests.conftest import Result
from tests.levels.conftest import BLM, EMBEDDED, KVM, LM, QEMU

AT = ("--at", NOW.isoformat())
Run = Callable[..., Result]


@pytest.fixture
def levels(run: Run, matrix_dir: Path, history: History) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return run("--matrix", str(matrix_dir), "levels", "--db", str(history.db), *AT, *args)

    return invoke


@pytest.fixture
def check(run: Run, matrix_dir: Path, history: History) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return run("--matrix", str(matrix_dir), "check", "--db", str(history.db), *AT, *args)

    return invoke


def test_levels_prints_every_cell_with_a_key_and_legend(levels: Run, history: History) -> None:
    history.run(KVM, {LM: "passed"})
    history.run(QEMU, {LM: "failed"})
    result = levels()
    assert result.code == 0, result.err
    rows = {line.split()[0]: line.split()[1:] for line in result.out.splitlines() if line}
    assert rows["live-migration"][0] == "R"  # KVM is column 1
    assert "✗" in rows["live-migration"]
    assert re.search(r"^\s+1\s+libvirt-kvm/local-qcow2/ovs$", result.out, re.M)
    assert "reported (1)" in result.out and "failing (1)" in result.out


def test_levels_json_has_every_cell(levels: Run, history: History) -> None:
    history.run(KVM, {LM: "passed"})
    data = json.loads(levels("--json").out)
    jsonschema.validate(data, json_schema())  # the shape of matrix.json
    cells = {(c["feature"], c["combination"]): c for c in data["cells"]}
    assert len(cells) == 3 * 7
    assert cells[(LM, KVM)]["level"] == "reported"
    assert cells[(BLM, "libvirt-kvm/ceph-rbd/ovs")]["level"] == "n/a"
    assert data["computed_at"] == "2026-11-21T12:00:00+00:00"


def test_levels_filters_columns_and_rows(levels: Run) -> None:
    data = json.loads(levels("--json", "--axis", "hypervisor=libvirt-qemu", "--feature", LM).out)
    assert [c["id"] for c in data["combinations"]] == [QEMU, "libvirt-qemu/ceph-rbd/ovs"]
    assert [f["id"] for f in data["features"]] == [LM]


def test_explain_lists_each_criterion_with_the_runs_behind_it(
    levels: Run, history: History
) -> None:
    first = history.run(KVM, {LM: "passed"}, days_ago=3, kind="periodic")
    last = history.run(KVM, {LM: "passed"}, days_ago=1, kind="periodic", job_url="https://ci/9")
    history.run(KVM, {LM: "passed"}, forced=True)
    result = levels("--explain", f"{LM}@{KVM}")
    assert result.code == 0, result.err
    out = result.out
    assert f"{LM}@{KVM}: reported  score 60" in out
    assert re.search(rf"met\s+passing\s+20 latest valid result passed .*{last}", out)
    assert re.search(r"missed consistent\s+15 2 of 2 valid result\(s\) passed", out)
    assert first in out and "https://ci/9" in out
    assert "1 result(s) ignored (forced past preflight)" in out
    assert "tested: misses consistent" in out
    document = json.loads(levels("--explain", f"{LM}@{KVM}", "--json").out)
    jsonschema.validate(document, json_schema("explain"))
    explained = document["explained"]
    assert [e["run_id"] for e in explained["recent"]] == [last, first]
    consistent = next(c for c in explained["criteria"] if c["id"] == "consistent")
    assert (consistent["met"], consistent["runs"]) == (False, [last, first])


def test_explain_json_and_not_applicable(levels: Run) -> None:
    data = json.loads(levels("--explain", f"{BLM}@libvirt-kvm/ceph-rbd/ovs", "--json").out)
    assert (data["level"], data["not_applicable"]) == (
        "n/a",
        "disks on shared storage are not copied",
    )
    out = levels("--explain", f"{BLM}@libvirt-kvm/ceph-rbd/ovs").out
    assert "not applicable by design: disks on shared storage are not copied" in out


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("live-migration", "expected FEATURE@COMBINATION"),
        ("live-migrate@" + KVM, "unknown feature 'live-migrate'; did you mean 'live-migration'?"),
        (LM + "@libvirt-kvm/local-qcow2/ovz", "unknown combination"),
    ],
)
def test_explain_refuses_unknown_cells(levels: Run, argument: str, message: str) -> None:
    result = levels("--explain", argument)
    assert result.code == 2
    assert message in result.err


def test_a_bad_time_is_a_usage_error(levels: Run) -> None:
    result = levels("--at", "yesterday")
    assert result.code == 2 and "expected an ISO 8601 time" in result.err


def test_the_terminal_matrix_fits_120_columns_however_wide_the_lab() -> None:
    """Sixty combinations with long names still print within 120 columns, in chunks."""
    matrix = load_matrix(Path(__file__).parent.parent / "data" / "small")
    assert matrix.policy is not None
    combinations = [f"hypervisor-{i:02d}/a-rather-long-storage-name/network" for i in range(60)]
    features = ["force-complete-live-migration-with-a-long-name", "launch"]
    found = LevelMatrix(NOW.isoformat(), matrix.policy, features, combinations)
    for feature in features:
        for i, combination in enumerate(combinations):
            level = ["gated", "tested", "reported", "failing", "unknown", "n/a"][i % 6]
            found.cells[(feature, combination)] = Cell(
                feature, combination, level, flaky=i % 5 == 0
            )
    out = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    print_matrix(out, found)
    text = out.export_text()
    assert max(len(line) for line in text.splitlines()) <= 120
    assert text.count("force-complete-live-migr") == 3  # the rows repeat in each chunk
    assert "R~" in text or "G~" in text  # flaky marks survive


def test_check_a_declared_combination(check: Run, history: History) -> None:
    facts = {"ssh://c1": {"nova": "34.0.0", "libvirt": "10.0.0"}}
    history.run(KVM, {LM: "passed"}, days_ago=5, facts=facts, job_url="https://ci/1")
    history.run(
        KVM, {BLM: "failed"}, days_ago=2, facts=facts, messages={BLM: "Timed out <migrating>"}
    )
    result = check(KVM)
    assert result.code == 0, result.err
    lines = {line.split()[0]: line for line in result.out.splitlines() if line.strip()}
    assert re.match(
        r"live-migration\s+reported\s+50\s+2026-11-16\s+never\s+libvirt 10.0.0, nova 34.0.0",
        lines[LM],
    )
    assert re.match(
        r"block-live-migration\s+failing\s+\d+\s+never\s+2026-11-19 Timed out <migrating>",
        lines[BLM],
    )
    assert "CI jobs: https://ci/1" in result.out


def test_check_json_for_a_declared_combination(check: Run, history: History) -> None:
    run_id = history.run(KVM, {LM: "passed"}, facts={"h": {"nova": "34.0.0"}})
    data = json.loads(check(KVM, "--feature", LM, "--json").out)
    jsonschema.validate(data, json_schema("check"))  # the cell as matrix.json has it
    assert data["declared"] is True
    [cell] = data["cells"]
    assert cell["feature"] == LM and cell["combination"] == KVM
    assert cell["level"] == "reported"
    assert cell["last_pass"]["run_id"] == run_id
    assert cell["versions"] == {"nova": ["34.0.0"]}


def test_check_an_undeclared_combination_shows_the_nearest(check: Run, history: History) -> None:
    history.run("libvirt-qemu/ceph-rbd/ovs", {LM: "passed"})
    result = check("libvirt-qemu/ceph-rbd/ovn")  # excluded from the product
    assert result.code == 0, result.err
    assert "libvirt-qemu/ceph-rbd/ovn is not a declared combination" in result.out
    blocks = result.out.split("\n\n")
    # both neighbours share two values; the one with evidence comes first
    assert blocks[1].strip().startswith("libvirt-qemu/ceph-rbd/ovs")
    assert "differs in network: ovs instead of ovn" in blocks[1]
    assert "reported 1" in blocks[1]
    data = json.loads(check("libvirt-qemu/ceph-rbd/ovn", "--json").out)
    jsonschema.validate(data, json_schema("check"))
    assert data["declared"] is False
    nearest = data["nearest"]
    assert [n["combination"] for n in nearest][:2] == [
        "libvirt-qemu/ceph-rbd/ovs",
        "libvirt-kvm/ceph-rbd/ovn",
    ]
    assert nearest[0]["differs"] == [{"axis": "network", "value": "ovs", "asked": "ovn"}]
    assert nearest[0]["levels"][LM] == "reported"


@pytest.mark.parametrize(
    ("combination", "message"),
    [
        ("libvirt-kvm/cepf-rbd/ovs", "unknown storage 'cepf-rbd'; did you mean 'ceph-rbd'?"),
        ("libvirt-kvm/ovs", "expected one value per axis (hypervisor/storage/network)"),
    ],
)
def test_check_refuses_what_cannot_be_a_combination(
    check: Run, combination: str, message: str
) -> None:
    result = check(combination)
    assert result.code == 2
    assert message in result.err


def test_check_says_when_there_is_no_history(check: Run) -> None:
    result = check(EMBEDDED)
    assert result.code == 0
    assert "no history at" in result.err
    assert "unknown" in result.out


def test_evidence_messages_reach_the_terminal_as_text(check: Run, history: History) -> None:
    history.run(KVM, {LM: "failed"}, messages={LM: "[bold red]not markup[/]"})
    assert "[bold red]not markup[/]" in check(KVM).out


ESCAPES = "\x1b]0;owned\x07\x1b[31m\u202e"  # a window title, a colour, a bidi override


def test_terminal_escapes_from_records_are_shown_not_obeyed(
    levels: Run, check: Run, history: History
) -> None:
    facts = {"ssh://c1": {"nova": f"34.0.0{ESCAPES}"}}
    history.run(KVM, {LM: "passed"}, days_ago=3, facts=facts, job_url=f"https://ci/{ESCAPES}")
    history.run(KVM, {LM: "failed"}, days_ago=1, lab=f"lab{ESCAPES}", messages={LM: ESCAPES})
    outputs = [
        levels("--explain", f"{LM}@{KVM}").out,
        check(KVM).out,
        check(KVM, "--feature", LM).out,
    ]
    for out in outputs:
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, out
    assert "\\x1b]0;owned\\x07" in "".join(outputs)  # shown, visibly
    assert "\\u202e" in "".join(outputs)
