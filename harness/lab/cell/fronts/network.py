"""Neutron v2.0 front: networks, subnets, ports, security groups over NeutronFixture.

Nova's NeutronFixture keeps networks and ports in dicts that Nova's network API reads and
binds; this front serves them read-only, plus port create/update/delete, so a port made here
is one Nova can attach.

Traps:

- NeutronFixture.create_port overwrites the request with its template port (same fixed IP,
  empty name and device_id), so the front re-applies the caller's fields afterwards.
- Real Neutron sends 'network-vif-deleted' when a bound port is deleted; the front does the
  same through Nova's own API (notify callback from server.py).
"""

import copy

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
    "floatingips": "FloatingIP",
    "routers": "Router",
}


class NeutronFront:
    def __init__(self, neutron, base_url, notify):
        self.neutron, self.base, self.notify = neutron, base_url, notify
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
        else:
            source = {
                "networks": n._networks,
                "subnets": n._subnets,
                "security-groups": n._security_groups,
            }.get(coll, {})
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
        created = self.neutron.create_port({"port": {"network_id": net}})["port"]
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
