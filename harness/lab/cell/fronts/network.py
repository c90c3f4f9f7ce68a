"""Neutron v2.0 front: networks, subnets, ports, security groups over NeutronFixture.

Nova's NeutronFixture keeps networks, ports and security groups in dicts that Nova's network
API reads and binds; this front serves them to list, show, create and delete (ports and
security groups to update too), so a port made here is one Nova can attach and a security
group made here is one Nova can boot a server in. What a project creates carries that
project, as Neutron stamps it from the token. A network made here is Neutron's record only:
the fixture gives every port Nova creates its one template address, so servers belong on the
fixture's own networks.

Traps:

- NeutronFixture.create_port overwrites the request with its template port (same fixed IP,
  empty name and device_id), so the front re-applies the caller's fields afterwards.
- Real Neutron sends 'network-vif-deleted' when a bound port is deleted; the front does the
  same through Nova's own API (notify callback from server.py).
"""

import copy
import uuid

import identity

from .wsgi import (
    EPOCH,
    HttpError,
    Router,
    matches,
    member,
    next_href,
    now,
    paginate,
    parse_query,
    read_json,
    version_doc,
)

NET_DEFAULTS = {"tags": [], "revision_number": 1, "created_at": EPOCH, "updated_at": EPOCH}
PORT_DEFAULTS = {
    "name": "",
    "description": "",
    "device_id": "",
    "device_owner": "",
    "binding:host_id": "",
    "allowed_address_pairs": [],
    "extra_dhcp_opts": [],
    "qos_policy_id": None,
    **NET_DEFAULTS,
}
PORT_CREATE_FIELDS = (
    "name",
    "description",
    "network_id",
    "device_id",
    "device_owner",
    "admin_state_up",
    "mac_address",
    "fixed_ips",
    "port_security_enabled",
    "security_groups",
    "binding:vnic_type",
    "binding:profile",
)
PORT_UPDATE_FIELDS = ("name", "description", "admin_state_up", "device_owner", "security_groups")
NEUTRON_TYPES = {
    "networks": "Network",
    "subnets": "Subnet",
    "ports": "Port",
    "security-groups": "SecurityGroup",
    "security-group-rules": "SecurityGroupRule",
    "floatingips": "FloatingIP",
    "routers": "Router",
}


