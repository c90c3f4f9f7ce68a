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
# Prints the Zuul virtualenv's path last. Run by `tox` (py3) and by the tests' fixtures. A
# step's output goes to a log, shown when the step fails; a failed npm ci is tried once more
# (the registry, not the lock file, is what fails now and then).
set -euo pipefail
tools="$(cd "$(dirname "$0")/../tests/ci/tools" && pwd)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

step() {  # step WHAT COMMAND...: run it quietly, or say what failed and show its last lines
    local what="$1"; shift
    if ! "$@" >"$log" 2>&1; then
        echo "ci-tools: could not $what; its last lines:" >&2
        tail -n 25 "$log" >&2
        return 1
    fi
}

if [ ! -x "$tools/node_modules/.bin/gitlab-ci-local" ] || [ ! -d "$tools/node_modules/@actions/workflow-parser" ]; then
    echo "installing the CI engines' Node.js tools into $tools/node_modules" >&2
    npm_ci=(npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error)
    "${npm_ci[@]}" >"$log" 2>&1 || step "install the Node.js tools (npm ci)" "${npm_ci[@]}"
fi

key="$(cat "$tools/zuul-requirements.txt" "$tools/zuul-constraints.txt" | sha256sum | cut -c1-12)"
venv="${MATRIX_ZUUL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/matrix-harness/zuul-venv-$key}"
if [ ! -f "$venv/ready" ]; then
    echo "building Zuul's virtualenv in $venv (once; a few minutes)" >&2
    rm -rf "$venv"  # a half-built one (no ready marker); built in place: its scripts name it
    step "create Zuul's virtualenv" python3 -m venv "$venv"
    step "install Zuul and ansible-core" "$venv/bin/pip" install --quiet \
        --disable-pip-version-check -c "$tools/zuul-constraints.txt" \
        -r "$tools/zuul-requirements.txt"
    touch "$venv/ready"
fi
echo "$venv"
