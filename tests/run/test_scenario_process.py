"""The pytest process `matrix run` starts for a target: it starts before its preflight (the
first before the declarations load) and configures and collects meanwhile, but runs and
records nothing unless the preflight passed, it loads no
pytest plugin but the harness's, and what it imports ahead leaves pytest free to rewrite the
harness's plugin modules."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.run.launcher import Order, ScenarioProcesses
from harness.run.records import LOG_FILE, PLANNED_FILE, read_header, read_results
from harness.run.scenario_process import NOT_STARTED
from tests.conftest import Result, hostless_lab

KVM = "libvirt-kvm/local-qcow2/ovs"
WITNESS = """
import json, pathlib, pytest

@pytest.mark.feature("live-snapshot")
def test_it(request):
    manager = request.config.pluginmanager
    plugins = sorted(getattr(p, "__name__", "") for p in manager.get_plugins())
    pathlib.Path({witness!r}).write_text(json.dumps(plugins))
"""


CONFIGURED = """
import pathlib

def pytest_configure(config):
    pathlib.Path({mark!r}).write_text("configured")

def pytest_collection_finish(session):
    pathlib.Path({mark!r}).write_text(f"collected {{len(session.items)}}")
"""


def scenarios(tmp_path: Path) -> tuple[Path, Path]:
    witness = tmp_path / "ran.json"
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "test_it.py").write_text(WITNESS.format(witness=str(witness)))
    return tmp_path / "scenarios", witness


@pytest.mark.parametrize("concurrency", [1, 2])  # 2: xdist workers, started before go
def test_a_target_whose_preflight_failed_runs_and_records_no_scenario(
    run: Callable[..., Result], small: Path, tmp_path: Path, concurrency: int
) -> None:
    (tmp_path / "clouds.yaml").write_text("clouds: {lab-cloud: {auth_type: none}}\n")
    host = tmp_path / "host"
    (host / "etc" / "nova").mkdir(parents=True)
    (host / "etc" / "nova" / "nova-cpu.conf").write_text("[libvirt]\nvirt_type = qemu\n")
    lab = tmp_path / "lab.yaml"
    lab.write_text(
        f"clouds_yaml: {tmp_path / 'clouds.yaml'}\ntargets:\n"
        f"  - name: t\n    combination: {KVM}\n    cloud: lab-cloud\n"
        f"    hosts: [{{spec: 'local://', roles: [compute], root: '{host}'}}]\n"
    )
    folder, witness = scenarios(tmp_path)
    done = run(
        "--matrix", str(small), "run", "--lab", str(lab), "--out", str(tmp_path / "out"),
        "--scenarios", str(folder), "--concurrency", str(concurrency),
    )  # fmt: skip
    assert done.code == 1, done.err
    [run_dir] = (tmp_path / "out" / "runs").iterdir()
    assert read_header(run_dir).status == "preflight-failed"
    assert list(read_results(run_dir)) == [] and not witness.exists()
    assert NOT_STARTED in (run_dir / LOG_FILE).read_text()
    assert not (run_dir / PLANNED_FILE).exists()  # it collected, but plans nothing


def test_the_scenario_process_loads_the_harness_plugin_and_no_other_installed_one(
    run: Callable[..., Result], small: Path, tmp_path: Path
) -> None:
    folder, witness = scenarios(tmp_path)
    done = run(
        "--matrix", str(small), "run", "--lab", str(hostless_lab(tmp_path)),
        "--out", str(tmp_path / "out"), "--scenarios", str(folder),
    )  # fmt: skip
    assert done.code == 0, done.err
    plugins = json.loads(witness.read_text())
    assert "harness.scenario.plugin" in plugins and "harness.scenario.fixtures" in plugins
    # installed here, with pytest11 entry points, and loaded by a bare `pytest`:
    others = ("_hypothesis_pytestplugin", "testinfra.plugin", "xdist.plugin", "platformdirs")
    assert not [p for p in plugins if p.startswith(others)], plugins
    [run_dir] = (tmp_path / "out" / "runs").iterdir()
    assert "cannot be rewritten" not in (run_dir / LOG_FILE).read_text()


UNRAISABLE = """
import gc, pathlib, pytest

class Leaky:
    def __del__(self):
        raise RuntimeError("a __del__ failed in this scenario")

def note_collections(phase, info):
    if phase == "start":
        with open({witness!r}, "a") as witness:
            witness.write("collected\\n")

@pytest.mark.feature("live-snapshot")
def test_it(request):
    gc.disable()  # from here on, only a collection someone forces
    gc.callbacks.append(note_collections)
    pathlib.Path({witness!r}).write_text("ran\\n")
    Leaky()
