"""Provenance read from each CI engine's own variables (run.provenance.ENGINES): per engine, a
table of environments and the kind, voting and job URL a run records, through
`provenance_for` with an explicit environment; then the precedence and the two exceptions
(embedded stays embedded, third-party stays third-party), strict booleans, and what a check
run counts for in the levels. No cloud, no lab, nothing read from the process environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.declarations.model import CI_KINDS, GATING_KINDS, PROVENANCE_KINDS, Target
from harness.declarations.model import Provenance as Declared
from harness.errors import BadInput
from harness.levels.compute import compute_levels
from harness.run.provenance import (
    ENGINES,
    GITHUB_EVENTS,
    GITLAB_SOURCES,
    kind_for,
    provenance_for,
    zuul_kind,
)
from tests.builder import NOW, History
from tests.levels.conftest import KVM, LM

ZUUL = "https://zuul.opendev.org/t/openstack/build/5f2c"
GITHUB = "https://github.com/openstack/matrix/actions/runs/77"
GITLAB = "https://gitlab.example.org/infra/matrix/-/jobs/88"
JENKINS = "https://jenkins.example.org/job/matrix/99/"
DECLARED_URL = "https://lab.example.org/declared"

GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "openstack/matrix",
    "GITHUB_RUN_ID": "77",
}
GITLAB_ENV = {"GITLAB_CI": "true", "CI_JOB_URL": GITLAB}
ZUUL_ENV = {"ZUUL_JOB": "matrix-libvirt-kvm", "ZUUL_BUILD_URL": ZUUL}


def target(
    kind: str = "manual",
    voting: bool = False,
    combination: str = "libvirt-kvm/local-qcow2/ovs",
    job_url: str | None = None,
) -> Target:
    return Target(
        combination=combination,
        cloud="lab-cloud",
        provenance=Declared(kind=kind, voting=voting, job_url=job_url),  # type: ignore[arg-type]
    )


def recorded(
    env: dict[str, str], declared: Target | None = None, embedded: bool = False, **flags: object
) -> tuple[str, bool, str | None]:
    provenance = provenance_for(
        declared or target(), Path("/nonexistent"), embedded=embedded, env=env, **flags
    )  # type: ignore[arg-type]
    return provenance.kind, provenance.voting, provenance.job_url


# --- one table per engine ------------------------------------------------------------------

ZUUL_CASES = [
    ("gate voting", {"ZUUL_PIPELINE": "gate", "ZUUL_VOTING": "True"}, ("gate", True)),
    ("gate non-voting", {"ZUUL_PIPELINE": "gate", "ZUUL_VOTING": "False"}, ("gate", False)),
    ("check voting", {"ZUUL_PIPELINE": "check", "ZUUL_VOTING": "True"}, ("check", True)),
    ("check non-voting", {"ZUUL_PIPELINE": "check", "ZUUL_VOTING": "False"}, ("check", False)),
    ("periodic", {"ZUUL_PIPELINE": "periodic", "ZUUL_VOTING": "True"}, ("periodic", True)),
    ("periodic-weekly", {"ZUUL_PIPELINE": "periodic-weekly"}, ("periodic", False)),
    ("third-party-check", {"ZUUL_PIPELINE": "third-party-check"}, ("third-party", False)),
    ("experimental", {"ZUUL_PIPELINE": "experimental", "ZUUL_VOTING": "False"}, ("check", False)),
    ("post", {"ZUUL_PIPELINE": "post", "ZUUL_VOTING": "True"}, ("check", True)),
    ("gate-arm64", {"ZUUL_PIPELINE": "gate-arm64", "ZUUL_VOTING": "true"}, ("gate", True)),
    ("gate, voting not exported", {"ZUUL_PIPELINE": "gate"}, ("gate", True)),
]


@pytest.mark.parametrize(
    ("env", "expected"), [c[1:] for c in ZUUL_CASES], ids=[c[0] for c in ZUUL_CASES]
)
def test_zuul(env: dict[str, str], expected: tuple[str, bool]) -> None:
    assert recorded({**ZUUL_ENV, **env}) == (*expected, ZUUL)


def test_zuul_with_an_empty_build_url_records_the_targets() -> None:
    declared = target(job_url=DECLARED_URL)
    env = {"ZUUL_PIPELINE": "check", "ZUUL_VOTING": "False", "ZUUL_BUILD_URL": ""}
    assert recorded(env, declared) == ("check", False, DECLARED_URL)


GITHUB_CASES = [
    ("schedule", {"GITHUB_EVENT_NAME": "schedule"}, ("periodic", False)),
    ("pull_request", {"GITHUB_EVENT_NAME": "pull_request"}, ("check", False)),
    ("pull_request_target", {"GITHUB_EVENT_NAME": "pull_request_target"}, ("check", False)),
    ("merge_group", {"GITHUB_EVENT_NAME": "merge_group"}, ("gate", True)),
    ("push", {"GITHUB_EVENT_NAME": "push"}, ("check", False)),
    ("workflow_dispatch", {"GITHUB_EVENT_NAME": "workflow_dispatch"}, ("manual", False)),
    (
        "merge_group, MATRIX_VOTING=false",
        {"GITHUB_EVENT_NAME": "merge_group", "MATRIX_VOTING": "false"},
        ("gate", False),
    ),
    (
        "pull_request, MATRIX_VOTING=true",
        {"GITHUB_EVENT_NAME": "pull_request", "MATRIX_VOTING": "true"},
        ("check", True),
    ),
    (
        "an event that says nothing: the target's",
        {"GITHUB_EVENT_NAME": "release"},
        ("periodic", True),
    ),
]


@pytest.mark.parametrize(
    ("env", "expected"), [c[1:] for c in GITHUB_CASES], ids=[c[0] for c in GITHUB_CASES]
)
def test_github_actions(env: dict[str, str], expected: tuple[str, bool]) -> None:
    assert recorded({**GITHUB_ENV, **env}, target("periodic", voting=True)) == (*expected, GITHUB)


def test_github_enterprise_keeps_its_server_in_the_run_url() -> None:
    env = {
        **GITHUB_ENV,
        "GITHUB_SERVER_URL": "https://ghe.example.org",
        "GITHUB_EVENT_NAME": "push",
    }
    assert recorded(env)[2] == "https://ghe.example.org/openstack/matrix/actions/runs/77"


MR = "merge_request_event"
GITLAB_CASES = [
    ("schedule", {"CI_PIPELINE_SOURCE": "schedule"}, ("periodic", False)),
    ("merge request", {"CI_PIPELINE_SOURCE": MR}, ("check", False)),
    (
        "merged results",
        {"CI_PIPELINE_SOURCE": MR, "CI_MERGE_REQUEST_EVENT_TYPE": "merged_result"},
        ("check", False),
    ),
    (
        "merge train",
        {"CI_PIPELINE_SOURCE": MR, "CI_MERGE_REQUEST_EVENT_TYPE": "merge_train"},
        ("gate", True),
    ),
    (
        "merge train, MATRIX_VOTING=false",
        {
            "CI_PIPELINE_SOURCE": MR,
            "CI_MERGE_REQUEST_EVENT_TYPE": "merge_train",
            "MATRIX_VOTING": "false",
        },
        ("gate", False),
    ),
    ("push", {"CI_PIPELINE_SOURCE": "push"}, ("check", False)),
    (
        "push, MATRIX_VOTING=yes",
        {"CI_PIPELINE_SOURCE": "push", "MATRIX_VOTING": "yes"},
        ("check", True),
    ),
    ("web", {"CI_PIPELINE_SOURCE": "web"}, ("manual", False)),
    ("api", {"CI_PIPELINE_SOURCE": "api"}, ("manual", False)),
    ("trigger", {"CI_PIPELINE_SOURCE": "trigger"}, ("manual", False)),
    ("downstream pipeline: the target's", {"CI_PIPELINE_SOURCE": "pipeline"}, ("periodic", True)),
    (
        "downstream pipeline, MATRIX_KIND from upstream",
        {"CI_PIPELINE_SOURCE": "parent_pipeline", "MATRIX_KIND": "gate"},
        ("gate", True),
    ),
]


@pytest.mark.parametrize(
    ("env", "expected"), [c[1:] for c in GITLAB_CASES], ids=[c[0] for c in GITLAB_CASES]
)
def test_gitlab(env: dict[str, str], expected: tuple[str, bool]) -> None:
    assert recorded({**GITLAB_ENV, **env}, target("periodic", voting=True)) == (*expected, GITLAB)


@pytest.mark.parametrize(
    "env",
    [{"BUILD_URL": JENKINS}, {"BUILD_URL": JENKINS, "JENKINS_URL": "https://jenkins.example.org/"}],
    ids=["BUILD_URL", "both"],
)
def test_jenkins_gives_the_job_url_and_the_target_the_rest(env: dict[str, str]) -> None:
    assert recorded(env, target("third-party", voting=True)) == ("third-party", True, JENKINS)


def test_jenkins_without_a_build_url_records_the_targets() -> None:
    env = {"JENKINS_URL": "https://jenkins.example.org/"}
    assert recorded(env, target("periodic", job_url=DECLARED_URL)) == (
        "periodic",
        False,
        DECLARED_URL,
    )


def test_no_engine_at_all_records_the_targets_declaration() -> None:
    declared = target("periodic", voting=True, job_url=DECLARED_URL)
    assert recorded({}, declared) == ("periodic", True, DECLARED_URL)
    assert recorded({"CI": "true", "GITHUB_ACTIONS": "false"}, declared) == recorded({}, declared)


# --- precedence and the two exceptions ------------------------------------------------------

ENGINE_GATES = {
    "zuul": {**ZUUL_ENV, "ZUUL_PIPELINE": "gate", "ZUUL_VOTING": "True"},
    "github-actions": {**GITHUB_ENV, "GITHUB_EVENT_NAME": "merge_group"},
    "gitlab": {
        **GITLAB_ENV,
        "CI_PIPELINE_SOURCE": MR,
        "CI_MERGE_REQUEST_EVENT_TYPE": "merge_train",
    },
    "jenkins": {"BUILD_URL": JENKINS},
}
URLS = {"zuul": ZUUL, "github-actions": GITHUB, "gitlab": GITLAB, "jenkins": JENKINS}


def test_every_engine_has_a_gate_case_here() -> None:
    assert set(ENGINE_GATES) == set(ENGINES) == set(URLS)


@pytest.mark.parametrize("engine", sorted(ENGINE_GATES))
def test_an_embedded_combination_stays_embedded_under_any_engine(engine: str) -> None:
    """Its kind is not the pipeline's, but the job it ran in is still recorded."""
    declared = target("embedded", combination="fake-live-migrate/fake-local/fake-neutron")
    kind, _, url = recorded(ENGINE_GATES[engine], declared, embedded=True)
    assert (kind, url) == ("embedded", URLS[engine])


