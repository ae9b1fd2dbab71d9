"""Acknowledged event ids per site, as a cluster test keeps them, and the ids a node holds."""
import time
from collections import namedtuple

import grpc

from . import hits

Peer = namedtuple("Peer", "name internal")


class AckLog:
    """Acknowledged event ids per site, and the erased visitors'."""

    def __init__(self, sites):
        self.sites = sites
        self.acked, self.erased = {site: set() for site in sites}, set()

    def send(self, api, via, batch):
        """Posts `batch`; None when every hit was taken, else the answer."""
        status, body = api.hits(via, batch)
        if status != 202 or not body or body.get("accepted", 0) + body.get("duplicates", 0) != len(batch):
            return (status, body)
        for one in batch:
            self.acked[one["site"]].add(hits.event_id(one["site"], one["id"], one["ts"]))
        return None

    def write(self, api, via, prefix, count=5):
        """`count` hits to each site through `via`; the first refusal, or None."""
        for index, site in enumerate(self.sites):
            refused = self.send(api, via, [hits.pageview(f"{prefix}-{index}-{n:04d}", site) for n in range(count)])
            if refused:
                return refused
        return None


def held(probe, cluster, name, site):
    """The event ids of `site` in `name`'s own store (a day either side of now); None when it does not answer."""
    now = int(time.time() * 1000)
    try:
        return probe.event_ids(Peer(name, cluster.internal(name)), site, now - 86_400_000, now + 86_400_000)
    except grpc.RpcError:
        return None
