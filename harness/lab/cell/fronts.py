"""Thin Cinder v3 / Glance v2 / Neutron v2.0 HTTP fronts over the fixtures' state.

In a functional-test cell, Cinder, Glance and Neutron exist only as in-process fixtures that
Nova's clients are patched to call; nothing listens on a socket. These fronts expose the SAME
dicts Nova reads and writes, so a volume created here is the volume Nova attaches, and a
Nova snapshot is the image listed here. JSON in, JSON out (errors too: nothing is ever
rendered as HTML), no policy: the token check happens in server.py. An identity front
serves Keystone version documents only (see IdentityFront).

Traps:

- Fixture state is plain dicts on fixture INSTANCES (server.py records them in useFixture),
  mutated from Nova's threads without locks. The fronts take one lock among themselves and
  only read Nova-written dicts through snapshots (list(...)), never iterate them live.
- CinderFixture.fake_get invents a 1 GB volume for ANY unknown id (so Nova accepts any id)
  and is also what turns a detached volume back to 'available'; the front 404s ids it did
  not create and calls fake_get only for its own volumes.
- NeutronFixture.create_port overwrites the request with its template port (same fixed IP,
  empty name and device_id), so the front re-applies the caller's fields afterwards.
- keystoneauth discovery GETs the endpoint-override URL itself (/image/v2, /network/v2.0,
  /volume/v3): each needs a version document, else DiscoveryFailure.
- openstacksdk asks again with marker=<last id> when a page is full (limit) and carries no
  next link, so every list honours limit/marker (ignoring marker repeats the first page).
- Real Cinder tells Nova about an in-use volume's new size with a 'volume-extended' external
  event, and real Neutron sends 'network-vif-deleted' when a bound port is deleted; the
  fronts do the same through Nova's own API (notify callback from server.py).
"""

import copy
import datetime
import json
import logging
import re
import threading
import urllib.parse
import uuid

LOG = logging.getLogger("cell.fronts")
LOCK = threading.RLock()
EPOCH = "2026-01-01T00:00:00Z"
PAGING = frozenset({"limit", "marker", "sort", "sort_key", "sort_dir", "page_reverse"})


class HttpError(Exception):
    def __init__(self, status, message, kind=None):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


# ------------------------------------------------------------------ plumbing
REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    501: "Not Implemented",
}


def respond(start_response, status, body=None, headers=()):
    data = b"" if body is None or status == 204 else json.dumps(body).encode()
    hdrs = [
        ("Content-Length", str(len(data))),
        ("X-Openstack-Request-Id", "req-" + str(uuid.uuid4())),
        *headers,
    ]
    if data:
        hdrs.insert(0, ("Content-Type", "application/json"))
    start_response(f"{status} {REASONS.get(status, 'Unknown')}", hdrs)
    return [data]


def read_json(environ):
    try:
        n = int(environ.get("CONTENT_LENGTH") or 0)
        return json.loads(environ["wsgi.input"].read(n)) if n else {}
    except ValueError as e:
        raise HttpError(400, f"Malformed JSON in request body: {e}") from None


def member(body, key):
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, dict):
        raise HttpError(400, f'Request body must contain a "{key}" object')
    return value


def parse_query(environ):
    """{key: [values]} preserving repeated keys (?id=a&id=b)."""
    return urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