@pytest.mark.parametrize("engine", sorted(ENGINE_GATES))
def test_a_third_party_target_stays_third_party_whatever_the_pipeline(engine: str) -> None:
    kind, _, url = recorded(ENGINE_GATES[engine], target("third-party"))
    assert (kind, url) == ("third-party", URLS[engine])


def test_a_third_party_targets_voting_is_still_the_engines() -> None:
    env = {**ZUUL_ENV, "ZUUL_PIPELINE": "third-party-check", "ZUUL_VOTING": "False"}
    assert recorded(env, target("third-party", voting=True)) == ("third-party", False, ZUUL)


def test_matrix_variables_win_over_the_engine_and_flags_over_them() -> None:
    env = {
        **ZUUL_ENV,
        "ZUUL_PIPELINE": "check",
        "ZUUL_VOTING": "False",
        "MATRIX_KIND": "periodic",
        "MATRIX_VOTING": "true",
        "MATRIX_JOB_URL": DECLARED_URL,
    }
    assert recorded(env) == ("periodic", True, DECLARED_URL)
    flags = {"kind": "gate", "voting": False, "job_url": JENKINS}
    assert recorded(env, **flags) == ("gate", False, JENKINS)


def test_matrix_kind_may_not_make_an_embedded_combination_anything_else() -> None:
    declared = target("embedded", combination="fake-live-migrate/fake-local/fake-neutron")
    with pytest.raises(
        BadInput, match=r"provenance kind 'gate' \(MATRIX_KIND\) must be 'embedded'"
    ):
        recorded({**GITHUB_ENV, "MATRIX_KIND": "gate"}, declared, embedded=True)


