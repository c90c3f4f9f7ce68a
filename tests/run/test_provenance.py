"""Provenance: the CI job URL from the CI's own variables, flags over environment over the
lab target's declaration, and the git revision of the scenarios that ran. No cloud, no lab."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness import __version__
from harness.declarations.model import Provenance as Declared
from harness.declarations.model import Target
from harness.run.provenance import (
    ENGINES,
    OWN_VARIABLES,
    job_url_from,
    provenance_for,
    scenarios_revision,
)

# Every variable harness/run/provenance.py reads, and the ones CI systems set that could
# leak into a test run from the real environment (CI=true on most of them).
READ = sorted({*OWN_VARIABLES, *(name for e in ENGINES.values() for name in e.reads)})
AMBIENT = ["CI", "ZUUL_JOB", "BUILD_ID"]
# git variables that would point `git -C <dir>` somewhere other than <dir>
GIT = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR"]

GITLAB = "https://gitlab.example.org/group/project/-/jobs/11"
JENKINS = "https://jenkins.example.org/job/matrix/12/"
ZUUL = "https://zuul.opendev.org/t/openstack/build/13"
OURS = "https://ci.example.org/matrix/14"


@pytest.fixture(autouse=True)
def no_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run as if on a laptop, whatever CI runs these tests; git sees only tmp_path's repos."""
    for name in READ + AMBIENT + GIT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(where), "-c", "user.name=t", "-c", "user.email=t@example.org",
         "-c", "commit.gpgsign=false", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a committed scenarios/ folder and a committed file beside it."""
    root = tmp_path / "checkout"
    (root / "scenarios").mkdir(parents=True)
    (root / "scenarios" / "test_launch.py").write_text("def test_launch(): pass\n")
    (root / "README").write_text("readme\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "scenarios")
    return root


def target(kind: str = "periodic", voting: bool = False, job_url: str | None = None) -> Target:
    return Target(
        combination="libvirt-kvm/local-qcow2/ovs",
        cloud="lab-cloud",
        provenance=Declared(kind=kind, voting=voting, job_url=job_url),  # type: ignore[arg-type]
    )


# --- the CI job URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({"MATRIX_JOB_URL": OURS}, OURS),
        ({"CI_JOB_URL": GITLAB}, GITLAB),
        ({"BUILD_URL": JENKINS}, JENKINS),
        ({"ZUUL_BUILD_URL": ZUUL}, ZUUL),
        (
            {"GITHUB_REPOSITORY": "openstack/matrix", "GITHUB_RUN_ID": "15"},
            "https://github.com/openstack/matrix/actions/runs/15",
        ),
        (
            {
                "GITHUB_SERVER_URL": "https://ghe.example.org",
                "GITHUB_REPOSITORY": "infra/matrix",
                "GITHUB_RUN_ID": "16",
            },
            "https://ghe.example.org/infra/matrix/actions/runs/16",
        ),
    ],
    ids=["matrix", "gitlab", "jenkins", "zuul", "github", "github-enterprise"],
)
def test_each_ci_systems_variable_gives_the_job_url(env: dict[str, str], url: str) -> None:
    assert job_url_from(env) == url


def test_without_a_detected_engine_any_engines_url_variable_counts_in_table_order() -> None:
    """A job that exports only its URL variable (ZUUL_BUILD_URL without ZUUL_PIPELINE, as
    before engines were detected) still gets its URL; MATRIX_JOB_URL wins over all."""
    env = {
        "MATRIX_JOB_URL": OURS,
        "ZUUL_BUILD_URL": ZUUL,
        "GITHUB_REPOSITORY": "openstack/matrix",
        "GITHUB_RUN_ID": "15",
        "CI_JOB_URL": GITLAB,
    }  # no BUILD_URL: it is how Jenkins is detected
    seen = []
    for names in [["MATRIX_JOB_URL"], ["ZUUL_BUILD_URL"], ["GITHUB_RUN_ID"], ["CI_JOB_URL"]]:
        seen.append(job_url_from(env))
        for name in names:
            del env[name]
    seen.append(job_url_from(env))
    assert seen == [OURS, ZUUL, "https://github.com/openstack/matrix/actions/runs/15", GITLAB, None]


def test_the_detected_engines_url_wins_over_other_engines_variables() -> None:
    """BUILD_URL left over from a Jenkins that started a GitLab job is not the job's URL."""
    env = {"GITLAB_CI": "true", "CI_JOB_URL": GITLAB, "BUILD_URL": JENKINS, "ZUUL_BUILD_URL": ZUUL}
    assert job_url_from(env) == GITLAB
    assert job_url_from({**env, "MATRIX_JOB_URL": OURS}) == OURS


