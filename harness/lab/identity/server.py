"""Embedded-lab Keystone: the real keystone package, served over HTTP on 127.0.0.1.

Started by harness/lab/keystone.py as ``<labvenv>/bin/python server.py --state-dir DIR --seed
SEED`` (or ``--make-seed SEED`` once per lab virtualenv). One process serves the lab's single
identity service; every cell is a region of it and registers its own endpoints there, the way
each devstack service does.

Startup, in order:

1. Copy the seed database (schema only: `db_sync` is ~10 s, so it is done once per lab
   virtualenv) and make fresh fernet and credential keys: a restarted Keystone forgets every
   token and every endpoint, and the harness restarts the cells with it.
2. Bind the port first (port 0: the kernel picks a free one), before even importing keystone,
   and write DIR/address.json: the harness gives the cells the URL at once and they boot
   meanwhile (a request that comes early waits in the listen queue until Keystone serves),
   and the identity endpoint that bootstrap registers carries the real URL.
3. Bootstrap in-process with the passwords of DIR/credentials.json (written 0600 by the
   harness, fresh per start): the admin user and project, the reader/member/manager/admin/
   service roles, the `service` project with the cells' service user (admin and service roles,
   as devstack gives nova and neutron), a non-admin `member` user in project `member`, and one
   catalog service per API the cells serve.
4. Make the policy enforcer (`ready_policy`), then serve and write DIR/endpoint.json (the
   harness waits for it).

Traps, each measured when the lab was built:

- Without `[cache]` every token validation costs 2-5 s (hundreds of SQL queries); with the
  in-memory dogpile backend about 14 ms.
- SQLite under concurrent writers raises "database is locked": writes are serialized here.
- Keystone makes its policy enforcer lazily, racing the first requests: made before serving.
- keystone's configure() parses sys.argv: it must only see the program name.
"""

import argparse
import contextlib
import faulthandler
import json
import os
import shutil
import signal
import socketserver
import sys
import threading
import time
import traceback
from wsgiref import simple_server

T0 = time.monotonic()
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CATALOG = (  # (type, name): one service per API a cell serves; cells add the endpoints
    ("compute", "nova"),
    ("block-storage", "cinder"),
    ("volumev3", "cinderv3"),
    ("image", "glance"),
    ("network", "neutron"),
)
ROLES = ("reader", "member", "manager", "admin", "service")
CONF_TEMPLATE = """\
[DEFAULT]
debug = false
[database]
connection = sqlite:///{db}?timeout=30
[token]
provider = fernet
[fernet_tokens]
key_repository = {fernet}
[fernet_receipts]
key_repository = {fernet}
[credential]
key_repository = {credential}
[cache]
enabled = true
backend = dogpile.cache.memory
[identity]
password_hash_rounds = 4
"""


class StartupError(Exception):
    """A startup failure whose message is the whole story."""


def parse_args(argv):
    p = argparse.ArgumentParser(prog="identity/server.py", description=__doc__.split("\n")[0])
    p.add_argument("--state-dir", help="Keystone's directory (config, database, keys, log)")
    p.add_argument("--seed", help="the seed directory made by --make-seed")
    p.add_argument("--make-seed", metavar="SEED", help="create the schema in SEED and exit")
    args = p.parse_args(argv)
    if not args.make_seed and not (args.state_dir and args.seed):
        p.error("give --state-dir and --seed, or --make-seed")
    return args


