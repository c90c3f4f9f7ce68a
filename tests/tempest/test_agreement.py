"""Per feature, Tempest's verdict beside the harness's: agreement and disagreement."""

from __future__ import annotations

from harness.run.records import Result
from harness.tempest.agreement import compare, counts

WHEN = "2026-12-05T18:00:00+00:00"


def result(feature: str, outcome: str, scenario: str = "s", category: str | None = None) -> Result:
    return Result(
        feature=feature, scenario=scenario, outcome=outcome,  # type: ignore[arg-type]
        skip_category=category, duration_s=1.0, finished_at=WHEN,
        message="boom" if outcome == "failed" else None,
    )  # fmt: skip


def test_verdicts_per_feature() -> None:
    ours = [
        result("launch", "passed"), result("pause", "passed"), result("snapshot", "failed"),
        result("rescue", "skipped", category="not-applicable"), result("resize", "passed"),
    ]  # fmt: skip
    theirs = [
        result("launch", "passed", "t.a"), result("launch", "failed", "t.b"),
        result("pause", "passed", "t.c"), result("pause", "skipped", "t.d"),
        result("snapshot", "failed", "t.e"), result("rescue", "skipped", "t.f"),
    ]  # fmt: skip
    rows = {
        r.feature: r
        for r in compare(["launch", "pause", "snapshot", "rescue", "resize"], ours, theirs)
    }
    assert {f: (r.harness, r.tempest, r.verdict) for f, r in rows.items()} == {
        "launch": ("passed", "failed", "DISAGREE"),  # one failing test is enough
        "pause": ("passed", "passed", "agree"),  # a skip beside a pass is still a pass
        "snapshot": ("failed", "failed", "agree"),
        "rescue": ("skipped (not-applicable)", "skipped", "no comparison"),
        "resize": ("passed", "not run", "no comparison"),
    }
    assert rows["launch"].failures == (("t.b", "boom"),)
    assert counts(rows.values()) == {"agree": 2, "DISAGREE": 1, "no comparison": 2}
