#!/usr/bin/env bash
# Debian packages the tests need beyond Python: a real OpenSSH server and client, which the
# preflight tests start on 127.0.0.1. Installs them when missing (as root, or with sudo);
# otherwise says what to install. Run by `tox` (py3) and by .ci/run.
set -euo pipefail

if test -x /usr/sbin/sshd && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root() { sudo "$@"; }
else
    echo "the preflight tests need OpenSSH: install openssh-server and openssh-client" >&2
    echo "(e.g. sudo apt-get install openssh-server openssh-client)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "no apt-get here: install openssh-server and openssh-client with your package manager" >&2
    exit 1
fi
echo "installing openssh-server and openssh-client (for the preflight tests)" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
