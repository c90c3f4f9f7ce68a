"""The scenario plugin: selection by feature, skip categories in reports, cleanup on every outcome.

Runs pytest in a subprocess (pytester) on scenarios that need no cloud, against a lab file over
the small test matrix; JUnit XML is read back to check the machine-readable properties.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.scenario.gate import is_multiattach, usable_computes
from tests.conftest import edit

SCENARIOS = """
import pytest
from harness.scenario.skips import not_applicable

@pytest.mark.feature("block-live-migration")
def test_block_migration(): raise AssertionError("must not run: not applicable on shared storage")

@pytest.mark.feature("live-snapshot")
def test_live_snapshot(): raise AssertionError("must not run: flagged")

@pytest.mark.feature("live-migration")
@pytest.mark.requires(destructive=True)
def test_destructive(): raise AssertionError("must not run: the target is not destructive")

@pytest.mark.feature("live-migration")
def test_refused_by_design(): not_applicable("Nova refused: by design")

@pytest.mark.feature("live-migration")
def test_lazy_skip(): pytest.skip("no reason given")

@pytest.mark.feature("live-migration")
def test_runs(run_id, target): assert target.cloud == "lab-cloud" and run_id == "run-1"
"""


@pytest.fixture
def lab(small: Path, tmp_path: Path) -> Path:
    """A lab over the small matrix; live-migration needs one compute so no cloud is asked."""
    edit(small / "features.yaml", "  requires: {computes: 2}\nblock", "block")
    path = tmp_path / "lab.yaml"
    path.write_text(
        "targets:\n"
        "  - {combination: libvirt-qemu/ceph-rbd/ovs, cloud: lab-cloud, provenance: {kind: manual}}\n"
        "  - {combination: libvirt-kvm/local-qcow2/ovs, cloud: other, provenance: {kind: manual}}\n"
    )
    return path


def run(pytester: pytest.Pytester, small: Path, lab: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--matrix-dir",
        str(small),
        "--lab",
        str(lab),
        "--run-id",
        "run-1",
        "-p",
        "no:cacheprovider",
        *args,
    )


def properties(junit: Path) -> dict[str, dict[str, str]]:
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        found[case.get("name", "")] = {
            p.get("name", ""): p.get("value", "") for p in case.iter("property")
        }
    return found


def test_skips_carry_their_category(pytester: pytest.Pytester, small: Path, lab: Path) -> None:
    pytester.makepyfile(test_scenarios=SCENARIOS)
    junit = pytester.path / "junit.xml"
    result = run(
        pytester,
        small,
        lab,
        "--combination",
        "libvirt-qemu/ceph-rbd/ovs",
        f"--junitxml={junit}",
        "-rs",
    )
    result.assert_outcomes(passed=1, skipped=5)
    result.stdout.fnmatch_lines(
        [
            "*[[]not-applicable[]] disks on shared storage are not copied*",
            "*[[]flagged[]] example flag (https://bugs.launchpad.net/nova/+bug/1)*",
            "*[[]not-configured[]] destructive scenarios are off for this target*",
        ]
    )
    found = properties(junit)
    assert {name: props.get("skip_category") for name, props in found.items()} == {
        "test_block_migration": "not-applicable",
        "test_live_snapshot": "flagged",
        "test_destructive": "not-configured",
        "test_refused_by_design": "not-applicable",
        "test_lazy_skip": "uncategorised",
        "test_runs": None,
    }
    assert "skips.py" not in result.stdout.str()
    assert found["test_runs"]["feature"] == "live-migration"
    assert found["test_runs"]["combination"] == "libvirt-qemu/ceph-rbd/ovs"
    assert found["test_runs"]["run_id"] == "run-1"


def test_feature_option_selects_scenarios(
    pytester: pytest.Pytester, small: Path, lab: Path
) -> None:
    pytester.makepyfile(test_scenarios=SCENARIOS)
    result = run(
        pytester,
        small,
        lab,
        "--combination",
        "libvirt-qemu/ceph-rbd/ovs",
        "--feature",
        "live-snapshot",
    )
    result.assert_outcomes(skipped=1, deselected=5)


def test_with_feature_a_module_marking_only_other_features_is_not_imported(
    pytester: pytest.Pytester, small: Path, lab: Path
) -> None:
    """Importing it would fail the collection; a module whose mark is computed, or that marks
    an undeclared feature, is still imported (and judged) as before."""
    pytester.makepyfile(
        test_wanted='import pytest\n@pytest.mark.feature("live-migration")\ndef test_w(): pass\n',
        test_other=(
            'import pytest\nraise RuntimeError("imported")\n'
            '@pytest.mark.feature("live-snapshot")\ndef test_o(): pass\n'
        ),
        test_computed=(
            'import pytest\nFEATURE = "live-snapshot"\n'
            "@pytest.mark.feature(FEATURE)\ndef test_c(): pass\n"
        ),
    )
    args = ("--combination", "libvirt-qemu/ceph-rbd/ovs", "--feature", "live-migration")
    result = run(pytester, small, lab, *args)
    result.assert_outcomes(passed=1, deselected=1)  # test_computed's, imported and deselected
    assert "imported" not in result.stdout.str()
    pytester.makepyfile(
        test_other='import pytest\n@pytest.mark.feature("live-snapshoot")\ndef test_o(): pass\n'
    )
    misspelt = run(pytester, small, lab, *args)
    assert misspelt.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown feature 'live-snapshoot'" in misspelt.stderr.str()


def test_an_undeclared_feature_is_a_usage_error(
    pytester: pytest.Pytester, small: Path, lab: Path
) -> None:
    pytester.makepyfile(
        test_x='import pytest\n@pytest.mark.feature("live-snapshoot")\ndef test_x(): pass\n'
    )
    result = run(pytester, small, lab, "--combination", "libvirt-qemu/ceph-rbd/ovs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown feature 'live-snapshoot'; did you mean 'live-snapshot'?" in result.stderr.str()


def test_target_selection_errors_are_precise(
    pytester: pytest.Pytester, small: Path, lab: Path
) -> None:
    pytester.makepyfile(test_scenarios=SCENARIOS)
    several = run(pytester, small, lab)
    assert several.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "has several targets (libvirt-qemu-ceph-rbd-ovs, libvirt-kvm-local-qcow2-ovs)"
        in several.stderr.str()
    )
    wrong = run(pytester, small, lab, "--combination", "libvirt-qemu/ceph-rbd/ovn")
    assert (
        "unknown combination 'libvirt-qemu/ceph-rbd/ovn'; did you mean 'libvirt-qemu/ceph-rbd/ovs'?"
        in wrong.stderr.str()
    )


CLEANUPS = """
import pytest
from pathlib import Path
LOG = Path(__file__).with_name("cleanup.log")

