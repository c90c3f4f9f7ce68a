"""GitLab CI: a `parallel: matrix:` job with one instance per run job, each keeping its run
records as artifacts, and `pages`, which needs them all, ingests them into the history it keeps
in the cache, publishes the site to GitLab Pages and diffs the levels.

Provenance comes from GitLab's own variables (CI_PIPELINE_SOURCE, CI_JOB_URL); MATRIX_VOTING
says whether the run jobs vote, which GitLab does not tell a job (`allow_failure`).
"""

from __future__ import annotations

from typing import Any

from harness.ci import commands
from harness.ci.jobs import Files, Request
from harness.ci.output import dump, generated_by

PATH = ".gitlab-ci.yml"


def render(request: Request) -> Files:
    jobs = request.jobs()
    include = [{"MATRIX_JOB": job.name, "MATRIX_TARGET": job.target or job.combination}
               for job in jobs]  # fmt: skip
    run_command = commands.run(request, commands.selecting(request, '"$MATRIX_TARGET"'))
    pipeline: dict[str, Any] = {
        "stages": ["matrix", "publish"],
        "variables": {
            "MATRIX_INSTALL": commands.install(),
            "MATRIX_VOTING": "true" if request.voting else "false",
        },
        ".matrix-harness": {"before_script": ["$MATRIX_INSTALL"]},
        "matrix": {
            "stage": "matrix",
            "extends": ".matrix-harness",
            "parallel": {"matrix": [{k: [v] for k, v in entry.items()} for entry in include]},
            "allow_failure": not request.voting,
            "script": [run_command],
            "artifacts": {
                "name": "matrix-runs-$MATRIX_JOB",
                "when": "always",
                "paths": [f"{commands.RUNS}/"],
                "expire_in": "30 days",
            },
        },
        "pages": {
            "stage": "publish",
            "extends": ".matrix-harness",
            "needs": [{"job": "matrix", "artifacts": True}],
            "when": "always",
            "cache": {"key": "matrix-history", "paths": [commands.HISTORY], "when": "always"},
            "script": [
                *commands.publish(commands.RUNS, site="public"),
                f"cat {commands.DIFF}",
                commands.FINISH,
            ],
            "artifacts": {
                "when": "always",
                "paths": ["public/", commands.HISTORY, commands.DIFF],
            },
        },
    }
    return {PATH: dump(pipeline, generated_by("gitlab", request))}
