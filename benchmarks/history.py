"""How long the history, levels and the published site take for a big lab's two years of runs.

Generates declarations (4 axes, 200 combinations, 40 features with not-applicable and flagged
rules, the shipped levels.yaml) and a synthetic history: every combination run 125 times over
two years, each run proving all 40 features, so 200 x 40 x 125 = 1,000,000 results. The mix is
meant to look like real CI: mostly passes, some failures and errors with messages, skips
(not applicable, not configured, flagged), about 1% of runs forced past a failed preflight,
six labs, gate / periodic / third-party / manual runs with job URLs, nova / libvirt / qemu
versions that move with the releases, some combinations retired months ago, some new, and a
few cells broken lately.

The history is built in three steps (every 4th run of each combination, then every 2nd, then
all, so each step spans the same two years): each step writes its run directories and
ingests them with `harness.history.store.ingest` (the real path). Levels are computed after each
step in a fresh process, to show growth with results and to measure its peak RSS alone;
after the last step the same process also publishes the site. Then one more run is ingested
(into a copy) and levels and publish run again over that site, as CI does after each run.
The bulk path (`ingest_run` on records already in memory, no files) is timed separately.

Aims (issue 15), at 1,000,000 results on 2 cores: ingest at 150,000 results/s or more (the
whole history in under 10 s), levels plus publish under 4 s, peak RSS under 500 MB, each
growing linearly with results; after one more run, levels plus publish under 1 s.

    python benchmarks/history.py [--combinations 200 --features 40 --runs 125 --keep DIR]
                                 [--no-bulk] [--profile]
    python benchmarks/history.py --reuse DIR [--profile]   # levels + publish again, on DIR
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from harness.declarations.applicability import verdicts
from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Matrix
from harness.history.database import connect
from harness.history.store import ingest, ingest_run
from harness.run.records import RESULTS_FILE, RUN_FILE, Provenance, Result, RunHeader

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
SPAN = timedelta(days=730)
STEPS = ((4, None, "1/4"), (2, 4, "1/2"), (1, 2, "full"))  # (every, step before, label)
REPEATS = 3  # levels + publish at full size, each in a fresh process: this machine's pace varies

HYPERVISORS = {  # value -> (libvirt-based, attributes)
    "libvirt-kvm": (True, {"live_migration": True}),
    "libvirt-qemu": (True, {"live_migration": True}),
    "libvirt-lxc": (True, {"live_migration": False}),
    "vmware": (False, {"live_migration": True}),
    "ironic": (False, {"live_migration": False}),
}
STORAGE = {"local-qcow2": False, "lvm": False, "ceph-rbd": True, "nfs": True, "iscsi": False}
NETWORKS = ("ovs", "ovn", "linuxbridge", "sriov")
ARCHES = ("x86-64", "aarch64", "ppc64le", "s390x")
FAMILIES = {
    "launch": "lifecycle", "rebuild": "lifecycle", "resize": "lifecycle", "reboot": "power",
    "pause": "power", "unpause": "power", "suspend": "power", "resume": "power",
    "rescue": "lifecycle", "snapshot": "snapshot", "evacuate": "migration",
    "live-migrate": "migration", "force-live-migration-to-complete": "migration",
    "abort-in-progress-live-migration": "migration", "attach-volume": "volumes",
    "detach-volume": "volumes", "extend-volume": "volumes", "swap-volume": "volumes",
    "multiattach-volume": "volumes", "attach-interface": "networking",
}  # fmt: skip
OPERATIONS = (
    "launch", "rebuild", "resize", "reboot", "pause", "unpause", "suspend", "resume", "rescue",
    "snapshot", "evacuate", "live-migrate", "force-live-migration-to-complete",
    "abort-in-progress-live-migration", "attach-volume", "detach-volume", "extend-volume",
    "swap-volume", "multiattach-volume", "attach-interface", "detach-interface",
    "set-admin-password", "get-guest-info", "trigger-crash-dump", "uefi-boot", "device-tags",
    "quiesce", "unquiesce", "encrypted-volume", "trusted-certs", "file-backed-memory",
    "report-cpu-traits", "port-with-resource-request", "boot-encrypted-vm", "cache-images",
    "boot-emulated-tpm", "boot-stateless-firmware", "attach-tagged-volume",
    "attach-tagged-interface", "rebuild-volume-backed",
)  # fmt: skip
LABS = ("opendev-ci", "vexxhost-ci", "ovh-lab", "rackspace-lab", "cern-cloud", "home-lab")
KINDS = ("gate", "periodic", "third-party", "manual")
NOVA_RELEASES = (  # (from, major): Caracal 29 ... Flamingo 32, then 33 and 34
    (datetime(2024, 4, 3, tzinfo=timezone.utc), 29),
    (datetime(2024, 10, 2, tzinfo=timezone.utc), 30),
    (datetime(2025, 4, 2, tzinfo=timezone.utc), 31),
    (datetime(2025, 10, 1, tzinfo=timezone.utc), 32),
    (datetime(2026, 4, 1, tzinfo=timezone.utc), 33),
    (datetime(2026, 10, 7, tzinfo=timezone.utc), 34),
)
LIBVIRT = ("8.0.0", "9.0.0", "10.0.0", "10.6.0", "11.0.0")
QEMU = ("6.2.0", "7.2.0", "8.2.2", "9.0.0", "9.2.0")
FAILURES = (
    "server {id} did not reach ACTIVE within 300 s: status ERROR, task state None, fault "
    "'No valid host was found. There are not enough hosts available.', request req-{id}",
    "migration of {id} ended in status error: 'Live migration failed: operation failed: "
    "migration out job: unexpectedly failed', request req-{id}",
    "volume {id} stuck in attaching after 120 s (last request req-{id})",
    "HttpException: 500: Server Error for url: http://compute.example.org/v2.1/servers/{id}"
    "/action, Unexpected API Error.",
    "snapshot image {id} went to status killed: 'Error during snapshot: qemu-img convert "
    "exited 1'",
    "AssertionError: server {id} is on compute1 after live migration; expected compute2",
)  # fmt: skip
ERRORS = (
    "keystoneauth1.exceptions.connection.ConnectFailure: Unable to establish connection to "
    "http://controller/identity/v3/auth/tokens: Connection refused",
    "cleanup failed: server {id} still present after 300 s",
    "openstack.exceptions.ResourceTimeout: Timeout waiting for the server to come up.",
)


# ---------------------------------------------------------------------------- declarations


def write_declarations(root: Path, combinations: int, features: int) -> None:
    arches = [*ARCHES, *(f"arch{i}" for i in range(len(ARCHES), 100))]
    needed = max(1, math.ceil(combinations / (len(HYPERVISORS) * len(STORAGE) * len(NETWORKS))))
    axes: dict[str, dict[str, Any]] = {
        "hypervisor": {
            value: {
                "title": f"Hypervisor {value}",
                "attributes": attributes,
                "verify": [
                    {
                        "ini": {
                            "path": "/etc/nova/nova-cpu.conf",
                            "section": "libvirt" if libvirt else "DEFAULT",
                            "key": "virt_type" if libvirt else "compute_driver",
                            "equals": value.removeprefix("libvirt-"),
                        },
                        "role": "compute",
                    }
                ],
                "facts": (
                    {"libvirt": "virsh --version", "qemu": "qemu-system-x86_64 --version"}
                    if libvirt
                    else {}
                ),
            }
            for value, (libvirt, attributes) in HYPERVISORS.items()
        },
        "storage": {
            value: {
                "title": f"Storage {value}",
                "attributes": {"shared": shared},
                "verify": [{"service": {"name": f"devstack@{value}"}}],
            }
            for value, shared in STORAGE.items()
        },
        "network": {
            value: {"title": f"Network {value}", "facts": {"neutron": "neutron-server --version"}}
            for value in NETWORKS
        },
        "arch": {value: {"title": f"Architecture {value}"} for value in arches[:needed]},
    }
    axes["hypervisor"]["libvirt-kvm"]["facts"]["nova"] = "nova-compute --version"
    ids = [
        f"{hv}/{st}/{net}/{arch}"
        for arch in arches[:needed]
        for hv in HYPERVISORS
        for st in STORAGE
        for net in NETWORKS
    ]
    catalogue: dict[str, Any] = {}
    for i in range(features):
        operation = OPERATIONS[i % len(OPERATIONS)]
        feature_id = operation if i < len(OPERATIONS) else f"{operation}-{i // len(OPERATIONS)}"
        feature: dict[str, Any] = {
            "title": f"Feature {feature_id}",
            "family": FAMILIES.get(operation, "misc"),
            "nova": operation,
            "requires": {"computes": 2 if "migrat" in operation or i % 6 == 0 else 1},
        }
        if i % 3 != 2:
            feature["tempest"] = [f"{i:08x}-0000-4000-8000-{i:012x}"]
        rules = []
        if i % 5 == 1:
            rules.append({"when": {"storage": {"shared": True}}, "why": "shared disks stay"})
        if i % 7 == 3:
            rules.append({"when": {"hypervisor": ["ironic"]}, "why": "bare metal cannot"})
        if "live-migrat" in operation:
            rules.append({"when": {"hypervisor": {"live_migration": False}}, "why": "no driver"})
        if rules:
            feature["not_applicable"] = rules
        if i % 9 == 4:
            feature["flagged"] = [
                {
                    "when": {"network": "linuxbridge", "arch": arches[0]},
                    "bug": f"https://bugs.launchpad.net/nova/+bug/20{i:05d}",
                    "why": "known bug",
                }
            ]
        catalogue[feature_id] = feature
    root.mkdir(parents=True)
    for name, data in (
        ("axes.yaml", axes),
        ("features.yaml", catalogue),
        ("combinations.yaml", {"combinations": ids[:combinations]}),
    ):
        (root / name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    shutil.copy(REPO / "matrix" / "levels.yaml", root / "levels.yaml")


# ---------------------------------------------------------------------------- history


@dataclass(frozen=True)
class Profile:
    """How one combination behaves over the two years."""

    index: int
    id: str
    libvirt: bool
    labs: tuple[str, ...]
    kind: str
    fail_rate: float
    starts: tuple[datetime, ...]  # one per run, oldest first
    outcomes: tuple[tuple[str, str | None, str | None], ...]  # per feature: fixed skip or run
    broken_since: dict[str, datetime]  # feature -> when it started failing


def profiles(matrix: Matrix, runs: int, seed: int = 1) -> list[Profile]:
    result = []
    for index, (combination_id, combination) in enumerate(matrix.combinations.items()):
        rng = random.Random(f"{seed}-{combination_id}")
        first, last = NOW - SPAN, NOW - timedelta(hours=rng.uniform(2, 72))
        shape = rng.random()
        if shape < 0.05:  # retired months ago: the cell goes stale
            last = NOW - timedelta(days=rng.uniform(100, 300))
        elif shape < 0.10:  # new this year: its runs are denser
            first = NOW - timedelta(days=rng.uniform(60, 200))
        span = (last - first).total_seconds()
        starts = tuple(sorted(first + timedelta(seconds=rng.uniform(0, span)) for _ in range(runs)))
        fixed: list[tuple[str, str | None, str | None]] = []
        for verdict in verdicts(matrix, combination):
            if not verdict.applicable:
                fixed.append(("skipped", "not-applicable", verdict.why))
            elif verdict.flags:
                fixed.append(("skipped", "flagged", verdict.flags[0].bug))
            else:
                fixed.append(("run", None, None))
        broken = {
            feature_id: NOW - timedelta(days=rng.uniform(1, 60))
            for feature_id in matrix.features
            if rng.random() < 0.03
        }
        result.append(
            Profile(
                index=index,
                id=combination_id,
                libvirt=combination.values["hypervisor"].startswith("libvirt"),
                labs=tuple(rng.sample(LABS, rng.choice((1, 1, 2, 2, 3)))),
                kind=rng.choices(KINDS, weights=(30, 30, 25, 15))[0],
                fail_rate=rng.uniform(0.005, 0.06),
                starts=starts,
                outcomes=tuple(fixed),
                broken_since=broken,
            )
        )
    return result


def make_run(
    matrix: Matrix, profile: Profile, k: int, *, validate: bool = True
) -> tuple[RunHeader, list[Result]]:
    """Run k of a combination, the same every time it is asked for."""
    rng = random.Random(f"{profile.id}#{k}")
    started = profile.starts[k]
    kind = profile.kind if rng.random() < 0.85 else rng.choice(KINDS)
    lab = rng.choice(profile.labs)
    run_id = f"{started:%Y%m%dT%H%M%S}-{rng.getrandbits(24):06x}-c{profile.index}"
    forced = rng.random() < 0.01
    major = max(major for since, major in NOVA_RELEASES if since <= started or major == 29)
    era = min(len(LIBVIRT) - 1, int((started - (NOW - SPAN)) / SPAN * len(LIBVIRT)))
    host_facts = {"nova": f"{major}.0.{rng.choice((0, 0, 1, 2))}", "neutron": f"{major - 4}.0.0"}
    if profile.libvirt:
        host_facts |= {"libvirt": LIBVIRT[era], "qemu": QEMU[era]}
    header: dict[str, Any] = {
        "run_id": run_id,
        "status": "unverified" if forced else "complete",
        "started_at": started.isoformat(timespec="seconds"),
        "ended_at": None,
        "combination": profile.id,
        "embedded": False,
        "target": f"{lab}-{profile.index % 7}",
        "lab": lab,
        "provenance": {
            "kind": kind,
            "voting": kind == "gate" and rng.random() < 0.9,
            "job_url": (
                None
                if kind == "manual"
                else f"https://zuul.{lab}.example.org/t/openstack/build/{rng.getrandbits(128):032x}"
            ),
            "harness_version": f"0.{major - 28}.0",
            "scenarios_revision": f"{rng.getrandbits(160):040x}",
        },
        "preflight": (
            {"status": "failed", "failed": ["hypervisor: ini virt_type"]}
            if forced
            else {"status": "passed", "checks": 6}
        ),
        "facts": {"ssh://stack@compute1": host_facts, "ssh://stack@compute2": dict(host_facts)},
        "forced": forced,
    }
    results: list[dict[str, Any]] = []
    moment = started + timedelta(seconds=rng.uniform(30, 90))  # preflight
    for feature_id, (what, category, why) in zip(matrix.features, profile.outcomes, strict=True):
        duration = round(rng.uniform(0.05, 1.0), 3)
        message: str | None = why
        outcome = "skipped"
        if what == "run" and rng.random() < 0.03:
            category, message = "not-configured", "the target has one compute; needs 2"
        elif what == "run":
            category = None
            broken = profile.broken_since.get(feature_id)
            fail_rate = 0.85 if broken and started >= broken else profile.fail_rate
            draw = rng.random()
            if draw < fail_rate:
                outcome = "error" if draw < fail_rate / 10 else "failed"
                pick = ERRORS if outcome == "error" else FAILURES
                message = rng.choice(pick).format(id=f"{rng.getrandbits(64):016x}")
            else:
                outcome, message = "passed", None
            duration = round(rng.uniform(3, 240), 3)
        moment += timedelta(seconds=duration)
        results.append(
            {
                "feature": feature_id,
                "scenario": f"scenarios/test_{feature_id.replace('-', '_')}.py::test_it",
                "outcome": outcome,
                "skip_category": category,
                "duration_s": duration,
                "message": message,
                "microversion": f"2.{rng.randint(1, 96)}" if outcome != "skipped" else None,
                "api_requests": rng.randint(6, 140) if outcome != "skipped" else 0,
                "finished_at": moment.isoformat(timespec="seconds"),
            }
        )
    header["ended_at"] = (moment + timedelta(seconds=20)).isoformat(timespec="seconds")
    if not validate:  # for the bulk path: the records are already known to be sound
        provenance = Provenance.model_construct(**header.pop("provenance"))
        return RunHeader.model_construct(provenance=provenance, **header), [
            Result.model_construct(**r) for r in results
        ]
    return RunHeader.model_validate(header), [Result.model_validate(r) for r in results]


def runs_of_step(
    profiles: list[Profile], runs: int, every: int, before: int | None
) -> Iterator[tuple[Profile, int]]:
    """The runs a step adds: every `every`-th run of each combination, less those of the step
    before (every `before`-th)."""
    for profile in profiles:
        for k in range(runs):
            if k % every == 0 and not (before and k % before == 0):
                yield profile, k


def write_run(run_dir: Path, header: RunHeader, results: list[Result]) -> None:
    """The files `matrix run` leaves (records.write_header / append_result), without their
    per-line fsync, which is the cost of running, not of ingesting."""
    run_dir.mkdir(parents=True)
    (run_dir / RUN_FILE).write_text(header.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (run_dir / RESULTS_FILE).write_text(
        "".join(r.model_dump_json() + "\n" for r in results), encoding="utf-8"
    )


# ---------------------------------------------------------------------------- measuring


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_s() -> tuple[float, float]:
    """(user, system) CPU seconds of this process and its children (forked workers) so far."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime


