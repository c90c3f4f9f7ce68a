"""The WSGI toolkit every lab front shares: JSON responses, errors, filters, paging, routing.

The fronts are small WSGI apps over plain dicts; what they have in common lives here, so each
service module holds only its own resources and error format. JSON in, JSON out: errors too
(Router renders every HttpError and every unexpected exception as the service's JSON error
body, never HTML).

Traps:

- Fixture state is plain dicts on fixture INSTANCES (server.py records them in useFixture),
  mutated from Nova's threads without locks. The fronts take one lock among themselves (LOCK,
  held by Router around every handler) and only read Nova-written dicts through snapshots
  (list(...)), never iterate them live.
- openstacksdk asks again with marker=<last id> when a page is full (limit) and carries no
  next link, so every list honours limit/marker through paginate (ignoring marker repeats the
  first page).
"""

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
    """JSON for a body that is a document; bytes (an image's data) as they are."""
    raw = isinstance(body, bytes)
    data = b"" if body is None or status == 204 else body if raw else json.dumps(body).encode()
    hdrs = [
        ("Content-Length", str(len(data))),
        ("X-Openstack-Request-Id", "req-" + str(uuid.uuid4())),
        *headers,
    ]
    if data:
        hdrs.insert(0, ("Content-Type", "application/octet-stream" if raw else "application/json"))
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
