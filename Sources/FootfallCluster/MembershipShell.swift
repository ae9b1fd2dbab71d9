import FootfallIngest
import FootfallModel
import FootfallProtocols
import FootfallRuntime
import FootfallWire
import Foundation
import Logging

/// Drives one `Membership.Instance` over the cluster's mutual-TLS channels: feeds it the
/// monotonic clock, incoming gossip and operator commands, and carries out what it returns —
/// sends, persisted ownership, logs and metrics. All protocol decisions are the instance's.
public actor MembershipShell {
    /// A consistent view for status commands and, later, the replication layer.
    public struct Snapshot: Sendable {
        public var myself: Membership.Member
        public var members: [Membership.MemberRecord]
        public var ownership: [Membership.OwnershipRecord]
        public var ring: Ring
        /// Where ranges will be once the moves in progress finish.
        public var pendingRing: Ring
        public var localHealth: Int
        /// Whether every live member has shown it holds this node's ownership map.
        public var ownershipAgreed: Bool

        public var ownState: Membership.OwnershipRecord.State? { ownership.first { $0.name == myself.name }?.state }
    }

    private var instance: Membership.Instance
    private let peers: PeerClients
    private let stateFile: ClusterStateFile
    private let salts: SaltKeeper
    /// The wall clock, for checking a fetched daily-salt seed's day (the protocol runs on the
    /// monotonic clock).
    private let wallClock: any WallClock
    private let metrics: NodeMetrics
    private let logger: Logger
    private let origin = ContinuousClock.now
    private var stopped = false
    /// The rings last built and the ownership map they were built from: a ring hashes 256
    /// positions per member (5 % of a serving node's CPU when it was built for every snapshot,
    /// read every 100 ms then), and the map rarely changes.
    private var rings: (records: [Membership.OwnershipRecord], read: Ring, pending: Ring)?
    /// The view after each change of members or ring (`Membership.Action.changesView`), newest
    /// only: a follower that falls behind skips to the latest view, and the buffer holds one.
    public nonisolated let views: AsyncStream<Snapshot>
    private let viewContinuation: AsyncStream<Snapshot>.Continuation
    private var nextSecretsAttempt = ContinuousClock.now
    /// The other members' addresses as last saved in the state file.
    private var savedPeers: [String]

    /// The loop never sleeps longer than this, so a deadline that an incoming message moved
    /// earlier is met within it.
    package static let tickGranularity: Duration = .milliseconds(20)

    package init(
        myself: Membership.Member, configuration: ClusterConfiguration, stateFile: ClusterStateFile, peers: PeerClients,
        salts: SaltKeeper, wallClock: any WallClock, metrics: NodeMetrics, logger: Logger
    ) throws {
        self.peers = peers
        self.stateFile = stateFile
        self.salts = salts
        self.wallClock = wallClock
        self.metrics = metrics
        self.logger = logger
        (views, viewContinuation) = AsyncStream.makeStream(of: Snapshot.self, bufferingPolicy: .bufferingNewest(1))
        var seedGenerator = SystemRandomNumberGenerator()
        // Where the other members were last seen is asked at start: a node started without seeds
        // (the one that founded the cluster) would otherwise wait alone after a graceful restart,
        // since members do not seek out one that left.
        savedPeers = try stateFile.peers()
        instance = Membership.Instance(
            myself: myself, settings: configuration.membership, seeds: configuration.seeds, lastSeenAt: savedPeers,
            knownOwnership: try stateFile.ownership(), randomSeed: seedGenerator.next(), now: .zero
        )
    }

    private var now: MonotonicTime { MonotonicTime(nanoseconds: (ContinuousClock.now - origin).nanoseconds) }

    /// Runs the protocol until `leave()` or cancellation; `views` ends with it.
    package func run() async {
        defer { viewContinuation.finish() }
        // The view a node starts with (itself, and the ring it saved), before any change.
        viewContinuation.yield(snapshot)
        await perform(instance.onStart(now: now))
        while !stopped, !Task.isCancelled {
            let wait = min(max(.zero, instance.nextDeadline - now), MembershipShell.tickGranularity)
            try? await Task.sleep(for: wait)
            guard !stopped else { break }
            await perform(instance.onTick(now: now))
            await fetchSecretsIfMissing()
        }
    }

    package func receive(_ envelope: Membership.Envelope) async {
        guard !stopped else { return }
        await perform(instance.onMessage(envelope, now: now))
    }

    /// Graceful leave (SIGTERM): tells the live members, gives the notices a moment, stops.
    package func leave(gracePeriod: Duration) async {
        guard !stopped else { return }
        await perform(instance.onLeave(now: now))
        logger.info("left the cluster", metadata: ["cluster.node": "\(instance.myself)"])
        try? await Task.sleep(for: gracePeriod)
        stopped = true
        await peers.shutdown()
    }

    /// An operator's removal of a member name from the ring; returns the new ring epoch, or why
    /// the membership core refused it.
    package func remove(name: String) async -> Result<UInt64, Membership.ChangeRefusal> {
        switch instance.onRemove(name: name, now: now) {
        case .success(let actions):
            await perform(actions)
            return .success(instance.ring().epoch)
        case .failure(let refusal):
            return .failure(refusal)
        }
    }

    /// An operator's decommission of this node; nil once it is leaving, or why the membership
    /// core refused it.
    package func decommission() async -> Membership.ChangeRefusal? {
        switch instance.onDecommission(now: now) {
        case .success(let actions):
            await perform(actions)
            return nil
        case .failure(let refusal):
            return refusal
        }
    }

    /// Moves this node's own ownership on (see `Membership.Instance.onOwnStateChange`); returns
    /// whether the move was allowed.
    package func changeOwnState(to state: Membership.OwnershipRecord.State) async -> Bool {
        let actions = instance.onOwnStateChange(to: state, now: now)
        await perform(actions)
        return !actions.isEmpty
    }

    package var snapshot: Snapshot {
        let records = instance.ownershipRecords
        let current = rings.flatMap { $0.records == records ? $0 : nil } ?? (records: records, read: instance.ring(), pending: instance.pendingRing())
        rings = current
        return Snapshot(
            myself: instance.myself, members: instance.members, ownership: records,
            ring: current.read, pendingRing: current.pending, localHealth: instance.localHealth,
            ownershipAgreed: instance.ownershipAgreed
        )
    }

    private func perform(_ actions: [Membership.Action]) async {
        // Persist before sending: the map is saved once for all the changes (a message may carry
        // thousands), and the ring built once.
        let ringEpoch = actions.contains(where: { if case .ownershipChanged = $0 { true } else { false } }) ? persistOwnership() : nil
        // Then the new view, before the sends, which may wait on slow peers.
        if actions.contains(where: \.changesView) { viewContinuation.yield(snapshot) }
        for action in actions {
            switch action {
            case .send(let envelope, let destination):
                await peers.send(envelope, to: destination, timeout: instance.settings.probeTimeout)
            case .memberChanged(let record, let previous):
                let metadata: Logger.Metadata = [
                    "cluster.member": "\(record.member)", "cluster.status": "\(record.status.rawValue)",
                    "cluster.incarnation": "\(record.incarnation)", "cluster.previous": "\(previous?.rawValue ?? "unknown")",
                ]
                if record.status == .dead || record.status == .suspect {
                    logger.warning("member \(record.status.rawValue)", metadata: metadata)
                } else {
                    logger.info("member \(record.status.rawValue)", metadata: metadata)
                }
                metrics.increment("footfall_cluster_member_changes_total", labels: ["status": record.status.rawValue])
                updateMemberGauges()
                persistPeers()
            case .ownershipChanged(let record):
                logger.info("ring changed", metadata: ["ring.member": "\(record.name)", "ring.state": "\(record.state.rawValue)",
                                                       "ring.epoch": "\(ringEpoch ?? 0)"])
            case .superseded(let newer):
                MembershipShell.stopProcess("a newer process of \(newer.name) runs at \(newer.address) and the cluster took it for "
                                            + "this node while this one was held dead; this one stops (its data stays in its folder)")
            case .nameHeld(let holder):
                MembershipShell.stopProcess("\(holder.name) is a live member at \(holder.address): two processes cannot answer for one "
                                            + "name. Give this one another name, or stop that one and start this one again once the "
                                            + "cluster holds it dead (a few seconds)")
            }
        }
    }

    /// The exit status of a process that stops because another process answers for its name:
    /// EX_TEMPFAIL, as starting it again may work once the other is gone.
    package static let nameConflictExitStatus: Int32 = 75

    /// Ends the process at once, saying why on standard error (a log line could still sit in a
    /// buffer): two processes of one name must not both serve, write or stream.
    private static func stopProcess(_ reason: String) -> Never {
        fflush(nil)
        let line = "footfall: stopping: \(reason)\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        _exit(nameConflictExitStatus)
    }

    /// Saves the ownership map; returns the new ring epoch.
    private func persistOwnership() -> UInt64 {
        do {
            try stateFile.saveOwnership(instance.ownershipRecords)
        } catch {
            logger.error("cannot persist the ownership map", metadata: ["error": "\(error)"])
        }
        let epoch = instance.ring().epoch
        metrics.set("footfall_cluster_ring_epoch", to: Double(epoch))
        return epoch
    }

    /// Addresses saved at most: far more than a restart needs (one live member is enough), and
    /// however many names gossip brought, the state file stays readable.
    package static let savedPeersMax = 1_024

    /// Saves the other members' addresses when they changed (a member joined, or came back
    /// elsewhere): live members' first.
    private func persistPeers() {
        let others = instance.members.filter { $0.member.name != instance.myself.name }
        let live = Set(others.filter { $0.status == .alive }.map(\.member.address))
        let addresses = Array(Set(others.map(\.member.address)).sorted { (live.contains($0) ? 0 : 1, $0) < (live.contains($1) ? 0 : 1, $1) }
            .prefix(MembershipShell.savedPeersMax))
        guard addresses != savedPeers else { return }
        do {
            try stateFile.savePeers(addresses)
            savedPeers = addresses
        } catch {
            logger.error("cannot persist the members' addresses", metadata: ["error": "\(error)"])
        }
    }

    private func updateMemberGauges() {
        let members = instance.members
        for status in Membership.Status.allCases {
            metrics.set("footfall_cluster_members", to: Double(members.filter { $0.status == status }.count),
                        labels: ["status": status.rawValue])
        }
        metrics.set("footfall_cluster_local_health", to: Double(instance.localHealth))
    }

    /// A node that joined a cluster gets the daily-salt seed from a live member; until then it
    /// refuses cookieless hits (see `SaltKeeper`).
    private func fetchSecretsIfMissing() async {
        guard instance.isJoined, !salts.hasSeed, ContinuousClock.now >= nextSecretsAttempt else { return }
        nextSecretsAttempt = ContinuousClock.now + .seconds(1)
        guard let peer = instance.members.filter({ $0.status == .alive && $0.member.name != instance.myself.name }).randomElement(),
              let client = await peers.client(for: peer.member)
        else { return }
        do {
            let secrets = try await client.fetchClusterSecrets(Footfall_V1_ClusterSecretsRequest(),
                                                               options: ClusterTransport.callOptions(timeout: .seconds(2)))
            // A seed for another day than about today would give this node other salts than its
            // peers' (double counting) until the ratchet caught up, or walk it through millions of days.
            let today = Day(containing: wallClock.nowMs), offered = Day(index: secrets.dailySaltDay)
            guard abs(today.distance(to: offered)) <= 1 else {
                throw ClusterSetupError("the daily-salt seed offered is for day \(offered.index), not about today (\(today.index))")
            }
            try salts.adopt(day: offered, seed: Array(secrets.dailySaltSeed))
            logger.info("received the cluster's daily-salt seed", metadata: ["cluster.from": "\(peer.member.name)"])
        } catch {
            logger.warning("could not fetch the cluster secrets yet", metadata: ["cluster.from": "\(peer.member.name)", "error": "\(error)"])
        }
    }
}