def spent(before: tuple[float, float]) -> tuple[float, float]:
    now = cpu_s()
    return now[0] - before[0], now[1] - before[1]


def measure(matrix_dir: Path, db: Path, site: Path | None, profile: bool) -> dict[str, Any]:
    """Levels (and publish) in this process, which is fresh: RSS is theirs alone."""
    from harness.levels.compute import compute_levels

    figures: dict[str, Any] = {"rss_start_mib": rss_mib()}
    matrix = load_matrix(matrix_dir)
    figures["rss_loaded_mib"] = rss_mib()
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), cpu_s()
    if profiler:
        profiler.enable()
    levels = compute_levels(matrix, db, now=NOW)
    if profiler:
        profiler.disable()
        figures["levels_profile"] = _top(profiler)
    figures["levels_s"] = time.perf_counter() - started
    figures["levels_cpu"] = spent(cpu)
    figures["rss_levels_mib"] = rss_mib()
    figures["cells"] = len(levels.cells)
    figures["by_level"] = Counter(cell.level for cell in levels.cells.values()).most_common()
    figures["flaky"] = sum(cell.flaky for cell in levels.cells.values())
    if site is None:
        return figures
    from harness.publish import publish

    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), cpu_s()
    if profiler:
        profiler.enable()
    publish(levels, matrix, site)
    if profiler:
        profiler.disable()
        figures["publish_profile"] = _top(profiler)
    figures["publish_s"] = time.perf_counter() - started
    figures["publish_cpu"] = spent(cpu)
    figures["rss_publish_mib"] = rss_mib()
    figures["rss_worker_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    files = [p for p in site.rglob("*") if p.is_file()]
    figures["site_files"] = len(files)
    figures["site_mib"] = sum(p.stat().st_size for p in files) / 2**20
    return figures


def _top(profiler: cProfile.Profile, lines: int = 25) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(lines)
    text = out.getvalue()
    return text[text.find("   ncalls") :]


def measure_in_child(
    matrix_dir: Path, db: Path, site: Path | None, profile: bool
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", str(matrix_dir), str(db)]
    if site is not None:
        command += ["--site", str(site)]
    if profile:
        command.append("--profile")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"levels process failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return figures


def db_mib(db: Path) -> float:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20


def query_plan(db: Path) -> list[str]:
    from harness.history import evidence

    query = getattr(evidence, "STREAM_QUERY", None)
    if query is None:
        return ["(harness.history.evidence has no STREAM_QUERY to explain)"]
    with sqlite3.connect(db) as connection:
        wanted = {"combinations": "[]", "through": 0}
        return [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + query, wanted)]


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--combinations", type=int, default=200)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--runs", type=int, default=125, help="runs per combination")
    parser.add_argument("--keep", type=Path, help="build everything here and keep it")
    parser.add_argument(
        "--reuse", type=Path, help="measure levels and publish again on what --keep built"
    )
    parser.add_argument("--no-bulk", action="store_true", help="skip the bulk ingest_run path")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile levels and publish (a third run)"
    )
    parser.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--site", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        matrix_dir, db = args.measure
        print(json.dumps(measure(matrix_dir, db, args.site, args.profile)))
        return
    print(f"load average before: {_load()}")
    if args.reuse:
        if not (args.reuse / "history.sqlite").is_file():
            sys.exit(f"{args.reuse} holds no history.sqlite; build one with --keep")
        full_size(args.reuse, args.profile)
    elif args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        if any(args.keep.iterdir()):
            sys.exit(f"{args.keep} is not empty")
        build(args, args.keep)
        full_size(args.keep, args.profile)
    else:
        with tempfile.TemporaryDirectory(prefix="matrix-bench-") as tmp:
            build(args, Path(tmp))
            full_size(Path(tmp), args.profile)
    print(f"load average after: {_load()} (other work on the machine slows every figure)")


