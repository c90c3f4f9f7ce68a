"""The schema of every declaration file: axes, features, combinations, level policy and labs.

These pydantic models are the single source of truth: loading validates against them, and
`matrix schema` exports them as JSON Schema for editors. Cross-file rules (references to
axes, values, features and combinations) live in `harness.declarations.references`.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from testinfra.backend import BACKENDS as testinfra_backends

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
"""Ids of axes, values, features, families and targets: lowercase, digits, single hyphens."""

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
"""Attribute and fact names: snake_case, usable as Python identifiers."""

FactName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+([-_][a-z0-9]+)*$")]
"""Names of recorded facts, e.g. 'libvirt', 'qemu-img'."""

Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Scalar = str | int | bool
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
Uuid = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]
AbsolutePath = Annotated[str, StringConstraints(pattern=r"^/")]
ShellVariable = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid regular expression: {error}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]

# Operation keys of Nova's doc/source/user/support-matrix.ini (see shared reference notes).
NovaOperation = Literal[
    "attach-volume", "attach-tagged-volume", "detach-volume", "extend-volume",
    "attach-interface", "attach-tagged-interface", "detach-interface", "maintenance-mode",
    "evacuate", "rebuild", "rebuild-volume-backed", "get-guest-info", "get-host-uptime",
    "get-host-ip", "live-migrate", "force-live-migration-to-complete",
    "abort-in-progress-live-migration", "launch", "pause", "reboot", "rescue", "resize",
    "resume", "set-admin-password", "snapshot", "suspend", "swap-volume", "terminate",
    "trigger-crash-dump", "unpause", "uefi-boot", "device-tags", "quiesce", "unquiesce",
    "multiattach-volume", "encrypted-volume", "trusted-certs", "file-backed-memory",
    "report-cpu-traits", "port-with-resource-request", "boot-encrypted-vm", "cache-images",
    "boot-emulated-tpm", "boot-stateless-firmware",
]  # fmt: skip

Status = Annotated[
    str,
    StringConstraints(pattern=r"^(mandatory|optional|choice\([a-z0-9.-]+\)|condition\(.+\))$"),
]


class Strict(BaseModel):
    """Unknown keys are mistakes, and YAML types are taken as written (no '3' -> 3)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- preflight checks -------------------------------------------------------------------


