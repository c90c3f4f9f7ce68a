"""Zuul: one job per combination, each inheriting devstack's `devstack` job (or
`devstack-multinode` where a feature needs a second compute) with the devstack variables of the
combination's values, a run playbook that writes the lab file for the job's nodes and runs the
matrix, and a post-run playbook that hands the run records on as an artifact; `matrix-publish`
depends on them all and merges what they recorded. A project-template puts the jobs in check
(non-voting unless asked) and periodic.

Provenance: the run playbook exports the job's pipeline, name and voting (ZUUL_PIPELINE,
ZUUL_JOB, ZUUL_VOTING) and its build URL, which `matrix run` reads.
"""

from __future__ import annotations

import shlex
from typing import Any

from harness.ci import commands
from harness.ci.jobs import Files, Request, RunJob
from harness.ci.output import dump, generated_by
from harness.devstack.settings import MULTINODE, DevstackSettings, Setting, devstack_settings
from harness.errors import BadInput

CONFIG = "zuul.d/matrix.yaml"
PLAYBOOKS = "playbooks/matrix"
RUN, POST, PUBLISH = (f"{PLAYBOOKS}/{name}.yaml" for name in ("run", "post", "publish"))
ARTIFACT_TYPE = "matrix_runs"


def render(request: Request) -> Files:
    jobs = request.jobs()
    embedded = [job.target or job.combination for job in jobs if job.embedded]
    if embedded:
        raise BadInput(
            f"{', '.join(embedded)}: embedded-lab targets are no devstack to deploy; a Zuul job "
            "deploys its combination itself (give a lab of real targets, or no --lab)"
        )
    header = generated_by("zuul", request)
    config: list[dict[str, Any]] = [{"job": _job(request, job)} for job in jobs]
    config.append({"job": _publish_job(jobs)})
    config.append({"project-template": _template(request, jobs)})
    return {
        CONFIG: dump(config, header),
        RUN: dump(_run_playbook(request), header),
        POST: dump(_post_playbook(), header),
        PUBLISH: dump(_publish_playbook(), header),
    }


def _job(request: Request, job: RunJob) -> dict[str, Any]:
    controller = devstack_settings(request.matrix, job.combination, "controller")
    title = request.matrix.combinations[job.combination].title
    definition: dict[str, Any] = {
        "name": job.name,
        "parent": "devstack-multinode" if job.multinode else "devstack",
        "description": f"The feature matrix on {job.combination}"
        + (f" ({title})" if title else "")
        + ": devstack with its values' settings, then `matrix run`.",
        "timeout": 10800,
        "run": RUN,
        "post-run": POST,
        "vars": {
            "matrix_combination": job.combination,
            "matrix_voting": request.voting,
            **_devstack_vars(controller),
        },
    }
    if job.multinode:
        subnode = devstack_settings(request.matrix, job.combination, "subnode")
        definition["group-vars"] = {"subnode": _devstack_vars(subnode)}
    return definition


def _devstack_vars(settings: DevstackSettings) -> dict[str, Any]:
    """devstack's job variables (roles/write-devstack-local-conf) for one node's settings:
    the axis values' own; what every subnode gets, `devstack-multinode` sets itself."""
    found: dict[str, Any] = {}
    localrc = _own(settings.localrc)
    if localrc:
        found["devstack_localrc"] = localrc
    if settings.plugins:
        found["devstack_plugins"] = _own(settings.plugins)
    if services := _own(settings.services):
        found["devstack_services"] = services
    if settings.post_config:
        found["devstack_local_conf"] = {
            "post-config": {
                path: {
                    section: {key: s.value for key, s in keys.items()}
                    for section, keys in sections.items()
                }
                for path, sections in settings.post_config.items()
            }
        }
    return found


def _own(settings: dict[str, Setting]) -> dict[str, Any]:
    return {name: s.value for name, s in settings.items() if s.origin != MULTINODE}


def _publish_job(jobs: list[RunJob]) -> dict[str, Any]:
    return {
        "name": "matrix-publish",
        "description": "Merges every matrix job's run records into the history, publishes the "
        "site and diffs the levels (its logs hold all three).",
        "nodeset": {"nodes": [{"name": "publisher", "label": "ubuntu-noble"}]},
        "dependencies": [job.name for job in jobs],
        "run": PUBLISH,
        "vars": {"matrix_history_url": ""},
    }


def _template(request: Request, jobs: list[RunJob]) -> dict[str, Any]:
    names = [job.name for job in jobs] + ["matrix-publish"]
    check = names if request.voting else [{name: {"voting": False}} for name in names]
    return {
        "name": "matrix",
        "description": "The feature matrix: one devstack job per combination, then publish.",
        "check": {"jobs": check},
        "periodic": {"jobs": names},
    }


SOURCE = "{{ ansible_user_dir }}/{{ zuul.project.src_dir }}"
VENV = "{{ ansible_user_dir }}/matrix-venv"
MATRIX = f"{VENV}/bin/matrix"

LAB_FILE = """\
name: zuul
description: This Zuul job's devstack nodes (written by its run playbook).
targets:
  - name: "{{ zuul.job }}"
    combination: "{{ matrix_combination }}"
    cloud: devstack-admin
    image: "{{ matrix_image | default('cirros-0.6.3-x86_64-disk') }}"
    flavor: m1.tiny
    flavor_alt: m1.small
    network: private
    destructive: true
    hosts:
      - {spec: "local://", roles: [controller, compute]}
{% for host in groups['subnode'] | default([]) %}
      - spec: "ssh://{{ ansible_user }}@{{ hostvars[host].nodepool.private_ipv4 }}"
        roles: [compute]
{% endfor %}
"""


