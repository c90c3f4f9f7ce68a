"""A target's cloud, as openstacksdk sees it: its clouds.yaml entry, a connection, its secrets.

The lab file may name its own clouds.yaml (relative to the lab file); otherwise openstacksdk
looks where it always does (OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack, /etc).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.run.secrets import Redactor, secrets_in


class CloudConfigError(BadInput):
    """The cloud is not in clouds.yaml, or its entry is unusable."""


def clouds_yaml_of(lab_path: Path, clouds_yaml: str | None) -> Path | None:
    return (lab_path.parent / clouds_yaml).resolve() if clouds_yaml else None


def region(clouds_yaml: Path | None, cloud: str, *, validate: bool = True) -> Any:
    """The cloud's entry, merged as openstacksdk merges it. `validate` also loads its auth
    plugin, as a connection needs; without it nothing but the files and the environment are
    read (keystoneauth finds plugins by scanning every installed package's entry points)."""
    from openstack.config import OpenStackConfig
    from openstack.exceptions import ConfigException

    files = [str(clouds_yaml)] if clouds_yaml else None
    try:
        return OpenStackConfig(config_files=files).get_one(cloud=cloud, validate=validate)
    except ConfigException as error:
        raise CloudConfigError(f"cloud '{cloud}': {error}") from None


def connect(clouds_yaml: Path | None, cloud: str, api_timeout: float | None = None) -> Any:
    """A Connection; HTTP calls time out after `api_timeout` unless clouds.yaml sets its own,
    so a cloud that hangs gives a timeout in the record instead of a run that never ends."""
    import openstack

    config = region(clouds_yaml, cloud)
    if api_timeout is not None and config.config.get("api_timeout") is None:
        config.config["api_timeout"] = api_timeout
    return openstack.connection.Connection(config=config)


def redactor(clouds_yaml: Path | None, cloud: str) -> Redactor:
    """The cloud entry's secrets, read without connecting (nor loading its auth plugin)."""
    return Redactor(secrets_in(region(clouds_yaml, cloud, validate=False).config))