class NeutronFront:
    def __init__(self, neutron, base_url, notify):
        self.neutron, self.base, self.notify = neutron, base_url, notify
        # The fixture's groups name their rules by id (its rules are class attributes), as
        # Nova reads them; the front keeps the rules and shows groups with them whole.
        self.rules = {
            rule["id"]: copy.deepcopy(rule)
            for name, rule in vars(type(neutron)).items()
            if name.startswith("security_group_rule_") and isinstance(rule, dict)
        }
        # The fixture's groups name their rules by id (its rules are class attributes), as
        # Nova reads them; the front keeps the rules and shows groups with them whole.
        self.rules = {
            rule["id"]: copy.deepcopy(rule)
            for name, rule in vars(type(neutron)).items()
            if name.startswith("security_group_rule_") and isinstance(rule, dict)
        }
        r = self.router = Router(self._error)
        r.add("GET", r"", self.versions)
        r.add("GET", r"/v2.0", self.versions)
        r.add("GET", r"/v2.0/extensions", self.extensions)
        for coll in NEUTRON_TYPES:
            r.add("GET", rf"/v2.0/{coll}", self._lister(coll))
            r.add("GET", rf"/v2.0/{coll}/(?P<rid>[^/]+)", self._shower(coll))
        r.add("POST", r"/v2.0/ports", self.create_port)
        r.add("PUT", r"/v2.0/ports/(?P<rid>[^/]+)", self.update_port)
        r.add("DELETE", r"/v2.0/ports/(?P<rid>[^/]+)", self.delete_port)
        r.add("POST", r"/v2.0/networks", self.create_network)
        r.add("DELETE", r"/v2.0/networks/(?P<rid>[^/]+)", self.delete_network)
        r.add("POST", r"/v2.0/subnets", self.create_subnet)
        r.add("DELETE", r"/v2.0/subnets/(?P<rid>[^/]+)", self.delete_subnet)
        r.add("POST", r"/v2.0/security-groups", self.create_security_group)
        r.add("PUT", r"/v2.0/security-groups/(?P<rid>[^/]+)", self.update_security_group)
        r.add("DELETE", r"/v2.0/security-groups/(?P<rid>[^/]+)", self.delete_security_group)
        r.add("POST", r"/v2.0/security-group-rules", self.create_rule)
        r.add("DELETE", r"/v2.0/security-group-rules/(?P<rid>[^/]+)", self.delete_rule)

    def __call__(self, environ, start_response):
        return self.router(environ, start_response)

    @staticmethod
    def _error(status, message, kind):
        kind = kind or {400: "BadRequest", 404: "HTTPNotFound"}.get(status, "HTTPError")
        return {"NeutronError": {"type": kind, "message": message, "detail": ""}}

    def versions(self, env):
        return 200, {"versions": [version_doc("v2.0", self.base + "/v2.0/")]}

    def extensions(self, env):
        return 200, self.neutron.list_extensions()

    def _items(self, coll):
        n = self.neutron
        if coll == "ports":  # list_ports merges each port's active binding
            items, defaults = n.list_ports(is_admin=True)["ports"], PORT_DEFAULTS
        elif coll == "security-group-rules":
            items, defaults = copy.deepcopy(list(self.rules.values())), NET_DEFAULTS
        elif coll == "security-groups":
            items = copy.deepcopy(list(n._security_groups.values()))
            for group in items:
                group["security_group_rules"] = [
                    copy.deepcopy(self.rules[r]) if isinstance(r, str) else r
                    for r in group.get("security_group_rules", [])
                    if not isinstance(r, str) or r in self.rules
                ]
            defaults = NET_DEFAULTS
        else:
            source = {"networks": n._networks, "subnets": n._subnets}.get(coll, {})
            items, defaults = copy.deepcopy(list(source.values())), NET_DEFAULTS
        return [{**copy.deepcopy(defaults), **i} for i in items]

    @staticmethod
    def _fields(item, query):
        fields = query.get("fields")
        return {k: v for k, v in item.items() if k in fields} if fields else item

    @staticmethod
    def _match(item, query):
        fixed = query.get("fixed_ips")
        if fixed:  # ?fixed_ips=ip_address=X&fixed_ips=subnet_id=Y (all must hold)
            for cond in fixed:
                key, _, value = cond.partition("=")
                if not any(ip.get(key) == value for ip in item.get("fixed_ips") or []):
                    return False
        rest = {k: v for k, v in query.items() if k != "fixed_ips"}
        return matches(item, rest)

    def _lister(self, coll):
        key = coll.replace("-", "_")

        def handler(env):
            query = parse_query(env)
            items = [i for i in self._items(coll) if self._match(i, query)]
            page, marker = paginate(items, query)
            body = {key: [self._fields(i, query) for i in page]}
            if marker:
                href = next_href(self.base, env["PATH_INFO"], query, marker)
                body[key + "_links"] = [{"rel": "next", "href": href}]
            return 200, body

        return handler

    def _shower(self, coll):
        key = coll.replace("-", "_")[:-1]

        def handler(env, rid):
            return 200, {key: self._fields(self._one(coll, rid), parse_query(env))}

        return handler

    def _one(self, coll, rid):
        for item in self._items(coll):
            if item["id"] == rid:
                return item
        kind = NEUTRON_TYPES[coll]
        raise HttpError(404, f"{kind} {rid} could not be found.", kind + "NotFound")

    def create_port(self, env):
        b = member(read_json(env), "port")
        net = b.get("network_id")
        if not net:
            raise HttpError(
                400, "Failed to parse request. Required attribute 'network_id' not specified"
            )
        self._one("networks", net)
        owner = identity.project_of(env, None)
        asked = {"network_id": net, **({"project_id": owner} if owner else {})}
        created = self.neutron.create_port({"port": asked})["port"]
        # the fixture overwrote the request with its template port: put the caller's back
        self.neutron._ports[created["id"]].update(
            {k: copy.deepcopy(b[k]) for k in PORT_CREATE_FIELDS if k in b}
        )
        self.neutron._ports[created["id"]].setdefault("created_at", now())
        return 201, {"port": self._one("ports", created["id"])}

    def update_port(self, env, rid):
        self._one("ports", rid)
        b = member(read_json(env), "port")
        port = self.neutron._ports[rid]
        port.update({k: copy.deepcopy(b[k]) for k in PORT_UPDATE_FIELDS if k in b})
        port["updated_at"] = now()
        return 200, {"port": self._one("ports", rid)}

    def delete_port(self, env, rid):
        port = self._one("ports", rid)
        self.neutron.delete_port(rid)
        server = port.get("device_id")
        if server and (port.get("device_owner") or "").startswith("compute:") and self.notify:
            # what Neutron's Nova notifier sends; Nova detaches the interface and
            # drops it from the instance's network info cache.
            self.notify([{"name": "network-vif-deleted", "server_uuid": server, "tag": rid}])
        return 204, None

    def create_security_group(self, env):
        b = member(read_json(env), "security_group")
        if not b.get("name"):
            raise HttpError(400, "Failed to parse request. Required attribute 'name' not specified")
        owner = identity.project_of(env, "")
        group_id = str(uuid.uuid4())
        group = {
            "id": group_id, "name": b["name"], "description": b.get("description", ""),
            "tenant_id": owner, "project_id": owner, "stateful": b.get("stateful", True),
            "created_at": now(), "updated_at": now(), "tags": [], "revision_number": 1,
            "security_group_rules": [],
        }  # fmt: skip
        for ethertype in ("IPv4", "IPv6"):  # what Neutron gives every new group
            rule = self._rule(group, {"direction": "egress", "ethertype": ethertype})
            self.rules[rule["id"]] = rule
            group["security_group_rules"].append(rule["id"])
        self.neutron._security_groups[group_id] = group
        return 201, {"security_group": self._one("security-groups", group_id)}

    def update_security_group(self, env, rid):
        self._one("security-groups", rid)
        b = member(read_json(env), "security_group")
        group = self.neutron._security_groups[rid]
        group.update({k: b[k] for k in ("name", "description") if k in b})
        group["updated_at"] = now()
        return 200, {"security_group": self._one("security-groups", rid)}

    def delete_security_group(self, env, rid):
        self._one("security-groups", rid)
        in_use = [
            p["id"] for p in self.neutron._ports.values() if rid in (p.get("security_groups") or [])
        ]
        if in_use:
            raise HttpError(409, f"Security Group {rid} in use.", "SecurityGroupInUse")
        for rule in self.neutron._security_groups.pop(rid).get("security_group_rules", []):
            self.rules.pop(rule, None)
        return 204, None

    def _rule(self, group, body):
        rule = {
            "id": str(uuid.uuid4()), "security_group_id": group["id"],
            "direction": body.get("direction"), "ethertype": body.get("ethertype", "IPv4"),
            "protocol": body.get("protocol"), "port_range_min": body.get("port_range_min"),
            "port_range_max": body.get("port_range_max"),
            "remote_ip_prefix": body.get("remote_ip_prefix"),
            "remote_group_id": body.get("remote_group_id"),
            "description": body.get("description", ""), "tenant_id": group["tenant_id"],
            "project_id": group["project_id"], "created_at": now(), "updated_at": now(),
            "revision_number": 0, "tags": [],
        }  # fmt: skip
        if rule["direction"] not in ("ingress", "egress"):
            raise HttpError(400, "Invalid input: direction must be 'ingress' or 'egress'")
        return rule

    def create_rule(self, env):
        b = member(read_json(env), "security_group_rule")
        group_id = b.get("security_group_id")
        if not group_id or group_id not in self.neutron._security_groups:
            raise HttpError(
                404, f"Security group {group_id} does not exist", "SecurityGroupNotFound"
            )
        group = self.neutron._security_groups[group_id]
        rule = self._rule(group, b)
        self.rules[rule["id"]] = rule
        group.setdefault("security_group_rules", []).append(rule["id"])
        return 201, {"security_group_rule": copy.deepcopy(rule)}

    def delete_rule(self, env, rid):
        rule = self.rules.pop(rid, None)
        if rule is not None:
            group = self.neutron._security_groups.get(rule["security_group_id"], {})
            if rid in group.get("security_group_rules", []):
                group["security_group_rules"].remove(rid)
            return 204, None
        raise HttpError(
            404, f"Security group rule {rid} does not exist", "SecurityGroupRuleNotFound"
        )

    def create_network(self, env):
        b = member(read_json(env), "network")
        owner = identity.project_of(env, "")
        network_id = str(uuid.uuid4())
        self.neutron._networks[network_id] = {
            "id": network_id, "name": b.get("name", ""), "description": b.get("description", ""),
            "status": "ACTIVE", "subnets": [], "admin_state_up": b.get("admin_state_up", True),
            "tenant_id": owner, "project_id": owner, "shared": bool(b.get("shared", False)),
            "mtu": 1450, "router:external": False, "port_security_enabled": True,
            "availability_zone_hints": [], "availability_zones": ["nova"],
            "ipv4_address_scope": None, "ipv6_address_scope": None,
            "provider:network_type": "vxlan", "provider:physical_network": None,
            "provider:segmentation_id": None, "created_at": now(), "updated_at": now(),
        }  # fmt: skip
        return 201, {"network": self._one("networks", network_id)}

    def delete_network(self, env, rid):
        self._one("networks", rid)
        if any(p.get("network_id") == rid for p in self.neutron._ports.values()):
            why = f"Unable to complete operation on network {rid}: ports still use it."
            raise HttpError(409, why, "NetworkInUse")
        for subnet in self.neutron._networks[rid].get("subnets", []):
            self.neutron._subnets.pop(subnet, None)
        del self.neutron._networks[rid]
        return 204, None

    def create_subnet(self, env):
        b = member(read_json(env), "subnet")
        network = self._one("networks", b.get("network_id") or "")
        if not b.get("cidr"):
            raise HttpError(400, "Failed to parse request. Required attribute 'cidr' not specified")
        owner = identity.project_of(env, network.get("project_id", ""))
        subnet_id = str(uuid.uuid4())
        self.neutron._subnets[subnet_id] = {
            "id": subnet_id, "name": b.get("name", ""), "description": b.get("description", ""),
            "network_id": network["id"], "cidr": b["cidr"], "ip_version": b.get("ip_version", 4),
            "gateway_ip": b.get("gateway_ip"), "enable_dhcp": b.get("enable_dhcp", True),
            "allocation_pools": b.get("allocation_pools", []), "dns_nameservers": [],
            "host_routes": [], "ipv6_address_mode": None, "ipv6_ra_mode": None,
            "subnetpool_id": None, "tenant_id": owner, "project_id": owner,
            "created_at": now(), "updated_at": now(),
        }  # fmt: skip
        self.neutron._networks[network["id"]].setdefault("subnets", []).append(subnet_id)
        return 201, {"subnet": self._one("subnets", subnet_id)}

    def delete_subnet(self, env, rid):
        subnet = self._one("subnets", rid)
        del self.neutron._subnets[rid]
        network = self.neutron._networks.get(subnet["network_id"], {})
        if rid in network.get("subnets", []):
            network["subnets"].remove(rid)
        return 204, None
