"""Embedded-lab cell server: real Nova on fake virt drivers (or, with --libvirt, on the real
libvirt driver: libvirt_cell.py), served over HTTP on 127.0.0.1.

Run by launcher.py (which harness/lab/control.py starts) as ``run([--name N --state-dir DIR
--identity F --hosts h1,h2 --live-migration yes|no --shared-storage yes|no [--libvirt F]])`` in
a process forked after ``preload()``; ``python server.py ARGS`` runs one cell on its own.
One process = one cell: API, conductor, scheduler, placement and one compute per host, all
from Nova's functional-test fixtures (they ship in the nova wheel), plus thin
Cinder/Glance/Neutron fronts (the fronts/ package) on the same port. Every request but
version discovery is authenticated by the lab's Keystone (identity.py): the cell is a region
of it and registers its own endpoints there once it serves.

Traps handled here, each verified by hand when the lab was built:

- OS_NOVA_DISABLE_EVENTLET_PATCHING=true must be set before nova.tests is imported
  (nova/tests/__init__.py monkey-patches otherwise); TMPDIR / tempfile.tempdir must point at a
  per-cell dir before the cell's setUp, because nova 34's Database fixture keeps temp-FILE
  SQLite databases there (asking tempfile as it makes them) that a fast exit would leak.
- The nova wheel installs api-paste.ini under <venv>/etc/nova, the fixture looks under
  site-packages: override [wsgi]api_paste_config before setUp.
- Errors in setUp are silent (oslo.log's excepthook writes into the StandardLogging
  fixture's in-memory logger): print tracebacks to the real stderr ourselves.
- StandardLogging keeps every INFO line in a StringIO forever: re-point it to stderr
  (DIR/cell.log, opened by the harness).
- nova/test.py sets futurist's ThreadWorker.MAX_IDLE_FOR to 0.01 s (test speed hack):
  every idle pool thread then wakes 100x/s. Put futurist's 1 s back.
- nova's WarningsFixture turns some warnings into errors (SQLAlchemy deprecations raised
  from nova, "invalid UUID"): test policy, not production behaviour, so those escalations
  are dropped after setUp (with SQLAlchemy 2.1 they turn a live migration into HTTP 500).
- ProviderUsageBaseTestCase discards the CinderFixture: useFixture is overridden to record
  every fixture by class name so the fronts can reach their state.
- One oslo.config state per process, so one cell per process; CONF.host ends up being the
  last started compute's name (see nova_conf.py).
- Nova's and Placement's databases are SQLite files; the fixture serialises writers but not
  readers, and a writer that waits on a reader gives up after SQLite's 5 s ("database is
  locked", a live migration stuck in MIGRATING) when the machine is busy: every connection
  waits up to 60 s instead (sqlite_waits_for_locks).
- Nova's fixture migrates each database with alembic (a third of a second a cell): the
  schemas the first cell of a virtualenv migrated are kept there and replayed
  (schema_seed.py).
- CellDatabases' and DatabaseWriteLock's locks deadlock when scenarios run side by side
  (fixture_locks.py): a thread in a write transaction may read past waiting writers.
- cell.doCleanups() takes ~10 s (thread pools draining) and everything is in memory anyway:
  on SIGTERM/SIGINT remove endpoint.json and the temp dir, then os._exit(0).
"""

import argparse
import contextlib
import faulthandler
import json
import logging
import os
import re
import shutil
import signal
import socketserver
import sys
import tempfile
import threading
import time
import traceback
import uuid
import warnings
from wsgiref import simple_server

T0 = time.monotonic()
# nova/tests/functional/__init__.py monkey-patches with eventlet unless this is set; the
# harness sets it too, but nothing may import nova before it is.
os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"] = "true"
HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path[:1] != [HERE]:
    sys.path.insert(0, HERE)  # sibling modules: drivers, fronts, nova_conf