def _load() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def build(args: argparse.Namespace, work: Path) -> None:
    """Declarations, then the history in three steps (levels after each), then the bulk path."""
    total = args.combinations * args.features * args.runs
    print(
        f"{args.combinations} combinations x {args.features} features x {args.runs} runs"
        f" = {total:,} results over {SPAN.days} days, in {work}"
    )
    matrix_dir = work / "matrix"
    write_declarations(matrix_dir, args.combinations, args.features)
    started = time.perf_counter()
    matrix = load_matrix(matrix_dir)
    print(
        f"declarations: {len(matrix.combinations)} combinations, {len(matrix.features)} features;"
        f" load + validate {time.perf_counter() - started:.2f} s"
    )
    if len(matrix.combinations) != args.combinations:
        sys.exit(f"expected {args.combinations} combinations, got {len(matrix.combinations)}")
    plans = profiles(matrix, args.runs)
    runs_dir, db = work / "runs", work / "history.sqlite"

    print("\n-- history: write run directories, then `ingest()` them (the real path)")
    print(
        f"{'step':>5} {'runs':>7} {'results':>10} {'write s':>8} {'ingest s':>9}"
        f" {'results/s':>10} {'DB MiB':>7}"
    )
    rows = []
    ingested_results, ingest_s = 0, 0.0
    for every, before, label in STEPS:
        batch = list(runs_of_step(plans, args.runs, every, before))
        started = time.perf_counter()
        dirs = []
        for profile, k in batch:
            header, results = make_run(matrix, profile, k)
            run_dir = runs_dir / profile.id.replace("/", "_") / header.run_id
            write_run(run_dir, header, results)
            dirs.append(run_dir)
        written = time.perf_counter()
        report = ingest(db, dirs)
        ingested = time.perf_counter()
        if report.rejected or report.already:
            sys.exit(f"ingest rejected {report.rejected[:3]} already {report.already[:3]}")
        print(
            f"{label:>5} {len(batch):>7,} {report.results:>10,} {written - started:>8.1f}"
            f" {ingested - written:>9.1f} {report.results / (ingested - written):>10,.0f}"
            f" {db_mib(db):>7.1f}"
        )
        ingest_s += ingested - written
        ingested_results += report.results
        rows.append((label, ingested_results, measure_in_child(matrix_dir, db, None, False)))
    print("  (write: generating and validating the records, then writing run.json and")
    print("   results.jsonl as `matrix run` would, minus its per-result fsync)")
    rate = ingested_results / ingest_s
    print(
        f"ingest: {rate:,.0f} results/s, so 1,000,000 in {1e6 / rate:.1f} s"
        f" (aim: 150,000/s, under 10 s): {'met' if rate >= 150_000 else 'NOT met'}"
    )

    if not args.no_bulk:
        print("\n-- history: bulk path, `ingest_run` on records already in memory (no files)")
        bulk_db = work / "bulk.sqlite"
        connection = connect(bulk_db)
        spent, count = 0.0, 0
        try:
            for every, before, _ in STEPS:
                for profile, k in runs_of_step(plans, args.runs, every, before):
                    header, results = make_run(matrix, profile, k, validate=False)
                    started = time.perf_counter()
                    ingest_run(connection, header, results)
                    spent += time.perf_counter() - started
                    count += len(results)
        finally:
            connection.close()
        print(
            f"ingest_run: {count:,} results in {spent:.1f} s ({count / spent:,.0f} results/s);"
            f" DB {db_mib(bulk_db):.1f} MiB"
        )
        for path in work.glob("bulk.sqlite*"):
            path.unlink()
    print(f"benchmark process peak RSS (generation, ingest): {rss_mib():.0f} MiB")

    print("\n-- levels as the history grows (each in a fresh process)")
    print(f"{'step':>5} {'results':>10} {'levels s':>9} {'s per 1M':>9} {'peak RSS MiB':>13}")
    for label, counted, figures in rows:
        print(
            f"{label:>5} {counted:>10,} {figures['levels_s']:>9.2f}"
            f" {figures['levels_s'] / counted * 1e6:>9.2f} {figures['rss_levels_mib']:>13.0f}"
        )


