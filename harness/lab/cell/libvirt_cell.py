"""A cell on Nova's real libvirt driver: what changes when the computes drive a real libvirtd.

Runs inside the lab virtualenv (with libvirt-python), imported by server.py when it is given
`--libvirt CONFIG.json`, which the harness writes:

    {"virt_type": "qemu" | "kvm",
     "hosts": {"<host>": {"uri": "qemu+unix:///system?socket=...", "instances_path": "...",
                          "netns": "/proc/<pid>/ns/net" | null,  # the host's own, if any
                          "bridge": "<the bridge its guests' taps join>"}},
     "migration": {"uri": "<live_migration_uri, %s for the destination>", "bandwidth": MiB/s},
     "image": {"id": "<uuid>", "name": "...", "path": "<qcow2>", "disk_format": "qcow2",
               "properties": {...}},
     "images_dir": "<where image bytes are kept>",
     "bridge": "<the lab bridge dnsmasq serves>", "subnet": "<its subnet>",
     "taps_file": "<where the names of the taps Nova made are noted>",
     "volumes_dir": "<sparse files behind the volumes>",
     "loops_file": "<where the loop devices made for them are noted>"}

What the functional fixtures do that a real driver cannot live with, and what is done here
instead (each measured: see shared/reference/libvirt-lab.md):

- The fixtures poison `import libvirt`, /sys reads, `os.uname`, the libvirt event thread
  (`Host._init_events`) and privsep's helper: those fixtures are not installed, and privsep
  runs its entrypoints in this process (the cell runs as root).
- The Glance fixture keeps image bytes in memory, drops them on update (a snapshot's
  upload) and calls an image active before it has any: bytes are kept on disk instead, and
  an image is queued until its bytes are all stored, so Nova downloads the real guest image
  and a snapshot is booted or unshelved only once it is whole.
- The Neutron fixture binds ports as `ovs`; Nova 34 refuses Linux bridge VIFs, so ports are
  bound as `tap`: Nova creates the tap itself, and a hook enslaves it to the lab bridge that
  dnsmasq serves, so the guest gets a DHCP lease. Each host has a network namespace of its
  own, where its taps are made, on the bridge the lab's uplink joins: during a live migration
  the same tap exists on both hosts, and two cells never meet on a tap name.
- The Cinder fixture hands out connection info no driver can attach: each volume is backed by
  a sparse file on a loop device instead, attached as a `local` volume (a volume made from an
  image gets the image's bytes), so guests see a real disk appear and go.
- Nova's pty console appends what it reads from the pty to the log virtlogd writes, which
  splits lines: the serial console is TCP on loopback instead, read only from its log.
- Nova waits for network-vif-plugged events that no Neutron sends here: not waited for.
- One oslo.config state per process: `connection_uri` is read when a compute's driver is
  made, so it is set before each compute starts, and the node uuid is reset for each;
  `instances_path` is read at any time, so hosts of one cell share it (shared storage: the
  lab mounts it as a file system libvirt counts as shared). `CONF.host` would be the last
  started compute's everywhere (volume connectors naming the wrong host, a resize's cleanup
  undefining the wrong domain, a detach skipped): within each call of a compute manager's or
  driver's own methods, the modules that read it read that compute's host instead.
- Evacuation assumes the source host is dead; here its libvirtd still runs the guest, so
  before Nova evacuates a server the lab fences it on its source host (destroys and
  undefines its domain, leaving its disks), as an operator must and as Nova's evacuate CI job
  does by stopping the source's guests.
"""

import json
import logging
import os
import shutil
import subprocess
import threading

LOG = logging.getLogger("cell.libvirt")

DRIVER = "libvirt.LibvirtDriver"
UNFIT_FIXTURES = frozenset(
    {
        "ImportModulePoisonFixture",
        "SysFsPoisonFixture",
        "GenericPoisonFixture",
        "PoisonFunctions",
        "PrivsepNoHelperFixture",
    }
)
"""Fixtures of Nova's test base that make a real driver fail; never installed here."""

