"""The embedded lab: real Nova, on fake virt drivers or on libvirt and QEMU, one process per cell.

The harness never imports nova: `environment` builds the lab's own virtualenv, `cells` reads
which cells a lab file asks for, `control` starts and stops their processes and `state`
keeps the files that describe them (pid files, clouds.yaml, the generated lab file). Cells on
Nova's real libvirt driver need more around them, which `libvirt_cells` prepares and takes
down: a private libvirtd per compute host (`hypervisor`), a bridge with DHCP for the guests'
taps that reaches into each host's own network namespace (`bridge`),
instance storage two hosts share (`shared_storage`) and the guest image (`image`). The code
that does import nova lives in `cell/` and runs only inside the lab virtualenv.
"""
