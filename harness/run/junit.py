"""JUnit XML for a run, as Jenkins and GitLab read it (written with junit-xml).

One testsuite per run. The combination goes into every testcase's classname (its '/' become
'.', so Jenkins shows the combination as the package and the feature as the class): GitLab
drops duplicate names and ignores properties, so cells must differ in the classname. Run id
and provenance go into the suite's properties for the systems that keep them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from harness.run.records import JUNIT_FILE, Result, RunHeader

# What XML 1.0 cannot carry. junit-xml strips the ASCII ones itself, but writes U+FFFE, U+FFFF
# and lone surrogates as character references that no parser accepts (its own included).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def classname(combination: str, feature: str) -> str:
    return f"{combination.replace('/', '.')}.{feature}"


def test_case(combination: str, result: Result) -> TestCase:
    name = result.scenario.rsplit("::", 1)[-1]
    case = TestCase(name, classname(combination, result.feature), elapsed_sec=result.duration_s)
    message = _xml(result.message or "")
    if result.outcome == "failed":
        case.add_failure_info(
            message=message.splitlines()[-1] if message else "failed", output=message
        )
    elif result.outcome == "error":
        case.add_error_info(
            message=message.splitlines()[-1] if message else "error", output=message
        )
    elif result.outcome == "skipped":
        case.add_skipped_info(message=message or result.skip_category or "skipped")
    if result.proof:  # JUnit has no per-case properties that Jenkins and GitLab both show
        case.stdout = "proof: " + _xml(result.proof)
    if result.cleanup_error:
        case.stderr = "cleanup: " + _xml(result.cleanup_error)
    return case


def suite(header: RunHeader, results: Iterable[Result]) -> TestSuite:
    provenance = header.provenance
    properties = {
        "run_id": header.run_id,
        "combination": header.combination,
        "target": header.target,
        "lab": header.lab,
        "status": header.status,
        "preflight": str(header.preflight.get("status", "not-run")),
        "kind": provenance.kind,
        "voting": str(provenance.voting).lower(),
        "job_url": provenance.job_url or "",
        "harness_version": provenance.harness_version,
        "scenarios_revision": provenance.scenarios_revision or "",
    }
    return TestSuite(
        f"matrix {header.combination} ({header.target})",
        [test_case(header.combination, r) for r in results],
        id=header.run_id,
        timestamp=header.started_at,
        properties={key: _xml(value) for key, value in properties.items()},
    )


def write(run_dir: Path, header: RunHeader, results: Iterable[Result]) -> Path:
    """Write junit.xml atomically beside the run record."""
    path = run_dir / JUNIT_FILE
    temporary = path.with_name(JUNIT_FILE + ".tmp")
    temporary.write_text(to_xml_report_string([suite(header, results)]), encoding="utf-8")
    temporary.replace(path)
    return path