STARTUP_TIMEOUT = 120.0
HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")  # used as a directory name
PUBLIC_GET = frozenset(
    {
        "",
        "/v2",
        "/v2.1",
        "/volume",
        "/volume/v3",
        "/image",
        "/image/v2",
        "/network",
        "/network/v2.0",
    }
)
NOVA_EVENTS_MICROVERSION = "2.51"  # volume-extended needs 2.51
LOG = logging.getLogger("cell.server")


class StartupError(Exception):
    """A startup failure whose message is the whole story (no traceback needed)."""


class State:
    """Process-wide state shared by the signal handlers, the watchdog and main()."""

    lock = threading.RLock()  # reentrant: a signal handler may interrupt the main thread
    phase = "starting"  # starting -> ready -> stopping | failed
    state_dir = None
    tmp_dir = None
    cell = None


# ------------------------------------------------------------------ arguments
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # contract: every startup failure exits 1, not argparse's 2
        raise StartupError(f"{self.prog}: error: {message}\n{self.format_usage().strip()}")


def parse_args(argv):
    p = _Parser(prog="cell/server.py", description="Embedded-lab cell server (one Nova cell).")
    p.add_argument("--name", required=True, help="cell name, echoed in endpoint.json")
    p.add_argument("--state-dir", required=True, help="cell directory (cwd, cell.log, tmp/)")
    p.add_argument("--identity", required=True, help="the lab Keystone's file for this cell")
    p.add_argument("--hosts", required=True, help="comma-separated compute host names")
    p.add_argument("--live-migration", required=True, choices=("yes", "no"))
    p.add_argument("--shared-storage", required=True, choices=("yes", "no"))
    p.add_argument(
        "--libvirt",
        metavar="CONFIG",
        help="drive a real libvirtd per host with Nova's libvirt driver (libvirt_cell.py)",
    )
    args = p.parse_args(argv)
    if not args.name.strip() or not args.name.isprintable():
        p.error("--name must be a non-empty printable string")
    hosts = [h.strip() for h in args.hosts.split(",")]
    if not any(hosts):
        p.error(f"--hosts must name at least one host, got {args.hosts!r}")
    for h in hosts:
        if not HOST_RE.fullmatch(h):
            p.error(f'--hosts: invalid host name {h!r} (letters, digits, ".", "_", "-")')
    if len(set(hosts)) != len(hosts):
        p.error(f"--hosts: duplicate host names in {args.hosts!r}")
    args.hosts = hosts
    return args


def read_identity(path):
    import identity

    try:
        loaded = identity.load(path)
        warning = identity.private_file_warning(path)
    except (OSError, ValueError) as e:
        raise StartupError(f"cannot read --identity: {e}") from None
    if warning:
        print(warning, file=sys.stderr)
    return loaded


# ------------------------------------------------------------------ exit paths
def _cleanup():
    """Remove endpoint.json (first: the harness must stop using us) and the temp dir."""
    if State.state_dir:
        for name in ("endpoint.json", "endpoint.json.tmp"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(State.state_dir, name))
    if State.tmp_dir:
        shutil.rmtree(State.tmp_dir, ignore_errors=True)


def _exit(code):
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _dump_nova_log():
    """Nova's startup logs sit in the StandardLogging fixture's memory until redirected."""
    try:
        output = State.cell.stdlog.logger.output
    except Exception:
        return
    if output:
        sys.__stderr__.write("--- nova log captured during startup ---\n" + output)
        sys.__stderr__.write("--- end of captured nova log ---\n")


def _on_signal(signum, frame):
    with State.lock:
        was = State.phase
        State.phase = "stopping"
        _cleanup()
        print(
            f"STOPPED by {signal.Signals(signum).name} ({was}) after {time.monotonic() - T0:.1f}s",
            flush=True,
        )
        _exit(0)


def install_signal_handlers():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    # The cell leads its own session, so the first tty it opens becomes its controlling
    # terminal: Nova's console read opens a guest's pty, and when that guest is destroyed the
    # hang-up would kill the whole cell with SIGHUP. A daemon has no terminal to hang up.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # debug aid: kill -USR1 <pid> dumps every thread's stack into cell.log
    faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    faulthandler.enable(file=sys.__stderr__, all_threads=True)  # a crash in C says where


