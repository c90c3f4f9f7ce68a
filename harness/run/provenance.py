"""Where a run's evidence comes from: CI job, voting or not, kind, harness and scenario versions.

Each of kind, voting and job URL is the flag's (`--kind`, `--voting/--non-voting`,
`--job-url`), else the environment's `MATRIX_KIND`, `MATRIX_VOTING`, `MATRIX_JOB_URL`, else
what the CI engine running the job says in its own variables (`ENGINES`), else the lab
target's declaration. Two exceptions for the kind: an embedded-lab combination's runs are
always of kind `embedded` (the engine's word does not change it; its job URL is still
recorded), and a target the lab file declares `third-party` stays third-party whatever the
pipeline, since third-party CI is about who runs it. The environment is read whole: a value
no rule accepts (MATRIX_KIND=gat, MATRIX_VOTING=maybe, ZUUL_VOTING=perhaps) is BadInput naming
the variable, even where a flag overrides it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from harness import version
from harness.declarations.model import PROVENANCE_KINDS, Target
from harness.declarations.problems import unknown
from harness.errors import BadInput
from harness.run.records import Provenance

Env = Mapping[str, str]

BOOLEANS = {"true": True, "True": True, "1": True, "yes": True,
            "false": False, "False": False, "0": False, "no": False}  # fmt: skip
"""The spellings a boolean variable may have (Ansible renders True and False)."""


def boolean(env: Env, name: str) -> bool | None:
    """A boolean variable, strictly: None when unset or empty, BadInput naming it otherwise."""
    value = env.get(name)
    if not value:
        return None
    if value not in BOOLEANS:
        raise BadInput(f"{name}={value!r}: expected true or false (or True/False, 1/0, yes/no)")
    return BOOLEANS[value]


# --- the CI engines ------------------------------------------------------------------------

GITHUB_EVENTS: dict[str, str] = {
    "schedule": "periodic",
    "merge_group": "gate",  # the merge queue: what runs there decides the merge
    "pull_request": "check",
    "pull_request_target": "check",
    "push": "check",  # a branch push gates nothing, before a merge or after it
    "workflow_dispatch": "manual",
    "repository_dispatch": "manual",  # asked for through the API
}
"""GITHUB_EVENT_NAME -> kind; other events (release, workflow_run, ...) say nothing."""

GITLAB_SOURCES: dict[str, str] = {
    "schedule": "periodic",
    "merge_request_event": "check",  # "gate" in a merge train (CI_MERGE_REQUEST_EVENT_TYPE)
    "external_pull_request_event": "check",
    "push": "check",
    "web": "manual",
    "api": "manual",
    "trigger": "manual",
    "chat": "manual",
    "webide": "manual",
}
"""CI_PIPELINE_SOURCE -> kind; a downstream pipeline (`pipeline`, `parent_pipeline`) says
nothing: its kind is its upstream's, which the trigger job passes on as MATRIX_KIND."""


def zuul_kind(pipeline: str) -> str:
    """A Zuul pipeline's kind, from its name (pipelines are a tenant's own): any name with
    `third-party` in it is third-party, `periodic*` is periodic, a name with the word `gate`
    (gate, gate-arm64, integrated-gate) is gate, and everything else (check, check-arm64,
    experimental, post, promote, release, tag) is CI that gates no merge: check."""
    name = pipeline.lower()
    if "third-party" in name:
        return "third-party"
    if name.startswith("periodic"):
        return "periodic"
    if "gate" in re.split(r"[-_.]", name):
        return "gate"
    return "check"


def _zuul(env: Env) -> str | None:
    return zuul_kind(env["ZUUL_PIPELINE"]) if env.get("ZUUL_PIPELINE") else None


def _github(env: Env) -> str | None:
    return GITHUB_EVENTS.get(env.get("GITHUB_EVENT_NAME", ""))


def _gitlab(env: Env) -> str | None:
    source = env.get("CI_PIPELINE_SOURCE", "")
    if source == "merge_request_event" and env.get("CI_MERGE_REQUEST_EVENT_TYPE") == "merge_train":
        return "gate"
    return GITLAB_SOURCES.get(source)


def _github_url(env: Env) -> str | None:
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None  # the job's own URL needs the API: the run's is the one the variables give


def _nothing(env: Env) -> None:
    return None


@dataclass(frozen=True)
class Engine:
    """How to read one CI engine: whether it runs this job, and the kind, voting and job URL
    it says. `voting` reads the engine's own voting variable; where it has none (or it is
    unset), a run votes when the engine's kind is gate."""

    detects: tuple[tuple[str, str | None], ...]  # (variable, value; None: any but empty)
    kind: Callable[[Env], str | None]
    voting: Callable[[Env], bool | None]
    job_url: Callable[[Env], str | None]
    reads: tuple[str, ...]  # every variable it reads, for docs and tests

    def detected(self, env: Env) -> bool:
        return any(
            env.get(name) == value if value is not None else bool(env.get(name))
            for name, value in self.detects
        )


