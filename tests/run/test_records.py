"""Run records are written as each result finishes, keep secrets out, and survive a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.run.cloud import CloudConfigError, redactor
from harness.run.records import (
    Result,
    ResultsFollower,
    append_result,
    now,
    read_header,
    read_results,
)
from harness.run.secrets import Redactor, encodings, secrets_in
from tests.conftest import edit

SECRET = "planted-Secret-4242"
HOSTILE_SECRET = 'Qu"ote\\Back-\u00fc'  # a quote, a backslash and a non-ASCII letter

SCENARIOS = f"""
import time, pytest
from pathlib import Path
from harness.scenario.skips import not_configured

@pytest.mark.feature("live-migration")
def test_a_passes(cleanup): pass

@pytest.mark.feature("live-migration")
def test_b_fails_mentioning_the_secret(): raise AssertionError("auth failed for password {SECRET}")

@pytest.mark.feature("live-migration")
def test_c_not_configured(): not_configured("needs two computes; the target has 1")

@pytest.mark.feature("live-snapshot")
def test_d_cleanup_breaks(cleanup): cleanup.add("server s1", lambda: 1 / 0)
"""

SLOW = """
import time, pytest
from pathlib import Path

@pytest.mark.feature("live-migration")
def test_a_done(): pass

@pytest.mark.feature("live-migration")
def test_b_killed_midway():
    Path("b-started").touch()
    time.sleep(60)
"""


@pytest.fixture
def project(small: Path, tmp_path: Path) -> Path:
    """A scenario folder, a lab over the small matrix with its own clouds.yaml holding a secret."""
    edit(small / "features.yaml", "  requires: {computes: 2}\nblock", "block")
    edit(
        small / "features.yaml",
        "      bug: https://bugs.launchpad.net/nova/+bug/1\n",
        "      bug: https://bugs.launchpad.net/nova/+bug/1\n",
    )
    (tmp_path / "clouds.yaml").write_text(
        "clouds:\n  lab-cloud:\n    auth_type: password\n    auth:\n"
        f"      auth_url: http://127.0.0.1:9/v3\n      username: demo\n      password: {SECRET}\n"
        "      project_name: demo\n"
    )
    (tmp_path / "lab.yaml").write_text(
        "clouds_yaml: clouds.yaml\ntargets:\n"
        "  - {combination: libvirt-kvm/local-qcow2/ovs, cloud: lab-cloud, provenance: {kind: periodic, voting: true}}\n"
    )
    return tmp_path


def pytest_command(project: Path, small: Path, run_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "scenarios",
        "--matrix-dir", str(small), "--lab", str(project / "lab.yaml"),
        "--run-id", "run-7", "--record-dir", str(run_dir),
    ]  # fmt: skip


def run_pytest(
    project: Path, small: Path, run_dir: Path, source: str
) -> subprocess.CompletedProcess[str]:
    (project / "scenarios").mkdir(exist_ok=True)
    (project / "scenarios" / "test_it.py").write_text(source)
    return subprocess.run(
        pytest_command(project, small, run_dir),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


ECHOES = """
import html, json, pytest
from urllib.parse import quote

@pytest.mark.feature("live-migration")
def test_the_cloud_echoes_the_password():
    secret = {secret!r}
    raise AssertionError(
        "raw " + secret + " json " + json.dumps({{"password": secret}}) + " xml "
        + html.escape(secret) + " url " + quote(secret, safe="") + " repr " + repr(secret)
    )