def _startup_timeout():
    with State.lock:
        if State.phase != "starting":
            return
        State.phase = "failed"
        sys.__stderr__.write(
            f"cell startup did not finish within {STARTUP_TIMEOUT:.0f}s; thread stacks:\n"
        )
        faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
        _dump_nova_log()
        _cleanup()
        _exit(1)


# ------------------------------------------------------------------ the cell
PRELOADED = (
    "nova.tests.functional.integrated_helpers",  # first: see make_cell_class
    "nova.tests.fixtures",
    "nova.conf",
    "nova.api.openstack.compute.routes",  # every API controller
    "nova.compute.manager",
    "nova.conductor.manager",
    "nova.scheduler.manager",
    "oslo_messaging._drivers.impl_rabbit",  # kombu and amqp, which the fake transport loads
    "futurist._thread",
    "oslo_db.sqlalchemy.engines",
    "keystonemiddleware.auth_token",
    "keystoneauth1.identity.v3",
    "keystoneauth1.session",
    "drivers",
    "fronts",
    "identity",
    "nova_conf",
)
"""What every cell imports, in this order (launcher.py imports it once for all its cells)."""
LIBVIRT_PRELOADED = ("libvirt", "libvirt_cell", "nova.virt.libvirt.driver")


def preload(libvirt=False):
    """Import what the cells need before launcher.py forks them. Nothing imported captures
    the temp dir (Nova's Database fixture asks for it as it makes its files, after
    prepare_dirs()), and nothing starts a thread."""
    import importlib

    for name in PRELOADED + (LIBVIRT_PRELOADED if libvirt else ()):
        importlib.import_module(name)


