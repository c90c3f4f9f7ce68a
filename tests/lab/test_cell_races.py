"""A fake cell serves scenarios running side by side (`matrix run --concurrency`): races in
Nova's test fixtures that hung or failed them must stay fixed. Each race is played on the
fixtures themselves in the lab's Python (cell_races.py), once with the cell's remedy and once
without it, to show the race is real."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.lab.environment import CELL_SERVER

RACES = Path(__file__).with_name("cell_races.py")


def play(lab_python: Path, race: str, *flags: str) -> str:
    done = subprocess.run(
        [str(lab_python), str(RACES), str(CELL_SERVER.parent), race, *flags],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("race", "with_remedy", "without"),
    [
        ("locks", "finished", "deadlocked"),  # a write transaction reads past waiting writers
        ("ports", "unique", "shared"),  # no port id is handed out twice, even at once
    ],
)
def test_a_race_of_nova_fixtures_is_remedied_in_the_cell(
    lab_python: Path, race: str, with_remedy: str, without: str
) -> None:
    assert play(lab_python, race) == with_remedy
    assert play(lab_python, race, "--unfixed") == without
