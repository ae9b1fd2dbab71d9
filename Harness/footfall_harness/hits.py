"""Hits as the tracker sends them to `/api/event`."""

import time


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
