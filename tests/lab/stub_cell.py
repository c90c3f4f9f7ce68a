"""Stands in for cell/server.py and identity/server.py (Keystone), for tests of process
control: the real launcher (cell/launcher.py) forks this module's `run` for each cell.

Invoked as a script: stub_cell.py <path of identity/server.py> --state-dir D --seed S
(Keystone); loaded by the launcher as its --server (a cell): run(["--name", N, ...]).
STUB_CELL_MODE=fail makes a cell die at start, =hang makes it never answer;
STUB_LAUNCHER_MODE=fail makes the launcher fail before it forks any cell.
STUB_KEYSTONE_MODE=slow makes Keystone serve 1.5 s after binding its port, =die makes it exit
then instead.
"""

import argparse
import http.server
import json
import os
import signal
import sys
import threading
import time


class Version(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"versions": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def preload(libvirt: bool = False) -> None:
    """The launcher's call before it forks: the stub imports nothing more, and with
    STUB_LAUNCHER_MODE=fail fails as a broken lab virtualenv would."""
    if os.environ.get("STUB_LAUNCHER_MODE") == "fail":
        raise ImportError("No module named 'nova' (stub)")


def run(argv: list[str], keystone: bool = False) -> None:
    parser = argparse.ArgumentParser()
    for option in ("--name", "--state-dir", "--identity", "--seed", "--hosts",
                   "--live-migration", "--shared-storage"):  # fmt: skip
        parser.add_argument(option)
    args = parser.parse_args(argv)
    mode = "ok" if keystone else os.environ.get("STUB_CELL_MODE", "ok")
    if mode == "fail":
        print(
            "Traceback (most recent call last):\nRuntimeError: boom: the cell cannot start",
            file=sys.stderr,
        )
        sys.exit(3)
    if mode == "hang":
        time.sleep(600)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Version)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    if keystone:  # the address once bound, the endpoint once serving: as Keystone does
        address = os.path.join(args.state_dir, "address.json")
        with open(address + ".tmp", "w") as handle:
            json.dump({"pid": os.getpid(), "url": url}, handle)
        os.replace(address + ".tmp", address)
        keystone_mode = os.environ.get("STUB_KEYSTONE_MODE", "ok")
        if keystone_mode in ("slow", "die"):
            time.sleep(1.5)
        if keystone_mode == "die":
            print("keystone stub: giving up", file=sys.stderr)
            sys.exit(4)
        endpoint = {"pid": os.getpid(), "url": url, "ready_seconds": 0.1}
    else:
        hosts = args.hosts.split(",")
        for host in hosts:
            conf = os.path.join(args.state_dir, "hosts", host, "etc", "nova")
            os.makedirs(conf, exist_ok=True)
            with open(os.path.join(conf, "nova-cpu.conf"), "w") as handle:
                handle.write(f"[DEFAULT]\nhost = {host}\n")
        endpoint = {
            "name": args.name, "pid": os.getpid(), "url": url, "compute": url + "/v2.1",
            "volume": url + "/volume/v3", "image": url + "/image/v2",
            "network": url + "/network/v2.0", "hosts": hosts, "drivers": {},
            "ready_seconds": 0.1, "rss_mb": 10,
        }  # fmt: skip
    path = os.path.join(args.state_dir, "endpoint.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(endpoint, handle)
    os.replace(path + ".tmp", path)
    print(f"READY {url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop.wait()
    os.remove(path)
    sys.exit(0)


if __name__ == "__main__":
    run(sys.argv[2:], keystone=sys.argv[1].endswith(os.path.join("identity", "server.py")))
