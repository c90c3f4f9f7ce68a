"""The shell commands CI jobs run, spelt once for every engine.

A run job runs `matrix run` for its combination; the publish job ingests every job's records
into the history it keeps between pipelines, writes the site, and says what changed.
"""

from __future__ import annotations

import shlex

from harness.ci.jobs import Request

RUNS = "results/runs"
HISTORY = "results/history.sqlite"
BEFORE = "results/history-before.sqlite"
SITE = "results/site"
DIFF = "results/matrix-diff.md"


def selecting(request: Request, value: str) -> str:
    """The option that picks one job's work: its lab target, or (a devstack of its own) its
    combination. `value` is a shell word: a quoted name or a "$VARIABLE"."""
    return ("--target " if request.lab else "--combination ") + value


def run(request: Request, select: str) -> str:
    """`matrix run` for one job; `select` is what `selecting` gave."""
    words = ["matrix", "run"]
    if request.lab_path and not request.embedded_lab:
        words += ["--lab", request.lab_path]
    for feature in request.features:
        words += ["--feature", feature]
    return f"{shlex.join(words)} {select} --out results"


def publish(artifacts: str, site: str = SITE) -> list[str]:
    """The publish job's steps, for one shell: keep the history as it was, ingest every job's
    records (again is harmless: ingest is idempotent), write the site, and diff the levels.
    An artifact ingest rejects does not keep the others off the site: the site and the diff
    are still written, and the last step (`FINISH`) then fails the job with ingest's status."""
    return [
        f"if [ -f {HISTORY} ]; then cp {HISTORY} {BEFORE}; fi",
        shlex.join(["matrix", "ingest", artifacts]) + " || ingest_status=$?",
        shlex.join(["matrix", "publish", "--out", site]),
        f"if [ -f {BEFORE} ]; then matrix diff {BEFORE} {HISTORY} > {DIFF}; "
        f"else echo 'First publish: no earlier history to diff.' > {DIFF}; fi",
    ]


FINISH = 'exit "${ingest_status:-0}"'
"""The publish job's last step: ingest's status (2 when it rejected an artifact)."""


def install(spec: str = ".") -> str:
    """How a job installs the harness: from the checkout (the project holds the declarations
    and, in the harness's own repository, the harness)."""
    return shlex.join(["python3", "-m", "pip", "install", "--quiet", spec])
