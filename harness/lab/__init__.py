"""The embedded lab: real Nova, on fake virt drivers or on libvirt and QEMU, one process per cell,
behind one real Keystone.

The harness never imports nova or keystone: `environment` builds the lab's own virtualenv
(with `virtualenvs`, which builds Tempest's too), `cells` reads which cells a lab file asks
for, `keystone` starts the lab's Keystone and writes who may use it, `control` starts and stops
the cells (`processes`: pid files, recognising our own processes) and `state` keeps the files
that describe them (clouds.yaml, the generated lab file; secrets through `private_files`). Cells on
Nova's real libvirt driver need more around them, which `libvirt_cells` prepares and takes
down: a private libvirtd per compute host (`hypervisor`), a bridge with DHCP for the guests'
taps that reaches into each host's own network namespace (`bridge`),
instance storage two hosts share (`shared_storage`) and the guest image (`image`). The code
that does import nova lives in `cell/`, and Keystone's server in `identity/`: both run only
inside the lab virtualenv.
"""
