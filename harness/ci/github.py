"""GitHub Actions: a `run` job whose `strategy.matrix` has one entry per run job, each
uploading its run records as an artifact, and `publish`, which needs them all, downloads every
artifact, ingests it into the history it keeps in the Actions cache, uploads the site as the
Pages artifact and puts `matrix diff` in the run's summary; `deploy` (scheduled and manual runs
only, in the github-pages environment, whose rules allow the default branch) publishes it.

Provenance comes from GitHub's own variables (GITHUB_EVENT_NAME, GITHUB_RUN_ID); MATRIX_VOTING
says whether the run jobs vote, which GitHub does not tell a job (`continue-on-error`).
"""

from __future__ import annotations

from typing import Any

from harness.ci import commands
from harness.ci.jobs import Files, Request
from harness.ci.output import dump, generated_by

PATH = ".github/workflows/matrix.yml"
ARTIFACTS = "artifacts"
CHECKOUT = "actions/checkout@v4"
SETUP_PYTHON = "actions/setup-python@v5"
DEPLOY_PAGES = "actions/deploy-pages@v4"


def render(request: Request) -> Files:
    jobs = request.jobs()
    runner = request.runs_on or ("ubuntu-latest" if request.embedded_lab or not request.lab
                                 else "self-hosted")  # fmt: skip
    setup = [
        {"uses": CHECKOUT},
        {"uses": SETUP_PYTHON, "with": {"python-version": "3.11"}},
        {"name": "Install the harness", "run": commands.install()},
    ]
    workflow: dict[str, Any] = {
        "name": "matrix",
        "on": {
            "pull_request": {},
            "merge_group": {},
            "schedule": [{"cron": "17 3 * * *"}],
            "workflow_dispatch": {},
        },
        "permissions": {"contents": "read"},
        "concurrency": {"group": "matrix-${{ github.ref }}", "cancel-in-progress": False},
        "jobs": {
            "run": {
                "name": "${{ matrix.job }}",
                "runs-on": runner,
                "continue-on-error": not request.voting,
                "strategy": {
                    "fail-fast": False,
                    "matrix": {
                        "include": [
                            {"job": job.name, "select": job.target or job.combination}
                            for job in jobs
                        ]
                    },
                },
                "env": {"MATRIX_VOTING": "true" if request.voting else "false"},
                "steps": [
                    *setup,
                    {
                        "name": "Run the matrix",
                        "run": commands.run(
                            request, commands.selecting(request, '"${{ matrix.select }}"')
                        ),
                    },
                    {
                        "name": "Keep the run records",
                        "if": "always()",
                        "uses": "actions/upload-artifact@v4",
                        "with": {
                            "name": "matrix-runs-${{ matrix.job }}",
                            "path": f"{commands.RUNS}/",
                            "if-no-files-found": "error",
                        },
                    },
                ],
            },
            "publish": {
                "needs": ["run"],
                "if": "always()",
                "runs-on": "ubuntu-latest",
                "steps": [
                    *setup,
                    {
                        "name": "Restore the history",
                        "uses": "actions/cache/restore@v4",
                        "with": {
                            "path": commands.HISTORY,
                            "key": "matrix-history-${{ github.run_id }}",
                            "restore-keys": "matrix-history-",
                        },
                    },
                    {
                        "name": "Download every job's run records",
                        "uses": "actions/download-artifact@v4",
                        "with": {"pattern": "matrix-runs-*", "path": ARTIFACTS},
                    },
                    {
                        "name": "Ingest, publish and diff",
                        "run": "\n".join(
                            [
                                *commands.publish(ARTIFACTS),
                                f'cat {commands.DIFF} >> "$GITHUB_STEP_SUMMARY"',
                                commands.FINISH,
                            ]
                        ),
                    },
                    {
                        "name": "Keep the history",
                        "if": "always()",  # what was ingested, also when an artifact was not
                        "uses": "actions/cache/save@v4",
                        "with": {
                            "path": commands.HISTORY,
                            "key": "matrix-history-${{ github.run_id }}",
                        },
                    },
                    {
                        "name": "Upload the site",
                        "if": "always()",
                        "uses": "actions/upload-pages-artifact@v3",
                        "with": {"path": commands.SITE},
                    },
                ],
            },
            "deploy": {
                "needs": ["publish"],
                "if": "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'",
                "runs-on": "ubuntu-latest",
                "permissions": {"pages": "write", "id-token": "write"},
                "environment": {
                    "name": "github-pages",
                    "url": "${{ steps.deploy.outputs.page_url }}",
                },
                "steps": [{"name": "Deploy the site", "id": "deploy", "uses": DEPLOY_PAGES}],
            },
        },
    }
    return {PATH: dump(workflow, generated_by("github", request))}
