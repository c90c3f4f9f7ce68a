"""abort-live-migration: abort a running live migration; the server stays on its host.

Needs: 2 computes (features.yaml `requires`); compute microversion 2.25 (features.yaml
`microversion`; the abort itself needs 2.24).
The migration must still be running when the scenario sees it.

Proves abort because the migration record must be seen `running` before the abort, the compute
host must have carried the abort out (the abort action's compute event succeeded: the hypervisor
took it), the record must then end without completing, and the server must be ACTIVE with no task
state on its original host; an ignored abort ends `completed` on another host and fails, and a
migration that ended before it could be aborted fails too (it is not passed as if aborted).

The record may end `cancelled` or `error`: Nova's libvirt driver calls a migration cancelled only
if its poll (every 0.5 s) meets the job in QEMU's cancelled state; once libvirt has ended the job
it cannot tell a cancel from a failure and records `error` (nova/virt/libvirt/driver.py,
_live_migration_monitor and migration.find_job_type), which the lab's libvirt cells show.
"""

import pytest

from harness.scenario.waiters import MIGRATION_ENDED

ABORTED = ("cancelled", "error")  # see the module docstring


@pytest.mark.feature("abort-live-migration")
def test_abort_live_migration(cloud, make, wait):
    """Outline:
    1. boot a server and wait until ACTIVE, noting its host
    2. live migrate it with block_migration "auto"
    3. wait until its migration record is running or has ended; check it is running
    4. abort that migration (DELETE /servers/{id}/migrations/{id})
    5. wait until the abort action has finished; check its compute event succeeded
    6. wait until the record has ended; check it is cancelled (or error, see above)
    7. wait (migration timeout) until ACTIVE with no task state; check the host is unchanged
    Passes only when the compute aborted the running migration and the server stayed where it
    was."""
    server = make.server()
    cloud.compute.live_migrate_server(server, block_migration="auto")
    migration = wait.migration(server.id, ("running", *MIGRATION_ENDED))
    assert migration.status == "running", f"the migration was {migration.status} before the abort"
    cloud.compute.abort_server_migration(migration.id, server, ignore_missing=False)  # 2.24
    wait.action(server.id, "live_migration_cancel", kind="migration")  # its events succeeded
    assert wait.migration(server.id, MIGRATION_ENDED).status in ABORTED
    stayed = wait.server(server.id, "ACTIVE", kind="migration")
    assert stayed.compute_host == server.compute_host, "the aborted migration moved the server"
