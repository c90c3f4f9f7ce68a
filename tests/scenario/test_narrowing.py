"""A scenario module's feature marks, read from its text, and whether a run needs to import it."""

from __future__ import annotations

from harness.scenario.narrowing import marked_features, needless
from tests.conftest import REPO

DECLARED = {"launch", "resize", "live-migration"}


def test_marks_written_as_plain_strings_are_read_in_either_quote_and_spacing() -> None:
    source = """
import pytest

@pytest.mark.feature("launch")
def test_a(): pass

@pytest.mark.feature( 'resize' )
def test_b(): pass
"""
    assert marked_features(source) == {"launch", "resize"}
    assert needless(source, ["live-migration"], DECLARED)
    assert not needless(source, ["resize"], DECLARED)


def test_a_computed_or_missing_mark_leaves_the_module_to_be_imported() -> None:
    computed = '@pytest.mark.feature("launch")\ndef a(): pass\n@pytest.mark.feature(NAME)\n'
    assert marked_features(computed) is None
    assert not needless(computed, ["resize"], DECLARED)
    assert marked_features("def test_plain(): pass\n") is None
    assert not needless("def test_plain(): pass\n", ["resize"], DECLARED)


def test_an_undeclared_mark_leaves_the_module_to_be_imported_and_judged() -> None:
    assert not needless('@pytest.mark.feature("lunch")\n', ["resize"], DECLARED)


def test_every_shipped_scenario_module_names_its_features_where_they_can_be_read() -> None:
    """So that a run of a few features imports only their modules (a computed mark would make
    every run import that module)."""
    unreadable = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "scenarios").rglob("test_*.py"))
        if marked_features(path.read_text(encoding="utf-8")) is None
    ]
    assert unreadable == []
