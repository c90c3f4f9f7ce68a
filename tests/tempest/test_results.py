"""Tempest's own output (a real run's, trimmed: tests/data/tempest) read into results."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.tempest import results, selection
from tests.conftest import SHIPPED

DATA = Path(__file__).parents[1] / "data" / "tempest"
SUBUNIT, JUNIT = DATA / "tempest.subunit", DATA / "tempest-junit.xml"
EXPECTED = {  # (feature, short test name) -> outcome, as that run gave them
    ("pause-unpause", "test_pause_unpause_server"): "passed",
    ("launch", "test_verify_server_details"): "passed",
    ("launch", "test_delete_active_server"): "passed",
    ("launch", "test_server_basic_ops"): "failed",
    ("config-drive", "test_server_basic_ops"): "failed",
    ("snapshot", "test_create_image_from_stopped_server"): "failed",
    ("shelve-unshelve", "test_shelve_instance"): "skipped",
}


def short(test_id: str) -> str:
    return test_id.rsplit(".", 1)[-1].split("[", 1)[0]


def mapped(path: Path) -> results.Mapped:
    matrix = load_matrix(SHIPPED)
    cases = results.read_output(path)
    return results.to_results(cases, selection.features_by_id(matrix), "2026-12-05T18:30:00+00:00")


@pytest.mark.parametrize("path", [SUBUNIT, JUNIT], ids=["subunit", "junit"])
def test_each_test_proves_the_features_listing_its_idempotent_id(path: Path) -> None:
    found = mapped(path)
    assert {(r.feature, short(r.scenario)): r.outcome for r in found.results} == EXPECTED
    assert found.unmapped == 1  # setUpClass of a class whose tests were skipped: no feature


def test_a_skip_is_a_skip_with_its_reason_never_a_pass() -> None:
    (shelve,) = [r for r in mapped(SUBUNIT).results if r.feature == "shelve-unshelve"]
    assert (shelve.outcome, shelve.skip_category) == ("skipped", "not-configured")
    assert shelve.message == "The public_network_id option must be specified."


def test_a_failure_keeps_where_the_traceback_starts_and_ends() -> None:
    (snapshot,) = [r for r in mapped(SUBUNIT).results if r.feature == "snapshot"]
    assert snapshot.message is not None and len(snapshot.message) <= 2 * results.MESSAGE_CHARACTERS
    assert "No such resource: /v2/images/" in snapshot.message  # the end: what failed
    assert snapshot.message.startswith("Traceback") or "pythonlogging" in snapshot.message


def test_subunit_carries_times_and_junit_does_not() -> None:
    from_subunit = results.read_output(SUBUNIT)
    assert all(c.finished_at and c.finished_at.startswith("2026-12-05T18:") for c in from_subunit)
    assert all(c.finished_at is None for c in results.read_output(JUNIT))
    durations = {short(c.test_id): round(c.duration_s, 1) for c in from_subunit}
    assert durations["test_pause_unpause_server"] > 0


def test_the_same_output_gets_the_same_run_id() -> None:
    data = SUBUNIT.read_bytes()
    first = results.run_id_for(data, "2026-12-05T18:25:56+00:00", "live-local")
    assert first == results.run_id_for(data, "2026-12-05T18:25:56+00:00", "live-local")
    assert first.startswith("20261205T182556-") and first.endswith("-tempest-live-local")
    assert first != results.run_id_for(data + b"x", "2026-12-05T18:25:56+00:00", "live-local")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite/>', "DOCTYPE"),
        (b"<testsuite><testcase", "not well-formed XML"),
        (b"<testsuite></testsuite>", "no <testcase>"),
        (b"\x00\x01 not subunit at all", "no test result in it"),
    ],
)
def test_what_is_not_tempest_output_is_refused_saying_why(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "output"
    path.write_bytes(content)
    with pytest.raises(results.TempestOutputError, match=why):
        results.read_output(path)
