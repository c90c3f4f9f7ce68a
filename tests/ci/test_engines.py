"""`matrix ci`: each engine's files pass that engine's own validator, carry every job and every
devstack setting the declarations give, and are the same every time.

Validators: Zuul's configuration loader (its voluptuous schemas and model building, as the
scheduler runs them) and `ansible-playbook --syntax-check` with Zuul's own action plugins;
GitHub's `@actions/workflow-parser`; gitlab-ci-local's parser and GitLab's CI JSON schema.
Each is shown to reject a file with one wrong key, so a pass means something.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.ci import commands
from harness.declarations.applicability import verdicts
from harness.declarations.loading import load_matrix
from tests.ci.conftest import TOOLS, Tools, node
from tests.conftest import REPO, SHIPPED
from tests.history.test_ingest import make_run

EMBEDDED_LAB = "matrix/labs/embedded.yaml"
EXAMPLE_LAB = "matrix/labs/example-devstack.yaml"


def _lab_targets(path: str) -> list[str]:
    spec = yaml.safe_load((REPO / path).read_text())
    return [t.get("name") or t["combination"].replace("/", "-") for t in spec["targets"]]


def _plant_wrong_key(path: Path, anchor: str, key: str) -> None:
    text = path.read_text()
    assert text.count(anchor) >= 1
    path.write_text(text.replace(anchor, f"{anchor}\n{key}", 1))


# --- Zuul ---------------------------------------------------------------------------------


def _zuul_check(tools: Tools, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools.zuul_python), str(TOOLS / "zuul_check.py"), str(config)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_zuul_config_parses_with_zuuls_own_loader(tools: Tools, generate) -> None:  # type: ignore[no-untyped-def]
    out = generate("zuul")
    checked = _zuul_check(tools, out / "zuul.d" / "matrix.yaml")
    assert checked.returncode == 0, checked.stderr
    matrix = load_matrix(SHIPPED)
    deployable = [c.id for c in matrix.combinations.values() if not c.embedded]
    jobs = [line.split()[1] for line in checked.stdout.splitlines() if line.startswith("job ")]
    assert jobs == ["matrix-" + c.replace("/", "-") for c in deployable] + ["matrix-publish"]
    assert "project-template matrix" in checked.stdout


def test_zuul_loader_rejects_a_wrong_key(tools: Tools, generate) -> None:  # type: ignore[no-untyped-def]
    config = generate("zuul") / "zuul.d" / "matrix.yaml"
    _plant_wrong_key(config, "    timeout: 10800", "    timout: 10800")
    checked = _zuul_check(tools, config)
    assert checked.returncode != 0
    assert "timout" in checked.stderr


def test_zuul_jobs_carry_every_devstack_setting_of_their_values(generate) -> None:  # type: ignore[no-untyped-def]
    out = generate("zuul")
    config = yaml.safe_load((out / "zuul.d" / "matrix.yaml").read_text())
    jobs = {item["job"]["name"]: item["job"] for item in config if "job" in item}
    matrix = load_matrix(SHIPPED)
    features = matrix.features
    for combination in (c for c in matrix.combinations.values() if not c.embedded):
        job = jobs["matrix-" + combination.id.replace("/", "-")]
        variables = job["vars"]
        assert variables["matrix_combination"] == combination.id
        for axis, value_id in combination.values.items():
            devstack = matrix.value(axis, value_id).devstack
            for name, value in devstack.localrc.items():
                assert variables["devstack_localrc"][name] == value, (combination.id, name)
            for name, url in devstack.plugins.items():
                assert variables["devstack_plugins"][name] == url
            for service in devstack.enable_services:
                assert variables["devstack_services"][service] is True
            for service in devstack.disable_services:
                assert variables["devstack_services"][service] is False
            for path, sections in devstack.post_config.items():
                written = variables["devstack_local_conf"]["post-config"][path]
                for section, keys in sections.items():
                    for key, value in keys.items():
                        assert written[section][key] == value
        two = any(
            features[v.feature].requires.computes >= 2
            for v in verdicts(matrix, combination)
            if v.applicable
        )
        assert job["parent"] == ("devstack-multinode" if two else "devstack")
    publish = jobs["matrix-publish"]
    assert publish["dependencies"] == [n for n in jobs if n != "matrix-publish"]
    template = next(item["project-template"] for item in config if "project-template" in item)
    assert [next(iter(j)) for j in template["check"]["jobs"]] == list(jobs)
    assert all(next(iter(j.values())) == {"voting": False} for j in template["check"]["jobs"])
    assert template["periodic"]["jobs"] == list(jobs)


def test_a_migration_combination_runs_on_two_nodes(generate) -> None:  # type: ignore[no-untyped-def]
    config = yaml.safe_load((generate("zuul") / "zuul.d" / "matrix.yaml").read_text())
    job = next(
        i["job"]
        for i in config
        if i.get("job", {}).get("name") == "matrix-libvirt-qemu-ceph-rbd-ovn"
    )
    assert job["parent"] == "devstack-multinode"
    subnode = job["group-vars"]["subnode"]
    assert subnode["devstack_localrc"]["VIRT_DRIVER"] == "libvirt"
    assert subnode["devstack_plugins"]["devstack-plugin-ceph"].startswith("https://opendev.org/")


@pytest.mark.parametrize("playbook", ["run", "post", "publish"])
def test_zuul_playbooks_pass_ansibles_syntax_check(tools: Tools, generate, playbook: str) -> None:  # type: ignore[no-untyped-def]
    out = generate("zuul", "--feature", "launch")
    checked = subprocess.run(
        [str(tools.ansible_playbook), "--syntax-check", "-i", "localhost,",
         f"playbooks/matrix/{playbook}.yaml"],
        cwd=out, capture_output=True, text=True, check=False,
        env={"ANSIBLE_ACTION_PLUGINS": str(tools.zuul_actions), "PATH": "/usr/bin:/bin",
             "HOME": str(out)},
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_ansibles_syntax_check_rejects_a_wrong_task(tools: Tools, generate) -> None:  # type: ignore[no-untyped-def]
    out = generate("zuul")
    run = out / "playbooks" / "matrix" / "run.yaml"
    _plant_wrong_key(run, "  tasks:", "  - name: not a task\n    ansible.builtin.nosuchmodule: {}")
    checked = subprocess.run(
        [str(tools.ansible_playbook), "--syntax-check", "-i", "localhost,", str(run)],
        cwd=out, capture_output=True, text=True, check=False,
        env={"ANSIBLE_ACTION_PLUGINS": str(tools.zuul_actions), "PATH": "/usr/bin:/bin",
             "HOME": str(out)},
    )  # fmt: skip
    assert checked.returncode != 0


# --- GitHub Actions ---------------------------------------------------------------------------


@pytest.mark.parametrize("lab", [EMBEDDED_LAB, EXAMPLE_LAB])
def test_github_workflow_parses_with_githubs_own_parser(tools: Tools, generate, lab: str) -> None:  # type: ignore[no-untyped-def]
    workflow = generate("github", "--lab", lab) / ".github" / "workflows" / "matrix.yml"
    parsed = node("validate-workflow.mjs", str(workflow))
    assert parsed.returncode == 0, parsed.stderr
    assert '"jobs":["run","publish","deploy"]' in parsed.stdout
    document = yaml.safe_load(workflow.read_text())
    include = document["jobs"]["run"]["strategy"]["matrix"]["include"]
    assert [entry["select"] for entry in include] == _lab_targets(lab)
    assert document["jobs"]["publish"]["needs"] == ["run"]
    assert document["jobs"]["deploy"]["needs"] == ["publish"]
    assert document["jobs"]["deploy"]["environment"]["name"] == "github-pages"


def test_githubs_parser_rejects_a_wrong_key(tools: Tools, generate) -> None:  # type: ignore[no-untyped-def]
    workflow = generate("github", "--lab", EXAMPLE_LAB) / ".github" / "workflows" / "matrix.yml"
    _plant_wrong_key(workflow, "    runs-on: self-hosted", "    run-on: self-hosted")
    parsed = node("validate-workflow.mjs", str(workflow))
    assert parsed.returncode == 1
    assert "run-on" in parsed.stderr


# --- GitLab CI --------------------------------------------------------------------------------


def _gitlab_list(tools: Tools, repository: Path) -> subprocess.CompletedProcess[str]:
    subprocess.run(["git", "init", "-q", str(repository)], check=True)
    return subprocess.run(
        [str(tools.gitlab_ci_local), "--list", "--json-schema-validation"],
        cwd=repository, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("lab", [EMBEDDED_LAB, EXAMPLE_LAB])
def test_gitlab_pipeline_passes_gitlabs_schema(
    tools: Tools, generate, tmp_path: Path, lab: str
) -> None:  # type: ignore[no-untyped-def]
    repository = generate("gitlab", "--lab", lab, out=tmp_path / "repo")
    listed = _gitlab_list(tools, repository)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    jobs = [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert jobs.count("matrix:") == len(_lab_targets(lab))
    assert "pages" in jobs


def test_gitlabs_schema_rejects_a_wrong_key(tools: Tools, generate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repository = generate("gitlab", "--lab", EXAMPLE_LAB, out=tmp_path / "repo")
    _plant_wrong_key(repository / ".gitlab-ci.yml", "  stage: publish", "  stages: publish")
    listed = _gitlab_list(tools, repository)
    assert listed.returncode != 0


# --- all engines ------------------------------------------------------------------------------


def test_the_publish_steps_write_the_site_despite_a_rejected_artifact_then_fail(
    tmp_path: Path,
) -> None:
    """The publish job's script, run by bash with the real `matrix`: one good run and one
    malformed artifact; the good run reaches the history, the site and the diff are written,
    and the script's status is ingest's (2)."""
    runs = tmp_path / "results" / "runs"
    make_run(runs, "run-good", ["passed"])
    (runs / "run-bad").mkdir()
    (runs / "run-bad" / "run.json").write_text("{not json")
    script = "\n".join([*commands.publish(commands.RUNS), commands.FINISH])
    env = {
        **os.environ,
        "MATRIX_DIR": str(SHIPPED),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "rejected" in done.stderr and "run-bad" in done.stderr
    assert (tmp_path / commands.SITE / "index.html").is_file()
    assert "First publish" in (tmp_path / commands.DIFF).read_text()
    with sqlite3.connect(tmp_path / commands.HISTORY) as history:
        assert history.execute("SELECT run_id FROM runs").fetchall() == [("run-good",)]


# --- all engines ------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["zuul", "github", "gitlab"])
def test_the_same_declarations_give_the_same_files(generate, tmp_path: Path, engine: str) -> None:  # type: ignore[no-untyped-def]
    args = () if engine == "zuul" else ("--lab", EXAMPLE_LAB)
    first = generate(engine, *args, out=tmp_path / "first")
    second = generate(engine, *args, out=tmp_path / "second")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files
    for path in files:
        assert (first / path).read_bytes() == (second / path).read_bytes(), path


def test_without_out_the_files_are_printed_with_their_paths(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(REPO)
    printed = run("ci", "zuul")
    assert printed.code == 0, printed.err
    assert [line for line in printed.out.splitlines() if line.startswith("# file: ")] == [
        "# file: zuul.d/matrix.yaml", "# file: playbooks/matrix/run.yaml",
        "# file: playbooks/matrix/post.yaml", "# file: playbooks/matrix/publish.yaml",
    ]  # fmt: skip


def test_an_unknown_engine_is_a_usage_error(run) -> None:  # type: ignore[no-untyped-def]
    result = run("ci", "jenkins")
    assert result.code == 2
    assert "'jenkins' is not one of 'zuul', 'github', 'gitlab'" in result.err


def test_zuul_refuses_embedded_lab_targets(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(REPO)
    result = run("ci", "zuul", "--lab", EMBEDDED_LAB)
    assert result.code == 2
    assert "embedded-lab targets are no devstack to deploy" in result.err


def test_a_lab_file_outside_the_repository_is_refused(run, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    lab = tmp_path / "lab.yaml"
    lab.write_text((REPO / EXAMPLE_LAB).read_text())
    monkeypatch.chdir(REPO)
    result = run("ci", "gitlab", "--lab", str(lab))
    assert result.code == 2
    assert "must be inside the repository the jobs check out" in result.err