CHUNK = 1 << 20


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def configure(cell, config):
    """Flags every compute of the cell shares (per-host ones are set by `before_compute`)."""
    cell.flags(compute_driver=DRIVER)
    cell.flags(
        virt_type=config["virt_type"],
        images_type="qcow2",
        sysinfo_serial="none",  # 'unique' reads /etc/machine-id, which containers may lack
        wait_soft_reboot_seconds=30,
        group="libvirt",
    )
    cell.flags(
        shutdown_timeout=30,  # the guest powers off on ACPI at once; this is the safety net
        vif_plugging_timeout=0,  # no Neutron here sends network-vif-plugged
        vif_plugging_is_fatal=False,
        use_cow_images=True,
        force_raw_images=False,
        allow_resize_to_same_host=True,  # as devstack sets it: a one-host cell can resize
    )
    # TCP on loopback, never connected to, so Nova reads virtlogd's log alone (see the module
    # docstring): with the pty, CI once missed MATRIX-GUEST-BOOTED for 180 s, four cells busy.
    cell.flags(enabled=True, proxyclient_address="127.0.0.1", group="serial_console")
    if len(config["hosts"]) > 1:
        cell.flags(
            live_migration_uri=config["migration"]["uri"],
            live_migration_tunnelled=False,  # QEMU to QEMU, to the host's migration_host
            live_migration_bandwidth=config["migration"]["bandwidth"],
            group="libvirt",
        )
    _privsep_in_process()


def _privsep_in_process():
    """Run privsep entrypoints (Nova's and os-brick's, which attaches volumes) in this (root)
    process instead of a daemon started through sudo and rootwrap."""
    import nova.privsep
    import os_brick.privileged

    for module in (nova.privsep, os_brick.privileged):
        for name in dir(module):
            context = getattr(module, name)
            if hasattr(context, "set_client_mode"):
                context.set_client_mode(False)


def before_compute(cell, host, config):
    """Per-host flags, read when this host's compute service and driver are created."""
    from nova.virt import node

    spec = config["hosts"][host]
    os.makedirs(spec["instances_path"], exist_ok=True)  # ServiceNotFound otherwise
    cell.flags(connection_uri=spec["uri"], group="libvirt")
    cell.flags(instances_path=spec["instances_path"])
    node.LOCAL_NODE_UUID = None  # else the second compute refuses to start


def host_overrides(config):
    """What nova-cpu.conf of each host must say beside the shared configuration."""
    return {
        host: {
            "DEFAULT": {"instances_path": spec["instances_path"]},
            "libvirt": {"connection_uri": spec["uri"], "virt_type": config["virt_type"]},
        }
        for host, spec in config["hosts"].items()
    }


def each_compute_sees_its_own_host(config):
    """Make `CONF.host` read, within a call of a compute manager's or libvirt driver's own
    method (periodic tasks included), as that compute's host (see the module docstring)."""
    import contextvars
    import functools
    import inspect

    from nova.compute import manager
    from nova.virt import block_device, imagecache
    from nova.virt.libvirt import driver

    host_of_uri = {spec["uri"]: host for host, spec in config["hosts"].items()}
    current = contextvars.ContextVar("compute_host", default=None)

    class PerComputeHost:
        def __init__(self, conf):
            self._conf = conf

        def __getattr__(self, name):
            if name == "host":
                return current.get() or self._conf.host
            return getattr(self._conf, name)

    def as_its_host(method, host_of):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            token = current.set(host_of(self) or current.get())
            try:
                return method(self, *args, **kwargs)
            finally:
                current.reset(token)

        return call

    def driver_host(self):
        return host_of_uri.get(getattr(getattr(self, "_host", None), "_uri", None))

    def manager_host(self):
        return getattr(self, "host", None)

    for cls, host_of in (
        (driver.LibvirtDriver, driver_host),
        (manager.ComputeManager, manager_host),
    ):
        for name, member in list(vars(cls).items()):
            if inspect.isfunction(member) and not name.startswith("__"):
                setattr(cls, name, as_its_host(member, host_of))
    # periodic tasks are called through the functions the class recorded when it was made
    periodic = manager.ComputeManager.run_periodic_tasks
    manager.ComputeManager.run_periodic_tasks = as_its_host(periodic, manager_host)
    for module in (driver, manager, block_device, imagecache):
        module.CONF = PerComputeHost(module.CONF)


# --- images ---------------------------------------------------------------------------------