def test_an_empty_variable_counts_as_unset() -> None:
    assert job_url_from({"MATRIX_JOB_URL": "", "CI_JOB_URL": "", "BUILD_URL": JENKINS}) == JENKINS


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"CI": "true", "GITHUB_SERVER_URL": "https://github.com"},
        {"GITHUB_RUN_ID": "15"},  # no repository: no URL can be built
        {"GITHUB_REPOSITORY": "openstack/matrix"},  # no run id
        {"GITHUB_REPOSITORY": "openstack/matrix", "GITHUB_RUN_ID": ""},
    ],
    ids=[
        "nothing",
        "ci-without-job",
        "github-run-only",
        "github-repository-only",
        "github-empty-run",
    ],
)
def test_without_a_jobs_variables_there_is_no_job_url(env: dict[str, str]) -> None:
    assert job_url_from(env) is None


# --- flags over environment over the target's declaration -----------------------------------


def test_the_targets_declaration_is_used_when_nothing_else_says(tmp_path: Path) -> None:
    declared = target(kind="third-party", voting=True, job_url="https://lab.example.org/job/1")
    provenance = provenance_for(declared, tmp_path, env={})
    assert (provenance.kind, provenance.voting, provenance.job_url) == (
        "third-party",
        True,
        "https://lab.example.org/job/1",
    )
    assert provenance.harness_version == __version__


def test_the_environment_wins_over_the_targets_declaration(tmp_path: Path) -> None:
    declared = target(kind="periodic", job_url="https://lab.example.org/job/1")
    provenance = provenance_for(
        declared, tmp_path, env={"MATRIX_KIND": "gate", "CI_JOB_URL": GITLAB}
    )
    assert (provenance.kind, provenance.job_url) == ("gate", GITLAB)


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    declared = target(kind="periodic", voting=False, job_url="https://lab.example.org/job/1")
    provenance = provenance_for(
        declared,
        tmp_path,
        kind="manual",
        voting=True,
        job_url=OURS,
        env={"MATRIX_KIND": "gate", "CI_JOB_URL": GITLAB},
    )
    assert (provenance.kind, provenance.voting, provenance.job_url) == ("manual", True, OURS)


def test_a_non_voting_flag_wins_over_a_voting_target(tmp_path: Path) -> None:
    """False is a value, not an absence: --no-voting overrides a target declared voting."""
    assert provenance_for(target(voting=True), tmp_path, voting=False, env={}).voting is False
    assert provenance_for(target(voting=True), tmp_path, voting=None, env={}).voting is True


def test_the_process_environment_is_read_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MATRIX_KIND", "gate")
    monkeypatch.setenv("BUILD_URL", JENKINS)
    provenance = provenance_for(target(), tmp_path)
    assert (provenance.kind, provenance.job_url) == ("gate", JENKINS)


def test_no_job_url_anywhere_is_none(tmp_path: Path) -> None:
    assert provenance_for(target(), tmp_path, env={}).job_url is None


# --- the scenarios' git revision --------------------------------------------------------------


def test_a_clean_checkout_gives_its_head_revision(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    assert len(head) == 40
    assert scenarios_revision(repo / "scenarios") == head


def test_a_changed_scenario_marks_the_revision_dirty(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    (repo / "scenarios" / "test_launch.py").write_text("def test_launch(): assert False\n")
    assert scenarios_revision(repo / "scenarios") == f"{head}+dirty"


def test_an_untracked_scenario_marks_the_revision_dirty(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    (repo / "scenarios" / "test_new.py").write_text("def test_new(): pass\n")
    assert scenarios_revision(repo / "scenarios") == f"{head}+dirty"


def test_changes_outside_the_scenarios_leave_the_revision_clean(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    (repo / "README").write_text("changed\n")
    (repo / "notes.txt").write_text("untracked\n")
    assert scenarios_revision(repo / "scenarios") == head


def test_scenarios_outside_a_repository_have_no_revision(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert scenarios_revision(plain) is None
    assert scenarios_revision(tmp_path / "missing") is None


def test_a_repository_without_commits_has_no_revision(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert scenarios_revision(empty) is None


def test_without_git_installed_there_is_no_revision(
    monkeypatch: pytest.MonkeyPatch, repo: Path
) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-such-bin"))
    assert scenarios_revision(repo / "scenarios") is None


def test_provenance_carries_the_scenarios_revision(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    assert provenance_for(target(), repo / "scenarios", env={}).scenarios_revision == head


def test_an_unknown_kind_from_the_environment_is_bad_input(tmp_path: Path) -> None:
    from harness.errors import BadInput

    with pytest.raises(BadInput, match="unknown provenance kind 'gat'; did you mean 'gate'"):
        provenance_for(target(), tmp_path, env={"MATRIX_KIND": "gat"})
