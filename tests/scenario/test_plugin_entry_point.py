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
