"""The GitLab pipeline `matrix ci gitlab` writes, run for real by gitlab-ci-local (shell
executor, each job in its own copy of the checkout, as a runner clones it): one job per
embedded-lab target runs `matrix run` (starting and stopping its own cell), and `pages` ingests
every job's artifacts, publishes the site and diffs the levels. Then `pages` runs again, as a
retried publish job does, and changes nothing.

Only the harness's installation is left out: the jobs use the `matrix` this test runs with
(MATRIX_INSTALL=true), where a real runner would `pip install .`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from tests.ci.conftest import Tools
from tests.conftest import REPO, SHIPPED

FEATURE = "launch"  # one quick feature per job keeps the pipeline to about two minutes


def _git(repository: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repository), *args], check=True, capture_output=True)


def _pipeline(tools: Tools, repository: Path, *jobs: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(tools.gitlab_ci_local), "--shell-isolation", "--concurrency", "1",
         "--variable", "MATRIX_INSTALL=true", *jobs],
        cwd=repository, capture_output=True, text=True, check=False, env=env, timeout=1800,
    )  # fmt: skip


def test_the_generated_gitlab_pipeline_runs_and_publishes_every_embedded_cell(
    tools: Tools,
    tmp_path: Path,
) -> None:
    repository = tmp_path / "project"
    repository.mkdir()
    shutil.copytree(SHIPPED, repository / "matrix")
    shutil.copytree(REPO / "scenarios", repository / "scenarios")
    _git(repository, "init", "-q")
    generated = subprocess.run(
        [sys.executable, "-m", "harness", "ci", "gitlab", "--lab", "matrix/labs/embedded.yaml",
         "--feature", FEATURE, "--out", "."],
        cwd=repository, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    _git(repository, "add", "-A")
    _git(repository, "-c", "user.name=ci", "-c", "user.email=ci@example.invalid",
         "commit", "-q", "-m", "the matrix pipeline")  # fmt: skip

    pipeline = _pipeline(tools, repository)
    log = pipeline.stdout + pipeline.stderr
    assert pipeline.returncode == 0, log[-4000:]
    targets = [
        t["name"] for t in yaml.safe_load((SHIPPED / "labs/embedded.yaml").read_text())["targets"]
    ]
    passed = re.findall(r"PASS\s+(.+?)\s*$", log, re.MULTILINE)
    assert sorted(passed) == sorted([f"matrix: [matrix-{t},{t}]" for t in targets] + ["pages"])

    # the history holds exactly one run per job, each with its own GitLab job URL
    with sqlite3.connect(repository / "results" / "history.sqlite") as history:
        runs = history.execute("SELECT target, kind, job_url FROM runs").fetchall()
    assert sorted(target for target, _, _ in runs) == sorted(targets)
    assert {kind for _, kind, _ in runs} == {"embedded"}
    urls = [url for _, _, url in runs]
    assert len(set(urls)) == len(targets)
    assert all(re.fullmatch(r"https://\S+/-/jobs/\d+", url) for url in urls), urls

    # the site has a level for every cell of every embedded combination; the feature run is known
    exported = json.loads((repository / "public" / "matrix.json").read_text())
    embedded = {
        t["combination"]
        for t in yaml.safe_load((SHIPPED / "labs/embedded.yaml").read_text())["targets"]
    }
    levels = {(c["feature"], c["combination"]): c["level"] for c in exported["cells"]}
    for combination in embedded:
        for feature in exported["features"]:
            assert (feature["id"], combination) in levels, (feature["id"], combination)
        assert levels[(FEATURE, combination)] not in ("unknown", "failing"), combination
    assert "First publish" in (repository / "results" / "matrix-diff.md").read_text()

    # a retried publish job: the cached history already has every run, and nothing changed
    again = _pipeline(tools, repository, "pages")
    log = again.stdout + again.stderr
    assert again.returncode == 0, log[-4000:]
    assert f"added 0 run(s) with 0 result(s); {len(targets)} already there" in log
    with sqlite3.connect(repository / "results" / "history.sqlite") as history:
        assert history.execute("SELECT count(*) FROM runs").fetchone() == (len(targets),)
    assert "No level changed" in (repository / "results" / "matrix-diff.md").read_text()
