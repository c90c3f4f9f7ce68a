"""A real OpenSSH server on 127.0.0.1 for preflight's ssh tests, and planted host roots.

The server runs as the current user with keys generated for the session; testinfra's ssh backend
reaches it through an ssh_config written beside them. No ssh master connection is kept
(controlpersist=0: testinfra's default ControlPersist daemonizes ssh masters, which nothing
would stop), so every ssh and sshd process of the session ends with it.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")  # Debian's sshd refuses to start as root without it
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class SshServer:
    user: str
    port: int
    ssh_config: Path

    def spec(self, host: str = "127.0.0.1", port: int | None = None) -> str:
        """A testinfra spec for this server (or, with `port`, for a closed port)."""
        where = f"{host}:{port}" if port is not None else host
        return f"ssh://{self.user}@{where}?ssh_config={self.ssh_config}&controlpersist=0"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "preflight-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    missing = [] if os.access(SSHD, os.X_OK) else [SSHD]
    missing += [tool for tool in ("ssh", "ssh-keygen") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"the preflight ssh tests need OpenSSH, missing: {', '.join(missing)}; install "
            "Debian's openssh-server and openssh-client (.ci/run does)",
            pytrace=False,
        )
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True)  # what ssh.service's RuntimeDirectory does

    home = tmp_path_factory.mktemp("sshd")
    host_key, user_key = home / "host_key", home / "user_key"
    _keygen(host_key)
    _keygen(user_key)
    authorized = home / "authorized_keys"
    authorized.write_text((home / "user_key.pub").read_text())
    authorized.chmod(0o600)
    user, port = getpass.getuser(), free_port()

    config = home / "sshd_config"
    config.write_text(
        textwrap.dedent(f"""\
            ListenAddress 127.0.0.1
            Port {port}
            HostKey {host_key}
            AuthorizedKeysFile {authorized}
            PidFile {home / "sshd.pid"}
            UsePAM no
            StrictModes no
            PermitRootLogin prohibit-password
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            AllowUsers {user}
            LogLevel ERROR
            """)
    )
    client = home / "ssh_config"
    client.write_text(
        textwrap.dedent(f"""\
            Host *
                Port {port}
                IdentityFile {user_key}
                IdentitiesOnly yes
                StrictHostKeyChecking no
                UserKnownHostsFile /dev/null
                BatchMode yes
                LogLevel ERROR
            """)
    )

    log = home / "sshd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"sshd did not start on 127.0.0.1:{port} (exit {process.poll()}): "
                    + log.read_text(errors="replace")[-2000:],
                    pytrace=False,
                )
            time.sleep(0.05)
        yield SshServer(user, port, client)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path