def _cpu(seconds: tuple[float, float]) -> str:
    return f"user {seconds[0]:.2f} s, system {seconds[1]:.2f} s, with forked workers"


def full_size(work: Path, profile: bool) -> None:
    """Levels and publish on the whole history, in a fresh process; then once more after one
    more run; then, if asked, again under cProfile (whose overhead would spoil the figures)."""
    matrix_dir, db, site = work / "matrix", work / "history.sqlite", work / "site"
    print("stream query plan: " + "; ".join(query_plan(db)))
    print(f"\n-- levels + publish at full size (the median of {REPEATS} fresh processes)")
    aside = set_aside(site)
    tries = [site.with_name(f"{site.name}.try{k}") for k in range(1, REPEATS)] + [site]
    try:
        measured = [measure_in_child(matrix_dir, db, path, False) for path in tries]
        measured.sort(key=lambda run: run["levels_s"] + run["publish_s"])
        figures = measured[len(measured) // 2]
        print(f"database:         {db_mib(db):8.1f} MiB")
        print(f"RSS at start:     {figures['rss_start_mib']:8.0f} MiB (interpreter and imports)")
        print(
            f"levels:           {figures['levels_s']:8.2f} s   {figures['cells']:,} cells"
            f"   (CPU {_cpu(figures['levels_cpu'])})"
        )
        print("                  " + ", ".join(f"{n:,} {lv}" for lv, n in figures["by_level"]))
        print(f"                  {figures['flaky']:,} flaky")
        print(f"RSS after levels: {figures['rss_levels_mib']:8.0f} MiB")
        print(
            f"publish:          {figures['publish_s']:8.2f} s   {figures['site_files']:,} files,"
            f" {figures['site_mib']:.1f} MiB   (CPU {_cpu(figures['publish_cpu'])})"
        )
        print(
            "                  (each into a directory no site was ever in: the last one is moved"
            " aside\n                   and deleted after the measurements, since for"
            " seconds after deleting\n                   thousands of files this disk creates"
            " new ones several times slower)"
        )
        print(f"RSS after publish:{figures['rss_publish_mib']:8.0f} MiB")
        together = figures["levels_s"] + figures["publish_s"]
        peak = max(v for k, v in figures.items() if k.startswith("rss_"))
        verdict = "met" if together < 4 and peak < 500 else "NOT met"
        each = ", ".join(f"{run['levels_s'] + run['publish_s']:.2f}" for run in measured)
        print(f"levels + publish: {together:8.2f} s, peak RSS {peak:.0f} MiB   (each: {each} s)")
        if figures["rss_worker_mib"]:  # none forked for a small history
            print(f"                  (largest forked worker: {figures['rss_worker_mib']:.0f} MiB"
                  " RSS, most of it pages shared with the parent)")  # fmt: skip
        print(f"aim (< 4 s and < 500 MB): {verdict}")
        one_more_run(work, site)
    finally:
        for done in (aside, *tries[:-1]):
            if done is not None:
                shutil.rmtree(done, ignore_errors=True)
    if profile:
        shutil.rmtree(site, ignore_errors=True)
        figures = measure_in_child(matrix_dir, db, site, True)
        for name in ("levels_profile", "publish_profile"):
            if name in figures:
                title = name.replace("_", " ")
                print(f"\n-- {title} (top functions by own time, under cProfile)\n{figures[name]}")


def set_aside(site: Path) -> Path | None:
    """Rename the last site out of the way (instant), to be deleted once measured."""
    if not site.exists():
        return None
    aside = site.with_name(site.name + ".old")
    shutil.rmtree(aside, ignore_errors=True)  # left by an interrupted run
    site.rename(aside)
    return aside


def one_more_run(work: Path, site: Path) -> None:
    """What CI does after each run: ingest it, then levels and publish over the last site.
    The run goes into a copy of the history, so the kept one stays as --keep built it."""
    print("\n-- one more run ingested, then levels + publish again over that site")
    matrix_dir, db = work / "matrix", work / "history-plus-one.sqlite"
    run_dir = work / "one-more-run"
    try:
        with sqlite3.connect(work / "history.sqlite") as source, sqlite3.connect(db) as copy:
            source.backup(copy)
        matrix = load_matrix(matrix_dir)
        first = profiles(matrix, 1)[0]  # the first combination, run an hour before NOW
        newest = replace(first, starts=(NOW - timedelta(hours=1),))
        header, results = make_run(matrix, newest, 0)
        shutil.rmtree(run_dir, ignore_errors=True)
        write_run(run_dir / header.run_id, header, results)
        started = time.perf_counter()
        report = ingest(db, [run_dir / header.run_id])
        ingest_s = time.perf_counter() - started
        if report.results != len(results):
            sys.exit(f"one more run: ingest took {report.results} results: {report.rejected}")
        before = inodes(site)
        figures = measure_in_child(matrix_dir, db, site, False)
        after = inodes(site)
    finally:
        db.unlink(missing_ok=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    anew = sum(1 for page, inode in after.items() if before.get(page) != inode)
    together = figures["levels_s"] + figures["publish_s"]
    print(f"ingest:           {ingest_s:8.2f} s   1 run of {newest.id}, {report.results} results")
    print(f"levels:           {figures['levels_s']:8.2f} s")
    print(
        f"publish:          {figures['publish_s']:8.2f} s   {anew:,} of {len(after):,} files"
        " written anew, the rest linked from the last site"
    )
    verdict = "met" if together < 1 else "NOT met"
    print(f"levels + publish: {together:8.2f} s   after one more run (aim under 1 s): {verdict}")


def inodes(site: Path) -> dict[str, int]:
    """Each file of a site by its path, with its inode: a page linked from the last site
    keeps its inode, one written anew gets another."""
    return {str(p.relative_to(site)): p.stat().st_ino for p in site.rglob("*") if p.is_file()}


if __name__ == "__main__":
    main()