ENGINES: dict[str, Engine] = {
    "zuul": Engine(  # none by default: the generated run playbook exports these from zuul.*
        detects=(("ZUUL_PIPELINE", None),),
        kind=_zuul,
        voting=lambda env: boolean(env, "ZUUL_VOTING"),
        job_url=lambda env: env.get("ZUUL_BUILD_URL") or None,
        reads=("ZUUL_PIPELINE", "ZUUL_VOTING", "ZUUL_BUILD_URL"),
    ),
    "github-actions": Engine(
        detects=(("GITHUB_ACTIONS", "true"),),
        kind=_github,
        voting=_nothing,  # GitHub does not tell a job (continue-on-error): MATRIX_VOTING does
        job_url=_github_url,
        reads=(
            "GITHUB_ACTIONS",
            "GITHUB_EVENT_NAME",
            "GITHUB_SERVER_URL",
            "GITHUB_REPOSITORY",
            "GITHUB_RUN_ID",
        ),
    ),
    "gitlab": Engine(
        detects=(("GITLAB_CI", "true"),),
        kind=_gitlab,
        voting=_nothing,  # nor does GitLab (allow_failure): MATRIX_VOTING does
        job_url=lambda env: env.get("CI_JOB_URL") or None,
        reads=("GITLAB_CI", "CI_PIPELINE_SOURCE", "CI_MERGE_REQUEST_EVENT_TYPE", "CI_JOB_URL"),
    ),
    "jenkins": Engine(  # the job URL only: a Jenkins job's trigger is its own configuration
        detects=(("BUILD_URL", None), ("JENKINS_URL", None)),
        kind=_nothing,
        voting=_nothing,
        job_url=lambda env: env.get("BUILD_URL") or None,
        reads=("BUILD_URL", "JENKINS_URL"),
    ),
}
"""CI engine -> how it is detected and what it says, first detected first. Its one source is
each engine's documented variables (and, for Zuul, what harness/ci's run playbook exports)."""

OWN_VARIABLES = ("MATRIX_KIND", "MATRIX_VOTING", "MATRIX_JOB_URL")
"""Ours, read on every engine (and on none); they win over the engine's."""


@dataclass(frozen=True)
class Said:
    """What the environment says, read whole: ours, and the detected engine's."""

    engine: str | None = None
    matrix_kind: str | None = None
    matrix_voting: bool | None = None
    matrix_job_url: str | None = None
    engine_kind: str | None = None
    engine_voting: bool | None = None
    engine_job_url: str | None = None


def read_environment(env: Env) -> Said:
    """Our variables and the first detected engine's; BadInput for a value no rule accepts."""
    matrix_kind = env.get("MATRIX_KIND") or None
    if matrix_kind is not None and matrix_kind not in PROVENANCE_KINDS:
        raise BadInput(unknown("provenance kind", matrix_kind, PROVENANCE_KINDS) + " (MATRIX_KIND)")
    said = Said(
        matrix_kind=matrix_kind,
        matrix_voting=boolean(env, "MATRIX_VOTING"),
        matrix_job_url=env.get("MATRIX_JOB_URL") or None,
    )
    for name, engine in ENGINES.items():
        if engine.detected(env):
            kind = engine.kind(env)
            voting = engine.voting(env)
            if voting is None and kind is not None:
                voting = kind == "gate"
            job_url = engine.job_url(env)
            return replace(said, engine=name, engine_kind=kind, engine_voting=voting,
                           engine_job_url=job_url)  # fmt: skip
    return said


def job_url_from(env: Env) -> str | None:
    """MATRIX_JOB_URL, else the detected engine's job URL, else the first URL any engine's
    variables give (a job that exports only, say, ZUUL_BUILD_URL)."""
    said = read_environment(env)
    if said.matrix_job_url or said.engine_job_url:
        return said.matrix_job_url or said.engine_job_url
    return next((url for e in ENGINES.values() if (url := e.job_url(env))), None)


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
    target: Target, embedded: bool, kind: str | None = None, env: Env | None = None
) -> str:
    """The run's provenance kind: the flag, else MATRIX_KIND, else the CI engine's, else the
    target's. Only embedded combinations are of kind 'embedded', and they are of no other: the
    lab file is checked for this when loaded, and a flag or the environment may not bring it
    back; the engine is not asked for them, nor for a target declared third-party. Reads the
    whole environment, so `matrix run` refuses a junk variable before any target starts."""
    said = read_environment(os.environ if env is None else env)
    declared = target.provenance.kind
    if kind:
        chosen, where = kind, "--kind"
    elif said.matrix_kind:
        chosen, where = said.matrix_kind, "MATRIX_KIND"
    elif said.engine_kind and not embedded and declared != "third-party":
        chosen, where = said.engine_kind, f"the {said.engine} pipeline"
    else:
        chosen, where = declared, "the lab file"
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


def voting_for(target: Target, voting: bool | None = None, env: Env | None = None) -> bool:
    """Whether the run's job votes: the flag, else MATRIX_VOTING, else the CI engine's (its
    own variable, or: a gate votes), else the target's."""
    said = read_environment(os.environ if env is None else env)
    for said_voting in (voting, said.matrix_voting, said.engine_voting):
        if said_voting is not None:
            return said_voting
    return target.provenance.voting


def provenance_for(
    target: Target,
    scenarios: Path,
    *,
    embedded: bool = False,
    kind: str | None = None,
    voting: bool | None = None,
    job_url: str | None = None,
    env: Env | None = None,
) -> Provenance:
    env = os.environ if env is None else env
    return Provenance(
        kind=kind_for(target, embedded, kind, env),  # checked against the Literal's values
        voting=voting_for(target, voting, env),
        job_url=job_url or job_url_from(env) or target.provenance.job_url,
        harness_version=version(),
        scenarios_revision=scenarios_revision(scenarios),
    )
