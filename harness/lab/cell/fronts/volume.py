"""Cinder v3 front: volumes, attachments, types, snapshots, limits and zones over CinderFixture.

Nova's CinderFixture keeps volumes and attachments in dicts that Nova's volume API reads and
writes; this front serves those same dicts over HTTP, so a volume created here is the volume
Nova attaches. Microversions come from OpenStack-API-Version (3.0 by default, clamped to
CINDER_MAX) and are echoed back on every response.

Traps:

- CinderFixture.fake_get invents a 1 GB volume for ANY unknown id (so Nova accepts any id)
  and is also what turns a detached volume back to 'available'; the front 404s ids it did
  not create and calls fake_get only for its own volumes.
- Real Cinder tells Nova about an in-use volume's new size with a 'volume-extended' external
  event; the front does the same through Nova's own API (notify callback from server.py).
- CinderFixture allows a second connected attachment only for its one hard-coded multiattach
  volume id; the front offers a `multiattach` volume type (extra spec multiattach='<is> True',
  as Cinder marks one) and lets volumes of that type be connected to several servers.
"""

import identity

from .wsgi import (
    EPOCH,
    HttpError,
    Router,
    _norm,
    matches,
    member,
    next_href,
    now,
    paginate,
    parse_query,
    read_json,
    version_doc,
)

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
MULTIATTACH_TYPE = {
    "id": "8c3f4c1e-2b7d-4b6a-9a55-6d1f0e3a7c21",
    "name": "multiattach",
    "extra_specs": {"multiattach": "<is> True"},
}


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
        self._allow_multiattach()
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
        r.add("DELETE", v3 + r"/attachments/(?P<aid>[^/]+)", self.delete_attachment)
        r.add("GET", v3 + r"/types", self.list_types)
        r.add("GET", v3 + r"/types/(?P<tid>[^/]+)", self.show_type)
        r.add("GET", v3 + r"/snapshots(?P<detail>/detail)?", self.list_snapshots)
        r.add("GET", v3 + r"/snapshots/(?P<sid>[^/]+)", self.show_snapshot)
        r.add("GET", v3 + r"/limits", self.limits)
        r.add("GET", v3 + r"/os-availability-zone", self.zones)

    def __call__(self, environ, start_response):
        return self.router(environ, start_response)

    def _allow_multiattach(self):
        """Nova's attachment_update and _delete, for volumes of MULTIATTACH_TYPE, without the
        fixture's one-connected-attachment rule (lifted only for its hard-coded volume id),
        and a volume detached from one server stays in-use while others hold it."""
        from nova.volume import cinder as cinder_api

        mocked = cinder_api.API.attachment_update  # the fixture's MockPatch
        single = mocked.side_effect
        fixture = self.cinder

        def attachment_update(context, attachment_id, connector, mountpoint=None):
            volume_id, attachment, _ = fixture._find_attachment(attachment_id)
            if not fixture.volumes.get(volume_id, {}).get("multiattach"):
                return single(context, attachment_id, connector, mountpoint)
            if mountpoint:
                connector["device"] = mountpoint
            attachment["connector"] = connector
            info = fixture._find_connection_info(volume_id, attachment_id)
            return {"id": attachment_id, "connection_info": info}

        mocked.side_effect = attachment_update

        deleting = cinder_api.API.attachment_delete
        delete_one = deleting.side_effect

        def attachment_delete(context, attachment_id):
            volume_id, _, attachments = fixture._find_attachment(attachment_id)
            delete_one(context, attachment_id)
            volume = fixture.volumes.get(volume_id, {})
            if volume.get("multiattach") and any(a.get("connector") for a in attachments.values()):
                volume["status"] = "in-use"  # as Cinder: still attached to the others

        deleting.side_effect = attachment_delete

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

    def _view(self, vid, env=None, created=False):
        """Cinder's volume view. Owner and host are admin-only extension attributes of show
        and list (never of create), image metadata shows only where there is some, and
        attach_status is internal to Cinder: Tempest's response schemas hold all of that."""
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
        view = {
            "id": vid,
            "name": v.get("display_name"),
            "description": v.get("display_description"),
            "size": v["size"],
            "status": status,
            "migration_status": v.get("migration_status"),
            "availability_zone": v.get("availability_zone"),
            "bootable": "true" if v.get("bootable") else "false",
            "encrypted": False,
            "multiattach": bool(v.get("multiattach")),
            "volume_type": x["volume_type"] or self._types()[0]["name"],
            "metadata": x["metadata"],
            "attachments": attachments,
            "snapshot_id": None,
            "source_volid": None,
            "consistencygroup_id": None,
            "replication_status": None,
            "user_id": x.get("user_id", "admin"),
            "created_at": x["created_at"],
            "updated_at": x.get("updated_at", x["created_at"]),
            "links": [{"rel": "self", "href": f"{self.base}/v3/volumes/{vid}"}],
        }
        if created:
            return view
        if v.get("volume_image_metadata"):
            view["volume_image_metadata"] = v["volume_image_metadata"]
        if env is None or identity.is_admin(env):
            view["os-vol-tenant-attr:tenant_id"] = x.get("project_id", self.project_id)
            view["os-vol-host-attr:host"] = "lab@lvm#lvm"
        return view

    def list_volumes(self, env, detail=None):
        query = parse_query(env)
        vids = list(self.cinder.volumes)
        if not identity.is_admin(env):  # a project sees its own volumes
            mine = identity.project_of(env, self.project_id)
            vids = [v for v in vids if self.extra.get(v, {}).get("project_id", mine) == mine]
        views = [self._view(vid, env) for vid in vids]
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
        return 200, {"volume": self._view(vid, env)}, self._hdr(env)

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
        if vtype == MULTIATTACH_TYPE["name"] or b.get("multiattach") is True:
            self.cinder.volumes[v["id"]]["multiattach"] = True
        self.extra[v["id"]] = {
            "created_at": now(), "metadata": metadata, "volume_type": vtype,
            "project_id": identity.project_of(env, self.project_id),
            "user_id": env.get("HTTP_X_USER_ID") or "admin",
        }  # fmt: skip
        return 202, {"volume": self._view(v["id"], env, created=True)}, self._hdr(env)

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
        return 200, {"volume": self._view(vid, env)}, self._hdr(env)

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
        # Cinder answers os-set_bootable with 200 and every other action here with 202
        return 200 if name == "os-set_bootable" else 202, None, self._hdr(env)

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

    def delete_attachment(self, env, aid):
        """Cinder's attachment delete (3.27): how an operator frees a volume from an attachment
        its server left behind, such as the destination's after a live migration that failed
        too late for Nova to roll back. The volume is available again once none is left."""
        if cinder_microversion(env) < (3, 27):
            raise HttpError(404, "The attachments API needs microversion 3.27 or later")
        found = next(
            (atts for atts in self.cinder.volume_to_attachment.values() if aid in atts), None
        )
        if found is None:
            raise HttpError(404, f"Volume attachment {aid} could not be found.")
        del found[aid]
        return 200, {"attachments": []}, self._hdr(env)

    def _types(self):
        return [
            {
                "id": t["id"],
                "name": t["name"],
                "description": None,
                "is_public": True,
                "os-volume-type-access:is_public": True,
                "extra_specs": dict(t.get("extra_specs", {})),
            }
            for t in [*self.cinder.fake_get_all_volume_types(), MULTIATTACH_TYPE]
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
