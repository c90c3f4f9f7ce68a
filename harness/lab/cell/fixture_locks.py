"""Break a deadlock between two locks of Nova's functional-test fixtures.

A cell runs on two locks that Nova's tests rarely contend for, while scenarios run side by
side (`matrix run --concurrency`) contend for them all the time:

- CellDatabases' reader-writer lock: `target_cell` takes it to write (to point "the"
  database at a cell), every untargeted database call takes it to read. It is fasteners'
  lock, which lets no new reader in while a writer waits.
- DatabaseWriteLock's lock per database, held for a whole write transaction (SQLite has one
  writer at a time).

Seen in a cell at four workers, every Nova API call hung for good: thread A, inside a write
transaction (a service reporting its state), asked for the read lock; thread B waited to
write it (a build's quota check targeting the cell); thread C held it to read and waited for
A's database. A waited for B, B for C, C for A.

The write section of `target_cell` only assigns a variable, so an active writer always
finishes on its own; only the wait behind a *pending* writer closes the circle. A thread
inside a write transaction may therefore read past pending writers (never past an active
one). Nothing else changes: other readers still queue behind writers, so writers are not
starved.
"""

import contextlib
import threading

_in_write_transaction = threading.local()


def _write_depth() -> int:
    return getattr(_in_write_transaction, "depth", 0)


def install(cell_databases) -> None:
    """Apply the rule to a set-up CellDatabases fixture (after DatabaseWriteLock patched
    oslo.db's transaction scope, since the scope is wrapped again here)."""
    from oslo_db.sqlalchemy import enginefacade

    lock = cell_databases._cell_lock
    lock.__class__ = _reader_for(type(lock))
    manager = enginefacade._TransactionContextManager
    manager._transaction_scope = _marking(manager._transaction_scope, enginefacade._WRITER)


def _marking(scope, writer_mode):
    """oslo.db's transaction scope, noting in the thread when it is inside a writer's."""

    @contextlib.contextmanager
    def marked_scope(tcm_self, context):
        writes = int(tcm_self._mode is writer_mode)
        _in_write_transaction.depth = _write_depth() + writes
        try:
            with scope(tcm_self, context) as resource:
                yield resource
        finally:
            _in_write_transaction.depth -= writes

    return marked_scope


def _reader_for(lock_class):
    """fasteners' ReaderWriterLock, but a thread inside a write transaction reads as soon as
    no writer holds the lock, even with writers waiting."""

    class WriteTransactionsReadFirst(lock_class):
        def _acquire_read_lock(self, me):
            if not _write_depth():
                return super()._acquire_read_lock(me)
            with self._cond:
                while self._writer is not None and self._writer != me:
                    self._cond.wait()
                self._readers[me] = self._readers.get(me, 0) + 1

    return WriteTransactionsReadFirst
