"""What a compute-only node (a subnode) of a multinode devstack gets, after devstack's own
`devstack-multinode` job (openstack/devstack .zuul.yaml at 493835a61a99): that job is the
`devstack` job on two nodes, and a subnode's settings are the `group-vars.subnode` of
`devstack` and of its parent `devstack-minimal`.

The one place this knowledge lives: `harness.devstack.settings` builds a subnode's settings
from it, and the tests hold it to the upstream job.
"""

from __future__ import annotations

from harness.declarations.model import Scalar

MULTINODE = "devstack-multinode"
"""The origin of the settings below, in place of an axis value's "axis/value"."""

SUBNODE_SERVICES: tuple[str, ...] = (
    "n-cpu",
    "placement-client",
    "ovn-controller",
    "ovs-vswitchd",
    "ovsdb-server",
    "q-ovn-agent",
    "c-vol",
)
"""What a subnode runs, and nothing else (its local.conf starts with disable_all_services, as
devstack-base's `devstack_services: {base: false}` makes the job's): the job `devstack`'s
group-vars.subnode.devstack_services, less what devstack does not run by default on the
controller either (stackrc ENABLED_SERVICES): the job's tls-proxy and c-bak, and its CI
trackers dstat, memory_tracker and file_tracker. Values turn these on and off as on the
controller, where their services are in `COMPUTE_SERVICES`."""

COMPUTE_SERVICES: frozenset[str] = frozenset(
    {
        *SUBNODE_SERVICES,
        "q-agt",  # ML2/OVS and linuxbridge: devstack-platform-ubuntu-noble-ovs's subnode enables it
        "q-ovn-metadata-agent",  # OVN before q-ovn-agent; that job's subnode disables it
        "c-bak",  # the job `devstack` runs it on its subnode
    }
)
"""The services a value's enable_services/disable_services may turn on or off on a subnode;
the others (APIs, schedulers, ovn-northd, q-dhcp, q-l3, q-meta...) run on the controller
only. devstack's multinode guide (doc/source/guides/multinode-lab.rst) runs the same set:
n-cpu, c-vol, placement-client, ovn-controller, ovs-vswitchd, ovsdb-server and the OVN
metadata agent."""

CONTROLLER_VARIABLE = "CONTROLLER_IP"
CONTROLLER_PLACEHOLDER = (
    f"${{{CONTROLLER_VARIABLE}:?set {CONTROLLER_VARIABLE} to the address of the controller}}"
)
"""SERVICE_HOST of a subnode when no lab names its controller: the shell stops stack.sh
with this message until CONTROLLER_IP is set (exported, or the line edited)."""

SUBNODE_LOCALRC: dict[str, Scalar] = {
    # devstack-minimal group-vars.subnode, "Multinode specific settings" and "Subnode
    # specific settings" (the job writes the controller's address where these say
    # $SERVICE_HOST, as devstack's multinode guide does)
    "SERVICE_HOST": CONTROLLER_PLACEHOLDER,
    "DATABASE_TYPE": "mysql",
    "DATABASE_HOST": "$SERVICE_HOST",
    "RABBIT_HOST": "$SERVICE_HOST",
    # devstack group-vars.subnode, "Subnode specific settings"
    "GLANCE_HOSTPORT": "$SERVICE_HOST:9292",
    "Q_HOST": "$SERVICE_HOST",
    "NOVA_VNC_ENABLED": True,  # lib/nova: VNC is configured where n-novnc runs, or with this
    "ENABLE_CHASSIS_AS_GW": False,  # lib/neutron_plugins/ovn_agent: default True
}
"""localrc a subnode gets before its values' own. Not here: HOST_IP (the subnode's own
address, which devstack guesses from the default route), PUBLIC_BRIDGE_MTU (the CI cloud's)
and the job's tuning (ENABLE_ZSWAP, ...), which the controller gets as much as a subnode."""

SUBNODE_FILES: frozenset[str] = frozenset(
    {
        # lib/nova: n-cpu reads $NOVA_CPU_CONF, a copy of $NOVA_CONF made after post-config
        "$NOVA_CONF",
        "/etc/nova/nova.conf",
        "$NOVA_CPU_CONF",
        "/etc/nova/nova-cpu.conf",
        # lib/neutron and lib/neutron_plugins/*: the agents read neutron.conf, the ML2 file
        # (Q_PLUGIN_CONF_FILE is relative to /) and the OVN agents' own files
        "$NEUTRON_CONF",
        "/etc/neutron/neutron.conf",
        "/$Q_PLUGIN_CONF_FILE",
        "/etc/neutron/plugins/ml2/ml2_conf.ini",
        "$OVN_AGENT_CONF",
        "/etc/neutron/plugins/ml2/ovn_agent.ini",
        "$OVN_META_CONF",
        "/etc/neutron/neutron_ovn_metadata_agent.ini",
        # lib/cinder: c-vol and c-bak
        "$CINDER_CONF",
        "/etc/cinder/cinder.conf",
    }
)
"""The post-config files of a subnode's services, as devstack names them or by path; a value's
post-config for any other file (an API's, Glance's, Ironic's) is the controller's alone."""
