"""Levels of a big history are judged in forked processes, a share of the combinations each:
the cells are exactly those one process judges, in declaration order, and every share reads
the history as it was when the levels began (`snapshot`), whoever ingests meanwhile."""

from __future__ import annotations

import random

from harness.declarations.matrix import Matrix
from harness.history.evidence import read_observations, snapshot
from harness.levels import compute
from harness.levels.compute import LevelMatrix, compute_levels
from tests.builder import NOW, History
from tests.levels.conftest import KVM, KVM_CEPH, QEMU


def varied_history(matrix: Matrix, history: History) -> None:
    """Runs of every real combination over two months: passes, failures, errors, flagged
    skips, forced and unverified runs, facts that change, several labs and kinds."""
    rng = random.Random(7)
    real = [c for c, combination in matrix.combinations.items() if not combination.embedded]
    features = list(matrix.features)
    for day in range(60, 0, -1):
        for combination in real:
            outcomes = {
                f: rng.choice(["passed"] * 6 + ["failed", "error", "skipped"]) for f in features
            }
            history.run(
                combination, outcomes, days_ago=day + rng.random() / 2,
                kind=rng.choice(["gate", "periodic", "manual"]), voting=rng.random() < 0.5,
                lab=rng.choice(["lab-a", "lab-b"]), forced=rng.random() < 0.05,
                preflight="passed" if rng.random() < 0.95 else "skipped",
                skip_category="flagged" if rng.random() < 0.3 else "not_configured",
                facts={"host1": {"nova": f"34.0.{day // 20}"}},
                job_url=f"https://ci.example.org/job/{day}", messages={features[0]: f"boom {day}"},
            )  # fmt: skip


def judged(matrix: Matrix, history: History, parts: int) -> LevelMatrix:
    original = compute._judge_all
    try:
        compute._judge_all = lambda m, db, judge, result: original(m, db, judge, result, parts)  # type: ignore[assignment]
        return compute_levels(matrix, history.db, now=NOW)
    finally:
        compute._judge_all = original  # type: ignore[assignment]


def test_cells_judged_in_shares_by_forked_processes_equal_those_judged_in_one(
    matrix: Matrix, history: History
) -> None:
    varied_history(matrix, history)
    alone, shared = judged(matrix, history, 1), judged(matrix, history, 3)
    assert list(shared.cells) == list(alone.cells)  # declaration order
    assert shared.cells == alone.cells
    levels = {cell.level for cell in alone.cells.values()}
    assert len(levels) >= 3, levels  # a history varied enough to tell shares apart


def test_a_share_reads_the_history_up_to_the_snapshot_only(
    matrix: Matrix, history: History
) -> None:
    history.run(KVM, {"live-migration": "passed"}, days_ago=3)
    taken = snapshot(history.db)
    history.run(KVM, {"live-migration": "failed"}, days_ago=2)  # ingested meanwhile
    history.run(QEMU, {"live-migration": "passed"}, days_ago=1)

    def seen(through_run: int | None) -> dict[tuple[str, str], tuple[int, int]]:
        found = read_observations(
            matrix, history.db, [KVM, QEMU, KVM_CEPH], matrix.features, keep=5,
            window_start="2026-01-01T00:00:00+00:00", through_run=through_run,
        )  # fmt: skip
        return {key: (o.passed, o.failed) for key, o in found.items()}

    assert taken.runs == 1
    assert seen(taken.through_run) == {("live-migration", KVM): (1, 0)}
    assert seen(None) == {("live-migration", KVM): (1, 1), ("live-migration", QEMU): (1, 0)}
