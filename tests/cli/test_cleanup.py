"""`matrix cleanup` against clouds that fail: every target is tried, each failure is one
redacted line, and the exit code says the cleanup is incomplete (1), not a bug (70).

The clouds are stub Keystones on 127.0.0.1 that refuse every token request and echo the
request body (the password in it, JSON-escaped) back in the error, as careless services do.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from harness.run.secrets import encodings

PASSWORD = 'Qu"ote\\Back-\u00fc'


class EchoesTheRequest(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        host = f"http://{self.headers['Host']}"
        self._answer(200, f'{{"version": {{"id": "v3.14", "status": "stable", "links": '
                          f'[{{"rel": "self", "href": "{host}/v3/"}}]}}}}'.encode())  # fmt: skip

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        error = {"error": {"code": 400, "message": f"refused: {body.decode()}"}}
        self._answer(400, json.dumps(error).encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_keystone() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoesTheRequest)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v3"
    finally:
        server.shutdown()


def test_cleanup_tries_every_target_and_leaks_no_password(
    run: Callable[..., object], tmp_path: Path, echoing_keystone: str
) -> None:
    auth = {"auth_url": echoing_keystone, "username": "demo", "password": PASSWORD,
            "project_name": "demo", "user_domain_name": "Default",
            "project_domain_name": "Default"}  # fmt: skip
    clouds = {"clouds": {name: {"auth_type": "password", "auth": auth} for name in ("a", "b")}}
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump(clouds, allow_unicode=True))
    targets = [
        {"name": name, "combination": "libvirt-kvm/ceph-rbd/ovn", "cloud": name}
        for name in ("a", "b")
    ]
    lab = tmp_path / "lab.yaml"
    lab.write_text(yaml.safe_dump({"clouds_yaml": "clouds.yaml", "targets": targets}))
    result = run("cleanup", "--lab", str(lab), "--dry-run")
    assert result.code == 1, result.err  # type: ignore[attr-defined]
    failures = [line for line in result.err.splitlines() if "could not list" in line]  # type: ignore[attr-defined]
    assert [line.split(":", 1)[0] for line in failures] == ["a", "b"], result.err  # type: ignore[attr-defined]
    assert "cleanup incomplete: 2 failure(s)" in result.err  # type: ignore[attr-defined]
    assert "refused" in failures[0]  # the cloud's words are kept, its echo of the secret not
    printed = result.out + result.err  # type: ignore[attr-defined]
    for form in encodings(PASSWORD):
        assert form not in printed, form
    assert "Back-" not in printed