"""


def test_a_secret_with_quotes_backslashes_and_accents_is_masked_in_every_form(
    project: Path, small: Path
) -> None:
    """A cloud echoing the password escaped (JSON, XML, URL, repr) leaks it into no record.
    (Bare pytest prints the scenario's own source, secret and all; `matrix run` writes that
    output to run.log and the console only through the same redactor.)"""
    clouds = project / "clouds.yaml"
    clouds.write_text(
        clouds.read_text().replace(f"password: {SECRET}", f"password: '{HOSTILE_SECRET}'")
    )
    run_dir = project / "runs" / "run-7"
    done = run_pytest(project, small, run_dir, ECHOES.format(secret=HOSTILE_SECRET))
    assert done.returncode == 1, done.stdout
    [result] = read_results(run_dir)
    assert (result.message or "").startswith('AssertionError: raw *** json {"password": "***"}')
    written = "".join(p.read_text(encoding="utf-8") for p in run_dir.iterdir())
    for form in encodings(HOSTILE_SECRET):
        assert form not in written, form
    assert "Back-" not in written  # no fragment of it in any other form either


def test_redaction_masks_every_encoding_of_a_secret() -> None:
    redactor = Redactor([HOSTILE_SECRET])
    for form in encodings(HOSTILE_SECRET):
        assert redactor.redact(f"<{form}>") == "<***>", form
    assert json.loads(redactor.redact(json.dumps({"p": HOSTILE_SECRET}))) == {"p": "***"}


def test_results_are_recorded_with_categories_and_secrets_masked(
    project: Path, small: Path
) -> None:
    run_dir = project / "runs" / "run-7"
    done = run_pytest(project, small, run_dir, SCENARIOS)
    assert done.returncode == 1, done.stdout
    header = read_header(run_dir)
    assert (header.run_id, header.status, header.combination) == (
        "run-7",
        "complete",
        "libvirt-kvm/local-qcow2/ovs",
    )
    assert header.ended_at is not None and not header.embedded
    assert (header.provenance.kind, header.provenance.voting) == ("periodic", True)
    results = {r.scenario.rsplit("::", 1)[1]: r for r in read_results(run_dir)}
    assert {name: r.outcome for name, r in results.items()} == {
        "test_a_passes": "passed",
        "test_b_fails_mentioning_the_secret": "failed",
        "test_c_not_configured": "skipped",
        "test_d_cleanup_breaks": "passed",
    }
    assert results["test_c_not_configured"].skip_category == "not-configured"
    assert (
        results["test_c_not_configured"].message
        == "[not-configured] needs two computes; the target has 1"
    )
    failure = results["test_b_fails_mentioning_the_secret"].message or ""
    assert "auth failed for password ***" in failure and SECRET not in failure
    assert "server s1: ZeroDivisionError" in (results["test_d_cleanup_breaks"].cleanup_error or "")
    assert results["test_a_passes"].feature == "live-migration"
    on_disk = "".join(p.read_text() for p in run_dir.iterdir())
    assert SECRET not in on_disk


def test_a_killed_run_keeps_every_finished_result(project: Path, small: Path) -> None:
    run_dir = project / "runs" / "run-7"
    (project / "scenarios").mkdir()
    (project / "scenarios" / "test_it.py").write_text(SLOW)
    process = subprocess.Popen(
        pytest_command(project, small, run_dir),
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (project / "b-started").exists():
            assert time.monotonic() < deadline and process.poll() is None, (
                "the slow scenario never started"
            )
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert [(r.scenario.rsplit("::", 1)[1], r.outcome) for r in read_results(run_dir)] == [
        ("test_a_done", "passed")
    ]
    header = read_header(run_dir)
    assert header.status == "running" and header.ended_at is None  # visibly unfinished


def test_an_interrupted_run_is_marked_interrupted(project: Path, small: Path) -> None:
    run_dir = project / "runs" / "run-7"
    source = 'import pytest\n@pytest.mark.feature("live-migration")\ndef test_x(): raise KeyboardInterrupt\n'
    done = run_pytest(project, small, run_dir, source)
    assert done.returncode == pytest.ExitCode.INTERRUPTED
    assert read_header(run_dir).status == "interrupted"


def test_a_line_cut_short_by_a_kill_is_not_a_result(tmp_path: Path) -> None:
    result = Result(
        feature="f", scenario="s::t", outcome="passed", duration_s=1.0, finished_at=now()
    )
    append_result(tmp_path, result)
    with (tmp_path / "results.jsonl").open("a") as handle:
        handle.write('{"feature": "f", "scenario": "s::u", "outc')
    assert [r.scenario for r in read_results(tmp_path)] == ["s::t"]


def test_a_follower_reads_each_result_once_and_a_line_only_once_it_is_whole(
    tmp_path: Path,
) -> None:
    """What `matrix run` watches a run's progress with: every look returns only what was
    appended since, and a line still being written waits for its newline."""

    def result(name: str) -> Result:
        return Result(feature="f", scenario=name, outcome="passed", duration_s=1.0,
                      finished_at=now())  # fmt: skip

    follower = ResultsFollower(tmp_path)
    assert follower.new() == []  # no results file yet
    append_result(tmp_path, result("s::a"))
    append_result(tmp_path, result("s::b"))
    assert [r.scenario for r in follower.new()] == ["s::a", "s::b"]
    line = result("s::c").model_dump_json() + "\n"
    with (tmp_path / "results.jsonl").open("a") as handle:
        handle.write(line[:20])
        handle.flush()
        assert follower.new() == []
        handle.write(line[20:])
    append_result(tmp_path, result("s::d"))
    assert [r.scenario for r in follower.new()] == ["s::c", "s::d"]
    assert follower.new() == []
    assert [r.scenario for r in read_results(tmp_path)] == ["s::a", "s::b", "s::c", "s::d"]


def test_secrets_are_found_in_auth_and_masked_longest_first() -> None:
    config = {
        "auth_type": "v3applicationcredential",
        "auth": {
            "application_credential_id": "abc123",
            "application_credential_secret": "sekret-XYZ-1",
            "token": "tok-tok-tok",
        },
        "region_name": "RegionOne",
        "password": "ab",  # too short to mask without hiding ordinary words
    }
    secrets = secrets_in(config)
    assert secrets == {"sekret-XYZ-1", "tok-tok-tok"}  # an id is not a secret
    redactor = Redactor([*secrets, "sekret"])
    assert (
        redactor.redact("id abc123 secret sekret-XYZ-1 in RegionOne")
        == "id abc123 secret *** in RegionOne"
    )


def test_a_clouds_yaml_entry_gives_its_secrets_without_loading_its_auth_plugin(
    tmp_path: Path,
) -> None:
    """The redactor reads the entry as openstacksdk merges it, and nothing more: an auth type
    no package provides (so no plugin could be loaded) still has its password masked."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  lab:\n    auth_type: no-such-plugin\n"
        f"    auth: {{auth_url: 'http://127.0.0.1:5000', password: {SECRET}}}\n",
        encoding="utf-8",
    )
    assert redactor(clouds, "lab").redact(f"denied for {SECRET}") == "denied for ***"
    with pytest.raises(CloudConfigError, match="'elsewhere'"):
        redactor(clouds, "elsewhere")


SURROGATE = """
import pytest

@pytest.mark.feature("live-migration")
def test_the_cloud_sends_undecodable_bytes():
    raise AssertionError("fault: " + b"caf\\xe9".decode("utf-8", "surrogateescape"))
"""


def test_a_message_with_a_lone_surrogate_is_recorded_escaped(project: Path, small: Path) -> None:
    """Bytes a cloud sent that are not UTF-8 (decoded with surrogateescape) would make every
    JSON, XML and SQLite writer refuse the result; they are recorded as escapes instead."""
    run_dir = project / "runs" / "run-7"
    (project / "scenarios").mkdir(exist_ok=True)
    (project / "scenarios" / "test_it.py").write_text(SURROGATE)
    done = subprocess.run(
        pytest_command(project, small, run_dir), cwd=project, capture_output=True, timeout=120
    )  # pytest prints the byte itself: its output is not UTF-8
    assert done.returncode == 1, done.stdout.decode(errors="replace")
    [result] = read_results(run_dir)
    assert result.outcome == "failed"
    assert (result.message or "").startswith("AssertionError: fault: caf\\udce9")
