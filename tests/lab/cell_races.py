"""Run by the lab's Python (test_cell_races.py): races between threads of a fake cell that
scenarios running side by side met, played on Nova's own test fixtures, in the order that
went wrong.

    python cell_races.py CELL_DIR locks|ports [--unfixed]

Prints what happened; with --unfixed the cell's remedy is left out, to show the race is real.
"""

import os
import sys
import threading
import time

os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"] = "true"
sys.path.insert(0, sys.argv[1])

import nova.tests.functional  # noqa: F401  (first: it refuses threading after eventlet)
from nova.tests import fixtures as nova_fixtures
from oslo_db.sqlalchemy import enginefacade

STEP = 10.0  # seconds any one step may take before the run counts as stuck
FIXED = "--unfixed" not in sys.argv


@enginefacade.transaction_context_provider
class Context:
    """What Nova's RequestContext is to oslo.db: somewhere to keep the transaction."""


def locks() -> str:
    """A holds a database's write lock (a write transaction), C holds the cell lock to read,
    B waits to write the cell lock; then A asks to read it and C asks for A's database.
    "finished" when all three finish, "deadlocked" when they still wait after STEP."""
    nova_fixtures.DatabaseWriteLock().setUp()  # patches oslo.db's transaction scope
    cells = nova_fixtures.CellDatabases()  # only its lock: no databases are made
    if FIXED:
        import fixture_locks

        fixture_locks.install(cells)
    database = enginefacade.transaction_context()
    database.configure(connection="sqlite://")
    lock = cells._cell_lock
    a_writes, c_reads, b_waits = threading.Event(), threading.Event(), threading.Event()

    def a() -> None:  # a service saving its state
        with database.writer.using(Context()):
            a_writes.set()
            b_waits.wait(STEP)
            with lock.read_lock():  # Nova's untargeted get_context_manager()
                pass

    def b() -> None:  # target_cell pointing the database at a cell
        c_reads.wait(STEP)
        with lock.write_lock():
            pass

    def c() -> None:  # a targeted call that then writes
        a_writes.wait(STEP)
        with lock.read_lock():
            c_reads.set()
            b_waits.wait(STEP)
            with database.writer.using(Context()):
                pass

    threads = [threading.Thread(target=f, daemon=True) for f in (a, b, c)]
    for thread in threads:
        thread.start()
    while not lock.has_pending_writers and threads[1].is_alive():
        threads[1].join(0.01)
    b_waits.set()
    deadline = time.monotonic() + STEP
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return "deadlocked" if any(t.is_alive() for t in threads) else "finished"


class SlowToLookUp(dict):
    """The fixture's port table, each answer delayed so that threads creating ports together
    all look before any of them writes."""

    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        time.sleep(0.05)
        return found


def ports() -> str:
    """Four servers' first ports created at once, then, with those deleted, a fifth: "unique"
    when each got an id of its own, as from a real Neutron, else "shared"."""
    neutron = nova_fixtures.NeutronFixture.__new__(nova_fixtures.NeutronFixture)
    neutron._ports = SlowToLookUp()  # create_port's only state besides its template
    neutron._port_bindings = {}  # delete_port's
    if FIXED:
        import server

        server.ports_keep_what_was_asked(neutron)
    start = threading.Barrier(4)
    ids: list[str] = []

    def boot() -> None:
        start.wait(STEP)
        ids.append(neutron.create_port({"port": {"network_id": "net"}})["port"]["id"])

    threads = [threading.Thread(target=boot) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(STEP)
    for port_id in set(ids):
        neutron.delete_port(port_id)
    ids.append(neutron.create_port({"port": {"network_id": "net"}})["port"]["id"])
    return "unique" if len(set(ids)) == 5 else "shared"


if __name__ == "__main__":
    print({"locks": locks, "ports": ports}[sys.argv[2]](), flush=True)
    os._exit(0)  # threads stuck in a deadlock would keep a normal exit waiting
