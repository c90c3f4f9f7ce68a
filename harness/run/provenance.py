"""Where a run's evidence comes from: CI job, voting or not, kind, harness and scenario versions.

Flags win over the environment, which wins over the lab target's declaration. The CI job URL
is read from the variables the common CI systems set, so a job needs no extra flag.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from harness import __version__
from harness.declarations.model import PROVENANCE_KINDS, Target
from harness.declarations.problems import unknown
from harness.errors import BadInput
from harness.run.records import Provenance


def job_url_from(env: Mapping[str, str]) -> str | None:
    if url := env.get("MATRIX_JOB_URL"):
        return url
    if url := env.get("CI_JOB_URL"):  # GitLab
        return url
    if url := env.get("BUILD_URL"):  # Jenkins
        return url
    if url := env.get("ZUUL_BUILD_URL"):
        return url
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None


def scenarios_revision(scenarios: Path) -> str | None:
    """The git revision of the scenarios that ran, with '+dirty' when they were changed."""
    try:
        head = subprocess.run(
            ["git", "-C", str(scenarios), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(scenarios), "status", "--porcelain", "--", "."],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def kind_for(
    target: Target, embedded: bool, kind: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The run's provenance kind: the flag, else MATRIX_KIND, else the target's. Only embedded
    combinations are of kind 'embedded', and they are of no other: the lab file is checked for
    this when loaded, and a flag or the environment may not bring it back."""
    env = os.environ if env is None else env
    chosen = kind or env.get("MATRIX_KIND") or target.provenance.kind
    where = "--kind" if kind else "MATRIX_KIND" if env.get("MATRIX_KIND") else "the lab file"
    if chosen not in PROVENANCE_KINDS:
        raise BadInput(unknown("provenance kind", chosen, PROVENANCE_KINDS) + f" ({where})")
    if (chosen == "embedded") != embedded:
        whose = "an embedded-lab" if embedded else "a real"
        raise BadInput(
            f"target '{target.target_name}' ({target.combination}) is {whose} combination: "
            f"provenance kind '{chosen}' ({where}) "
            + ("must be 'embedded'" if embedded else "'embedded' is only for the embedded lab")
        )
    return chosen


def provenance_for(
    target: Target,
    scenarios: Path,
    *,
    embedded: bool = False,
    kind: str | None = None,
    voting: bool | None = None,
    job_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Provenance:
    env = os.environ if env is None else env
    chosen = kind_for(target, embedded, kind, env)
    return Provenance(
        kind=chosen,  # checked against the Literal's values above
        voting=voting if voting is not None else target.provenance.voting,
        job_url=job_url or job_url_from(env) or target.provenance.job_url,
        harness_version=__version__,
        scenarios_revision=scenarios_revision(scenarios),
    )
