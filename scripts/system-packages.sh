#!/usr/bin/env bash
# Debian packages the tests and the embedded lab need beyond Python, installed when missing
# in one apt-get run (as root, or with sudo); otherwise it says what to install.
#
#   OpenSSH server and client   the preflight tests start a real sshd on 127.0.0.1
#   Chromium                    the published site's tests run in it headless (Playwright
#                               drives Debian's browser: no `playwright install`)
#   libvirt, QEMU, dnsmasq      the lab's libvirt cells: a private libvirtd per compute host,
#   iproute2                    real QEMU guests, a bridge with DHCP for their taps
#   bindfs                      instance storage two lab hosts share (libvirt takes a FUSE
#                               file system of subtype glusterfs for shared)
#   libvirt-dev, pkg-config,    to build libvirt-python in the lab's virtualenv
#   gcc
#   busybox-static, qemu-ga,    the guest image (harness/lab/image.py); its kernel is fetched
#   dosfstools, mtools,         with apt-get download, never installed
#   syslinux, genisoimage
#   rsync, nodejs, npm          gitlab-ci-local copies each job's checkout with rsync; it and
#                               GitHub's workflow parser run on Node.js (scripts/ci-tools.sh)
#
# Run by `tox` (py3) and by .ci/run.
set -euo pipefail

# "how to tell it is there" "the package that provides it"
checks=(
    "test -x /usr/sbin/sshd"                     openssh-server
    "command -v ssh-keygen"                      openssh-client
    "test -x /usr/bin/chromium"                  chromium
    "test -x /usr/sbin/libvirtd"                 libvirt-daemon-system
    "command -v virsh"                           libvirt-clients
    "command -v qemu-system-x86_64"              qemu-system-x86
    "command -v qemu-img"                        qemu-utils
    "command -v dnsmasq"                         dnsmasq-base
    "command -v ip"                              iproute2
    "command -v bindfs"                          bindfs
    "command -v pkg-config"                      pkg-config
    "pkg-config --exists libvirt"                libvirt-dev
    "command -v gcc"                             gcc
    "test -x /bin/busybox"                       busybox-static
    "test -x /usr/sbin/qemu-ga"                  qemu-guest-agent
    "command -v mkfs.fat"                        dosfstools
    "command -v mcopy"                           mtools
    "command -v syslinux"                        syslinux
    "command -v rsync"                           rsync
    "command -v node"                            nodejs
    "command -v npm"                             npm
    "command -v genisoimage"                     genisoimage
)
missing=()
for ((i = 0; i < ${#checks[@]}; i += 2)); do
    if ! eval "${checks[i]}" >/dev/null 2>&1; then
        missing+=("${checks[i + 1]}")
    fi
done
# busybox (not -static) also installs /bin/busybox, but the guest image needs a static one
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q ' installed$'; then
    [[ " ${missing[*]} " == *" busybox-static "* ]] || missing+=(busybox-static)
fi
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root() { sudo "$@"; }
else
    echo "the tests and the lab need ${missing[*]} (see $0 for what each is for)" >&2
    echo "(e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "no apt-get here: install ${missing[*]} with your package manager" >&2
    exit 1
fi
echo "installing ${missing[*]}" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
