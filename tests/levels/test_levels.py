"""Levels over constructed histories: each step of the ladder, and every rule that withholds one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from harness.levels.compute import Cell, compute_levels
from tests.builder import NOW, History
from tests.conftest import edit
from tests.levels.conftest import BLM, EMBEDDED, KVM, KVM_CEPH, LM, QEMU


def cell(matrix: Matrix, history: History, feature: str = LM, combination: str = KVM) -> Cell:
    return compute_levels(matrix, history.db, now=NOW).cell(feature, combination)


def met(found: Cell) -> set[str]:
    return {c.id for c in found.criteria if c.met}


def test_no_history_at_all_is_unknown(matrix: Matrix, history: History) -> None:
    found = cell(matrix, history)
    assert (found.level, found.score, found.reason) == ("unknown", 0, "no valid evidence")
    assert not history.db.exists()


def test_one_hand_run_pass_is_reported(matrix: Matrix, history: History) -> None:
    run = history.run(KVM, {LM: "passed"}, kind="manual")
    found = cell(matrix, history)
    assert found.level == "reported"
    assert met(found) == {"verified", "passing", "fresh"}
    assert found.score == 20 + 20 + 10
    assert found.last_pass is not None and found.last_pass.run_id == run
    assert next(c for c in found.criteria if c.id == "passing").runs == (run,)


def test_consistent_periodic_passes_are_tested(matrix: Matrix, history: History) -> None:
    for day in (20, 10, 2):
        history.run(KVM, {LM: "passed"}, days_ago=day, kind="periodic")
    found = cell(matrix, history)
    assert found.level == "tested"
    assert met(found) == {"verified", "passing", "consistent", "fresh", "ci"}


def test_consistent_voting_gate_passes_are_gated(matrix: Matrix, history: History) -> None:
    for day in (20, 10, 2):
        history.run(KVM, {BLM: "passed"}, days_ago=day, kind="gate", voting=True)
    found = cell(matrix, history, BLM)
    assert found.level == "gated"
    assert found.score == 100 - 5 - 5  # everything but a second lab and Tempest's agreement
    history.run(KVM, {BLM: "passed"}, days_ago=1, kind="periodic", source="tempest")
    found = cell(matrix, history, BLM)
    assert found.score == 100 - 5 and "tempest" in met(found)


def test_a_non_voting_gate_job_is_not_gated(matrix: Matrix, history: History) -> None:
    for day in (20, 10, 2):
        history.run(KVM, {LM: "passed"}, days_ago=day, kind="gate", voting=False)
    assert cell(matrix, history).level == "tested"


def test_too_few_runs_in_the_window_are_not_consistent(matrix: Matrix, history: History) -> None:
    history.run(KVM, {LM: "passed"}, days_ago=45, kind="periodic")  # outside the window
    for day in (10, 2):
        history.run(KVM, {LM: "passed"}, days_ago=day, kind="periodic")
    found = cell(matrix, history)
    assert found.level == "reported"
    consistent = next(c for c in found.criteria if c.id == "consistent")
    assert not consistent.met
    assert consistent.why.startswith("2 of 2 valid result(s) passed in the 30 days")


def test_the_latest_failure_makes_a_gated_cell_failing(matrix: Matrix, history: History) -> None:
    for day in (20, 10, 5):
        history.run(KVM, {LM: "passed"}, days_ago=day, kind="gate", voting=True)
    failure = history.run(KVM, {LM: "failed"}, days_ago=1, kind="gate", voting=True)
    found = cell(matrix, history)
    assert found.level == "failing"
    assert found.last_failure is not None and found.last_failure.run_id == failure
    assert "passing" not in met(found)


def test_an_error_counts_as_a_failure(matrix: Matrix, history: History) -> None:
    history.run(KVM, {LM: "passed"}, days_ago=3)
    history.run(KVM, {LM: "error"}, days_ago=1)
    assert cell(matrix, history).level == "failing"


def test_a_pass_after_a_failure_is_reported_again_but_flaky(
    matrix: Matrix, history: History
) -> None:
    for day, outcome in ((20, "passed"), (15, "failed"), (10, "passed"), (2, "passed")):
        history.run(KVM, {LM: outcome}, days_ago=day, kind="periodic")
    found = cell(matrix, history)
    assert found.level == "reported"  # 3 of 4 is under the 90% consistency rate
    assert found.flaky
    assert (found.passed, found.failed) == (3, 1)


def test_an_old_failure_outside_the_window_is_not_flaky(matrix: Matrix, history: History) -> None:
    history.run(KVM, {LM: "failed"}, days_ago=60, kind="periodic")
    for day in (20, 10, 2):
        history.run(KVM, {LM: "passed"}, days_ago=day, kind="periodic")
    found = cell(matrix, history)
    assert (found.level, found.flaky) == ("tested", False)


def test_a_pass_outside_the_fresh_window_drops_to_reported(
    matrix: Matrix, history: History
) -> None:
    for day in (50, 45, 40):
        history.run(KVM, {LM: "passed"}, days_ago=day, kind="periodic")
    found = cell(matrix, history)
    assert found.level == "reported"
    assert not {"fresh", "consistent"} & met(found)


def test_evidence_older_than_stale_after_days_is_unknown(matrix: Matrix, history: History) -> None:
    history.run(KVM, {LM: "passed"}, days_ago=91)
    history.run(KVM, {BLM: "failed"}, days_ago=91)
    found = cell(matrix, history)
    assert found.level == "unknown"
    assert "older than 90 days" in found.reason
    assert cell(matrix, history, BLM).level == "unknown"  # a stale failure proves nothing


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"forced": True}, "forced past preflight"),
        ({"preflight": "failed", "status": "preflight-failed"}, "preflight failed"),
        ({"preflight": "skipped", "status": "unverified"}, "target not verified"),
    ],
)
def test_unverified_runs_count_for_nothing(
    matrix: Matrix, history: History, options: dict[str, object], why: str
) -> None:
    history.run(KVM, {LM: "failed"}, days_ago=5)
    history.run(KVM, {LM: "passed"}, days_ago=1, kind="gate", voting=True, **options)  # type: ignore[arg-type]
    found = cell(matrix, history)
    assert found.level == "failing"  # the newer pass does not count
    assert (found.passed, found.failed, found.ignored) == (0, 1, 1)
    verified = next(c for c in found.criteria if c.id == "verified")
    assert why in verified.why


def test_gated_needs_a_voting_ci_run_not_a_voting_manual_one(
    matrix: Matrix, history: History
) -> None:
    history.run(KVM, {LM: "passed"}, kind="manual", voting=True)
    gated = next(c for c in cell(matrix, history).criteria if c.id == "gated")
    assert not gated.met and "voting run of kind manual" in gated.why
    history.run(KVM, {LM: "passed"}, kind="gate", voting=True, days_ago=0.5)
    assert next(c for c in cell(matrix, history).criteria if c.id == "gated").met


def test_multi_lab_counts_only_labs_that_passed_within_the_window(
    matrix: Matrix, history: History
) -> None:
    history.run(KVM, {LM: "passed"}, lab="lab-b", days_ago=45)  # the window is 30 days
    history.run(KVM, {LM: "passed"}, lab="lab-a", days_ago=1)
    multi = next(c for c in cell(matrix, history).criteria if c.id == "multi-lab")
    assert not multi.met and "1 lab(s) passed" in multi.why and "lab-a" in multi.why
    history.run(KVM, {LM: "passed"}, lab="lab-b", days_ago=2)
    assert next(c for c in cell(matrix, history).criteria if c.id == "multi-lab").met


def test_embedded_evidence_counts_only_for_embedded_combinations(
    matrix: Matrix, history: History
) -> None:
    history.run(KVM, {LM: "passed"}, kind="embedded", embedded=True)
    history.run(EMBEDDED, {LM: "passed"}, kind="embedded", embedded=True, lab="embedded")
    real = cell(matrix, history, LM, KVM)
    assert (real.level, real.ignored) == ("unknown", 1)
    assert "embedded-lab run of a real combination" in real.reason
    assert cell(matrix, history, LM, EMBEDDED).level == "reported"


def test_a_real_lab_cannot_claim_an_embedded_combination(matrix: Matrix, history: History) -> None:
    history.run(EMBEDDED, {LM: "passed"}, embedded=False)
    assert cell(matrix, history, LM, EMBEDDED).level == "unknown"


def test_not_applicable_comes_from_declarations_not_evidence(
    matrix: Matrix, history: History
) -> None:
    history.run(KVM_CEPH, {BLM: "passed"}, kind="gate", voting=True)
    found = cell(matrix, history, BLM, KVM_CEPH)
    assert found.level == "n/a"
    assert found.why_not_applicable == "disks on shared storage are not copied"
    assert found.criteria == ()
    assert found.passed == 1  # the evidence is still shown


def test_skips_are_not_evidence_but_flagged_skips_mark_the_cell(
    matrix: Matrix, history: History
) -> None:
    history.run(KVM, {LM: "passed"}, days_ago=3)
    history.run(KVM, {LM: "skipped"}, days_ago=1, skip_category="flagged")
    history.run(KVM, {LM: "skipped"}, days_ago=1, skip_category="not-configured")
    found = cell(matrix, history)
    assert (found.level, found.passed, found.flagged_results, found.flagged) == (
        "reported",
        1,
        1,
        True,
    )


def test_declared_known_bugs_flag_the_matching_combination_only(
    matrix: Matrix, history: History
) -> None:
    assert cell(matrix, history, "live-snapshot", QEMU).flagged
    assert not cell(matrix, history, "live-snapshot", KVM).flagged


def test_independent_labs_agreeing_meet_multi_lab(matrix: Matrix, history: History) -> None:
    history.run(KVM, {LM: "passed"}, days_ago=3, lab="lab-a")
    assert "multi-lab" not in met(cell(matrix, history))
    history.run(KVM, {LM: "passed"}, days_ago=2, lab="lab-b")
    found = cell(matrix, history)
    assert "multi-lab" in met(found)
    assert found.labs == ("lab-a", "lab-b")


def test_a_level_with_a_minimum_score(matrix_dir: Path, history: History) -> None:
    edit(
        matrix_dir / "levels.yaml",
        "    needs: [verified, passing]\n",
        "    needs: [verified, passing]\n    min_score: 60\n",
    )
    matrix = load_matrix(matrix_dir)
    history.run(KVM, {LM: "passed"})  # 50 points: verified, passing, fresh
    found = cell(matrix, history)
    assert (found.level, found.score, found.reason) == (
        "unknown",
        50,
        "the evidence meets no level's needs",
    )
    history.run(KVM, {LM: "passed"}, lab="lab-b", kind="periodic")  # + ci, multi-lab
    assert cell(matrix, history).level == "reported"


def test_times_in_other_zones_are_ordered_by_the_moment(matrix: Matrix, history: History) -> None:
    # 09:00+02:00 is 07:00 UTC: earlier than the failure at 08:00 UTC the same day
    history.run(KVM, {LM: "failed"}, started_at="2026-11-20T08:00:00Z")
    history.run(KVM, {LM: "passed"}, started_at="2026-11-20T09:00:00+02:00")
    found = cell(matrix, history)
    assert found.level == "failing"
    assert found.last_pass is not None
    assert found.last_pass.started_at == "2026-11-20T07:00:00+00:00"


def test_cells_keep_recent_evidence_versions_and_weekly_buckets(
    matrix: Matrix, history: History
) -> None:
    facts = {"ssh://c1": {"nova": "33.0.0"}, "ssh://c2": {"nova": "ignored, first host wins"}}
    history.run(KVM, {LM: "passed"}, days_ago=9, facts=facts, job_url="https://ci/1")
    history.run(
        KVM,
        {LM: "failed"},
        days_ago=1,
        facts={"ssh://c1": {"nova": "34.0.0"}},
        job_url="https://ci/2",
        messages={LM: "Timeout <waiting>"},
    )
    found = cell(matrix, history)
    assert [e.outcome for e in found.recent] == ["failed", "passed"]
    assert found.recent[0].message == "Timeout <waiting>"
    assert found.versions == {"nova": ("34.0.0", "33.0.0")}
    assert found.job_urls == ("https://ci/2", "https://ci/1")
    assert sum(w.passed for w in found.weeks) == 1
    assert sum(w.failed for w in found.weeks) == 1
    assert all(w.start <= NOW.date().isoformat() for w in found.weeks)


def test_every_declared_cell_gets_a_level(matrix: Matrix, history: History) -> None:
    history.run(KVM, {LM: "passed"})
    found = compute_levels(matrix, history.db, now=NOW)
    assert len(found.cells) == len(matrix.features) * len(matrix.combinations)
    assert {c.level for c in found.cells.values()} <= set(found.levels)


def test_every_criterion_the_policy_schema_accepts_has_a_judge_and_no_other() -> None:
    from typing import get_args

    from harness.declarations.model import CRITERION_PARAMETERS, CriterionId
    from harness.levels.criteria import CRITERIA

    assert set(CRITERIA) == set(get_args(CriterionId)) == set(CRITERION_PARAMETERS)


def test_levels_at_a_past_moment_ignore_what_ran_after_it(matrix: Matrix, history: History) -> None:
    """--at replays a moment: a failure recorded after it is not yet known then."""
    history.run(KVM, {LM: "passed"}, days_ago=3)
    history.run(KVM, {LM: "failed"}, days_ago=1)
    assert cell(matrix, history).level == "failing"
    then = compute_levels(matrix, history.db, now=NOW - timedelta(days=2)).cell(LM, KVM)
    assert (then.level, then.passed, then.failed, then.ignored) == ("reported", 1, 0, 0)
    before = compute_levels(matrix, history.db, now=NOW - timedelta(days=4)).cell(LM, KVM)
    assert before.level == "unknown" and before.passed == 0
