#!/usr/bin/env bash
# Debian packages the tests need beyond Python: a real OpenSSH server and client, which the
# preflight tests start on 127.0.0.1, and Chromium (/usr/bin/chromium), in which the published
# site's tests run headless through Playwright (no `playwright install`: Debian's browser).
# Installs whatever is missing in one apt-get run (as root, or with sudo); otherwise says what
# to install. Run by `tox` (py3) and by .ci/run.
set -euo pipefail

missing=()
if ! test -x /usr/sbin/sshd; then
    missing+=(openssh-server)
fi
if ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
    missing+=(openssh-client)
fi
if ! test -x /usr/bin/chromium; then
    missing+=(chromium)
fi
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root() { sudo "$@"; }
else
    echo "the tests need ${missing[*]} (OpenSSH for preflight, Chromium for the site)" >&2
    echo "(e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "no apt-get here: install ${missing[*]} with your package manager" >&2
    exit 1
fi
echo "installing ${missing[*]} (OpenSSH for the preflight tests, Chromium for the site's)" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