# --- strict booleans --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "voting"),
    [("true", True), ("True", True), ("1", True), ("yes", True),
     ("false", False), ("False", False), ("0", False), ("no", False)],
)  # fmt: skip
def test_each_accepted_spelling_of_a_boolean(value: str, voting: bool) -> None:
    assert recorded({"MATRIX_VOTING": value}, target(voting=not voting))[1] is voting
    env = {"ZUUL_PIPELINE": "check", "ZUUL_VOTING": value}
    assert recorded(env, target(voting=not voting))[1] is voting


@pytest.mark.parametrize("value", ["maybe", "TRUE", "on", " true", "2", "none"])
@pytest.mark.parametrize("name", ["MATRIX_VOTING", "ZUUL_VOTING"])
def test_a_junk_boolean_is_bad_input_naming_the_variable(name: str, value: str) -> None:
    env = {"ZUUL_PIPELINE": "gate", name: value}
    with pytest.raises(BadInput, match=f"^{name}={value!r}: expected true or false"):
        recorded(env)
    with pytest.raises(BadInput, match=f"^{name}="):  # the environment is read whole
        recorded(env, voting=True)


def test_kind_for_refuses_a_junk_voting_variable_so_run_refuses_it_up_front() -> None:
    """`matrix run` calls kind_for for every target before any starts."""
    with pytest.raises(BadInput, match="MATRIX_VOTING='maybe'"):
        kind_for(target(), False, None, {"MATRIX_VOTING": "maybe"})