def _install() -> dict[str, Any]:
    return {
        "name": "Install the harness",
        "ansible.builtin.pip": {
            "name": SOURCE,
            "virtualenv": VENV,
            "virtualenv_command": "python3 -m venv",
        },
    }


def _run_playbook(request: Request) -> list[dict[str, Any]]:
    web = request.zuul_web.rstrip("/")
    build_url = web + "/t/{{ zuul.tenant }}/build/{{ zuul.build }}"
    run = " ".join([
        MATRIX, "run", "--lab", "zuul-lab.yaml", "--target", '"{{ zuul.job }}"',
        *(shlex.join(["--feature", f]) for f in request.features), "--out", "results",
    ])  # fmt: skip
    return [
        {
            "hosts": "controller",
            "tasks": [
                _install(),
                {
                    "name": "Write the lab file for this job's nodes",
                    "ansible.builtin.copy": {
                        "dest": f"{SOURCE}/zuul-lab.yaml",
                        "content": LAB_FILE,
                        "mode": "0644",
                    },
                },
                {
                    "name": "Run the matrix on {{ matrix_combination }}",
                    "ansible.builtin.shell": {"cmd": run, "chdir": SOURCE},
                    "environment": {
                        "ZUUL_PIPELINE": "{{ zuul.pipeline }}",
                        "ZUUL_JOB": "{{ zuul.job }}",
                        "ZUUL_VOTING": "{{ zuul.voting }}",
                        "ZUUL_BUILD_URL": build_url,
                        "OS_CLIENT_CONFIG_FILE": "/etc/openstack/clouds.yaml",
                    },
                    "register": "matrix_run",
                    # A failed scenario is evidence for the publish job, which runs only after
                    # jobs that succeeded: a non-voting job fails only when the run could not
                    # be recorded.
                    "failed_when": "matrix_run.rc not in ([0] if matrix_voting | bool else [0, 1])",
                },
            ],
        }
    ]


def _post_playbook() -> list[dict[str, Any]]:
    return [
        {
            "hosts": "controller",
            "tasks": [
                {
                    "name": "Pack the run records",
                    "ansible.builtin.command": {
                        "cmd": f"tar -czf {{{{ ansible_user_dir }}}}/matrix-runs.tar.gz "
                        f"-C {SOURCE}/results runs",
                        "removes": f"{SOURCE}/results/runs",
                    },
                },
                {
                    "name": "Keep them with the job's logs",
                    "ansible.builtin.fetch": {
                        "src": "{{ ansible_user_dir }}/matrix-runs.tar.gz",
                        "dest": "{{ zuul.executor.log_root }}/matrix-runs.tar.gz",
                        "flat": True,
                        "fail_on_missing": False,
                    },
                },
                {
                    "name": "Hand them to the publish job",
                    "zuul_return": {
                        "data": {
                            "zuul": {
                                "artifacts": [
                                    {
                                        "name": "matrix run records",
                                        "url": "matrix-runs.tar.gz",
                                        "metadata": {"type": ARTIFACT_TYPE},
                                    }
                                ]
                            }
                        }
                    },
                },
            ],
        }
    ]


def _publish_playbook() -> list[dict[str, Any]]:
    steps = "\n".join(["set -e", *commands.publish("artifacts"), commands.FINISH])
    return [
        {
            "hosts": "all",
            "tasks": [
                _install(),
                {
                    "name": "Make room for the artifacts",
                    "ansible.builtin.file": {"path": f"{SOURCE}/artifacts", "state": "directory"},
                },
                {
                    "name": "Download every matrix job's run records",
                    "ansible.builtin.get_url": {
                        "url": "{{ item.url }}",
                        "dest": f"{SOURCE}/artifacts/{{{{ item.job }}}}.tar.gz",
                    },
                    "loop": "{{ zuul.artifacts | default([]) | selectattr('metadata', 'defined')"
                    f" | selectattr('metadata.type', 'defined') | selectattr('metadata.type', "
                    f"'equalto', '{ARTIFACT_TYPE}') | list }}}}",
                },
                {
                    "name": "Fetch the history kept between pipelines",
                    "ansible.builtin.get_url": {
                        "url": "{{ matrix_history_url }}",
                        "dest": f"{SOURCE}/{commands.HISTORY}",
                    },
                    "when": "matrix_history_url | length > 0",
                },
                {
                    "name": "Ingest, publish and diff",
                    "ansible.builtin.shell": {"cmd": steps, "chdir": SOURCE},
                    "environment": {"PATH": f"{VENV}/bin:{{{{ ansible_env.PATH }}}}"},
                    "register": "matrix_publish",
                    "failed_when": False,  # the site and the diff are kept first; see the end
                },
                {
                    "name": "Pack the site, the history and the diff",
                    "ansible.builtin.command": {
                        "cmd": "tar -czf {{ ansible_user_dir }}/matrix-site.tar.gz "
                        f"{commands.SITE} {commands.HISTORY} {commands.DIFF}",
                        "chdir": SOURCE,
                    },
                },
                {
                    "name": "Keep them with the job's logs",
                    "ansible.builtin.fetch": {
                        "src": "{{ ansible_user_dir }}/matrix-site.tar.gz",
                        "dest": "{{ zuul.executor.log_root }}/matrix-site.tar.gz",
                        "flat": True,
                    },
                },
                {
                    "name": "Link the site",
                    "zuul_return": {
                        "data": {
                            "zuul": {
                                "artifacts": [{"name": "matrix site", "url": "matrix-site.tar.gz"}]
                            }
                        }
                    },
                },
                {
                    "name": "Fail if ingest rejected an artifact (or publishing failed)",
                    "ansible.builtin.fail": {"msg": "{{ matrix_publish.stderr_lines[-20:] }}"},
                    "when": "matrix_publish.rc != 0",
                },
            ],
        }
    ]
