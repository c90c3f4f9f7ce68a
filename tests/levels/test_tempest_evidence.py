"""Tempest's results as evidence: beside the harness's own, never in its place."""

from __future__ import annotations

from harness.declarations.matrix import Matrix
from harness.levels.compute import Cell, compute_levels
from tests.builder import NOW, History
from tests.levels.conftest import BLM, KVM, LM


def judged(matrix: Matrix, history: History, feature: str = BLM) -> Cell:
    return compute_levels(matrix, history.db, now=NOW).cell(feature, KVM)


def tempest_criterion(cell: Cell) -> tuple[bool, str]:
    (found,) = [c for c in cell.criteria if c.id == "tempest"]
    return found.met, found.why


def test_tempest_alone_proves_nothing_of_its_own(matrix: Matrix, history: History) -> None:
    """A Tempest pass with no scenario evidence: the cell stays unknown, Tempest agrees."""
    history.run(KVM, {BLM: "passed"}, kind="periodic", source="tempest", preflight="not-run")
    found = judged(matrix, history)
    assert found.level == "unknown" and found.passed == 0
    assert tempest_criterion(found) == (True, "Tempest's test_0 passed (2026-11-20)")


def test_a_tempest_failure_in_its_newest_run_is_disagreement(
    matrix: Matrix, history: History
) -> None:
    history.run(KVM, {BLM: "passed"}, kind="periodic")
    history.run(KVM, {BLM: "passed"}, days_ago=3, source="tempest")
    newest = history.run(KVM, [(BLM, "passed"), (BLM, "failed")], days_ago=2, source="tempest")
    found = judged(matrix, history)
    assert found.level == "reported"  # the scenario's own evidence decides the level
    met, why = tempest_criterion(found)
    assert not met and why == "Tempest's test_1 failed (2026-11-19)"
    assert next(c for c in found.criteria if c.id == "tempest").runs == (newest,)


def test_skipped_tempest_tests_are_no_agreement(matrix: Matrix, history: History) -> None:
    history.run(KVM, {BLM: "passed"}, kind="periodic")
    history.run(KVM, {BLM: "skipped"}, source="tempest", skip_category="not-configured")
    assert tempest_criterion(judged(matrix, history)) == (False, "no Tempest result for the cell")


def test_old_or_unverifiable_tempest_results_count_for_nothing(
    matrix: Matrix, history: History
) -> None:
    history.run(KVM, {BLM: "passed"}, kind="periodic")
    history.run(KVM, {BLM: "passed"}, days_ago=40, source="tempest")
    met, why = tempest_criterion(judged(matrix, history))
    assert not met and why == "the newest Tempest result (2026-10-12) is older than 30 days"
    history.run(KVM, {BLM: "passed"}, source="tempest", preflight="failed")
    assert not tempest_criterion(judged(matrix, history))[0]


def test_a_feature_without_tempest_tests_cannot_agree(matrix: Matrix, history: History) -> None:
    history.run(KVM, {LM: "passed"}, kind="periodic")
    history.run(KVM, {LM: "passed"}, source="tempest")
    assert tempest_criterion(judged(matrix, history, LM)) == (
        False,
        "features.yaml lists no Tempest test for the feature",
    )