def write_conf(directory, database):
    """DIR/keystone.conf for `database`; returns its path and the two key repositories."""
    fernet, credential = (os.path.join(directory, d) for d in ("fernet-keys", "credential-keys"))
    path = os.path.join(directory, "keystone.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(CONF_TEMPLATE.format(db=database, fernet=fernet, credential=credential))
    sys.argv = sys.argv[:1]  # keystone's configure() parses the command line
    return path, fernet, credential


def make_seed(seed):
    """The database schema, once per lab virtualenv (`keystone-manage db_sync`)."""
    import keystone.server
    from keystone.common.sql import upgrades

    partial = f"{seed}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    conf, _, _ = write_conf(partial, os.path.join(partial, "keystone.db"))
    keystone.server.configure(config_files=[conf])
    upgrades.offline_sync_database_to_version()
    os.unlink(os.path.join(partial, "keystone.conf"))
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(seed)
    os.rename(partial, seed)
    print(f"SEEDED {seed} in {time.monotonic() - T0:.1f}s", flush=True)


def fresh_keys(repository, group):
    """New fernet (or credential) keys: 0 is staged, 1 primary, as fernet_setup makes them."""
    from keystone.common import fernet_utils

    shutil.rmtree(repository, ignore_errors=True)
    utils = fernet_utils.FernetUtils(repository, 3, group)
    utils.create_key_directory(os.getuid(), os.getgid())
    utils.initialize_key_repository(os.getuid(), os.getgid())


def read_credentials(directory):
    path = os.path.join(directory, "credentials.json")
    try:
        with open(path, encoding="utf-8") as f:
            credentials = json.load(f)
    except (OSError, ValueError) as e:
        raise StartupError(f"cannot read {path}: {e}") from None
    for user in ("admin", "service", "member"):
        if not isinstance(credentials.get(user), dict) or not credentials[user].get("password"):
            raise StartupError(f"{path} has no password for '{user}'")
    return credentials


def bootstrap(url, credentials):
    """`keystone-manage bootstrap` in-process, plus the service and member identities."""
    from keystone.cmd import bootstrap as keystone_bootstrap
    from keystone.common import provider_api

    admin = credentials["admin"]
    b = keystone_bootstrap.Bootstrapper()
    b.admin_username, b.admin_password = admin["username"], admin["password"]
    b.project_name, b.admin_role_name = admin["project"], "admin"
    b.region_id, b.service_name = "RegionOne", "keystone"
    b.public_url = b.internal_url = url
    b.immutable_roles = True
    b.bootstrap()

    providers = provider_api.ProviderAPIs
    domain = b.default_domain_id
    roles = {r["name"]: r["id"] for r in providers.role_api.list_roles()}
    for user in (credentials["service"], credentials["member"]):
        project = _project(providers, domain, user["project"])
        created = providers.identity_api.create_user(
            {
                "name": user["username"],
                "password": user["password"],
                "domain_id": domain,
                "enabled": True,
                "default_project_id": project,
            }
        )
        for role in user["roles"]:
            providers.assignment_api.add_role_to_user_and_project(
                created["id"], project, roles[role]
            )
    for service_type, name in CATALOG:
        service_id = os.urandom(16).hex()
        providers.catalog_api.create_service(
            service_id, {"id": service_id, "type": service_type, "name": name, "enabled": True}
        )


def _project(providers, domain, name):
    project_id = os.urandom(16).hex()
    providers.resource_api.create_project(
        project_id,
        {"id": project_id, "name": name, "domain_id": domain, "enabled": True,
         "description": f"embedded lab: {name}", "parent_id": domain, "is_domain": False},
    )  # fmt: skip
    return project_id


class ThreadingWSGIServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64


class Handler(simple_server.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")


def ready_policy(flask_app):
    """Make Keystone's policy enforcer before the first request. Keystone makes it on the
    first request that enforces a policy and publishes it before registering its rules, so
    requests racing to be that first one found no rule and got 403 (a cell's GET of its own
    region, while five cells registered at once). Made in a request context, as Keystone
    makes it, so that deprecated rules are reported once, not one by one."""
    from keystone.common.rbac_enforcer.enforcer import RBACEnforcer

    with flask_app.test_request_context():
        RBACEnforcer()._enforcer.load_rules()


def serialized_writes(app):
    """One writer at a time: SQLite says "database is locked" to the second."""
    lock = threading.Lock()

    def wrapped(environ, start_response):
        if environ["REQUEST_METHOD"] not in WRITES:
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return wrapped


def write_json(directory, name, doc):
    tmp = os.path.join(directory, f"{name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(directory, name))


def stop(signum, frame):
    for name in ("endpoint.json", "address.json"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(STATE["dir"], name))
    print(f"STOPPED by {signal.Signals(signum).name}", flush=True)
    sys.stdout.flush()
    os._exit(0)


STATE = {"dir": "."}


def main(argv):
    args = parse_args(argv)
    if args.make_seed:
        make_seed(os.path.abspath(args.make_seed))
        return
    directory = STATE["dir"] = os.path.abspath(args.state_dir)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # debug aid, as in the cells: kill -USR1 <pid> dumps every thread's stack into keystone.log
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    for stale in ("endpoint.json", "address.json"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, stale))
    httpd = ThreadingWSGIServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    write_json(directory, "address.json", {"pid": os.getpid(), "url": url})
    credentials = read_credentials(directory)
    seed_db = os.path.join(os.path.abspath(args.seed), "keystone.db")
    if not os.path.isfile(seed_db):
        raise StartupError(f"no seed database at {seed_db} (matrix lab prepare makes it)")
    database = os.path.join(directory, "keystone.db")
    shutil.copyfile(seed_db, database)  # a fresh start: last run's tokens and endpoints gone

    import keystone.server
    from keystone.server.flask import application
    from keystone.server.flask import core as flask_core

    conf, fernet, credential = write_conf(directory, database)
    fresh_keys(fernet, "fernet_tokens")
    fresh_keys(credential, "credential")
    # What flask_core.initialize_application does, with bootstrap (which loads the backends
    # itself: twice is refused) between the configuration and the application.
    keystone.server.configure(config_files=[conf])
    bootstrap(url, credentials)
    flask_app = application.application_factory("public")
    ready_policy(flask_app)
    app = flask_core.setup_app_middleware(flask_app)
    httpd.set_app(serialized_writes(app))
    threading.Thread(target=httpd.serve_forever, daemon=True, name="http").start()
    ready = round(time.monotonic() - T0, 2)
    write_json(directory, "endpoint.json", {"pid": os.getpid(), "url": url, "ready_seconds": ready})
    print(f"READY {url} in {ready}s", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except StartupError as e:
        print(f"keystone startup failed: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception:
        print("keystone startup failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