class IniCheck(Strict):
    path: AbsolutePath
    section: Text
    key: Text
    equals: Scalar | None = Field(None, description="The value must equal this.")
    matches: Regex | None = Field(None, description="The value must match this regex (search).")
    contains: Text | None = Field(None, description="A comma-separated item or substring.")
    absent: bool | None = Field(None, description="true: the key must not be set.")

    @model_validator(mode="after")
    def _one_expectation(self) -> IniCheck:
        given = [
            k for k in ("equals", "matches", "contains", "absent") if getattr(self, k) is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give at most one of equals, matches, contains, absent; got {given}")
        return self


class FileCheck(Strict):
    path: AbsolutePath
    type: Literal["file", "directory", "char", "block", "socket", "symlink"] | None = None
    contains: Text | None = None


class ServiceCheck(Strict):
    name: Text
    running: bool = True
    enabled: bool | None = None


class PackageCheck(Strict):
    name: Text
    version: Text | None = Field(None, description="Installed version must start with this.")


class CommandCheck(Strict):
    run: Text
    matches: Regex | None = None
    exit_status: int = 0


Role = Literal["compute", "controller", "all"]


class Check(Strict):
    """One preflight check: exactly one kind key, optionally limited to hosts of a role."""

    role: Role = "all"
    ini: IniCheck | None = None
    file: FileCheck | None = None
    service: ServiceCheck | None = None
    package: PackageCheck | None = None
    command: CommandCheck | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Check:
        given = [k for k in CHECK_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a check needs exactly one of {', '.join(CHECK_KINDS)}; got "
                + (", ".join(given) if given else "none")
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in CHECK_KINDS if getattr(self, k) is not None)


CHECK_KINDS = tuple(name for name in Check.model_fields if name != "role")
"""The check kinds are the keys a `Check` may carry; `harness.preflight.checks.CHECKS`
implements exactly these."""


# --- axes ---------------------------------------------------------------------------------


class Devstack(Strict):
    """What a devstack local.conf needs to deploy this value."""

    localrc: dict[ShellVariable, Scalar] = {}
    subnode_localrc: dict[ShellVariable, Scalar] = Field(
        {},
        description="localrc variables for compute-only subnodes of a multinode devstack, "
        "added to (or overriding) this value's localrc there, e.g. devstack-plugin-ceph's "
        "REMOTE_CEPH=True",
    )
    plugins: dict[Slug, Url] = Field({}, description="enable_plugin NAME URL lines")
    enable_services: list[Text] = []
    disable_services: list[Text] = []
    post_config: dict[Text, dict[Text, dict[Text, Scalar]]] = Field(
        {}, description="[[post-config|FILE]] blocks: file -> section -> key -> value"
    )


class AxisValue(Strict):
    title: Text
    description: Text | None = None
    attributes: dict[Name, Scalar] = Field({}, description="Used by `when` rules of features.")
    devstack: Devstack = Devstack()
    verify: list[Check] = Field([], description="Preflight checks run with testinfra.")
    facts: dict[FactName, Text] = Field({}, description="name -> shell command; stdout recorded.")
    embedded: bool = Field(False, description="A value of the embedded lab (Nova fake drivers).")


AxesFile = dict[Slug, dict[Slug, AxisValue]]

# --- features -----------------------------------------------------------------------------

ValueSelector = Slug | list[Slug] | dict[Name, Scalar]
Condition = Annotated[
    dict[Slug, ValueSelector],
    Field(description="axis -> value id | [value ids] | {attribute: value}; all axes must match"),
]


class NotApplicable(Strict):
    when: Annotated[Condition, Field(min_length=1)]
    why: Text


class Flag(Strict):
    when: Condition = {}
    bug: Url
    why: Text


class Requires(Strict):
    computes: Annotated[int, Field(ge=1)] = 1
    flavor_alt: bool = False
    volume: bool = False
    multiattach: bool = False
    destructive: bool = False
    exclusive: bool = Field(
        False,
        description="Acts on a whole host or the cloud (disables a service, forces a host down): "
        "never runs beside another scenario of the target",
    )


class Feature(Strict):
    title: Text
    family: Slug
    nova: NovaOperation | None = Field(None, description="Operation key in Nova's support matrix")
    cli: Text | None = Field(
        None, description="How a user does it with the openstack client (Nova's cli= key)"
    )
    tempest: list[Uuid] = []
    tempest_flag: (
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*\.[a-z][a-z0-9_]*$")] | None
    ) = Field(
        None,
        description="The tempest.conf option (section.option) that enables the feature's tests; "
        "`matrix tempest` sets it false where the combination cannot do the feature",
    )
    status: Status = "optional"
    microversion: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+$")] | None = None
    requires: Requires = Requires()
    notes: Text | None = None
    not_applicable: list[NotApplicable] = []
    flagged: list[Flag] = []


FeaturesFile = dict[Slug, Feature]

# --- combinations ------------------------------------------------------------------------

COMBINATION_EXTRAS = ("title", "description", "reference")
"""Keys other than axis ids that include and explicit entries may carry."""

Entry = dict[Slug, Text]


class CombinationsFile(Strict):
    product: dict[Slug, Annotated[list[Slug], Field(min_length=1)]] = {}
    exclude: list[Annotated[dict[Slug, Slug], Field(min_length=1)]] = []
    include: list[Annotated[Entry, Field(min_length=1)]] = []
    combinations: list[Annotated[str, StringConstraints(min_length=1)] | Entry] = Field(
        [], description="Explicit entries: an id such as 'a/b/c' or a full mapping."
    )


# --- level policy ----------------------------------------------------------------------

CriterionId = Literal[
    "verified", "passing", "consistent", "fresh", "ci", "gated", "multi-lab", "tempest"
]
CRITERION_PARAMETERS: dict[str, tuple[str, ...]] = {
    "verified": (),
    "passing": (),
    "consistent": ("window_days", "min_runs", "min_pass_rate"),
    "fresh": ("window_days",),
    "ci": (),
    "gated": (),
    "multi-lab": ("min_labs",),
    "tempest": (),
}
"""Which parameters each criterion takes; the levels code implements exactly these."""


LEVEL_FAILING = "failing"
LEVEL_UNKNOWN = "unknown"
LEVEL_NA = "n/a"
COMPUTED_LEVELS = (LEVEL_FAILING, LEVEL_UNKNOWN, LEVEL_NA)
"""The levels the harness gives by itself, worst-known last; a ladder may not reuse them."""
RESERVED_LEVEL_IDS = frozenset(level.replace("/", "-") for level in COMPUTED_LEVELS)
"""Ladder ids are slugs, so 'n/a' is reserved as the slug 'n-a' too."""


MAX_DAYS = 36_500
"""A century: a window reaches back that far from any time levels are judged at (from 1970
on) without leaving the calendar Python can count in."""


class Criterion(Strict):
    name: Text
    weight: Annotated[int, Field(ge=0, le=100)]
    description: Text
    window_days: Annotated[int, Field(ge=1, le=MAX_DAYS)] | None = None
    min_runs: Annotated[int, Field(ge=1)] | None = None
    min_pass_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    min_labs: Annotated[int, Field(ge=2)] | None = None


class Level(Strict):
    id: Slug
    title: Text
    nova_rating: Text | None = Field(None, description="Nova feature-classification rating")
    needs: list[CriterionId] = []
    min_score: Annotated[int, Field(ge=0, le=100)] | None = None


class LevelPolicy(Strict):
    criteria: dict[CriterionId, Criterion]
    stale_after_days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = Field(
        90,
        description="A cell whose newest valid result is older than this is unknown, "
        "whatever it once proved.",
    )
    ladder: Annotated[list[Level], Field(min_length=1, description="Highest level first.")]


# --- labs -----------------------------------------------------------------------------------

HOST_BACKENDS = tuple(testinfra_backends)
"""testinfra's own registry of connection types, so every spec testinfra takes is valid here."""
HostSpec = Annotated[
    str,
    StringConstraints(pattern=rf"^({'|'.join(HOST_BACKENDS)})://"),
    Field(description="A testinfra host spec, e.g. ssh://stack@compute1 or local://"),
]


class Host(Strict):
    spec: HostSpec
    roles: Annotated[list[Literal["compute", "controller"]], Field(min_length=1)] = [
        "controller",
        "compute",
    ]
    root: AbsolutePath | None = Field(
        None,
        description="Where this host's files are rooted: preflight paths are read below it "
        "(the embedded lab's hosts keep etc/nova/ in a directory of their own)",
    )

    def path(self, path: str) -> str:
        """Where `path` is on this host: below its root, when it has one."""
        return rooted(self.root, path)

    @property
    def workdir(self) -> str:
        """Where commands (checks and facts) run: the root, so relative paths such as
        etc/nova/nova-cpu.conf mean the same on a real host (/) and on a lab host."""
        return self.root or "/"

    @property
    def label(self) -> str:
        """The host as records name it: its spec, with its root when it has one (the embedded
        lab's hosts share one spec, local://, and differ only by root)."""
        return self.spec if self.root is None else f"{self.spec}{self.root}"


def rooted(root: str | None, path: str) -> str:
    """`path` on a host whose files live below `root` (the embedded lab's hosts)."""
    return path if root is None else posixpath.join(root, path.lstrip("/"))


PositiveSeconds = Annotated[float, Field(gt=0)]


class Timeouts(Strict):
    default: PositiveSeconds = 300
    boot: PositiveSeconds | None = None
    migration: PositiveSeconds | None = None
    snapshot: PositiveSeconds | None = None
    volume: PositiveSeconds | None = None


class GuestConsole(Strict):
    """What the target's image prints on its serial console, so scenarios can see at the
    guest what the API only claims (none of it is known for an arbitrary image)."""

    booted: Text | None = Field(
        None, description="A text the guest prints once booted (cirros: 'login:')."
    )
    config_drive: Text | None = Field(
        None,
        description="A text the guest prints once it has read its config drive; '{id}' "
        "stands for the server id the drive's meta_data.json holds.",
    )
    nmi: Text = Field(
        "NMI received", description="What the guest's kernel prints on an NMI (Linux's)."
    )


ProvenanceKind = Literal["gate", "check", "periodic", "third-party", "manual", "embedded"]
"""Where a run comes from: `gate` a gating pipeline (Zuul's gate, a GitHub merge queue, a GitLab
merge train); `check` CI on a change that gates nothing (Zuul's check, a pull or merge request,
a push); `periodic` a scheduled pipeline; `third-party` a CI someone else runs; `manual` a hand
run; `embedded` the embedded lab."""
PROVENANCE_KINDS: tuple[str, ...] = get_args(ProvenanceKind)
CI_KINDS: frozenset[str] = frozenset({"gate", "check", "periodic", "third-party"})
"""The kinds that are CI jobs (not a hand run, not the embedded lab): the `ci` criterion."""
GATING_KINDS: frozenset[str] = frozenset({"gate"})
"""The kinds whose voting runs gate a merge: the `gated` criterion. Voting is read from the CI
engine, which says whether a job votes, not whether its pipeline gates: a voting check,
periodic or third-party run is CI, but gates no merge."""


class Provenance(Strict):
    kind: ProvenanceKind = "manual"
    voting: bool = False
    job_url: Url | None = None


class Target(Strict):
    name: Slug | None = Field(None, description="Defaults to the combination id with '-' for '/'")
    combination: Text
    cloud: Text = Field(description="An entry of clouds.yaml")
    hosts: list[HostSpec | Host] = []
    image: Text | None = None
    flavor: Text | None = None
    flavor_alt: Text | None = None
    network: Text | None = None
    timeouts: Timeouts = Timeouts()
    destructive: bool = Field(False, description="Allow destructive scenarios (evacuate)")
    concurrency: Annotated[int, Field(ge=1, le=64)] = Field(
        1,
        description="Scenarios run at once on this target, at most one worker per two features "
        "a run exercises (matrix run --concurrency wins)",
    )
    provenance: Provenance = Provenance()
    guest: GuestConsole = Field(
        GuestConsole(),
        description="What the image prints on its console; scenarios check what is given",
    )

    @property
    def target_name(self) -> str:
        return self.name or self.combination.replace("/", "-")

    @property
    def host_entries(self) -> list[Host]:
        """Every host with its roles and root (a bare spec is a host of every role)."""
        return [host if isinstance(host, Host) else Host(spec=host) for host in self.hosts]


class LabFile(Strict):
    name: Slug | None = Field(None, description="Defaults to the file name without .yaml")
    description: Text | None = None
    clouds_yaml: Text | None = Field(None, description="Path to clouds.yaml, relative to this file")
    targets: Annotated[list[Target], Field(min_length=1)]
