"""The cell's side of the lab's Keystone: token validation, its catalog entries, its service
session.

A real cloud's services validate every token with keystonemiddleware's auth_token and build
their request context from what it validated; each registers its endpoints in the catalog at
deployment; Cinder and Neutron call Nova's API with a service user's token. The cell does the
same with one service user (admin and service roles in project `service`, as devstack gives
nova and neutron), read from the identity file the harness writes (0600):

    {"auth_url": ..., "region": <cell name>, "username": ..., "password": ...,
     "project": "service"}

Traps:

- Nova's functional fixture stubs auth_token and builds a fake context from X-Auth-User
  unless the test class says STUB_KEYSTONE = False (server.py's Cell does).
- auth_token reads `[keystone_authtoken]` from the global oslo.config CONF (no
  oslo_config_project in the paste filter); the password plugin's options exist there only
  once registered, so they are registered before they are set.
- The openstack CLI needs an identity endpoint in the region it is told to use: each cell
  registers one in its own region.
"""

import json
import os

# catalog type -> path on the cell's URL; image and network are unversioned, as devstack
# registers them (clients discover the version)
ENDPOINTS = {
    "compute": "/v2.1",
    "block-storage": "/volume/v3",
    "volumev3": "/volume/v3",
    "image": "/image",
    "network": "/network",
}


def load(path):
    with open(path, encoding="utf-8") as f:
        identity = json.load(f)
    missing = [k for k in ("auth_url", "region", "username", "password", "project") if
               not identity.get(k)]  # fmt: skip
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    return identity


def configure_auth_token(conf, identity):
    """[keystone_authtoken] for every auth_token in the cell (Nova's pipeline and the fronts)."""
    from keystoneauth1 import loading
    from keystonemiddleware.auth_token import _opts  # noqa: F401  (registers the group)

    group = "keystone_authtoken"
    loading.register_auth_conf_options(conf, group)
    conf.register_opts(loading.get_auth_plugin_conf_options("password"), group=group)
    values = {
        "www_authenticate_uri": identity["auth_url"],
        "auth_type": "password",
        "auth_url": identity["auth_url"],
        "username": identity["username"],
        "password": identity["password"],
        "project_name": identity["project"],
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "region_name": identity["region"],
        "interface": "public",  # the only interface the lab registers
        "service_token_roles_required": True,
    }
    for name, value in values.items():
        conf.set_override(name, value, group=group)


def with_auth_token(app):
    """`app` behind auth_token: only validated requests reach it, with X-Project-Id, X-Roles."""
    from keystonemiddleware import auth_token

    return auth_token.AuthProtocol(app, {})


def service_session(identity):
    """A keystoneauth session as the cell's service user (project-scoped, admin + service)."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(
        auth_url=identity["auth_url"],
        username=identity["username"],
        password=identity["password"],
        project_name=identity["project"],
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return session.Session(auth=auth)


def register_endpoints(sess, identity, url):
    """This cell's region and its public endpoints, replacing any a predecessor left."""
    keystone = identity["auth_url"].rstrip("/")
    region = identity["region"]
    api = {"endpoint_override": keystone + "/v3"}
    found = sess.get("/regions/" + region, raise_exc=False, **api)
    if found.status_code == 404:
        sess.post("/regions", json={"region": {"id": region}}, **api)
    elif not found.ok:  # say Keystone's refusal, not the endpoints' "no such region" after it
        from keystoneauth1 import exceptions

        raise exceptions.from_response(found, "GET", found.url)
    services = {s["type"]: s["id"] for s in sess.get("/services", **api).json()["services"]}
    old = sess.get("/endpoints", params={"region_id": region}, **api).json()["endpoints"]
    for endpoint in old:
        sess.delete(f"/endpoints/{endpoint['id']}", **api)
    wanted = {kind: url + path for kind, path in ENDPOINTS.items()}
    wanted["identity"] = keystone
    for kind, endpoint_url in wanted.items():
        body = {"service_id": services[kind], "interface": "public", "region_id": region,
                "url": endpoint_url, "enabled": True}  # fmt: skip
        sess.post("/endpoints", json={"endpoint": body}, **api)
    return sorted(wanted)


def is_admin(environ):
    """What auth_token validated says: does the caller hold the admin role?"""
    roles = environ.get("HTTP_X_ROLES", "")
    return environ.get("HTTP_X_IDENTITY_STATUS") == "Confirmed" and "admin" in {
        r.strip() for r in roles.split(",")
    }


def project_of(environ, default):
    """The validated caller's project (the fronts stamp it on what they create)."""
    return environ.get("HTTP_X_PROJECT_ID") or default


def private_file_warning(path):
    if os.stat(path).st_mode & 0o077:
        return f"warning: identity file {path} is accessible to group/others"
    return None
