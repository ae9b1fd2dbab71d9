"""Hits as the tracker sends them to `/api/event`, and the ids a node derives from them."""

import hashlib
import time


def event_id(site, hit_id, ts_ms):
    """EventID.forHit: six bytes of the hit's time, then ten bytes of SHA-256 over site and hit id."""
    digest = hashlib.sha256(f"footfall.hit\0{site}\0{hit_id}".encode()).digest()
    return (ts_ms & 0xFFFF_FFFF_FFFF).to_bytes(8, "big")[2:] + digest[:10]


def visitor_hex(site, client_id):
    """The visitor id a consented client id (`vid`) gets on `site` (VisitorID.consented), as the
    API names it."""
    return hashlib.sha256(f"footfall.visitor\0{site}\0{client_id}".encode()).digest()[:8].hex()


def pageview(hit_id, site="localhost", vid=None, title=None):
    """A pageview stamped now, as the tracker stamps it (a hit without a timestamp is stamped at
    the start of the server's hour, outside the live feed's window late in the hour); `vid` makes
    it a consented visitor's."""
    body = {"site": site, "id": hit_id, "ts": int(time.time() * 1000), "url": f"http://{site}/replicated/{hit_id}", "kind": "pageview"}
    if title:
        body["title"] = title
    if vid:
        body.update({"consent": True, "vid": vid})
    return body
