"""JUnit XML for a run, written from a header and results and read back with ElementTree:
the shape Jenkins and GitLab read, the suite's properties, and well-formed XML whatever a
scenario's message holds. No cloud, no lab."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.run import junit
from harness.run.records import Provenance, Result, RunHeader

COMBINATION = "libvirt-kvm/local-qcow2/ovs"
DOTTED = "libvirt-kvm.local-qcow2.ovs"
FAILURE = (
    "Traceback (most recent call last):\n  File 'x.py'\nAssertionError: server stayed in BUILD"
)


def header(**changes: object) -> RunHeader:
    base = RunHeader(
        run_id="run-7",
        status="complete",
        started_at="2026-05-01T10:00:00+00:00",
        ended_at="2026-05-01T10:05:00+00:00",
        combination=COMBINATION,
        embedded=False,
        target="kvm-local",
        lab="ci-lab",
        provenance=Provenance(
            kind="periodic",
            voting=True,
            job_url="https://ci.example.org/job/7?tab=log&x=1",
            harness_version="1.2.3",
            scenarios_revision="0123abcd+dirty",
        ),
        preflight={"status": "passed", "checks": []},
    )
    return base.model_copy(update=changes)


def result(name: str, outcome: str, feature: str = "live-migration", **extra: object) -> Result:
    return Result.model_validate(
        {
            "feature": feature,
            "scenario": f"scenarios/migration/test_live.py::{name}",
            "outcome": outcome,
            "duration_s": 1.5,
            "finished_at": "2026-05-01T10:01:00+00:00",
            **extra,
        }
    )


RESULTS = [
    result("test_passes", "passed", feature="launch"),
    result("test_fails", "failed", message=FAILURE),
    result("test_fails_silently", "failed"),
    result("test_errors", "error", message="fixture broke\nKeyError: 'server'"),
    result("test_errors_silently", "error"),
    result(
        "test_not_configured",
        "skipped",
        skip_category="not-configured",
        message="[not-configured] needs two computes; the target has 1",
    ),
    result("test_not_applicable", "skipped", skip_category="not-applicable"),
    result("test_skipped_plainly", "skipped"),
    result("test_cleanup_breaks", "passed", cleanup_error="server s1: ZeroDivisionError"),
]


def written(tmp_path: Path, run_header: RunHeader, results: list[Result]) -> ET.Element:
    """The one testsuite of the file junit.write puts in tmp_path."""
    path = junit.write(tmp_path, run_header, results)
    assert path == tmp_path / "junit.xml"
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    return suite


@pytest.fixture
def suite(tmp_path: Path) -> ET.Element:
    return written(tmp_path, header(), RESULTS)


def cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in suite.iter("testcase")}


def test_one_suite_per_run_named_and_identified_by_the_run(suite: ET.Element) -> None:
    assert suite.get("name") == f"matrix {COMBINATION} (kvm-local)"
    assert suite.get("id") == "run-7"
    assert suite.get("timestamp") == "2026-05-01T10:00:00+00:00"


def test_the_file_replaces_an_earlier_one_and_leaves_no_temporary(tmp_path: Path) -> None:
    written(tmp_path, header(), RESULTS)
    suite = written(tmp_path, header(status="interrupted"), RESULTS[:1])
    assert suite.get("tests") == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml"]


def test_counts_of_each_outcome(suite: ET.Element) -> None:
    counts = {key: suite.get(key) for key in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": "9", "failures": "2", "errors": "2", "skipped": "3"}


def test_the_case_is_named_by_the_test_and_classed_by_combination_and_feature(
    suite: ET.Element,
) -> None:
    by_name = cases(suite)
    assert list(by_name) == [r.scenario.rsplit("::", 1)[1] for r in RESULTS]
    assert by_name["test_passes"].get("classname") == f"{DOTTED}.launch"
    assert by_name["test_fails"].get("classname") == f"{DOTTED}.live-migration"
    assert by_name["test_passes"].get("time") == "1.500000"


def test_classname_turns_every_slash_into_a_dot() -> None:
    assert junit.classname("a/b/c/d", "cold-migration") == "a.b.c.d.cold-migration"


def test_a_case_is_named_by_the_last_part_of_its_node_id(tmp_path: Path) -> None:
    nested = result("TestShelve::test_unshelve[qcow2]", "passed")
    (case,) = written(tmp_path, header(), [nested]).iter("testcase")
    assert case.get("name") == "test_unshelve[qcow2]"


def test_a_passed_case_has_no_failure_error_or_skip(suite: ET.Element) -> None:
    assert list(cases(suite)["test_passes"]) == []


def test_a_failure_carries_its_last_line_as_message_and_all_of_it_as_text(
    suite: ET.Element,
) -> None:
    failure = cases(suite)["test_fails"].find("failure")
    assert failure is not None
    assert failure.get("message") == "AssertionError: server stayed in BUILD"
    assert failure.text == FAILURE
    assert cases(suite)["test_fails"].find("error") is None


def test_a_failure_without_a_message_still_fails(suite: ET.Element) -> None:
    failure = cases(suite)["test_fails_silently"].find("failure")
    assert failure is not None and failure.get("message") == "failed"


def test_an_error_carries_its_last_line_as_message(suite: ET.Element) -> None:
    error = cases(suite)["test_errors"].find("error")
    assert error is not None
    assert error.get("message") == "KeyError: 'server'"
    assert error.text == "fixture broke\nKeyError: 'server'"
    assert cases(suite)["test_errors"].find("failure") is None
    silent = cases(suite)["test_errors_silently"].find("error")
    assert silent is not None and silent.get("message") == "error"


def test_a_skip_carries_its_message_which_names_its_category(suite: ET.Element) -> None:
    skipped = cases(suite)["test_not_configured"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "[not-configured] needs two computes; the target has 1"


def test_a_skip_without_a_message_carries_its_category(suite: ET.Element) -> None:
    skipped = cases(suite)["test_not_applicable"].find("skipped")
    assert skipped is not None and skipped.get("message") == "not-applicable"
    plain = cases(suite)["test_skipped_plainly"].find("skipped")
    assert plain is not None and plain.get("message") == "skipped"


def test_a_cleanup_error_goes_to_the_cases_stderr(suite: ET.Element) -> None:
    case = cases(suite)["test_cleanup_breaks"]
    assert case.findtext("system-err") == "cleanup: server s1: ZeroDivisionError"
    assert case.find("failure") is None and case.find("error") is None
    assert cases(suite)["test_passes"].find("system-err") is None


def test_the_suite_properties_carry_the_run_and_its_provenance(suite: ET.Element) -> None:
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties == {
        "run_id": "run-7",
        "combination": COMBINATION,
        "target": "kvm-local",
        "lab": "ci-lab",
        "status": "complete",
        "preflight": "passed",
        "kind": "periodic",
        "voting": "true",
        "job_url": "https://ci.example.org/job/7?tab=log&x=1",
        "harness_version": "1.2.3",
        "scenarios_revision": "0123abcd+dirty",
    }


def test_absent_provenance_and_preflight_are_written_as_such(tmp_path: Path) -> None:
    bare = header(
        status="preflight-failed",
        preflight={},
        provenance=Provenance(kind="manual", harness_version="1.2.3"),
    )
    properties = {
        p.get("name"): p.get("value") for p in written(tmp_path, bare, []).iter("property")
    }
    assert properties["status"] == "preflight-failed"
    assert properties["preflight"] == "not-run"
    assert properties["voting"] == "false"
    assert properties["job_url"] == ""
    assert properties["scenarios_revision"] == ""


# '<', '&' and ']]>' to escape; C0 controls and U+FFFE (and a lone surrogate, as text decoded
# with surrogateescape carries) that XML 1.0 cannot hold at all
HOSTILE = "expected <b> & got </b> ]]> <![CDATA[ x ]]> \x00\x07\x1b[31mred\x1b[0m \ufffe\udc80 end"


def test_hostile_text_in_messages_yields_well_formed_xml(tmp_path: Path) -> None:
    hostile = [
        result("test_fails", "failed", message=f"first\n{HOSTILE}"),
        result("test_errors", "error", message=HOSTILE),
        result("test_skips", "skipped", skip_category="not-configured", message=HOSTILE),
        result("test_cleans", "passed", cleanup_error=HOSTILE),
    ]
    suite = written(tmp_path, header(lab="lab&<co>\x1b\uffff"), hostile)  # parsing: the check
    by_name = cases(suite)
    kept = "expected <b> & got </b> ]]> <![CDATA[ x ]]> [31mred[0m  end"  # XML-illegal chars go
    failure = by_name["test_fails"].find("failure")
    assert failure is not None and failure.get("message") == kept
    assert failure.text == f"first\n{kept}"
    error = by_name["test_errors"].find("error")
    assert error is not None and error.get("message") == kept
    skipped = by_name["test_skips"].find("skipped")
    assert skipped is not None and skipped.get("message") == kept
    assert by_name["test_cleans"].findtext("system-err") == f"cleanup: {kept}"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["lab"] == "lab&<co>"