def keep_image_bytes(glance, images_dir):
    """Make the Glance fixture keep image data on disk, through create, update and download."""
    os.makedirs(images_dir, exist_ok=True)
    original_create, original_update, original_delete = glance.create, glance.update, glance.delete

    def stored(image_id):
        return os.path.join(images_dir, image_id)

    def save(image_id, data):
        path = stored(image_id)
        size = 0
        with open(path + ".part", "wb") as out:
            if isinstance(data, (bytes, bytearray)):
                out.write(data)
                size = len(data)
            else:
                for chunk in iter(lambda: data.read(CHUNK), b""):
                    out.write(chunk)
                    size += len(chunk)
        os.replace(path + ".part", path)
        image = glance.images[image_id]
        image["size"] = size
        image["status"] = "active"
        return image

    def create(context, metadata, data=None):
        image = original_create(context, metadata)  # no data: the fixture would read it all
        if data is not None:
            return save(image["id"], data)
        if "status" not in metadata:  # the fixture says active; Glance says queued until
            image["status"] = "queued"  # the bytes arrive (a snapshot's, in `update`)
        return image

    def update(context, image_id, metadata, data=None, purge_props=False):
        metadata = as_glance_v2_stores(metadata)
        if data is None:
            return original_update(context, image_id, metadata, purge_props=purge_props)
        # Nova's snapshot upload says status active in the same call that carries the bytes:
        # the image must not look active (and be booted from) before they are all stored.
        saving = {**metadata, "status": "saving"}
        original_update(context, image_id, saving, purge_props=purge_props)
        return save(image_id, data)

    def download(context, image_id, data=None, dst_path=None, trusted_certs=None):
        glance.show(context, image_id)
        path = stored(image_id)
        if not os.path.exists(path):
            return  # a fixture image without bytes: as the fixture does, nothing
        if dst_path:
            shutil.copyfile(path, dst_path)
        elif data is not None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, data, CHUNK)

    def delete(context, image_id):
        original_delete(context, image_id)
        if os.path.exists(stored(image_id)):
            os.unlink(stored(image_id))

    glance.create, glance.update = create, update
    glance.download, glance.delete = download, delete
    glance.keeps_bytes_on_disk = True  # the image front uploads through `update` then


def as_glance_v2_stores(metadata):
    """Nova's Glance v2 client leaves out an empty kernel_id or ramdisk_id (nova/image/
    glance.py, _convert_to_v2), which a snapshot's metadata always carries; the fixture,
    called without that client, would keep them, and Nova would then look for an image ''
    when a server boots from the snapshot."""
    properties = {
        name: value
        for name, value in (metadata.get("properties") or {}).items()
        if not (
            name in ("kernel_id", "ramdisk_id")
            and value is not None
            and str(value).strip().lower() in ("", "none")
        )
    }
    return {**metadata, "properties": properties} if "properties" in metadata else metadata


def register_guest_image(glance, image):
    """The lab's guest image, with its real bytes and the properties Nova needs."""
    metadata = {
        "id": image["id"],
        "name": image["name"],
        "status": "active",
        "disk_format": image["disk_format"],
        "container_format": "bare",
        "visibility": "public",
        "min_ram": 0,
        "min_disk": 0,
        "properties": dict(image.get("properties", {})),
    }
    if image["id"] in glance.images:
        glance.delete(None, image["id"])
    with open(image["path"], "rb") as data:
        glance.create(None, metadata, data=data)


# --- networking -----------------------------------------------------------------------------


def bind_ports_as_tap(neutron):
    """Every port the Neutron fixture knows or makes is bound with vif_type tap."""
    for port in [*neutron._ports.values(), neutron.default_port]:
        port["binding:vif_type"] = "tap"
        port["binding:vif_details"] = {}
    original_create = neutron.create_port

    def create_port(body=None):
        made = original_create(body)
        port = neutron._ports[made["port"]["id"]]
        port["binding:vif_type"] = "tap"
        port["binding:vif_details"] = {}
        made["port"].update({"binding:vif_type": "tap", "binding:vif_details": {}})
        return made

    neutron.create_port = create_port


def plug_taps_per_host(config):
    """Make each tap in its host's network namespace, where that host's QEMU opens it, and
    put it on the host's bridge (what a Neutron agent would do). Nova's own plug would make
    it in this process's namespace. The name is noted for the record of what Nova plugged."""
    from nova.virt.libvirt import vif

    by_uri = {spec["uri"]: spec for spec in config["hosts"].values()}
    taps_file = config["taps_file"]

    def plug_tap(self, instance, vif_model):
        spec = by_uri[self.host._uri]
        device = self.get_vif_devname(vif_model)
        with open(taps_file, "a", encoding="utf-8") as noted:
            noted.write(device + "\n")
        if not _ip(spec["netns"], "link", "show", device, check=False):
            _ip(spec["netns"], "tuntap", "add", device, "mode", "tap")
        _ip(spec["netns"], "link", "set", device, "master", spec["bridge"], "up")
        LOG.info("tap %s of %s joined bridge %s on %s", device, instance.uuid,
                 spec["bridge"], self.host._uri)  # fmt: skip

    def unplug_tap(self, instance, vif_model):
        spec = by_uri[self.host._uri]
        device = self.get_vif_devname(vif_model)
        if _ip(spec["netns"], "link", "show", device, check=False):
            _ip(spec["netns"], "link", "delete", device, check=False)

    vif.LibvirtGenericVIFDriver.plug_tap = plug_tap
    vif.LibvirtGenericVIFDriver.unplug_tap = unplug_tap