def iso(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def now():
    return iso(datetime.datetime.now(datetime.timezone.utc))


def _norm(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value).lower() if str(value).lower() in ("true", "false") else str(value)


def matches(item, query, ignore=frozenset()):
    """Exact-match filters as the real services apply them.

    Every key not ignored must match; repeated keys are alternatives; list-valued fields
    (tags, security_groups) match by membership; bools compare case-insensitively.
    """
    for key, wanted in query.items():
        if key in ignore or key in PAGING or key == "fields":
            continue
        have = item.get(key)
        wanted = [_norm(w) for w in wanted]
        if isinstance(have, list):
            if not any(_norm(h) in wanted for h in have):
                return False
        elif _norm(have) not in wanted:
            return False
    return True


def paginate(items, query):
    """Honour limit/marker; returns (page, marker of the next page or None)."""
    marker = (query.get("marker") or [None])[0]
    if marker:
        ids = [i.get("id") for i in items]
        items = items[ids.index(marker) + 1 :] if marker in ids else []
    try:
        limit = int((query.get("limit") or [0])[0])
    except ValueError:
        raise HttpError(400, "limit must be an integer") from None
    if limit > 0 and len(items) > limit:
        return items[:limit], items[limit - 1]["id"]
    return items, None


def next_href(base, path, query, marker):
    q = {k: v for k, v in query.items() if k != "marker"}
    q["marker"] = [marker]
    return f"{base}{path}?{urllib.parse.urlencode(q, doseq=True)}"


class Router:
    """Regex routes; 405 when the path exists with another method, JSON errors always."""

    def __init__(self, error_body):
        self.routes = []
        self.error_body = error_body  # (status, message, kind) -> JSON body

    def add(self, method, pattern, fn):
        self.routes.append((method, re.compile("^" + pattern + "/?$"), fn))

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        method = environ["REQUEST_METHOD"]
        known_path = False
        try:
            for m, rx, fn in self.routes:
                mo = rx.match(path)
                if not mo:
                    continue
                known_path = True
                if m == method:
                    with LOCK:
                        status, body, *headers = fn(environ, **mo.groupdict())
                    return respond(start_response, status, body, *headers)
            if known_path:
                raise HttpError(405, f"{method} {path} is not served by this lab front")
            raise HttpError(404, f"No such resource: {path}")
        except HttpError as e:
            return respond(start_response, e.status, self.error_body(e.status, e.message, e.kind))
        except Exception as e:
            LOG.exception("front error on %s %s", method, path)
            msg = f"Unexpected error in the lab front: {type(e).__name__}: {e}"
            return respond(start_response, 500, self.error_body(500, msg, None))


def version_doc(vid, href, **extra):
    return {
        "id": vid,
        "status": "CURRENT",
        "updated": EPOCH,
        "links": [{"rel": "self", "href": href}],
        **extra,
    }


# ------------------------------------------------------------------ Cinder v3
CINDER_ERRORS = {
    400: "badRequest",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
}
CINDER_MAX = (3, 71)
CINDER_IGNORE = frozenset({"all_tenants", "all_projects", "offset", "with_count", "detail"})
PROJ = r"(?:/[0-9a-f]{32})?"  # /v3/{project_id}/... and (3.67+) /v3/...
UUID = r"[-0-9a-fA-F]{36}"


def cinder_microversion(environ):
    """The requested volume microversion (3.0 if none), clamped to what we advertise."""
    for part in environ.get("HTTP_OPENSTACK_API_VERSION", "").split(","):
        service, _, ver = part.strip().partition(" ")
        if service == "volume" and ver:
            if ver.strip() == "latest":
                return CINDER_MAX
            try:
                major, minor = (int(x) for x in ver.strip().split("."))
            except ValueError:
                raise HttpError(400, f"Invalid API version: {ver!r}") from None
            return min((major, minor), CINDER_MAX)
    return (3, 0)


class CinderFront:
    def __init__(self, cinder, glance, base_url, project_id, notify):
        self.cinder, self.glance = cinder, glance
        self.base, self.project_id, self.notify = base_url, project_id, notify
        self.extra = {}  # volume id -> fields the fixture does not keep
        r = self.router = Router(self._error)
        v3 = r"/v3" + PROJ
        r.add("GET", r"", self.versions)
        r.add("GET", r"/v3", self.versions)
        r.add("GET", v3 + r"/volumes(?P<detail>/detail)?", self.list_volumes)
        r.add("POST", v3 + r"/volumes", self.create)
        r.add("GET", v3 + rf"/volumes/(?P<vid>{UUID}|[^/]+)", self.show)
        r.add("PUT", v3 + rf"/volumes/(?P<vid>{UUID}|[^/]+)", self.update)
        r.add("DELETE", v3 + rf"/volumes/(?P<vid>{UUID}|[^/]+)", self.delete)
        r.add("POST", v3 + r"/volumes/(?P<vid>[^/]+)/action", self.action)
        r.add("GET", v3 + r"/attachments(?P<detail>/detail)?", self.list_attachments)
        r.add("GET", v3 + r"/attachments/(?P<aid>[^/]+)", self.show_attachment)
        r.add("GET", v3 + r"/types", self.list_types)
        r.add("GET", v3 + r"/types/(?P<tid>[^/]+)", self.show_type)
        r.add("GET", v3 + r"/snapshots(?P<detail>/detail)?", self.list_snapshots)
        r.add("GET", v3 + r"/snapshots/(?P<sid>[^/]+)", self.show_snapshot)
        r.add("GET", v3 + r"/limits", self.limits)
        r.add("GET", v3 + r"/os-availability-zone", self.zones)

    def __call__(self, environ, start_response):
        return self.router(environ, start_response)

    @staticmethod
    def _error(status, message, kind):
        return {
            kind or CINDER_ERRORS.get(status, "computeFault"): {"code": status, "message": message}
        }

    def _hdr(self, environ):
        mv = cinder_microversion(environ)
        return [
            ("OpenStack-API-Version", f"volume {mv[0]}.{mv[1]}"),
            ("Vary", "OpenStack-API-Version"),
        ]

    def versions(self, env):
        max_v = f"{CINDER_MAX[0]}.{CINDER_MAX[1]}"
        doc = version_doc("v3.0", self.base + "/v3/", version=max_v, min_version="3.0")
        doc["media-types"] = [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ]
        return 200, {"versions": [doc]}

    # -- volumes
    def _get(self, vid):
        if vid not in self.cinder.volumes:
            raise HttpError(404, f"Volume {vid} could not be found.")
        return self.cinder.fake_get(None, vid)  # also settles status after a detach

    def _connected(self, vid):
        atts = list(self.cinder.volume_to_attachment.get(vid, {}).values())
        return [a for a in atts if a.get("connector")]

    def _status(self, vid, v):
        status = v.get("status", "available")
        atts = list(self.cinder.volume_to_attachment.get(vid, {}).values())
        if status == "available" and atts:
            # Nova's attach flow: attachment_create (reserved) -> update (attaching) ->
            # complete (in-use); the fixture only records the last step on the volume.
            return "attaching" if any(a.get("connector") for a in atts) else "reserved"
        return status

    def _view(self, vid):
        v = self._get(vid)
        x = self.extra.setdefault(vid, {"created_at": now(), "metadata": {}, "volume_type": None})
        attachments = []
        for a in self._connected(vid):
            conn = a.get("connector") or {}
            attachments.append(
                {
                    "id": vid,  # sic: real Cinder puts the VOLUME id here
                    "attachment_id": a["id"],
                    "volume_id": vid,
                    "server_id": a["instance_uuid"],
                    "host_name": conn.get("host"),
                    "device": conn.get("device"),
                    "attached_at": x.get("attached_at", x["created_at"]),
                }
            )
        status = self._status(vid, v)
        return {
            "id": vid,
            "name": v.get("display_name"),
            "description": v.get("display_description"),
            "size": v["size"],
            "status": status,
            "attach_status": "attached" if attachments else "detached",
            "migration_status": v.get("migration_status"),
            "availability_zone": v.get("availability_zone"),
            "bootable": "true" if v.get("bootable") else "false",
            "encrypted": False,
            "multiattach": bool(v.get("multiattach")),
            "volume_type": x["volume_type"] or self._types()[0]["name"],
            "metadata": x["metadata"],
            "volume_image_metadata": v.get("volume_image_metadata"),
            "attachments": attachments,
            "snapshot_id": None,
            "source_volid": None,
            "consistencygroup_id": None,
            "replication_status": None,
            "user_id": "admin",
            "os-vol-tenant-attr:tenant_id": self.project_id,
            "os-vol-host-attr:host": "lab@lvm#lvm",
            "created_at": x["created_at"],
            "updated_at": x.get("updated_at", x["created_at"]),
            "links": [{"rel": "self", "href": f"{self.base}/v3/volumes/{vid}"}],
        }

    def list_volumes(self, env, detail=None):
        query = parse_query(env)
        views = [self._view(vid) for vid in list(self.cinder.volumes)]
        views = [v for v in views if matches(v, query, CINDER_IGNORE)]
        page, marker = paginate(views, query)
        if not detail:
            page = [{"id": v["id"], "name": v["name"], "links": v["links"]} for v in page]
        body = {"volumes": page}
        if marker:
            href = next_href(self.base, env["PATH_INFO"], query, marker)
            body["volumes_links"] = [{"rel": "next", "href": href}]
        return 200, body, self._hdr(env)

    def show(self, env, vid):
        return 200, {"volume": self._view(vid)}, self._hdr(env)

    def create(self, env):
        b = member(read_json(env), "volume")
        for unsupported in ("snapshot_id", "source_volid", "backup_id", "consistencygroup_id"):
            if b.get(unsupported):
                raise HttpError(400, f"{unsupported} is not supported by the lab Cinder front")
        try:
            size = int(b.get("size"))
        except (TypeError, ValueError):
            raise HttpError(400, "Invalid input received: size must be an integer") from None
        if size < 1:
            raise HttpError(400, "Invalid input received: size must be >= 1")
        az = b.get("availability_zone") or self.cinder.az
        if az != self.cinder.az:
            raise HttpError(400, f"Availability zone '{az}' is invalid.")
        vtype = b.get("volume_type")
        if vtype:
            vtype = self._find_type(vtype)["name"]
        metadata = b.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise HttpError(400, "metadata must be an object")
        image_id = b.get("imageRef") or b.get("image_id")
        image = None
        if image_id:
            image = self.glance.images.get(str(image_id))
            if image is None:
                raise HttpError(
                    400, "Invalid image identifier or unable to access requested image."
                )
        v = self.cinder.fake_vol_create(
            None, size, b.get("name"), b.get("description"), availability_zone=az
        )
        if image is not None:
            # what real Cinder records for a volume created from an image; Nova reads it
            # when booting from this volume.
            v["bootable"] = True
            props = {k: str(val) for k, val in (image.get("properties") or {}).items()}
            v["volume_image_metadata"] = {
                **props,
                "image_id": image["id"],
                "image_name": image.get("name"),
            }
        self.extra[v["id"]] = {"created_at": now(), "metadata": metadata, "volume_type": vtype}
        return 202, {"volume": self._view(v["id"])}, self._hdr(env)

    def update(self, env, vid):
        self._get(vid)
        b = member(read_json(env), "volume")
        v, x = self.cinder.volumes[vid], self.extra.setdefault(vid, {"created_at": now()})
        if "name" in b:
            v["display_name"] = b["name"]
        if "description" in b:
            v["display_description"] = b["description"]
        if isinstance(b.get("metadata"), dict):
            x["metadata"] = b["metadata"]
        x["updated_at"] = now()
        return 200, {"volume": self._view(vid)}, self._hdr(env)

    def _remove(self, vid):
        self.cinder.volumes.pop(vid, None)
        self.cinder.volume_to_attachment.pop(vid, None)
        self.extra.pop(vid, None)

    def delete(self, env, vid):
        v = self._get(vid)
        status = self._status(vid, v)
        if status not in ("available", "error", "error_extending") or self._connected(vid):
            raise HttpError(
                400,
                "Invalid volume: Volume status must be available or error or error_restoring "
                "or error_extending or error_managing and must not be migrating, attached, "
                "belong to a group, have snapshots or be disassociated from snapshots after "
                "volume transfer.",
            )
        self._remove(vid)
        return 202, None, self._hdr(env)

    def action(self, env, vid):
        v = self._get(vid)
        body = read_json(env)
        if not isinstance(body, dict) or len(body) != 1:
            raise HttpError(400, "Volume action body must hold exactly one action")
        name, args = next(iter(body.items()))
        args = args if isinstance(args, dict) else {}
        x = self.extra.setdefault(vid, {"created_at": now()})
        if name == "os-extend":
            self._extend(env, vid, v, args)
        elif name == "os-reset_status":
            for key in ("status", "attach_status", "migration_status"):
                if key in args:
                    v[key] = args[key]
        elif name == "os-set_bootable":
            v["bootable"] = _norm(args.get("bootable")) == "true"
        elif name == "os-force_delete":
            if self._connected(vid):
                raise HttpError(400, "Volume cannot be deleted while in attached state")
            self._remove(vid)
        else:
            raise HttpError(400, f"The lab Cinder front does not support the action {name}")
        x["updated_at"] = now()
        return 202, None, self._hdr(env)

    def _extend(self, env, vid, v, args):
        try:
            new = int(args.get("new_size"))
        except (TypeError, ValueError):
            raise HttpError(400, "Invalid input received: new_size must be an integer") from None
        status = self._status(vid, v)
        if status == "in-use" and cinder_microversion(env) < (3, 42):
            raise HttpError(
                400,
                f"Invalid volume: Volume {vid} status must be available to extend "
                f"(in-use needs microversion 3.42), but current status is: {status}.",
            )
        if status not in ("available", "in-use"):
            raise HttpError(
                400,
                f"Invalid volume: Volume {vid} status must be available or in-use, "
                f"but current status is: {status}.",
            )
        if new <= v["size"]:
            raise HttpError(
                400,
                "Invalid input received: New size for extend must be greater than current "
                f"size. (current: {v['size']}, extended: {new}).",
            )
        v["size"] = new
        servers = sorted({a["instance_uuid"] for a in self._connected(vid)})
        if servers and self.notify:
            self.notify(
                [{"name": "volume-extended", "server_uuid": s, "tag": vid} for s in servers]
            )

    # -- attachments, types, snapshots, limits, zones
    def _attachments(self):
        out = []
        for vid, atts in list(self.cinder.volume_to_attachment.items()):
            if vid not in self.cinder.volumes:
                continue  # the fixture's invented volumes are not ours to show
            for a in list(atts.values()):
                conn = a.get("connector") or {}
                out.append(
                    {
                        "id": a["id"],
                        "volume_id": vid,
                        "instance": a["instance_uuid"],
                        "status": "attached" if conn else "reserved",
                        "attach_mode": "rw",
                        "attached_at": self.extra.get(vid, {}).get("created_at"),
                        "detached_at": None,
                        "connection_info": {"driver_volume_type": "fake", "host": conn.get("host")},
                    }
                )
        return out

    def list_attachments(self, env, detail=None):
        query = parse_query(env)
        if "instance_id" in query:
            query["instance"] = query.pop("instance_id")
        atts = [a for a in self._attachments() if matches(a, query, CINDER_IGNORE)]
        page, _ = paginate(atts, query)
        if not detail:
            page = [{k: a[k] for k in ("id", "volume_id", "instance", "status")} for a in page]
        return 200, {"attachments": page}, self._hdr(env)

    def show_attachment(self, env, aid):
        for a in self._attachments():
            if a["id"] == aid:
                return 200, {"attachment": a}, self._hdr(env)
        raise HttpError(404, f"Volume attachment {aid} could not be found.")

    def _types(self):
        return [
            {
                "id": t["id"],
                "name": t["name"],
                "description": None,
                "is_public": True,
                "os-volume-type-access:is_public": True,
                "extra_specs": {},
            }
            for t in self.cinder.fake_get_all_volume_types()
        ]

    def _find_type(self, ref):
        for t in self._types():
            if ref in (t["id"], t["name"]):
                return t
        raise HttpError(404, f"Volume type {ref} could not be found.")

    def list_types(self, env):
        return 200, {"volume_types": self._types()}, self._hdr(env)

    def show_type(self, env, tid):
        t = self._types()[0] if tid == "default" else self._find_type(tid)
        return 200, {"volume_type": t}, self._hdr(env)

    def _snapshot_view(self, s):
        size = self.cinder.volumes.get(s["volume_id"], {}).get("size", 1)
        return {
            "id": s["id"],
            "volume_id": s["volume_id"],
            "name": s.get("display_name"),
            "description": s.get("display_description"),
            "status": s.get("status"),
            "size": size,
            "metadata": {},
            "created_at": EPOCH,
        }

    def list_snapshots(self, env, detail=None):
        query = parse_query(env)
        snaps = [self._snapshot_view(s) for s in list(self.cinder.volume_snapshots.values())]
        page, _ = paginate([s for s in snaps if matches(s, query, CINDER_IGNORE)], query)
        return 200, {"snapshots": page}, self._hdr(env)

    def show_snapshot(self, env, sid):
        s = self.cinder.volume_snapshots.get(sid)
        if not s:
            raise HttpError(404, f"Snapshot {sid} could not be found.")
        return 200, {"snapshot": self._snapshot_view(s)}, self._hdr(env)

    def limits(self, env):
        vols = list(self.cinder.volumes.values())
        absolute = {
            "maxTotalVolumes": -1,
            "maxTotalVolumeGigabytes": -1,
            "maxTotalSnapshots": -1,
            "maxTotalBackups": -1,
            "maxTotalBackupGigabytes": -1,
            "totalVolumesUsed": len(vols),
            "totalGigabytesUsed": sum(v.get("size", 0) for v in vols),
            "totalSnapshotsUsed": len(self.cinder.volume_snapshots),
            "totalBackupsUsed": 0,
            "totalBackupGigabytesUsed": 0,
        }
        return 200, {"limits": {"rate": [], "absolute": absolute}}, self._hdr(env)

    def zones(self, env):
        zone = {"zoneName": self.cinder.az, "zoneState": {"available": True}}
        return 200, {"availabilityZoneInfo": [zone]}, self._hdr(env)


# ------------------------------------------------------------------ Glance v2
GLANCE_IGNORE = frozenset({"member_status", "os_hidden", "size_min", "size_max"})
IMAGE_CORE_DROP = frozenset({"properties", "deleted", "deleted_at", "is_public", "location"})


class GlanceFront:
    def __init__(self, glance, base_url):
        self.glance, self.base = glance, base_url
        r = self.router = Router(self._error)
        r.add("GET", r"", self.versions)
        r.add("GET", r"/v2", self.versions)
        r.add("GET", r"/versions", self.versions)
        r.add("GET", r"/v2/images", self.list_images)
        r.add("GET", r"/v2/images/(?P<iid>[^/]+)", self.show)
        r.add("DELETE", r"/v2/images/(?P<iid>[^/]+)", self.delete)

    def __call__(self, environ, start_response):
        return self.router(environ, start_response)

    @staticmethod
    def _error(status, message, kind):
        return {"error": {"code": status, "title": REASONS.get(status, ""), "message": message}}

    def versions(self, env):
        href = self.base + "/v2/"
        return 200, {"versions": [version_doc(f"v2.{n}", href) for n in (16, 15, 9, 0)]}

    def _view(self, img):
        """Glance v2 image: custom properties at top level, all strings (as Nova writes
        them to real Glance: non-strings JSON-encoded), core fields win on collisions."""
        props = dict(img.get("properties") or {})
        owner = img.get("owner") or props.pop("owner", None)
        out = {
            k: v if isinstance(v, str) else json.dumps(v, default=str)
            for k, v in props.items()
            if v is not None
        }
        visibility = img.get("visibility") or ("public" if img.get("is_public") else "private")
        iid = img["id"]
        out.update(
            {
                "id": iid,
                "name": img.get("name"),
                "status": img.get("status", "active"),
                "visibility": visibility,
                "protected": bool(img.get("protected", False)),
                "os_hidden": bool(img.get("os_hidden", False)),
                "tags": list(img.get("tags") or []),
                "container_format": img.get("container_format"),
                "disk_format": img.get("disk_format"),
                "size": img.get("size"),
                "virtual_size": img.get("virtual_size"),
                "min_disk": img.get("min_disk") or 0,
                "min_ram": img.get("min_ram") or 0,
                "checksum": img.get("checksum"),
                "os_hash_algo": img.get("os_hash_algo"),
                "os_hash_value": img.get("os_hash_value"),
                "owner": owner,
                "created_at": iso(img.get("created_at")) or EPOCH,
                "updated_at": iso(img.get("updated_at")) or EPOCH,
                "self": f"/v2/images/{iid}",
                "file": f"/v2/images/{iid}/file",
                "schema": "/v2/schemas/image",
            }
        )
        return out

    def list_images(self, env):
        query = parse_query(env)
        if query.get("visibility") == ["all"]:
            query.pop("visibility")
        # Glance operators: "in:a,b" is a set, "eq:x" is x; range operators are not filtered
        for key, values in list(query.items()):
            if key in PAGING:
                continue
            flat = []
            for value in values:
                op, sep, rest = value.partition(":")
                if sep and op == "in":
                    flat.extend(rest.split(","))
                elif sep and op == "eq":
                    flat.append(rest)
                elif sep and op in ("gt", "gte", "lt", "lte", "neq"):
                    flat = None
                    break
                else:
                    flat.append(value)
            if flat is None:
                query.pop(key)
            else:
                query[key] = flat
        if "tag" in query:
            query["tags"] = query.pop("tag")
        views = [self._view(i) for i in list(self.glance.images.values())]
        views.sort(key=lambda v: (v["created_at"], v["id"]), reverse=True)
        page, marker = paginate([v for v in views if matches(v, query, GLANCE_IGNORE)], query)
        body = {"images": page, "first": "/v2/images", "schema": "/v2/schemas/images"}
        if marker:
            q = {k: v for k, v in query.items() if k != "marker"}
            body["next"] = "/v2/images?" + urllib.parse.urlencode({**q, "marker": [marker]}, True)
        return 200, body

    def _find(self, iid):
        img = self.glance.images.get(iid)
        if img is None:
            raise HttpError(404, f"No image found with ID {iid}")
        return img

    def show(self, env, iid):
        return 200, self._view(self._find(iid))

    def delete(self, env, iid):
        if self._find(iid).get("protected"):
            raise HttpError(403, f"Image {iid} is protected and cannot be deleted.")
        self.glance.delete(None, iid)
        return 204, None


# ------------------------------------------------------------------ Neutron v2.0
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


# ------------------------------------------------------------------ Identity (discovery only)
class IdentityFront:
    """Keystone version documents only: the lab has no Keystone (tokens are checked by
    server.py). OSC's `server list` / `volume list` insist on an identity v3 proxy, and
    openstacksdk runs discovery on identity_endpoint_override even when
    identity_api_version is set; everything else here answers 501."""

    def __init__(self, base_url):
        self.base = base_url
        r = self.router = Router(self._error)
        r.add("GET", r"", self.versions)
        r.add("GET", r"/v3", self.version)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            r.add(method, r"/v3/.+", self.absent)

    def __call__(self, environ, start_response):
        return self.router(environ, start_response)

    @staticmethod
    def _error(status, message, kind):
        return {"error": {"code": status, "title": REASONS.get(status, ""), "message": message}}

    def _doc(self):
        doc = version_doc("v3.14", self.base + "/v3/")
        doc["status"] = "stable"
        doc["media-types"] = [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ]
        return doc

    def versions(self, env):
        return 200, {"versions": {"values": [self._doc()]}}

    def version(self, env):
        return 200, {"version": self._doc()}

    def absent(self, env):
        raise HttpError(501, "The embedded lab has no Keystone: only identity version discovery")


def make_fronts(fixtures, base_url, project_id, notify):
    """{mount prefix: WSGI app}. fixtures: {fixture class name: instance} from useFixture."""
    glance = fixtures["GlanceFixture"]
    return {
        "/volume": CinderFront(
            fixtures["CinderFixture"], glance, base_url + "/volume", project_id, notify
        ),
        "/image": GlanceFront(glance, base_url + "/image"),
        "/network": NeutronFront(fixtures["NeutronFixture"], base_url + "/network", notify),
        "/identity": IdentityFront(base_url + "/identity"),
    }