def note(text):
    with LOG.open("a") as handle: handle.write(text + "\\n")

def test_a_fails(cleanup):
    cleanup.add("first", lambda: note("a: first"))
    cleanup.add("second", lambda: note("a: second"))
    raise AssertionError("the scenario failed")

def test_b_cleanup_breaks(cleanup):
    cleanup.add("broken", lambda: 1 / 0)

def test_c_interrupted(cleanup):
    cleanup.add("server", lambda: note("c: server"))
    raise KeyboardInterrupt
"""


def test_cleanup_runs_on_failure_and_interrupt_and_never_masks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cleanups=CLEANUPS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert (pytester.path / "cleanup.log").read_text().splitlines() == [
        "a: second",
        "a: first",
        "c: server",
    ]
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_b_cleanup_breaks*"])
    result.stdout.fnmatch_lines(
        ["*FAILED test_cleanups.py::test_a_fails - AssertionError: the scenario failed*"]
    )
    assert "PASSED test_cleanups.py::test_b_cleanup_breaks" in result.stdout.str()
    assert "broken: ZeroDivisionError: division by zero" in result.stdout.str()


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ({"multiattach": "<is> True"}, True),
        ({"multiattach": "<is> False"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_only_types_marked_multiattach_true_count(
    specs: dict[str, str] | None, expected: bool
) -> None:
    assert is_multiattach(SimpleNamespace(extra_specs=specs)) is expected


PROVING = """
import pytest

@pytest.mark.feature("live-migration")
def test_proven(proof): proof.by("the migration record says completed")

@pytest.mark.feature("live-migration")
def test_cannot_see_it(proof): proof.lacking("no compute log is readable here")

@pytest.mark.feature("live-migration")
def test_outlined():
    '''Outline:
    1. nothing
    Passes only when the outline's checks,
    e.g. this one, held. Then more text.'''

@pytest.mark.feature("live-migration")
def test_said_then_failed(proof):
    proof.by("the migration record says completed")
    raise AssertionError("but the server stayed on its host")
"""


def test_a_pass_records_its_proof_and_what_cannot_be_seen_is_an_unproven_skip(
    pytester: pytest.Pytester, small: Path, lab: Path, tmp_path: Path
) -> None:
    from harness.run import junit
    from harness.run.records import read_header, read_results

    pytester.makepyfile(test_scenarios=PROVING)
    clouds = tmp_path / "clouds.yaml"  # the recorder masks the cloud's secrets: it reads them
    clouds.write_text("clouds: {lab-cloud: {auth_type: none}}\n")
    lab.write_text(f"clouds_yaml: {clouds}\n" + lab.read_text())
    record_dir = tmp_path / "record"
    run(pytester, small, lab, "--combination", "libvirt-qemu/ceph-rbd/ovs",
        f"--record-dir={record_dir}")  # fmt: skip
    found = {r.scenario.rsplit("::", 1)[-1]: r for r in read_results(record_dir)}
    proven, unseen, failed = (
        found["test_proven"],
        found["test_cannot_see_it"],
        found["test_said_then_failed"],
    )
    assert (proven.outcome, proven.proof) == ("passed", "the migration record says completed")
    assert (unseen.outcome, unseen.skip_category, unseen.proof) == ("skipped", "unproven", None)
    assert unseen.message == "[unproven] no compute log is readable here"
    assert (failed.outcome, failed.proof) == ("failed", None)  # a failure proves nothing
    assert found["test_outlined"].proof == "the outline's checks, e.g. this one, held."

    written = junit.write(record_dir, read_header(record_dir), found.values())
    cases = {c.get("name"): c for c in ET.parse(written).getroot().iter("testcase")}
    assert (
        cases["test_proven"].findtext("system-out") == "proof: the migration record says completed"
    )
    assert cases["test_said_then_failed"].find("system-out") is None


def test_only_computes_up_and_enabled_count_towards_a_requirement() -> None:
    """Services as openstacksdk lists them (state up/down, status enabled/disabled)."""
    services = [
        SimpleNamespace(host=host, state=state, status=status)
        for host, state, status in [
            ("c1", "up", "enabled"),
            ("c2", "down", "enabled"),
            ("c3", "up", "disabled"),
            ("c4", "down", "disabled"),
            ("c5", "up", "enabled"),
        ]
    ]
    assert usable_computes(services) == 2
    assert usable_computes([]) == 0
