"""tempest.conf for a target: credentials from clouds.yaml, names from the lab file, and what
the combination cannot do from its not-applicable verdicts."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from harness.declarations.loading import load_matrix
from harness.tempest import config
from tests.conftest import SHIPPED

AUTH = {
    "auth_url": "http://127.0.0.1:5000", "username": "admin", "password": "s3cret-pw",
    "project_name": "admin", "user_domain_name": "Default",
}  # fmt: skip
FACTS = config.CloudFacts(
    "img-1", "img-2", "flavor-1", "flavor-2", 2, "multiattach", ("admin", "manager", "member")
)


def rendered(target_name: str, tmp_path: Path) -> configparser.ConfigParser:
    matrix = load_matrix(SHIPPED)
    (target,) = [t for t in matrix.labs["embedded"].targets if t.target_name == target_name]
    combination = matrix.combinations[target.combination]
    text = config.render(matrix, combination, target, AUTH, target_name, FACTS, tmp_path)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_what_a_combination_cannot_do_is_switched_off(tmp_path: Path) -> None:
    live = rendered("live-local", tmp_path)["compute-feature-enabled"]
    nolive = rendered("nolive-local", tmp_path)["compute-feature-enabled"]
    shared = rendered("live-shared", tmp_path)["compute-feature-enabled"]
    assert (live["live_migration"], live["block_migration_for_live_migration"]) == ("true", "true")
    assert (nolive["live_migration"], nolive["block_migration_for_live_migration"]) == (
        "false",
        "false",
    )
    assert (shared["live_migration"], shared["block_migration_for_live_migration"]) == (
        "true",
        "false",  # Nova refuses block migration on shared instance storage
    )
    assert live["pause"] == live["snapshot"] == "true"


def test_credentials_region_and_the_cloud_s_own_ids(tmp_path: Path) -> None:
    conf = rendered("live-local", tmp_path)
    assert conf["auth"]["admin_password"] == "s3cret-pw"
    assert conf["auth"]["use_dynamic_credentials"] == "true"
    assert conf["identity"]["uri_v3"] == "http://127.0.0.1:5000/v3"
    assert conf["identity"]["region"] == conf["compute"]["region"] == "live-local"
    compute = conf["compute"]
    assert (compute["image_ref"], compute["image_ref_alt"]) == ("img-1", "img-2")
    assert (compute["flavor_ref"], compute["flavor_ref_alt"]) == ("flavor-1", "flavor-2")
    assert (compute["fixed_network_name"], compute["min_compute_nodes"]) == ("private", "2")
    assert conf["validation"]["run_validation"] == "false"
    assert conf["volume"]["volume_type_multiattach"] == "multiattach"
    assert conf["compute-feature-enabled"]["nova_policy_roles"] == "admin,manager,member"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"auth_type": "admin_token", "auth": {"token": "t"}}, "Tempest needs an admin's password"),
        ({"auth": {"auth_url": "http://k", "username": "u"}}, "no password, project_name"),
    ],
)
def test_a_cloud_without_password_auth_is_refused(entry: dict[str, object], why: str) -> None:
    with pytest.raises(config.TempestConfigError, match=why):
        config.admin_auth("c", entry)
