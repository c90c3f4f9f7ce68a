"""Tempest output run by someone else (a devstack job, a third-party CI): what it was run on,
and the run record made of it.

Tempest does not know the matrix, so whoever hands its output to `matrix ingest --tempest`
says what it ran on, on the command line or in a sidecar file (by default the output's name
plus `.yaml`):

    combination: libvirt-kvm/ceph-rbd/ovn
    target: rbd-kvm-1
    lab: ci-lab
    provenance: {kind: periodic, voting: false, job_url: "https://zuul.example.org/build/1"}
    started_at: "2026-12-01T04:00:00+00:00"   # only for JUnit, which carries no times

The same output always makes the same run id, so ingesting it again adds nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from harness import version
from harness.declarations.matrix import Matrix
from harness.declarations.model import ProvenanceKind
from harness.declarations.problems import unknown
from harness.errors import BadInput
from harness.reading import read_bounded
from harness.run.records import Name, Result, RunHeader, Timestamp
from harness.run.records import Provenance as RecordProvenance
from harness.tempest import results, selection

SIDECAR_BYTES = 64 << 10


class SidecarProvenance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ProvenanceKind
    voting: bool = False
    job_url: Name | None = None


class About(BaseModel):
    """What a Tempest output was run on (the sidecar's schema, and the flags' too)."""

    model_config = ConfigDict(extra="forbid")
    combination: Name
    target: Name
    lab: Name
    provenance: SidecarProvenance
    started_at: Timestamp | None = None


def sidecar_of(output: Path) -> Path:
    return output.with_name(output.name + ".yaml")


def read_about(output: Path, sidecar: Path | None, given: dict[str, Any]) -> About:
    """The sidecar's fields (if there is one), each overridden by a flag given."""
    import yaml

    path = sidecar or sidecar_of(output)
    data: dict[str, Any] = {}
    if sidecar is not None or path.is_file():
        try:
            loaded = yaml.safe_load(read_bounded(path, SIDECAR_BYTES, path.name))
        except (OSError, yaml.YAMLError) as error:
            raise BadInput(f"{path}: not a readable YAML sidecar: {error}") from None
        if not isinstance(loaded, dict):
            raise BadInput(f"{path}: a mapping (combination, target, lab, provenance) expected")
        data = loaded
    provenance = dict(data.get("provenance") or {})
    for key in ("kind", "voting", "job_url"):
        if given.get(key) is not None:
            provenance[key] = given[key]
    data |= {k: v for k, v in given.items() if v is not None and k not in provenance}
    data["provenance"] = provenance
    try:
        return About.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(
            f"{output}: {where}: {first['msg']} (give it with a flag or in {path.name})"
        ) from None


def record(matrix: Matrix, output: Path, about: About) -> tuple[RunHeader, list[Result], int]:
    """The run record of a Tempest output: header, results, and how many tests proved no
    declared feature."""
    combination = matrix.combinations.get(about.combination)
    if combination is None:
        raise BadInput(
            f"{output}: " + unknown("combination", about.combination, list(matrix.combinations))
        )
    if (about.provenance.kind == "embedded") != combination.embedded:
        raise BadInput(
            f"{output}: provenance kind '{about.provenance.kind}' does not fit "
            f"{'an embedded' if combination.embedded else 'a real'} combination"
        )
    data = results.read_raw(output)  # read once: its bytes make the run id too
    cases = results.parse_output(data, output)
    times = sorted(c.finished_at for c in cases if c.finished_at)
    started_at = about.started_at or (times[0] if times else None)
    if started_at is None:
        raise BadInput(
            f"{output}: JUnit carries no times: give started_at (--started-at or the sidecar)"
        )
    ended_at = times[-1] if times else started_at
    mapped = results.to_results(cases, selection.features_by_id(matrix), ended_at)
    header = results.header(
        results.run_id_for(data, started_at, about.target),
        combination=combination.id, embedded=combination.embedded, target=about.target,
        lab=about.lab, started_at=started_at, ended_at=ended_at,
        provenance=RecordProvenance(
            kind=about.provenance.kind, voting=about.provenance.voting,
            job_url=about.provenance.job_url, harness_version=version(),
        ),
    )  # fmt: skip
    return header, mapped.results, mapped.unmapped
