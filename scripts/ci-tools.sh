#!/usr/bin/env bash
# The CI engines' own tools the tests check generated CI files with, installed when missing:
#
#   tests/ci/tools/node_modules   gitlab-ci-local (runs a generated GitLab pipeline for real,
#                                 shell executor) and @actions/workflow-parser (GitHub's own
#                                 workflow parser), pinned by package-lock.json
#   $ZUUL_VENV                    Zuul (its configuration parser) and ansible-core
#                                 (ansible-playbook --syntax-check), pinned by
#                                 tests/ci/tools/zuul-constraints.txt; a virtualenv of its own,
#                                 as Zuul's pins are not the harness's
#
# Prints the Zuul virtualenv's path last. Run by `tox` (py3) and by the tests' fixtures.
set -euo pipefail
tools="$(cd "$(dirname "$0")/../tests/ci/tools" && pwd)"

if [ ! -x "$tools/node_modules/.bin/gitlab-ci-local" ] || [ ! -d "$tools/node_modules/@actions/workflow-parser" ]; then
    echo "installing the CI engines' Node.js tools into $tools/node_modules" >&2
    npm ci --prefix "$tools" --silent --no-audit --no-fund >&2
fi

key="$(cat "$tools/zuul-requirements.txt" "$tools/zuul-constraints.txt" | sha256sum | cut -c1-12)"
venv="${MATRIX_ZUUL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/matrix-harness/zuul-venv-$key}"
if [ ! -f "$venv/ready" ]; then
    echo "building Zuul's virtualenv in $venv (once; about a minute)" >&2
    rm -rf "$venv"  # a half-built one (no ready marker); built in place: its scripts name it
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        -c "$tools/zuul-constraints.txt" -r "$tools/zuul-requirements.txt" >&2
    touch "$venv/ready"
fi
echo "$venv"
