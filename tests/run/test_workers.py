"""How many scenarios of a target run at once: `--concurrency` as asked; the target's own
`concurrency:` only as far as the run has scenarios to give each worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from harness.declarations.model import Target
from harness.run.orchestration import RunOptions, workers_for
from tests.conftest import SHIPPED

NO_LIVE_MIGRATION = "fake-no-live-migrate/fake-local/fake-neutron"
LIVE_MIGRATIONS = [
    "live-migration", "block-live-migration", "live-migration-paused",
    "volume-backed-live-migration",
]  # fmt: skip


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return load_matrix(SHIPPED)


def workers(
    matrix: Matrix,
    features: list[str],
    own: int,
    asked: int | None = None,
    combination: str = "fake-live-migrate/fake-local/fake-neutron",
) -> int:
    target = Target(name="t", combination=combination, cloud="c", concurrency=own)
    options = RunOptions(Path("m"), Path("l"), Path("o"), features=features, concurrency=asked)
    return workers_for(matrix, target, options)


def test_the_whole_suite_gets_every_worker_the_target_allows(matrix: Matrix) -> None:
    assert workers(matrix, [], own=2) == 2
    assert workers(matrix, [], own=4) == 4
    assert workers(matrix, [], own=64) == len(matrix.features) // 2


def test_a_few_features_get_a_worker_per_two(matrix: Matrix) -> None:
    assert workers(matrix, ["launch"], own=4) == 1
    assert workers(matrix, ["launch", "reboot", "rebuild"], own=4) == 1
    assert workers(matrix, ["launch", "reboot", "rebuild", "resize"], own=4) == 2
    assert workers(matrix, ["launch", "reboot", "rebuild", "resize"], own=1) == 1


def test_features_not_applicable_to_the_combination_give_no_worker(matrix: Matrix) -> None:
    assert workers(matrix, LIVE_MIGRATIONS, own=4) == 2
    assert workers(matrix, LIVE_MIGRATIONS, own=4, combination=NO_LIVE_MIGRATION) == 1
    assert (
        workers(matrix, [], own=64, combination=NO_LIVE_MIGRATION)
        == (len(matrix.features) - 7) // 2
    )  # 7 live migrations n/a


def test_concurrency_asked_for_is_taken_as_asked(matrix: Matrix) -> None:
    assert workers(matrix, ["launch"], own=1, asked=3) == 3
    assert workers(matrix, [], own=4, asked=1) == 1
