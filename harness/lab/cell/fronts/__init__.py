"""Thin Cinder v3 / Glance v2 / Neutron v2.0 HTTP fronts over the fixtures' state.

In a functional-test cell, Cinder, Glance and Neutron exist only as in-process fixtures that
Nova's clients are patched to call; nothing listens on a socket. These fronts expose the SAME
dicts Nova reads and writes, so scenarios reach the Cinder, Glance and Neutron APIs over HTTP:
a volume created here is the volume Nova attaches, and a Nova snapshot is the image listed
here. JSON in, JSON out (errors too: nothing is ever rendered as HTML), no policy of their
own: server.py puts each behind keystonemiddleware's auth_token, so only requests with a
token the lab's Keystone validated reach them.

server.py puts this directory's parent on sys.path and imports the package as plain
``fronts``; the modules import one another relatively:

- wsgi: the shared toolkit (errors, JSON responses, filters, paging, Router, the one LOCK).
- volume: Cinder v3 (CinderFront). image: Glance v2 (GlanceFront).
- network: Neutron v2.0 (NeutronFront).

Each service's own traps are in its module's docstring. One applies to all of them:
keystoneauth discovery GETs the endpoint-override URL itself (/image/v2, /network/v2.0,
/volume/v3), so each front serves a version document there, else DiscoveryFailure.
"""

from .image import GlanceFront
from .network import NeutronFront
from .volume import CinderFront


def make_fronts(fixtures, base_url, project_id, notify):
    """{mount prefix: WSGI app}. fixtures: {fixture class name: instance} from useFixture."""
    glance = fixtures["GlanceFixture"]
    return {
        "/volume": CinderFront(
            fixtures["CinderFixture"], glance, base_url + "/volume", project_id, notify
        ),
        "/image": GlanceFront(glance, base_url + "/image"),
        "/network": NeutronFront(fixtures["NeutronFixture"], base_url + "/network", notify),
    }
