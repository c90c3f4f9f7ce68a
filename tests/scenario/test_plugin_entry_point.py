"""The plugin registered through the pytest11 entry point gives tests the checked matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import edit

USES_MATRIX = """
def test_sees_the_declarations(matrix):
    assert "libvirt-kvm/ceph-rbd/ovn" in matrix.combinations
    assert matrix.features["block-live-migration"].requires.computes == 2
"""


def test_matrix_fixture_loads_the_declarations(pytester: pytest.Pytester, small: Path) -> None:
    pytester.makepyfile(USES_MATRIX)
    result = pytester.runpytest_subprocess("--matrix-dir", str(small), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_broken_declarations_stop_the_session_with_located_problems(
    pytester: pytest.Pytester, small: Path
) -> None:
    edit(small / "features.yaml", "  nova: snapshot\n", "  nova: snapshoot\n")
    pytester.makepyfile(USES_MATRIX)
    result = pytester.runpytest_subprocess("--matrix-dir", str(small))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "features.yaml:18:9: live-snapshot.nova: 'snapshoot' is not allowed" in output
    assert "Traceback" not in output


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*feature-support matrix*", "*--matrix-dir*"])


def test_every_shipped_scenario_states_its_pass_condition() -> None:
    """The outline's "Passes only when ..." is the proof a pass records where the scenario says
    no more: a scenario without one would record passes that say nothing of their proof."""
    import ast

    from harness.scenario.plugin import PASSES_ONLY_WHEN

    scenarios = Path(__file__).parents[2] / "scenarios"
    tests = [
        (path.name, node)
        for path in sorted(scenarios.glob("*/test_*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]
    assert len(tests) >= 30
    for name, node in tests:
        found = PASSES_ONLY_WHEN.search(ast.get_docstring(node) or "")
        assert found, f"{name}::{node.name} has no 'Passes only when ...' in its outline"
        assert len(found.group(1)) < 300, f"{name}::{node.name}: one sentence, please"
