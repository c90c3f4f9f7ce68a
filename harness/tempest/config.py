"""A tempest.conf for one target, from what the harness already knows of it.

The cloud's clouds.yaml entry gives the admin credentials and region (Tempest makes its own
project users from them: dynamic credentials); the lab file gives the image, flavors and
network, looked up in the cloud for their ids; the combination says what the target cannot do:
each feature's `tempest_flag` (features.yaml) is set true where the feature applies and false
where it is declared not applicable, so Tempest skips what the harness calls n/a. The compute
count, a multiattach volume type and the policy roles are the cloud's own (hypervisors that
are up, a type whose extra specs allow multiattach, the roles Keystone has). Guests are never
reached over SSH (`run_validation = false`): the harness's own scenarios read consoles.
"""

from __future__ import annotations

import configparser
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.declarations.applicability import verdicts
from harness.declarations.matrix import Combination, Matrix
from harness.declarations.model import Target
from harness.errors import BadInput

SERVICES_AVAILABLE = {
    "nova": True, "cinder": True, "glance": True, "neutron": True, "swift": False,
    "horizon": False, "placement": True,
}  # fmt: skip
FIXED: dict[str, dict[str, str]] = {
    "auth": {"use_dynamic_credentials": "true", "create_isolated_networks": "false"},
    "identity": {"auth_version": "v3", "v3_endpoint_type": "public"},
    "compute": {"endpoint_type": "publicURL", "max_microversion": "latest"},
    "volume": {"max_microversion": "latest"},
    "validation": {"run_validation": "false"},
    "network-feature-enabled": {"ipv6": "false", "floating_ips": "false"},
    "volume-feature-enabled": {"snapshot": "false", "backup": "false", "clone": "false"},
    "service_available": {name: str(on).lower() for name, on in SERVICES_AVAILABLE.items()},
}
"""What every lab this harness drives has or lacks, whatever the combination."""
POLICY_ROLES = ("admin", "manager", "member", "reader", "service")
"""The roles Nova's default policies may name; Tempest uses those Keystone has (the manager
role came with Nova's project-manager defaults and Keystone's bootstrap alike)."""


class TempestConfigError(BadInput):
    """The target cannot be described to Tempest (no password auth, a name that is not there)."""


@dataclass(frozen=True)
class CloudFacts:
    """What Tempest needs from the cloud itself, looked up once."""

    image: str
    image_alt: str
    flavor: str
    flavor_alt: str
    computes: int
    multiattach_type: str | None = None  # a volume type whose extra specs allow multiattach
    policy_roles: tuple[str, ...] = ("admin", "member", "reader")  # Tempest's default


def admin_auth(cloud: str, config: Mapping[str, Any]) -> dict[str, str]:
    """The admin's password credentials from a clouds.yaml entry (Tempest needs a password:
    it creates and deletes projects and users with it)."""
    auth = config.get("auth") or {}
    if config.get("auth_type", "password") not in ("password", "v3password"):
        raise TempestConfigError(
            f"cloud '{cloud}' authenticates with {config.get('auth_type')}; Tempest needs an "
            "admin's password (auth_type: password)"
        )
    missing = [k for k in ("auth_url", "username", "password", "project_name") if not auth.get(k)]
    if missing:
        raise TempestConfigError(f"cloud '{cloud}' has no {', '.join(missing)} in its auth")
    return {k: str(v) for k, v in auth.items() if isinstance(v, str)}


def look_up(conn: Any, target: Target) -> CloudFacts:
    """Ids for the lab file's names, a second image for the tests that want two, and how many
    computes are up."""
    image = _find(conn.image.find_image, "image", target.image)
    others = [i.id for i in conn.image.images() if i.status == "active" and i.id != image]
    flavor = _find(conn.compute.find_flavor, "flavor", target.flavor)
    flavor_alt = _find(conn.compute.find_flavor, "flavor_alt", target.flavor_alt or target.flavor)
    computes = sum(1 for h in conn.compute.hypervisors(details=True) if h.state == "up")
    multiattach = next(
        (t.name for t in conn.block_storage.types()
         if (t.extra_specs or {}).get("multiattach") == "<is> True"),
        None,
    )  # fmt: skip
    roles = {role.name for role in conn.identity.roles()}
    return CloudFacts(
        image, others[0] if others else image, flavor, flavor_alt, computes, multiattach,
        tuple(r for r in POLICY_ROLES if r in roles),
    )  # fmt: skip


def _find(finder: Any, field: str, name: str | None) -> str:
    if not name:
        raise TempestConfigError(f"the lab file's target gives no {field}; Tempest needs one")
    found = finder(name, ignore_missing=True)
    if found is None:
        raise TempestConfigError(f"the target's {field} '{name}' is not in the cloud")
    return str(found.id)


def render(
    matrix: Matrix,
    combination: Combination,
    target: Target,
    auth: Mapping[str, str],
    region: str,
    facts: CloudFacts,
    work_dir: Path,
) -> str:
    """tempest.conf's text. It holds the admin's password: write it 0600, show it nowhere."""
    url = auth["auth_url"].rstrip("/")
    sections: dict[str, dict[str, str]] = {k: dict(v) for k, v in FIXED.items()}
    sections["DEFAULT"] = {"log_dir": str(work_dir), "log_file": "tempest.log"}
    sections["oslo_concurrency"] = {"lock_path": str(work_dir / "locks")}
    sections["auth"] |= {
        "admin_username": auth["username"],
        "admin_password": auth["password"],
        "admin_project_name": auth["project_name"],
        "admin_domain_name": auth.get("user_domain_name", "Default"),
    }
    sections["identity"] |= {
        "uri_v3": url if url.endswith("/v3") else url + "/v3",
        "region": region,
    }
    sections["compute"] |= {
        "image_ref": facts.image,
        "image_ref_alt": facts.image_alt,
        "flavor_ref": facts.flavor,
        "flavor_ref_alt": facts.flavor_alt,
        "fixed_network_name": target.network or "",
        "min_compute_nodes": str(facts.computes),
        "region": region,
        "build_timeout": str(max(int(target.timeouts.default), 60)),
    }
    sections.setdefault("compute-feature-enabled", {})["nova_policy_roles"] = ",".join(
        facts.policy_roles
    )
    if facts.multiattach_type:
        sections.setdefault("volume", {})["volume_type_multiattach"] = facts.multiattach_type
    for verdict in verdicts(matrix, combination):
        flag = matrix.features[verdict.feature].tempest_flag
        if flag:
            section, option = flag.split(".", 1)
            sections.setdefault(section, {})[option] = str(verdict.applicable).lower()
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keep option case
    for name in ("DEFAULT", *sorted(s for s in sections if s != "DEFAULT")):
        if name == "DEFAULT":
            parser["DEFAULT"] = sections[name]
        else:
            parser[name] = sections[name]
    text = io.StringIO()
    text.write(f"# tempest.conf for target '{target.target_name}' ({combination.id}), ")
    text.write("written by `matrix tempest`\n")
    parser.write(text)
    return text.getvalue()