def prepare_dirs(state_dir):
    """cwd = DIR; DIR/tmp is the temp dir (tempfile + TMPDIR) BEFORE nova is imported."""
    state_dir = os.path.abspath(state_dir)
    os.makedirs(state_dir, exist_ok=True)
    State.state_dir = state_dir
    os.chdir(state_dir)
    for stale in ("endpoint.json", "endpoint.json.tmp"):  # a killed predecessor's
        if os.path.exists(stale):
            os.unlink(stale)
    tmp = os.path.join(state_dir, "tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # left by a SIGKILLed predecessor
    os.makedirs(tmp)
    State.tmp_dir = tmp
    tempfile.tempdir = tmp
    os.environ["TMPDIR"] = tmp


def sqlite_waits_for_locks(seconds=60):
    """Every SQLite connection made from now on waits for a lock rather than failing."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def on_connect(dbapi_connection, record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    event.listen(Engine, "connect", on_connect)


LIVE_MIGRATIONS_AT_ONCE = 4  # per host, in fake cells: `matrix run --concurrency` of up to 4
POOLED_CONNECTIONS = 8  # kept open per database; more are opened when more threads need one


def sqlite_connections_are_pooled():
    """oslo.db gives file SQLite databases no pool (NullPool): every session opens a new
    connection, and SQLite parses Nova's schema again on its first statement, which was a
    quarter of a fake cell's CPU. Keep connections open in a pool instead, as SQLAlchemy 2
    itself does for file databases (pysqlite then lets the pool hand them between threads).
    The pool never makes a session wait for a connection (no overflow limit), and does not
    ping one before handing it out (a file cannot drop a connection as a server can)."""
    import types

    from oslo_db.sqlalchemy import engines
    from sqlalchemy import pool

    class Pooled(pool.QueuePool):
        def __init__(self, creator, **kw):
            kw.update(pool_size=POOLED_CONNECTIONS, max_overflow=-1, pre_ping=False)
            super().__init__(creator, **kw)

    engines.pool = types.SimpleNamespace(**{**vars(pool), "NullPool": Pooled})


def policy_is_found(conf):
    """oslo.policy searches the config directories on every request for a policy file (and
    a policy.d) it has not found yet, and Nova's fixture names one that does not exist:
    give it an empty one (Nova's defaults stay the rules) and no policy.d."""
    path = conf.oslo_policy.policy_file
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        with open(path, "w") as empty:
            empty.write("{}\n")
    conf.set_override("policy_dirs", [], group="oslo_policy")


def make_cell_class(keystone, skipped_fixtures=frozenset()):
    """Import nova's functional base class FIRST: nova/tests/functional/__init__.py refuses
    to start native threading if anything (nova.virt.fake -> futurist) imported eventlet."""
    from nova.tests.functional import integrated_helpers

    sqlite_waits_for_locks()
    sqlite_connections_are_pooled()

    class Cell(integrated_helpers.ProviderUsageBaseTestCase):
        compute_driver = None  # set by start_cell

        def setUp(self):
            import fixture_locks
            import identity
            import schema_seed
            from nova import conf

            # Trap: api-paste.ini is installed under <venv>/etc/nova, not site-packages.
            paste = os.path.join(sys.prefix, "etc", "nova", "api-paste.ini")
            self.flags(api_paste_config=paste, group="wsgi")
            # before the API is loaded: auth_token builds its auth plugin when created
            identity.configure_auth_token(conf.CONF, keystone)
            seeded = schema_seed.load()
            super().setUp()
            fixture_locks.install(self.recorded_fixtures["CellDatabases"])
            if seeded:
                LOG.info("database schemas replayed from %s", schema_seed.SEED)
            elif schema_seed.keep():
                LOG.info("database schemas migrated, and kept in %s", schema_seed.SEED)
            policy_is_found(conf.CONF)

        def useFixture(self, fixture):
            name = type(fixture).__name__
            if name in skipped_fixtures:  # what a real driver cannot live with
                return fixture
            if name == "OSAPIFixture":  # real auth_token, Nova's real context from it
                fixture.stub_keystone = False
            # Record every fixture by class name: the fronts need Cinder/Glance/Neutron's.
            self.__dict__.setdefault("recorded_fixtures", {})[name] = fixture
            return super().useFixture(fixture)

        def runTest(self):  # testtools needs a test method to instantiate the case
            pass

    return Cell


class InstanceFormatter(logging.Formatter):
    """Nova's own log format names the instance a line is about (`[instance: <uuid>]`, from
    the `instance=` every compute log call passes); the fixture's format drops it, and
    whoever reads a compute log (the live-snapshot scenario) finds lines by server id."""

    def format(self, record):
        text = super().format(record)
        uuid = getattr(record, "instance_uuid", None)
        instance = getattr(record, "instance", None)
        if not uuid and instance is not None:
            uuid = (
                instance.get("uuid")
                if isinstance(instance, dict)
                else getattr(instance, "uuid", None)
            )
        if not uuid or f"[instance: {uuid}]" in text:
            return text
        prefix, sep, message = text.partition("] ")
        return f"{prefix}{sep}[instance: {uuid}] {message}" if sep else f"[instance: {uuid}] {text}"


def redirect_nova_logging():
    """Send StandardLogging's in-memory stream to stderr (DIR/cell.log), after flushing
    what it captured so far, in a format that names each line's instance."""
    _dump_nova_log()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            handler.setStream(sys.__stderr__)
            if handler.formatter is not None:
                handler.setFormatter(InstanceFormatter(handler.formatter._fmt))


def production_warnings():
    """Drop WarningsFixture's warning-to-error escalations (test policy, not Nova's)."""
    kept = [f for f in warnings.filters if f[0] != "error"]
    warnings.resetwarnings()
    warnings.filters.extend(kept)


def start_cell(args, keystone):
    """setUp the cell and start one compute per host; returns (cell, compute_driver)."""
    if args.libvirt:
        return start_libvirt_cell(args, keystone)
    cell_class = make_cell_class(keystone)
    import drivers
    import futurist._thread

    drivers.register()  # compute_driver = labfake.<Class>
    driver = drivers.driver_for(args.live_migration == "yes", args.shared_storage == "yes")
    cell_class.compute_driver = driver
    cell = cell_class()
    State.cell = cell
    cell.setUp()
    redirect_nova_logging()
    futurist._thread.ThreadWorker.MAX_IDLE_FOR = 1.0  # futurist's default (test hack: 0.01)
    production_warnings()
    # Nova's default of one outgoing live migration at a time per host queued scenarios run
    # side by side behind each other's (five-second) fake migrations; the drivers keep each
    # migration's state apart (drivers.py), so a host may run as many as there are workers.
    cell.flags(max_concurrent_live_migrations=LIVE_MIGRATIONS_AT_ONCE)
    for host in args.hosts:
        cell.flags(compute_driver=driver)  # read by the compute service when it is created
        cell._start_compute(host)
    return cell, driver


def start_libvirt_cell(args, keystone):
    """The same cell with Nova's real libvirt driver driving one libvirtd per host."""
    import libvirt_cell

    config = libvirt_cell.load(args.libvirt)
    cell_class = make_cell_class(keystone, libvirt_cell.UNFIT_FIXTURES)
    import futurist._thread

    cell_class.compute_driver = libvirt_cell.DRIVER
    cell = cell_class()
    State.cell = cell
    cell.setUp()
    redirect_nova_logging()
    futurist._thread.ThreadWorker.MAX_IDLE_FOR = 1.0
    production_warnings()
    libvirt_cell.configure(cell, config)
    libvirt_cell.each_compute_sees_its_own_host(config)
    fixtures = cell.recorded_fixtures
    libvirt_cell.keep_image_bytes(fixtures["GlanceFixture"], config["images_dir"])
    libvirt_cell.register_guest_image(fixtures["GlanceFixture"], config["image"])
    libvirt_cell.bind_ports_as_tap(fixtures["NeutronFixture"])
    libvirt_cell.loop_backed_volumes(fixtures["CinderFixture"], config)
    libvirt_cell.plug_taps_per_host(config)
    libvirt_cell.fence_before_evacuate(config)
    for host in args.hosts:
        libvirt_cell.before_compute(cell, host, config)
        cell._start_compute(host)
    cell.libvirt_config = config
    return cell, libvirt_cell.DRIVER


def ports_keep_what_was_asked(neutron):
    """The fixture's create_port stamps every port with its template's project and security
    group over the ones Nova asks for; Nova then finds no port of a server owned by any other
    project (its addresses show empty), and a server booted in a group is not in it. A real
    Neutron keeps what was asked.

    It also gives its template's fixed id and MAC to any port made while no port has them:
    the first, two made at once, and the next after that one is deleted. A real Neutron never
    repeats an id, and the fake driver remembers every port it ever plugged, so a repeated id
    failed an interface attach. Every port gets an id and a MAC of its own, one at a time."""
    create = neutron.create_port
    one_at_a_time = threading.Lock()

    def create_port(body=None):
        asked = (body or {}).get("port", {})
        kept = {}
        if owner := asked.get("project_id") or asked.get("tenant_id"):
            kept |= {"project_id": owner, "tenant_id": owner}
        if "security_groups" in asked:
            kept["security_groups"] = list(asked["security_groups"])
        with one_at_a_time:
            created = create(body)
            port_id = created["port"]["id"]
            if port_id == neutron.default_port["id"]:
                port_id = kept["id"] = str(uuid.uuid4())
                kept["mac_address"] = "fa:16:3e:" + ":".join(  # OpenStack's own MAC prefix
                    f"{byte:02x}" for byte in os.urandom(3)
                )
                neutron._ports[port_id] = neutron._ports.pop(created["port"]["id"])
            neutron._ports[port_id].update(kept)
        created["port"].update(kept)
        return created

    neutron.create_port = create_port


def neutron_finds_by_name_or_id(neutron):
    """neutronclient's find_resource, which the fixture lacks: Nova looks a requested security
    group up by name or id with it (a server booted in a group someone made: 500 without)."""
    from neutronclient.common import exceptions as neutron_errors

    collections = {"security_group": "_security_groups", "network": "_networks"}

    def find_resource(resource, name_or_id, project_id=None, cmd_resource=None,
                      parent_id=None, fields=None):  # fmt: skip
        items = getattr(neutron, collections.get(resource, ""), None)
        if items is None:
            raise neutron_errors.NotFound(message=f"the lab's Neutron has no {resource}s")
        if name_or_id in items:
            return dict(items[name_or_id])
        named = [
            item for item in list(items.values())
            if item.get("name") == name_or_id
            and project_id in (None, item.get("project_id"), item.get("tenant_id"))
        ]  # fmt: skip
        if len(named) > 1:
            raise neutron_errors.NeutronClientNoUniqueMatch(resource=resource, name=name_or_id)
        if not named:
            raise neutron_errors.NotFound(
                message=f"Unable to find {resource} with name or id '{name_or_id}'"
            )
        return dict(named[0])

    neutron.find_resource = find_resource


# ------------------------------------------------------------------ HTTP
class ThreadingWSGIServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64


class Handler(simple_server.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        logging.getLogger("cell.http").info(fmt, *args)

    def send_error(self, code, message=None, explain=None):
        """http.server's error page is HTML; the lab speaks JSON only."""
        body = json.dumps({"error": {"code": code, "message": message or explain or ""}}).encode()
        self.log_error("code %d, message %s", code, message)
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


def json_reply(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def make_lab_admin(cell):
    """POST /_lab/periodics and POST /_lab/computes/<host>/restart: what no API does."""
    lock = threading.Lock()

    def app(environ, start_response):
        parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
        method = environ["REQUEST_METHOD"]
        t = time.monotonic()
        if parts == ["periodics"] and method == "POST":
            with lock:
                cell._run_periodics()
            body = {"ran": "update_available_resource", "hosts": sorted(cell.computes)}
        elif len(parts) == 3 and parts[0] == "computes" and parts[2] == "restart":
            host = parts[1]
            if method != "POST":
                return json_reply(start_response, "405 Method Not Allowed", {"error": "POST"})
            if host not in cell.computes:
                return json_reply(start_response, "404 Not Found", {"error": f"no host {host}"})
            with lock:
                # a real nova-compute restart: new ComputeManager, same driver object (keeps
                # the fake hypervisor's guests), init_host runs again
                cell.computes[host] = cell.restart_compute_service(cell.computes[host])
            body = {"restarted": host}
        elif not parts and method == "GET":
            body = {"hosts": sorted(cell.computes), "endpoints": ["periodics", "computes"]}
        else:
            return json_reply(start_response, "404 Not Found", {"error": "no such lab action"})
        body["seconds"] = round(time.monotonic() - t, 3)
        return json_reply(start_response, "200 OK", body)

    return app


def make_dispatch(nova_app, mounts):
    """Path dispatch. Nova's own pipeline validates tokens (auth_token, its real context);
    each mount is wrapped in auth_token by main(). Version discovery is anonymous, as in real
    clouds, and reaches the front unwrapped."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        public = environ["REQUEST_METHOD"] in ("GET", "HEAD") and path.rstrip("/") in PUBLIC_GET
        target = nova_app
        for prefix, (front, guarded) in mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix) :]
                target = front if public else guarded
                break
        try:
            return target(environ, start_response)
        except Exception as e:
            LOG.exception("unhandled error on %s %s", environ["REQUEST_METHOD"], path)
            body = {"error": {"code": 500, "message": f"{type(e).__name__}: {e}"}}
            data = json.dumps(body).encode()
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
                sys.exc_info(),
            )
            return [data]

    return app


def admin_only(app):
    """The lab's own actions are an operator's: the admin role, as auth_token validated it."""
    import identity

    def guarded(environ, start_response):
        if not identity.is_admin(environ):
            return json_reply(start_response, "403 Forbidden", {"error": "admin role required"})
        return app(environ, start_response)

    return guarded


def make_notifier(url, session):
    """Nova external events the way Cinder/Neutron send them: over Nova's API with a service
    user's token, async."""

    def post(events):
        try:
            resp = session.post(
                url + "/v2.1/os-server-external-events",
                json={"events": events},
                headers={"OpenStack-API-Version": f"compute {NOVA_EVENTS_MICROVERSION}"},
                raise_exc=False,
                timeout=30,
            )
            LOG.info("external events %s -> %s %s", events, resp.status_code, resp.text[:300])
        except Exception as e:
            LOG.warning("external events %s failed: %s", events, e)

    def notify(events):
        threading.Thread(target=post, args=(events,), daemon=True, name="notify-nova").start()

    return notify


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def write_endpoint(doc):
    tmp = os.path.join(State.state_dir, "endpoint.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(State.state_dir, "endpoint.json"))


# ------------------------------------------------------------------ main
def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    prepare_dirs(args.state_dir)
    keystone = read_identity(args.identity)
    install_signal_handlers()
    watchdog = threading.Timer(STARTUP_TIMEOUT, _startup_timeout)
    watchdog.daemon = True
    watchdog.start()

    cell, driver = start_cell(args, keystone)  # the first import of nova: after prepare_dirs()
    ports_keep_what_was_asked(cell.recorded_fixtures["NeutronFixture"])
    neutron_finds_by_name_or_id(cell.recorded_fixtures["NeutronFixture"])
    install_signal_handlers()  # again: nothing in setUp may have replaced them

    import fronts
    import identity
    import nova_conf
    from nova import conf as nova_conf_module
    from nova.tests import fixtures as nova_fixtures

    host_drivers = {h: driver for h in args.hosts}
    overrides = {}
    if args.libvirt:
        import libvirt_cell

        overrides = libvirt_cell.host_overrides(cell.libvirt_config)
        libvirt_cell.expose_compute_log(State.state_dir, args.hosts)
    nova_conf.write_host_configs(
        nova_conf_module.CONF, State.state_dir, host_drivers, args.name, overrides
    )

    httpd = ThreadingWSGIServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    session = identity.service_session(keystone)
    apps = {"/_lab": admin_only(make_lab_admin(cell))}
    apps.update(
        fronts.make_fronts(
            cell.recorded_fixtures, url, nova_fixtures.PROJECT_ID, make_notifier(url, session)
        )
    )
    mounts = {prefix: (app, identity.with_auth_token(app)) for prefix, app in apps.items()}
    httpd.set_app(make_dispatch(cell.api_fixture.app(), mounts))
    threading.Thread(target=httpd.serve_forever, daemon=True, name="http").start()
    registered = identity.register_endpoints(session, keystone, url)
    LOG.info("registered %s in region %s of %s", registered, keystone["region"],
             keystone["auth_url"])  # fmt: skip

    with State.lock:
        if State.phase != "starting":
            return  # the watchdog or a signal got there first (they exit the process)
        watchdog.cancel()
        ready, rss = round(time.monotonic() - T0, 2), rss_mb()
        write_endpoint(
            {
                "name": args.name,
                "pid": os.getpid(),
                "url": url,
                "compute": url + "/v2.1",
                "volume": url + "/volume/v3",
                "image": url + "/image/v2",
                "network": url + "/network/v2.0",
                "hosts": list(args.hosts),
                "drivers": host_drivers,
                "ready_seconds": ready,
                "rss_mb": rss,
            }
        )
        State.phase = "ready"
        print(f"READY {url} in {ready}s RSS {rss} MB", flush=True)
    while True:
        signal.pause()  # the handlers exit the process


def run(argv=None):
    try:
        main(argv)
    except StartupError as e:
        print(f"cell startup failed: {e}", file=sys.__stderr__)
    except SystemExit as e:  # argparse --help exits 0; nothing else should raise it
        if e.code in (0, None):
            _exit(0)
        print(f"cell startup failed: exit({e.code!r})", file=sys.__stderr__)
    except BaseException:
        sys.__stderr__.write("cell startup failed:\n")
        traceback.print_exc(file=sys.__stderr__)
        _dump_nova_log()
    with State.lock:
        State.phase = "failed"
        _cleanup()
        _exit(1)


if __name__ == "__main__":
    run()
