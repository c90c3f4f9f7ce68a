"""Fake virt drivers that differ where REAL Nova code makes them differ.

Registered as the module ``nova.virt.labfake`` and selected with
``compute_driver = labfake.<Class>``.

Traps this module exists for:

- Nova loads drivers only from the ``nova.virt.`` namespace
  (``importutils.import_object('nova.virt.%s' % CONF.compute_driver)``), so a module outside
  nova must be aliased into ``sys.modules['nova.virt.labfake']`` (see register()).
- No driver in nova/virt/fake.py lacks live migration, and none ever refuses a
  block_migration value: ``FakeDriver.check_can_live_migrate_destination`` always claims
  shared block storage and a shared instance path, and ``check_can_live_migrate_source``
  returns the data unchanged. So the differences below are made by borrowing real code:
  the ComputeDriver base-class hooks (NotImplementedError, what a driver that never
  implemented live migration inherits) and the libvirt driver's own
  ``check_can_live_migrate_source`` (bound onto the fake class, not copied).
- libvirt's messages name ``CONF.host``, which in a one-process cell is global and equals the
  LAST started compute ("host2 is not on shared storage" even when the source is host1).
- ``FakeLiveMigrateDriver`` keeps one "migrating" and one "aborted" flag per driver, that is
  per host: with scenarios in parallel, aborting or forcing one migration ended every other
  migration from that host (cancelled, or completed at once). Ours keep them per instance.
"""

import sys
import time
import types

import nova.virt
from nova.virt import driver as virt_driver
from nova.virt import fake
from nova.virt.libvirt import driver as libvirt_driver

_BASE = virt_driver.ComputeDriver
_LIBVIRT = libvirt_driver.LibvirtDriver
if libvirt_driver.libvirt is None:  # no libvirt-python: the borrowed check reads one constant
    libvirt_driver.libvirt = types.SimpleNamespace(VIR_MIGRATE_TUNNELLED=4)


class NoLiveMigrateDriver(fake.FakeLiveMigrateDriver):
    """A driver without live migration.

    The live-migration hooks are the ComputeDriver base-class ones (raise
    NotImplementedError), exactly what an in-tree driver that never implemented them (e.g.
    ironic) inherits. Through the API (microversion 2.30, as openstacksdk sends) this gives
    HTTP 500 MigrationError and the server goes to ERROR; from 2.34 on, 202 and then ERROR.
    """

    check_can_live_migrate_destination = _BASE.check_can_live_migrate_destination
    check_can_live_migrate_source = _BASE.check_can_live_migrate_source
    cleanup_live_migration_destination_check = _BASE.cleanup_live_migration_destination_check
    live_migration = _BASE.live_migration
    pre_live_migration = _BASE.pre_live_migration


class _StorageAwareLiveMigrateDriver(fake.FakeLiveMigrateDriver):
    """Source-side pre-check is libvirt's own check_can_live_migrate_source.

    It is fed a fixed answer to "is the instance path / block storage shared?" (SHARED)
    through the private hooks it calls; everything else stays the fake driver's
    (FakeLiveMigrateDriver.live_migration takes ~5 s: 50 x 0.1 s unless forced/aborted).
    """

    SHARED: bool  # set in subclasses
    MIGRATION_WINDOW = 5.0  # seconds a migration runs unless forced or aborted: the fake's

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self.migrations = {}  # instance uuid -> its _Migration, while it runs

    check_can_live_migrate_source = _LIBVIRT.check_can_live_migrate_source
    _add_vtpm_secret_to_live_migrate_data = _LIBVIRT._add_vtpm_secret_to_live_migrate_data
    _block_migration_flags = 0

    def check_can_live_migrate_destination(self, *args, **kwargs):
        data = super().check_can_live_migrate_destination(*args, **kwargs)
        # FakeDriver says "shared" unconditionally; libvirt's source check recomputes
        # both flags from the hooks below, this only keeps the destination's answer honest.
        data.is_shared_block_storage = self.SHARED
        data.is_shared_instance_path = self.SHARED
        return data

    # Hooks called by LibvirtDriver.check_can_live_migrate_source.
    def _check_shared_storage_test_file(self, filename, instance):
        return self.SHARED

    def _is_shared_block_storage(self, instance, dest_check_data, block_device_info=None):
        # libvirt: a volume-backed server with no local disk counts as shared block storage
        no_local_disk = not (instance.flavor.ephemeral_gb or instance.flavor.swap)
        return self.SHARED or bool(dest_check_data.is_volume_backed and no_local_disk)

    def _assert_dest_node_has_enough_disk(self, *args, **kwargs):
        return None

    # The fake's live migration, with its state per instance (see the module docstring).
    def live_migration(
        self, context, instance, dest, post_method, recover_method, block_migration=False,
        migrate_data=None,
    ):  # fmt: skip
        migration = self.migrations[instance.uuid] = _Migration()
        deadline = time.monotonic() + self.MIGRATION_WINDOW
        try:
            while migration.running and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            self.migrations.pop(instance.uuid, None)
        if migration.aborted:
            recover_method(context, instance, dest, migrate_data, migration_status="cancelled")
        else:
            post_method(context, instance, dest, block_migration, migrate_data)

    def live_migration_force_complete(self, instance):
        if (migration := self.migrations.get(instance.uuid)) is not None:
            migration.running = False
        self.instances.pop(instance.uuid, None)  # as the fake does: the source forgets it

    def live_migration_abort(self, instance):
        if (migration := self.migrations.get(instance.uuid)) is not None:
            migration.aborted, migration.running = True, False

    def _get_all_assigned_mediated_devices(self, instance=None):
        return {}


class _Migration:
    """One instance's live migration in progress."""

    def __init__(self):
        self.running = True
        self.aborted = False


class SharedStorageLiveMigrateDriver(_StorageAwareLiveMigrateDriver):
    """Instances on shared storage.

    block_migration 'auto' or False -> plain live migration; True -> InvalidLocalStorage
    ("Block migration can not be used with shared storage."), seen by the API caller as
    400 NoValidHost (the scheduler tries every host) and the server stays ACTIVE.
    """

    SHARED = True


class LocalStorageLiveMigrateDriver(_StorageAwareLiveMigrateDriver):
    """Local instance storage.

    block_migration 'auto' or True -> block migration; False -> InvalidSharedStorage
    ("Shared storage live-migration requires either shared storage or boot-from-volume with
    no local disks."), seen as 400 NoValidHost.
    """

    SHARED = False


def driver_for(live_migration, shared_storage):
    """The contract's mapping from (--live-migration, --shared-storage) to compute_driver."""
    if not live_migration:
        return "labfake.NoLiveMigrateDriver"
    if shared_storage:
        return "labfake.SharedStorageLiveMigrateDriver"
    return "labfake.LocalStorageLiveMigrateDriver"


def register():
    """Make this module importable as nova.virt.labfake (Nova's driver namespace)."""
    module = sys.modules[__name__]
    sys.modules["nova.virt.labfake"] = module
    nova.virt.labfake = module