"""


def test_a_recorded_session_ends_without_forced_garbage_collections_yet_reports_del_errors(
    run: Callable[..., Result], small: Path, tmp_path: Path
) -> None:
    """pytest forces two full garbage collections as a session ends, for `__del__` errors of
    objects nothing freed: a scenario process, which ends at once, skips them. An error of an
    object freed while the scenario ran is still in the target's log."""
    folder, witness = scenarios(tmp_path)
    (folder / "test_it.py").write_text(UNRAISABLE.format(witness=str(witness)))
    done = run(
        "--matrix", str(small), "run", "--lab", str(hostless_lab(tmp_path)),
        "--out", str(tmp_path / "out"), "--scenarios", str(folder),
    )  # fmt: skip
    assert done.code == 0, done.err
    assert witness.read_text() == "ran\n"  # and no "collected" after it
    [run_dir] = (tmp_path / "out" / "runs").iterdir()
    log = (run_dir / LOG_FILE).read_text()
    assert "Exception ignored" in log and "a __del__ failed in this scenario" in log, log
    assert [r.outcome for r in read_results(run_dir)] == ["passed"]


WAITS_FOR_THE_CLOUD = """
import pathlib, time

def pytest_collection_finish(session):
    deadline = time.monotonic() + 10
    while not pathlib.Path({asked!r}).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    seen = pathlib.Path({asked!r}).exists()
    pathlib.Path({mark!r}).write_text("asked while collecting" if seen else "not asked")
"""


@pytest.fixture
def compute_endpoint(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A compute endpoint on 127.0.0.1 that notes (in a file) the first request it gets."""
    asked = tmp_path / "asked"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.touch()
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/compute", asked
    finally:
        server.shutdown()
        server.server_close()


def test_the_session_opens_the_cloud_while_it_collects(
    run: Callable[..., Result], small: Path, tmp_path: Path, compute_endpoint: tuple[str, Path]
) -> None:
    """The cloud is opened as collection starts, not after it: a scenario module's imports
    and the cloud's answers overlap. (Only the session asks the cloud here: the lab file
    names nothing for the preflight to look up.)"""
    endpoint, asked = compute_endpoint
    folder, witness = scenarios(tmp_path)
    mark = tmp_path / "collected"
    (folder / "conftest.py").write_text(
        WAITS_FOR_THE_CLOUD.format(asked=str(asked), mark=str(mark))
    )
    lab = hostless_lab(tmp_path)
    (tmp_path / "clouds.yaml").write_text(
        f"clouds: {{lab-cloud: {{auth_type: none, compute_endpoint_override: '{endpoint}'}}}}\n"
    )
    done = run(
        "--matrix", str(small), "run", "--lab", str(lab),
        "--out", str(tmp_path / "out"), "--scenarios", str(folder),
    )  # fmt: skip
    assert done.code == 0, done.err
    assert mark.read_text() == "asked while collecting"
    assert witness.exists()  # and the scenario ran after


def test_a_process_started_ahead_that_no_target_takes_ends_at_close() -> None:
    with ScenarioProcesses(ahead=1) as processes:
        [(child, _)] = processes._ready
    assert child.returncode is not None  # ended, and waited for: no zombie, no orphan
    assert processes._ready == []


def configured(tmp_path: Path) -> tuple[subprocess.Popen[str], Order, Path]:
    """A started process told what to run, once pytest has configured and collected (not
    told to go yet); and the file its one test writes when it runs."""
    folder, witness = scenarios(tmp_path)
    mark = tmp_path / "configured"
    (folder / "conftest.py").write_text(CONFIGURED.format(mark=str(mark)))
    child, order = ScenarioProcesses().take()
    order.what(tmp_path, [str(folder), "-p", "no:cacheprovider"])
    deadline = time.monotonic() + 60
    while not mark.exists() or mark.read_text() != "collected 1":
        assert child.poll() is None, child.stdout.read() if child.stdout else ""
        assert time.monotonic() < deadline, "pytest never configured and collected before go"
        time.sleep(0.05)
    return child, order, witness


def test_pytest_configures_and_collects_before_go_and_runs_only_once_told(
    tmp_path: Path,
) -> None:
    child, order, witness = configured(tmp_path)
    time.sleep(0.3)  # collected, waiting: what it would run has not started
    assert not witness.exists()
    order.close(go=True)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0, out
    assert witness.exists() and "1 passed" in out


def test_a_configured_process_never_told_to_go_ends_having_run_nothing(tmp_path: Path) -> None:
    child, order, witness = configured(tmp_path)
    order.close(go=False)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 2
    assert NOT_STARTED in out and "passed" not in out
    assert not witness.exists()
