"""`matrix run` against the embedded lab: records and JUnit per target, summary, exit codes."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from harness.lab import keystone
from harness.lab.state import LabState
from harness.run.launcher import ScenarioProcesses
from harness.run.records import read_header, read_results
from harness.scenario.concurrency import FOUND_FILE
from tests.conftest import REPO
from tests.lab.conftest import connect, matrix_cli, wait_for
from tests.lab.test_cells import IMAGE

MATRIX = Path(sys.executable).parent / "matrix"
VERSIONS = '"GET /v2.1 HTTP/1.1"'  # the compute API's version document, as the cell logs it


def test_run_records_every_target_and_writes_junit(running_lab: LabState, tmp_path: Path) -> None:
    done = matrix_cli(
        "run", "--lab", str(running_lab.lab_file), "--out", str(tmp_path),
        "--feature", "launch", "--feature", "block-live-migration", "--job-url", "https://ci.example.org/job/7",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 3
    by_target = {read_header(r).target: r for r in runs}
    assert sorted(by_target) == ["live-local", "live-shared", "nolive-local"]
    for target, run_dir in by_target.items():
        header = read_header(run_dir)
        assert header.status == "complete" and header.ended_at
        assert header.preflight["status"] == "passed"
        assert header.provenance.kind == "embedded"
        assert header.provenance.job_url == "https://ci.example.org/job/7"
        outcomes = {r.feature: (r.outcome, r.skip_category) for r in read_results(run_dir)}
        assert outcomes["launch"] == ("passed", None)
        if target == "live-local":
            assert outcomes["block-live-migration"] == ("passed", None)
        else:  # shared storage, or a driver without live migration: not applicable by design
            assert outcomes["block-live-migration"] == ("skipped", "not-applicable")

        suite = ET.parse(run_dir / "junit.xml").getroot().find("testsuite")
        assert suite is not None
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "0")
        properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert properties["run_id"] == header.run_id
        assert properties["combination"] == header.combination
        assert properties["job_url"] == "https://ci.example.org/job/7"
        classnames = {case.get("classname") for case in suite.iter("testcase")}
        dotted = header.combination.replace("/", ".")
        assert classnames == {f"{dotted}.launch", f"{dotted}.block-live-migration"}
        skipped = [c for c in suite.iter("testcase") if c.find("skipped") is not None]
        assert len(skipped) == (0 if target == "live-local" else 1)
    assert "matrix run" in done.stdout and "live-shared" in done.stdout


def test_a_typo_in_the_lab_files_names_is_one_preflight_failure_naming_the_nearest(
    running_lab: LabState, tmp_path: Path
) -> None:
    lab = running_lab.lab_file.read_text()
    assert lab.count("network: private\n") == 3 and lab.count("flavor: m1.tiny\n") == 3
    typo = tmp_path / "lab.yaml"
    typo.write_text(
        lab.replace("network: private\n", "network: privat\n")
        .replace("flavor: m1.tiny\n", "flavor: m1.tinyy\n")
        .replace(
            "clouds_yaml: clouds.yaml",
            f"clouds_yaml: {running_lab.lab_file.parent / 'clouds.yaml'}",
        )
    )
    done = matrix_cli(
        "run", "--lab", str(typo), "--out", str(tmp_path), "--feature", "launch",
        "--combination", "fake-live-migrate/fake-local/fake-neutron",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    [run_dir] = (tmp_path / "runs").iterdir()
    header = read_header(run_dir)
    assert header.status == "preflight-failed"
    failed = {o["value"]: o["found"] for o in header.preflight["outcomes"] if not o["passed"]}
    assert failed == {
        "lab/flavor": "no flavor of that name or id; did you mean 'm1.tiny'?",
        "lab/network": "no network of that name or id; did you mean 'private'?",
    }
    assert list(read_results(run_dir)) == []  # no scenario ran
    assert "the lab's network 'privat' exists" in done.stdout + done.stderr


@pytest.mark.parametrize("concurrency", [1, 2])  # 2: xdist workers, started before it is found
def test_the_names_the_preflight_found_are_not_looked_up_again_by_the_scenarios(
    running_lab: LabState, tmp_path: Path, concurrency: int
) -> None:
    """The lab file's flavor, image and network are looked up once per run, by the preflight,
    in one request each (both flavors in one listing, a network by name alone); the
    scenarios' session is handed what it found, and so are its xdist workers."""
    log = running_lab.cell_dir("live-local") / "cell.log"
    before = log.read_text(errors="replace").count("\n")
    done = matrix_cli(
        "run", "--lab", str(running_lab.lab_file), "--out", str(tmp_path), "--target",
        "live-local", "--feature", "launch", "--feature", "resize",
        "--concurrency", str(concurrency),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    requests = [
        line
        for line in log.read_text(errors="replace").splitlines()[before:]
        if "[cell.http]" in line
    ]
    assert [r for r in requests if "POST /v2.1/servers HTTP" in r], "no scenario ran"
    for asked in ("/v2.1/flavors/detail?", "/networks?name=private ", "/images/"):
        assert sum(asked in r for r in requests) == 1, (asked, requests)
    for by_id in ("/v2.1/flavors/m1.tiny ", "/v2.1/flavors/m1.small ", "/networks/private "):
        assert not [r for r in requests if by_id in r], (by_id, requests)  # a 404, in effect
    [run_dir] = (tmp_path / "runs").iterdir()
    outcomes = {r.feature: r.outcome for r in read_results(run_dir)}
    assert outcomes == {"launch": "passed", "resize": "passed"}
    assert not (run_dir / FOUND_FILE).exists()  # handed to the workers, then removed


def test_the_session_opens_the_cloud_while_it_waits_for_go(
    running_lab: LabState, tmp_path: Path
) -> None:
    """A token got and the compute endpoint found before the run says go (it never does
    here): the first scenario does not wait for them, nor for keystoneauth's plugin look-up."""
    tokens = keystone.directory_of(running_lab) / "keystone.log"
    cell = running_lab.cell_dir("live-local") / "cell.log"

    def count(log: Path, request: str) -> int:
        return log.read_text(errors="replace").count(request)

    tokens_before, versions_before = count(tokens, "POST /v3/auth/tokens"), count(cell, VERSIONS)
    child, order = ScenarioProcesses().take()
    order.what(
        REPO,
        [
            str(REPO / "scenarios"), "-p", "harness.scenario.plugin", "-p", "no:cacheprovider",
            "--matrix-dir", str(REPO / "matrix"), "--lab", str(running_lab.lab_file),
            "--target", "live-local", "--run-id", "early-1", "--record-dir",
            str(tmp_path / "run"), "--feature=launch",
        ],
    )  # fmt: skip
    try:
        wait_for(lambda: count(cell, VERSIONS) > versions_before or None, what="discovery")
        assert count(tokens, "POST /v3/auth/tokens") > tokens_before
    finally:
        order.close(go=False)
        out, _ = child.communicate(timeout=60)
    assert child.returncode == 2, out
    assert not list(read_results(tmp_path / "run"))


def test_unknown_feature_is_bad_input(running_lab: LabState, tmp_path: Path) -> None:
    done = matrix_cli(
        "run",
        "--lab",
        str(running_lab.lab_file),
        "--out",
        str(tmp_path),
        "--feature",
        "live-snapshoot",
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "matrix: Invalid value for '--feature': unknown feature 'live-snapshoot'; did you mean 'live-snapshot'?"
    )
    assert not (tmp_path / "runs").exists()


def test_cleanup_deletes_only_what_a_run_tagged(running_lab: LabState) -> None:
    conn = connect(running_lab, "embedded-live-local")
    network = conn.network.find_network("private", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    boot = {"image_id": IMAGE, "flavor_id": flavor.id, "networks": [{"uuid": network.id}]}
    tag = {"matrix_run": "old-run"}
    tagged = conn.compute.create_server(name="matrix-old-run-test-server1", metadata=tag, **boot)
    untagged = conn.compute.create_server(name="not-ours", **boot)
    copied = conn.compute.create_server(name="users-own", metadata=tag, **boot)  # tag, not name
    other_run = conn.block_storage.create_volume(
        size=1, name="other-run", metadata={"matrix_run": "newer-run"}
    )
    try:
        for server in (tagged, untagged, copied):
            wait_for(
                lambda s=server: conn.compute.get_server(s.id).status == "ACTIVE", what="ACTIVE"
            )
        dry = matrix_cli(
            "cleanup", "--lab", str(running_lab.lab_file), "--run", "old-run", "--dry-run"
        )
        assert dry.returncode == 0, dry.stderr
        assert (
            "live-local: would delete server matrix-old-run-test-server1 (run old-run)"
            in dry.stdout
        )
        assert conn.compute.find_server(tagged.id, ignore_missing=True) is not None

        done = matrix_cli("cleanup", "--lab", str(running_lab.lab_file), "--run", "old-run")
        assert done.returncode == 0, done.stderr
        assert "live-local: deleted server matrix-old-run-test-server1 (run old-run)" in done.stdout
        assert "deleted 1 leftover(s)" in done.stdout
        assert conn.compute.find_server(tagged.id, ignore_missing=True) is None
        assert conn.compute.find_server(untagged.id, ignore_missing=True) is not None
        assert conn.compute.find_server(copied.id, ignore_missing=True) is not None
        assert conn.block_storage.find_volume(other_run.id, ignore_missing=True) is not None
    finally:
        conn.compute.delete_server(untagged.id, ignore_missing=True)
        conn.compute.delete_server(tagged.id, ignore_missing=True)
        conn.compute.delete_server(copied.id, ignore_missing=True)
        conn.block_storage.delete_volume(other_run.id, ignore_missing=True)


def test_ctrl_c_cleans_up_and_records_the_runs_as_interrupted(
    running_lab: LabState, tmp_path: Path
) -> None:
    import signal
    import time

    process = subprocess.Popen(
        [str(MATRIX), "run", "--lab", str(running_lab.lab_file), "--out", str(tmp_path),
         "--combination", "fake-live-migrate/fake-local/fake-neutron",
         "--feature", "live-migration", "--feature", "cold-migration"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    conn = connect(running_lab, "embedded-live-local")
    deadline = time.monotonic() + 120
    while not any(s.name.startswith("matrix-") for s in conn.compute.servers()):
        assert time.monotonic() < deadline and process.poll() is None, "no scenario started"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)  # what ^C in a terminal sends to the command
    out, err = process.communicate(timeout=180)
    assert process.returncode == 130, out + err
    assert "interrupted: scenarios cleaned up" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert read_header(run_dir).status == "interrupted"
    assert (run_dir / "junit.xml").exists()
    assert [s.name for s in conn.compute.servers() if s.name.startswith("matrix-")] == []


def test_a_project_member_proves_features_through_keystone_and_no_password_is_kept(
    running_lab: LabState, tmp_path: Path
) -> None:
    """What a user of a real cloud does: password auth through Keystone as a non-admin project
    member (the clouds.yaml entry `lab up` wrote). Launch, pause and snapshot pass on the
    member's own servers, and the password is nowhere in the output, the record or JUnit."""
    lab = yaml.safe_load(running_lab.lab_file.read_text())
    (target,) = [t for t in lab["targets"] if t["name"] == "live-local"]
    lab["targets"] = [dict(target, cloud="embedded-live-local-member")]
    lab["clouds_yaml"] = str(running_lab.clouds_file.resolve())
    member_lab = tmp_path / "member.yaml"
    member_lab.write_text(yaml.safe_dump(lab))
    done = matrix_cli(
        "run", "--lab", str(member_lab), "--out", str(tmp_path / "out"),
        "--feature", "launch", "--feature", "pause-unpause", "--feature", "snapshot",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [run_dir] = (tmp_path / "out" / "runs").iterdir()
    outcomes = {r.feature: r.outcome for r in read_results(run_dir)}
    assert outcomes == {"launch": "passed", "pause-unpause": "passed", "snapshot": "passed"}
    clouds = yaml.safe_load(running_lab.clouds_file.read_text())["clouds"]
    password = clouds["embedded-live-local-member"]["auth"]["password"]
    assert password not in done.stdout + done.stderr
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
