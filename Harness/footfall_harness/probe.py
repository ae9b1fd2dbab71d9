"""What the checkers see of a node: its membership view, the ring's replica lists, and the event
ids in its own store.

A replica's own data is read over the same mutual-TLS repair RPCs anti-entropy uses (digest
tree, then the ids of each non-empty slice), with a node certificate issued to `checker`,
which no member ever is. A node that is waiting for repair still answers these from its own
store, so a missing event cannot hide behind another replica's answer.
"""
import os
import time

import grpc

CHECKER = "checker"
ALIVE, DEAD = "MEMBER_STATUS_ALIVE", "MEMBER_STATUS_DEAD"


class Probe:
    def __init__(self, certs, stubs):
        self.pb2, self.pb2_grpc = stubs
        read = lambda name: open(os.path.join(certs, name), "rb").read()
        self.credentials = grpc.ssl_channel_credentials(read("ca.pem"), read(f"{CHECKER}-key.pem"), read(f"{CHECKER}.pem"))
        self.channels = {}

    def stub(self, node):
        if node.name not in self.channels:
            self.channels[node.name] = grpc.secure_channel(
                node.internal, self.credentials, options=[("grpc.ssl_target_name_override", f"{node.name}.node.footfall")])
        return self.pb2_grpc.NodeServiceStub(self.channels[node.name])

    def forget(self, node):
        """Drops the channel to a node that restarted (a new process, a new connection)."""
        channel = self.channels.pop(node.name, None)
        if channel:
            channel.close()

    def close(self):
        for channel in self.channels.values():
            channel.close()
        self.channels.clear()

    def members(self, node, timeout=1.5):
        """{name: (status, uid, ownership)} as `node` sees the cluster; None when it does not answer."""
        try:
            reply = self.stub(node).ClusterStatus(self.pb2.ClusterStatusRequest(), timeout=timeout)
        except grpc.RpcError:
            return None
        return {row.record.member.name: (self.pb2.MemberStatus.Name(row.record.status), row.record.member.uid,
                                         self.pb2.OwnershipState.Name(row.ownership))
                for row in reply.members}

    def clock_offset_ms(self, node):
        """How far `node`'s wall clock is from this machine's, in ms (the midpoint of the call);
        None when it does not answer."""
        before = time.time()
        try:
            reply = self.stub(node).Clock(self.pb2.ClockRequest(), timeout=2)
        except grpc.RpcError:
            return None
        return reply.wall_ms - (before + time.time()) * 500

    def replicas(self, node, sites, factor):
        return {site: now for site, (now, _) in self.placements(node, sites, factor).items()}

    def placements(self, node, sites, factor):
        """Each site's replicas as `node` sees them: (now, once the moves under way have finished)."""
        reply = self.stub(node).ClusterRing(self.pb2.ClusterRingRequest(sites=sites, replication_factor=factor), timeout=5)
        return {placement.site: (list(placement.replicas), list(placement.pending_replicas)) for placement in reply.placements}

    def event_ids(self, node, site, from_ms, until_ms):
        """Every event id `node` holds for `site` with a timestamp in [from_ms, until_ms)."""
        window = self.pb2.RepairWindow(site=site, from_ms=from_ms, until_ms=until_ms)
        stub = self.stub(node)
        tree = stub.RepairDigests(window, timeout=10)
        ids = set()
        for day in tree.days:
            for index, digest in enumerate(day.slices):
                if digest.count:
                    reply = stub.RepairSliceIDs(self.pb2.RepairSlice(window=window, day=day.day, slice=index), timeout=10)
                    ids.update(bytes(i) for i in reply.ids)
        return ids
