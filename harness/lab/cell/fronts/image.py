"""Glance v2 front: image create, upload, download, list, show and delete over GlanceFixture.

Nova's snapshots land in GlanceFixture's image dict; this front lists that dict the way
Glance v2 does (custom properties at top level as strings, Glance's in:/eq: filter operators,
newest first), so a Nova snapshot is the image a scenario lists here. An image created here
is queued until its data is uploaded (PUT .../file), which makes it active with its size and
Glance's checksums; on a libvirt cell the data is kept on disk (libvirt_cell.keep_image_bytes)
and is what Nova downloads to boot a server.
"""

import hashlib
import io
import json
import urllib.parse

from .wsgi import (
    EPOCH,
    PAGING,
    REASONS,
    HttpError,
    Router,
    iso,
    matches,
    now,
    paginate,
    parse_query,
    read_json,
    version_doc,
)

GLANCE_IGNORE = frozenset({"member_status", "os_hidden", "size_min", "size_max"})
CORE = ("id", "name", "disk_format", "container_format", "visibility", "protected",
        "min_disk", "min_ram", "tags")  # fmt: skip
"""Attributes of a create request that are Glance's own; any other is a custom property."""
READ_ONLY = ("status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
             "owner", "created_at", "updated_at", "self", "file", "schema", "direct_url",
             "locations")  # fmt: skip
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
UPLOAD_LIMIT = 4 << 30  # bytes of one image's data


class GlanceFront:
    def __init__(self, glance, base_url):
        self.glance, self.base = glance, base_url
        r = self.router = Router(self._error)
        r.add("GET", r"", self.versions)
        r.add("GET", r"/v2", self.versions)
        r.add("GET", r"/versions", self.versions)
        r.add("GET", r"/v2/images", self.list_images)
        r.add("POST", r"/v2/images", self.create)
        r.add("GET", r"/v2/images/(?P<iid>[^/]+)", self.show)
        r.add("GET", r"/v2/images/(?P<iid>[^/]+)/tasks", self.tasks)
        r.add("DELETE", r"/v2/images/(?P<iid>[^/]+)", self.delete)
        r.add("PUT", r"/v2/images/(?P<iid>[^/]+)/file", self.upload)
        r.add("GET", r"/v2/images/(?P<iid>[^/]+)/file", self.download)

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

    def create(self, env):
        body = read_json(env)
        if not isinstance(body, dict):
            raise HttpError(400, "The request body must be a JSON object")
        if forbidden := sorted(k for k in body if k in READ_ONLY):
            raise HttpError(403, f"Attribute '{forbidden[0]}' is read-only.")
        if body.get("disk_format") not in (None, *DISK_FORMATS):
            raise HttpError(400, f"Invalid disk format '{body['disk_format']}' for image.")
        metadata = {k: body[k] for k in CORE if body.get(k) is not None}
        metadata.setdefault("visibility", "shared")
        metadata["properties"] = {k: v for k, v in body.items() if k not in CORE}
        metadata.update({"status": "queued", "size": None, "created_at": now(),
                         "updated_at": now()})  # fmt: skip
        if metadata.get("id") in self.glance.images:
            raise HttpError(409, f"Image with identifier {metadata['id']} already exists!")
        image = self.glance.create(None, metadata)
        return 201, self._view(image)

    def upload(self, env, iid):
        image = self._find(iid)
        if image.get("status") != "queued":
            raise HttpError(409, f"Image status transition from {image.get('status')} to "
                                 "saving is not allowed")  # fmt: skip
        length = int(env.get("CONTENT_LENGTH") or 0)
        if length > UPLOAD_LIMIT:
            raise HttpError(413, f"Image exceeds the storage quota: {UPLOAD_LIMIT} bytes")
        data = env["wsgi.input"].read(length) if length else b""
        sums = {
            "checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest(),
        }
        if getattr(self.glance, "keeps_bytes_on_disk", False):  # a libvirt cell's
            self.glance.update(None, iid, {"properties": {}}, data=io.BytesIO(data))
        else:  # the fixture's update drops data: its own store is where create puts it
            self.glance._imagedata[iid] = data
        image = self.glance.images[iid]  # the keeper of bytes may have replaced the record
        image.update({**sums, "size": len(data), "status": "active", "updated_at": now()})
        return 204, None

    def download(self, env, iid):
        image = self._find(iid)
        if image.get("status") != "active":
            return 204, None  # as Glance: an image without data has nothing to serve
        out = io.BytesIO()
        self.glance.download(None, iid, data=out)
        return 200, out.getvalue()

    def show(self, env, iid):
        return 200, self._view(self._find(iid))

    def tasks(self, env, iid):
        """Glance 2.12's image tasks: the import tasks that made the image. The lab imports
        nothing (data comes by upload or from Nova's snapshot), so there are none."""
        self._find(iid)
        return 200, {"tasks": []}

    def delete(self, env, iid):
        if self._find(iid).get("protected"):
            raise HttpError(403, f"Image {iid} is protected and cannot be deleted.")
        self.glance.delete(None, iid)
        return 204, None
