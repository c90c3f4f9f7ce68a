"""Identity front: Keystone version discovery only (the lab has no Keystone).

Tokens are checked by server.py; clients still run identity discovery, so this front answers
it and returns 501 for everything else (see IdentityFront).
"""

from .wsgi import REASONS, HttpError, Router, version_doc


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