def _ip(netns, *args, check=True):
    """`ip ARGS` in the network namespace at path `netns` (None: this process's); True if it
    succeeded."""
    enter = ["nsenter", f"--net={netns}"] if netns else []
    done = subprocess.run([*enter, "ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} in {netns or 'the cell'}: {done.stderr.strip()}")
    return done.returncode == 0


# --- evacuation -----------------------------------------------------------------------------


def fence_before_evacuate(config):
    """Before Nova evacuates a server, destroy and undefine its domain on the source host,
    which here is alive (see the module docstring); its disks stay for the rebuild."""
    import libvirt
    from nova.compute import api

    uris = {host: spec["uri"] for host, spec in config["hosts"].items()}
    original = api.API.evacuate

    def evacuate(self, context, instance, *args, **kwargs):
        uri = uris.get(instance.host)
        if uri is not None:
            connection = libvirt.open(uri)
            try:
                domain = connection.lookupByUUIDString(instance.uuid)
                if domain.isActive():
                    domain.destroy()
                domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
                LOG.info("fenced %s on %s before its evacuation", instance.uuid, instance.host)
            except libvirt.libvirtError as error:
                LOG.info("nothing to fence for %s on %s: %s", instance.uuid, instance.host, error)
            finally:
                connection.close()
        return original(self, context, instance, *args, **kwargs)

    api.API.evacuate = evacuate


# --- volumes --------------------------------------------------------------------------------


GIB = 1 << 30


def loop_backed_volumes(cinder, config):
    """Attach every volume as a `local` block device: a sparse file on a loop device, made the
    first time Nova connects the volume and noted so that `lab down` can remove it."""
    volumes_dir, loops_file = config["volumes_dir"], config["loops_file"]
    os.makedirs(volumes_dir, exist_ok=True)
    images_dir = config["images_dir"]
    loops = {}
    lock = threading.Lock()

    def device_for(volume_id):
        with lock:
            if volume_id in loops:
                return loops[volume_id]
            volume = cinder.volumes[volume_id]
            path = os.path.join(volumes_dir, volume_id)
            if not os.path.exists(path):
                image_id = (volume.get("volume_image_metadata") or {}).get("image_id")
                source = os.path.join(images_dir, image_id) if image_id else None
                if source and os.path.exists(source):  # a volume made from an image
                    subprocess.run(
                        ["qemu-img", "convert", "-O", "raw", source, path],
                        check=True, capture_output=True,
                    )  # fmt: skip
                with open(path, "ab") as backing:
                    backing.truncate(max(int(volume["size"]) * GIB, os.path.getsize(path)))
            device = subprocess.run(
                ["losetup", "--find", "--show", path], check=True, capture_output=True, text=True
            ).stdout.strip()
            with open(loops_file, "a", encoding="utf-8") as noted:
                noted.write(f"{device} {path}\n")
            loops[volume_id] = device
            LOG.info("volume %s is %s (%s)", volume_id, device, path)
            return device

    def find_connection_info(volume_id, attachment_id):
        return {
            "driver_volume_type": "local",
            "data": {
                "device_path": device_for(volume_id),
                "volume_id": volume_id,
                "attachment_id": attachment_id,
            },
        }

    cinder._find_connection_info = find_connection_info


def expose_compute_log(state_dir, hosts):
    """Each host's nova-compute log where devstack-like hosts keep it, so that scenarios that
    read compute logs (live snapshot's live-path check) read this cell's: one process serves
    every service of the cell, so its log is cell.log, and each host's path links to it."""
    for host in hosts:
        logs = os.path.join(state_dir, "hosts", host, "var", "log", "nova")
        os.makedirs(logs, exist_ok=True)
        link = os.path.join(logs, "nova-compute.log")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.join(state_dir, "cell.log"), link)
