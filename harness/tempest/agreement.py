"""Tempest's verdict per feature beside the harness's own, on the same target, and where they
disagree.

Per feature, Tempest's verdict sums the tests that prove it: failed when any failed, passed
when at least one passed and none failed, skipped when every one skipped, not run when none
ran (a class whose setup failed runs none of its tests). The harness's verdict is its
scenario's outcome. They agree when both passed or both failed; a pass against a failure is a
disagreement, named with the tests behind it; anything with a skip or a missing side is
neither (nothing to compare).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.run.records import Result

PASSED, FAILED, SKIPPED, NOT_RUN = "passed", "failed", "skipped", "not run"


@dataclass(frozen=True)
class FeatureAgreement:
    feature: str
    harness: str  # passed | failed | skipped (category) | not run
    tempest: str  # passed | failed | skipped | not run
    tests: tuple[tuple[str, str], ...] = ()  # Tempest's (test id, outcome) for the feature
    failures: tuple[tuple[str, str], ...] = field(default=())  # (test id, message)

    @property
    def verdict(self) -> str:
        """agree | DISAGREE | no comparison"""
        if self.harness == self.tempest and self.harness in (PASSED, FAILED):
            return "agree"
        if {self.harness, self.tempest} == {PASSED, FAILED}:
            return "DISAGREE"
        return "no comparison"


def tempest_verdict(outcomes: Iterable[str]) -> str:
    seen = set(outcomes)
    if seen & {"failed", "error"}:
        return FAILED
    if PASSED in seen:
        return PASSED
    return SKIPPED if seen else NOT_RUN


def harness_verdict(results: list[Result]) -> str:
    if not results:
        return NOT_RUN
    result = results[-1]
    if result.outcome == "error":
        return FAILED
    if result.outcome == "skipped":
        return f"skipped ({result.skip_category or 'uncategorised'})"
    return result.outcome


def compare(
    features: Iterable[str], scenario: Iterable[Result], tempest: Iterable[Result]
) -> list[FeatureAgreement]:
    by_feature: dict[str, list[Result]] = {}
    for result in scenario:
        by_feature.setdefault(result.feature, []).append(result)
    tests: dict[str, list[Result]] = {}
    for result in tempest:
        tests.setdefault(result.feature, []).append(result)
    rows = []
    for feature in features:
        theirs = tests.get(feature, [])
        rows.append(
            FeatureAgreement(
                feature=feature,
                harness=harness_verdict(by_feature.get(feature, [])),
                tempest=tempest_verdict(r.outcome for r in theirs),
                tests=tuple((r.scenario, r.outcome) for r in theirs),
                failures=tuple(
                    (r.scenario, r.message or "")
                    for r in theirs
                    if r.outcome in ("failed", "error")
                ),
            )
        )
    return rows


def counts(rows: Iterable[FeatureAgreement]) -> dict[str, int]:
    found: dict[str, int] = {"agree": 0, "DISAGREE": 0, "no comparison": 0}
    for row in rows:
        found[row.verdict] += 1
    return found
