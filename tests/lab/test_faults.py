"""A cloud that answers 500s and one that hangs are recorded as such; the healthy target finishes.

Their preflight fails first (the lab file's names cannot be looked up, and the record says
why); forced past it, their scenarios' failures are recorded too."""

from __future__ import annotations

import copy
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.lab.state import LabState
from harness.run.records import read_header, read_results
from tests.lab.conftest import matrix_cli


def version_document(handler: http.server.BaseHTTPRequestHandler) -> bytes | None:
    """Answer discovery like Nova does, so the failure is in the API calls themselves."""
    host = f"http://{handler.headers['Host']}"
    version = {"id": "v2.1", "status": "CURRENT", "version": "2.96", "min_version": "2.1",
               "links": [{"rel": "self", "href": f"{host}/v2.1/"}]}  # fmt: skip
    if handler.path.rstrip("/") in ("", "/v2.1"):
        key, value = (
            ("versions", [version]) if handler.path.rstrip("/") == "" else ("version", version)
        )
        return json.dumps({key: value}).encode()
    return None


class Answers500(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        document = version_document(self)
        status, body = (200, document) if document else self._broken()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _broken(self) -> tuple[int, bytes]:
        return 500, b'{"computeFault": {"code": 500, "message": "database is on fire"}}'

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


class Hangs(Answers500):
    def _broken(self) -> tuple[int, bytes]:
        time.sleep(120)  # never answers within any sane timeout
        return 500, b""


@pytest.fixture
def broken_clouds() -> Iterator[dict[str, str]]:
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), h) for h in (Answers500, Hangs)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {
            name: f"http://127.0.0.1:{s.server_address[1]}"
            for name, s in zip(("500", "hang"), servers, strict=True)
        }
    finally:
        for server in servers:
            server.shutdown()


def stub_cloud(url: str) -> dict[str, object]:
    return {
        "auth_type": "admin_token",
        "auth": {"token": "stub-token-123", "endpoint": url + "/v2.1"},
        "compute_endpoint_override": url + "/v2.1",
        "image_endpoint_override": url + "/image/v2",
        "network_endpoint_override": url + "/network/v2.0",
        "block_storage_endpoint_override": url + "/volume/v3",
    }


def test_faulty_clouds_are_recorded_while_others_finish(
    running_lab: LabState, broken_clouds: dict[str, str], tmp_path: Path
) -> None:
    clouds = yaml.safe_load(running_lab.clouds_file.read_text())["clouds"]
    clouds["answers-500"] = stub_cloud(broken_clouds["500"])
    clouds["hangs"] = stub_cloud(broken_clouds["hang"])
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump({"clouds": clouds}))
    lab = yaml.safe_load(running_lab.lab_file.read_text())
    good = next(t for t in lab["targets"] if t["name"] == "live-local")
    lab["targets"] = [  # deep copies: shared dicts would be dumped as anchors, which we refuse
        good,
        {**copy.deepcopy(good), "name": "answers-500", "cloud": "answers-500", "hosts": []},
        {
            **copy.deepcopy(good),
            "name": "hangs",
            "cloud": "hangs",
            "hosts": [],
            "timeouts": {"default": 3},
        },
    ]
    lab["clouds_yaml"] = "clouds.yaml"
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump(lab))

    done = matrix_cli(
        "run",
        "--lab",
        str(tmp_path / "lab.yaml"),
        "--out",
        str(tmp_path / "out"),
        "--feature",
        "launch",
        "--force",
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    runs = {read_header(d).target: d for d in (tmp_path / "out" / "runs").iterdir()}
    assert {t: read_header(d).status for t, d in runs.items()} == {
        "live-local": "complete",
        "answers-500": "unverified",
        "hangs": "unverified",
    }
    for target, url in (("answers-500", broken_clouds["500"]), ("hangs", broken_clouds["hang"])):
        preflight = read_header(runs[target]).preflight
        assert preflight["status"] == "failed"
        names = [o for o in preflight["outcomes"] if o["kind"] == "name"]
        assert names and all(not o["passed"] and url in (o["error"] or "") for o in names)
    results = {t: list(read_results(d)) for t, d in runs.items()}
    assert [(r.feature, r.outcome) for r in results["live-local"]] == [("launch", "passed")]
    (broken,) = results["answers-500"]
    assert broken.outcome in ("failed", "error")
    # Discovery of the first service the scenario needs fails on the 500s; the record says where.
    assert broken_clouds["500"] in (broken.message or ""), broken.message
    (hung,) = results["hangs"]
    assert hung.outcome in ("failed", "error")
    # The target's 3 s timeout ended each hanging request; the run finished instead of hanging.
    assert broken_clouds["hang"] in (hung.message or ""), hung.message
    logs = "".join(
        (d / name).read_text() for d in runs.values() for name in ("run.log", "run.json")
    )
    assert "stub-token-123" not in logs