def test_an_empty_variable_counts_as_unset() -> None:
    env = {"MATRIX_VOTING": "", "MATRIX_KIND": "", "ZUUL_PIPELINE": "", "GITHUB_ACTIONS": ""}
    assert recorded(env, target("periodic", voting=True)) == ("periodic", True, None)


# --- the table itself ------------------------------------------------------------------------


def test_the_tables_name_only_kinds_an_engine_may_say() -> None:
    said = {*GITHUB_EVENTS.values(), *GITLAB_SOURCES.values()}
    assert said <= set(PROVENANCE_KINDS) - {"embedded"}
    names = ["gate", "check", "periodic", "periodic-weekly", "third-party-check", "post", "x"]
    assert {zuul_kind(name) for name in names} <= set(PROVENANCE_KINDS) - {"embedded"}


def test_each_engine_reads_the_variables_it_is_detected_by() -> None:
    for engine in ENGINES.values():
        assert {name for name, _ in engine.detects} <= set(engine.reads)


def test_check_is_ci_but_only_a_gates_vote_gates() -> None:
    assert "check" in CI_KINDS and {"gate"} == GATING_KINDS


# --- what a check run counts for ------------------------------------------------------------


def test_voting_check_passes_make_a_cell_tested_not_gated(matrix_dir: Path, tmp_path: Path) -> None:
    matrix, history = load_matrix(matrix_dir), History(tmp_path / "history.sqlite")
    for day in (20, 10, 2):
        history.run(KVM, {LM: "passed"}, days_ago=day, kind="check", voting=True)
    found = compute_levels(matrix, history.db, now=NOW).cell(LM, KVM)
    assert found.level == "tested"
    criteria = {c.id: c for c in found.criteria}
    assert criteria["ci"].met and not criteria["gated"].met
    assert "voting run of kind check" in criteria["gated"].why
    history.run(KVM, {LM: "passed"}, days_ago=1, kind="gate", voting=True)
    assert compute_levels(matrix, history.db, now=NOW).cell(LM, KVM).level == "gated"


@pytest.mark.parametrize("kind", ["periodic", "third-party"])
def test_a_voting_periodic_or_third_party_run_is_ci_but_not_gated(
    matrix_dir: Path, tmp_path: Path, kind: str
) -> None:
    """Zuul says voting=True in a periodic pipeline too: a vote gates only in a gate."""
    matrix, history = load_matrix(matrix_dir), History(tmp_path / "history.sqlite")
    for day in (20, 10, 2):
        history.run(KVM, {LM: "passed"}, days_ago=day, kind=kind, voting=True)
    found = compute_levels(matrix, history.db, now=NOW).cell(LM, KVM)
    assert found.level == "tested"
    assert f"voting run of kind {kind}" in next(c.why for c in found.criteria if c.id == "gated")
