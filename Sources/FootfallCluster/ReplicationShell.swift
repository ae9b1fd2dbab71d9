import Dispatch
import FootfallIngest
import FootfallModel
import FootfallProtocols
import FootfallRuntime
import FootfallStorage
import FootfallWire
import Foundation
import GRPCCore
import Logging
import Synchronization

/// Drives the node's `Replication.Coordinator`: takes client writes and erasures, carries out what
/// the coordinator returns — replica calls over mutual TLS (or the local store for this node's own
/// share), durable hints in the `hints` column family, answers to waiting clients — and feeds it
/// acknowledgements, failures, membership views and time. All protocol decisions are the
/// coordinator's.
///
/// A single node runs the same path with a ring of one: its writes are "replicated" to itself.
public actor ReplicationShell {
    /// What an erasure request came to: the replicas that confirmed (with when), and those that
    /// hold a hint and will confirm when they return.
    public struct ErasureResult: Sendable {
        /// `.succeeded` once a quorum of the site's replicas confirmed.
        public var outcome: Replication.WriteOutcome
        public var confirmations: [ErasureRecord.Confirmation]
        public var pending: [String]
    }

    private let myself: String
    private let store: EventStore
    private let committer: GroupCommitter
    private let kv: any KeyValueStore
    private let clock: any WallClock
    private let metrics: NodeMetrics
    private let logger: Logger
    private let retention: @Sendable (SiteID) -> RetentionPlan
    private var coordinator: Replication.Coordinator
    private var peers: PeerClients?
    private var members: [String: Membership.Member] = [:]
    private var writeWaiters: [UInt64: CheckedContinuation<(Replication.WriteOutcome, Replication.Applied), Never>] = [:]
    private var erasureWaiters: [String: (CheckedContinuation<ErasureResult, Never>, [ErasureRecord.Confirmation])] = [:]
    private var nextRequest: UInt64 = 0
    /// Whether this node's copy may answer reads, or must be repaired first (persisted).
    private var lifecycle: Replication.DataLifecycle
    /// Set when this node lost writes no hint holds (or was away past the hint window): it serves
    /// no reads of its own until anti-entropy has run.
    public var needsRepair: Bool { lifecycle.phase == .repairing }
    /// Erasures (which compact files) and CRM edits run one at a time, off the actor.
    private let changeQueue = DispatchQueue(label: "footfall.replica-changes")
    private let scrubWaiting = ScrubLatch()

    package static let hintKeyTag = UInt8(ascii: "h")
    package static let gapKeyTag = UInt8(ascii: "g")
    package static let repairNeededKey: [UInt8] = Array("repair-needed".utf8)
    /// When this node last ran, refreshed every `aliveStampInterval`: how long it was away.
    package static let lastAliveKey: [UInt8] = Array("last-alive".utf8)
    package static let aliveStampIntervalMs: Int64 = 60_000
    /// When (monotonic clock) the stamp was last written: a wall clock stepped back must not
    /// stop the stamps for as long as it stepped.
    private var lastAliveStamp: MonotonicTime?

    /// - Parameters:
    ///   - joinsCluster: the node starts with seeds. A fresh data folder then means a new node or a
    ///     lost disk: either way it repairs before it serves reads of its own.
    ///   - ring: the ring until membership gives its first view: the persisted one, none for a
    ///     node that has yet to join (writes fail until it has), this node alone for a new single node.
    package init(myself: String, settings: Replication.Settings, store: EventStore, committer: GroupCommitter, kv: any KeyValueStore,
         clock: any WallClock, metrics: NodeMetrics, logger: Logger, joinsCluster: Bool, ring: Ring,
         retention: @escaping @Sendable (SiteID) -> RetentionPlan) throws {
        self.myself = myself
        self.store = store
        self.committer = committer
        self.kv = kv
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.retention = retention
        var hints = [Replication.Hint]()
        var gaps = Set<String>()
        try kv.scan(.hints, prefix: [ReplicationShell.hintKeyTag]) { _, value in
            hints.append(try HintCodec.decode(value))
            return true
        }
        try kv.scan(.hints, prefix: [ReplicationShell.gapKeyTag]) { key, _ in
            gaps.insert(String(decoding: key.dropFirst(), as: UTF8.self))
            return true
        }
        let lastAlive = try kv.get(.hints, ReplicationShell.lastAliveKey).flatMap { $0.count == 8 ? Int64(bitPattern: UInt64(bigEndianBytes: $0)) : nil }
        let (lifecycle, effects) = Replication.DataLifecycle.onStart(
            repairPending: try kv.get(.hints, ReplicationShell.repairNeededKey) != nil, lastAliveMs: lastAlive, joinsCluster: joinsCluster,
            nowMs: clock.nowMs, hintWindowMs: settings.hintWindowMs, horizonMs: Int64(RetentionPlan.daysMax) * TimeUnits.dayMs)
        self.lifecycle = lifecycle
        for effect in effects {
            switch effect {
            case .wipeRawData:
                // Away longer than any data is kept: what it holds may have been erased elsewhere
                // long ago. It is not merged back; it starts empty and is filled by repair.
                try store.wipeRawData()
                var batch = WriteBatch()
                batch.deleteRange(.hints, [ReplicationShell.hintKeyTag], [ReplicationShell.hintKeyTag + 1])
                batch.deleteRange(.hints, [ReplicationShell.gapKeyTag], [ReplicationShell.gapKeyTag + 1])
                try kv.write(batch, sync: true)
                hints.removeAll()
                gaps.removeAll()
                logger.warning("this node was away longer than the retention horizon: its raw data was wiped; it rejoins empty")
            case .persistRepairNeeded: try ReplicationShell.persistRepairFlag(true, in: kv)
            case .clearRepairNeeded: try ReplicationShell.persistRepairFlag(false, in: kv)
            }
        }
        var random = SystemRandomNumberGenerator()
        coordinator = Replication.Coordinator(
            myself: myself, settings: settings, ring: ring, alive: [myself],
            hints: hints, gaps: gaps, idSeed: random.next())
    }

    // MARK: Clients

    /// Writes events to their replicas; returns once the consistency level is met or cannot be.
    public func write(_ events: [Event], consistency: Replication.Consistency) async -> (Replication.WriteOutcome, Replication.Applied) {
        nextRequest += 1
        let request = nextRequest
        return await withCheckedContinuation { continuation in
            writeWaiters[request] = continuation
            perform(coordinator.onWrite(request: request, events: events, consistency: consistency, now: now))
        }
    }

    /// Applies an owner's CRM edit on the site's replicas at `consistency`.
    public func edit(_ edit: VisitorEdit, consistency: Replication.Consistency) async -> Replication.WriteOutcome {
        nextRequest += 1
        let request = nextRequest
        return await withCheckedContinuation { continuation in
            writeWaiters[request] = continuation
            perform(coordinator.onEdit(request: request, edit, consistency: consistency, now: now))
        }.0
    }

    /// Erases a visitor on every replica of the site; returns when all confirmed or the rest are
    /// hinted, with whether a quorum confirmed.
    public func erase(_ order: Replication.ErasureOrder) async -> ErasureResult {
        await withCheckedContinuation { continuation in
            erasureWaiters[order.requestID] = (continuation, [])
            perform(coordinator.onErase(order, now: now))
        }
    }

    // MARK: Cluster

    /// Connects the shell to the cluster's channels.
    package func attach(peers: PeerClients) { self.peers = peers }

    /// Takes a membership view: the rings (for reads, and with moves finished) and the live
    /// members (with their addresses). Called with each view the membership shell publishes, and
    /// at once by a move that must not go on before replication has the new ring.
    package func follow(_ view: MembershipShell.Snapshot) {
        let live = view.members.filter(\.status.isLive).map(\.member)
        members = Dictionary(live.map { ($0.name, $0) }, uniquingKeysWith: { a, b in a.uid >= b.uid ? a : b })
        let alive = Set(live.map(\.name))
        guard view.ring != coordinator.ring || view.pendingRing.members != coordinator.pendingRing.members
            || alive.union([myself]) != coordinator.alive else { return }
        perform(coordinator.onMembershipChange(ring: view.ring, pendingRing: view.pendingRing, alive: alive, now: now))
        metrics.set("footfall_replication_ring_epoch", to: Double(view.ring.epoch))
    }

    /// Where a read of `site` is answered (`DataLifecycle.readRoute`).
    package func readReplicas(for site: SiteID) -> (local: Bool, remote: [String]) {
        lifecycle.readRoute(replicas: coordinator.ring.preferenceList(for: site, replicationFactor: coordinator.settings.replicationFactor),
                            myself: myself, alive: coordinator.alive)
    }

    package var ring: Ring { coordinator.ring }
    /// Where ranges will be once the moves in progress finish.
    package var pendingRing: Ring { coordinator.pendingRing }
    package var alive: Set<String> { coordinator.alive }
    /// Hints this node holds, per target replica.
    package var hintsPerTarget: [String: Int] {
        coordinator.hints.values.reduce(into: [:]) { counts, hint in counts[hint.target, default: 0] += 1 }
    }

    /// A coordinator told this node it missed writes: repair before serving reads. Throws when
    /// the flag cannot be persisted, so the report is not acknowledged.
    package func markNeedsRepair() throws {
        for effect in lifecycle.onRepairNeeded() where effect == .persistRepairNeeded {
            do {
                try ReplicationShell.persistRepairFlag(true, in: kv)
            } catch {
                lifecycle.onPersistFailed(effect)
                throw error
            }
            logger.warning("this node missed writes that no hint holds; it serves no reads of its own until repaired")
        }
    }

    /// A repair pass begins (see `DataLifecycle.onPassStarted`).
    package func repairPassStarted(byOperator: Bool) -> Replication.DataLifecycle.PassTicket {
        lifecycle.onPassStarted(byOperator: byOperator)
    }

    /// A repair pass ended; it may have repaired this node (see `DataLifecycle.onPassFinished`).
    package func repairPassFinished(_ ticket: Replication.DataLifecycle.PassTicket, coverage: Replication.DataLifecycle.PassCoverage) {
        for effect in lifecycle.onPassFinished(ticket, coverage: coverage) where effect == .clearRepairNeeded {
            do {
                try ReplicationShell.persistRepairFlag(false, in: kv)
                logger.info("repair finished; this node serves reads again")
            } catch {
                // Still flagged on disk: the next start repairs again, which is safe.
                logger.error("cannot clear the repair flag", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Persists (`needed`) or clears "repair before serving reads" in `kv`, read back when the
    /// node starts.
    package static func persistRepairFlag(_ needed: Bool, in kv: any KeyValueStore) throws {
        var batch = WriteBatch()
        if needed { batch.put(.hints, repairNeededKey, [1]) } else { batch.delete(.hints, repairNeededKey) }
        try kv.write(batch, sync: true)
    }

    /// Both clocks, as the coordinator takes them: the wall clock for hint ages, the monotonic one
    /// for its timers.
    private var now: Replication.Instant {
        Replication.Instant(wallMs: clock.nowMs, monotonic: MonotonicTime(milliseconds: clock.monotonicMs))
    }

    /// Timeouts, hint expiry and replays, until cancelled.
    package func run() async {
        while !Task.isCancelled {
            let now = self.now
            if lastAliveStamp.map({ now.monotonic.milliseconds(since: $0) >= ReplicationShell.aliveStampIntervalMs }) ?? true { stampAlive(now) }
            let waitMs = coordinator.nextDeadline(now: now).map { min(max(0, $0.milliseconds(since: now.monotonic)), 100) } ?? 100
            try? await Task.sleep(for: .milliseconds(waitMs))
            perform(coordinator.onTick(now: self.now))
            metrics.set("footfall_replication_hints_pending", to: Double(coordinator.hints.count))
            metrics.set("footfall_replication_hinted_events", to: Double(coordinator.hintedEvents))
            metrics.set("footfall_replication_writes_in_flight", to: Double(coordinator.writesInFlight))
        }
    }

    // MARK: Carrying out actions

    /// Carries out the coordinator's effects in their order: hints and gap marks persisted in one
    /// write, then replica calls, then answers, so no client hears of a write before its hint is
    /// in the write-ahead log. A write that fails goes back to the coordinator, which writes
    /// what it holds again later; the calls and answers still go out, as none of them needs the
    /// write to be durable (a write is decided by the replicas' acknowledgements, never by a hint).
    ///
    /// Hints of events are written without a sync of their own, as Cassandra writes hints: they
    /// reach the log at once (a killed process keeps them), and the next synced write (a group
    /// commit of events: under load, within milliseconds) syncs the log with them. A sync per hint batch blocked the actor's
    /// thread for every write while a peer was down, and on a slow disk made writes time out.
    /// Anything else (an erasure's or a CRM edit's hint, a gap mark) is synced before it is
    /// acted on: losing one would leave an erased visitor on a replica, or a replica unrepaired.
    private func perform(_ effects: Replication.Effects) {
        persist(effects.persist)
        for outgoing in effects.send { send(outgoing.message, to: outgoing.to) }
        for completion in effects.complete {
            switch completion {
            case .writeFinished(let request, let outcome, let applied):
                writeWaiters.removeValue(forKey: request)?.resume(returning: (outcome, applied))
            case .erasureConfirmed(let requestID, let replica, let atMs):
                erasureWaiters[requestID]?.1.append(.init(node: replica, confirmedAtMs: atMs))
                logger.info("erasure confirmed by a replica", metadata: ["erasure.request": "\(requestID)", "erasure.replica": "\(replica)"])
            case .erasureFinished(let requestID, let outcome, let pending):
                if let (continuation, confirmations) = erasureWaiters.removeValue(forKey: requestID) {
                    continuation.resume(returning: ErasureResult(outcome: outcome, confirmations: confirmations, pending: pending))
                }
            }
        }
    }

    private func persist(_ persist: [Replication.Effects.Persist]) {
        var hintBatch = WriteBatch()
        var sync = false
        var scrub = false
        for write in persist {
            switch write {
            case .hint(let hint):
                do {
                    hintBatch.put(.hints, ReplicationShell.hintKey(hint.id), try HintCodec.encode(hint))
                    metrics.increment("footfall_replication_hints_total")
                    if case .events = hint.payload {} else { sync = true }
                } catch {
                    // Encoding fails the same way every time, so it is not tried again: the
                    // coordinator keeps the hint in memory and replays it.
                    logger.error("cannot encode a hint", metadata: ["error": "\(error)"])
                }
            case .deleteHint(let id):
                hintBatch.delete(.hints, ReplicationShell.hintKey(id))
            case .recordGap(let target):
                hintBatch.put(.hints, [ReplicationShell.gapKeyTag] + Array(target.utf8), [])
                sync = true
                metrics.increment("footfall_replication_gaps_total")
                logger.warning("a replica missed writes that no hint holds; it will repair before serving reads",
                               metadata: ["replication.target": "\(target)"])
            case .clearGap(let target):
                hintBatch.delete(.hints, [ReplicationShell.gapKeyTag] + Array(target.utf8))
            case .scrubHints:
                scrub = true
            }
        }
        if !hintBatch.isEmpty {
            do {
                try kv.write(hintBatch, sync: sync)
            } catch {
                metrics.increment("footfall_replication_persist_failures_total")
                logger.error("cannot persist hints; they are written again later", metadata: ["error": "\(error)"])
                coordinator.onPersistFailed(persist, now: now)
                return
            }
        }
        if scrub { scrubHintFiles() }
    }

    /// Rewrites the hint family's files without the deleted hints and flushes every family, so no
    /// write-ahead log still holds them: an erased visitor's data leaves this node's disk too.
    /// On the change queue, after the erasures already waiting (compaction takes a while); one
    /// waiting scrub covers every deletion before it runs, so a burst of them costs one.
    private func scrubHintFiles() {
        guard scrubWaiting.arm() else { return }
        let kv = self.kv, logger = self.logger, scrubWaiting = self.scrubWaiting
        changeQueue.async {
            scrubWaiting.release()
            do {
                try kv.compact(.hints, from: [], to: [0xff])
                try (kv as? RocksDBStore)?.flushAll()
            } catch {
                logger.error("cannot scrub deleted hints from the files", metadata: ["error": "\(error)"])
            }
        }
    }

    private func send(_ message: Replication.Message, to target: String) {
        let id: UInt64
        switch message {
        case .apply(let messageID, _), .repairNeeded(let messageID): id = messageID
        case .ack: return
        }
        if target == myself {
            applyLocally(message, id: id)
            return
        }
        let timeout = Duration.milliseconds(coordinator.settings.writeTimeoutMs)
        // One call per message the coordinator sends, each over within `writeTimeoutMs`: as many
        // at once as the coordinator has outstanding (bounded by its `writesInFlightMax`).
        Task {
            guard let client = await self.client(for: target) else {
                self.failed(id)
                return
            }
            do {
                let ack = try await client.replicate(ReplicaWire.request(message), options: ClusterTransport.callOptions(timeout: timeout))
                self.acknowledged(try ReplicaWire.ack(ack), from: target)
            } catch {
                self.failed(id)
            }
        }
    }

    package func client(for target: String) async -> PeerClients.NodeClient? {
        guard let peers, let member = members[target] else { return nil }
        return await peers.client(for: member)
    }

    private func applyLocally(_ message: Replication.Message, id: UInt64) {
        // As bounded as `send`'s calls; the group committer writes at most two batches at once
        // and holds the rest until then.
        Task {
            do {
                let applied = try await self.applyAsReplica(message)
                self.acknowledged(.ack(id: id, atMs: self.clock.nowMs, applied), from: self.myself)
            } catch {
                self.logger.error("local replica write failed", metadata: ["error": "\(error)"])
                self.failed(id)
            }
        }
    }

    /// The replica side: applies a coordinator's request to this node's store, durably.
    package func applyAsReplica(_ message: Replication.Message) async throws -> Replication.Applied {
        switch message {
        case .apply(_, .events(let events)):
            return Replication.Applied(try await committer.submit(events))
        case .apply(_, let payload):
            let replica = LocalReplica(name: myself, store: store, nowMs: clock.nowMs, retention: retention)
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                changeQueue.async { continuation.resume(with: Result { try replica.apply(payload) }) }
            }
            if case .erasure = payload { metrics.increment("footfall_erasures_applied_total") }
            return Replication.Applied()
        case .repairNeeded:
            try markNeedsRepair()
            return Replication.Applied()
        case .ack:
            return Replication.Applied()
        }
    }

    private func acknowledged(_ message: Replication.Message, from sender: String) {
        perform(coordinator.onMessage(message, from: sender, now: now))
    }

    private func failed(_ id: UInt64) {
        perform(coordinator.onSendFailed(id, now: now))
    }

    package static func hintKey(_ id: UInt64) -> [UInt8] { [hintKeyTag] + id.bigEndianBytes }

    private func stampAlive(_ now: Replication.Instant) {
        var batch = WriteBatch()
        batch.put(.hints, ReplicationShell.lastAliveKey, UInt64(bitPattern: now.wallMs).bigEndianBytes)
        do {
            try kv.write(batch, sync: false)
            lastAliveStamp = now.monotonic
        } catch {
            logger.error("cannot record that this node is alive", metadata: ["error": "\(error)"])
        }
    }
}

/// Whether a hint scrub is queued and has not started yet.
package final class ScrubLatch: Sendable {
    private let waiting = Mutex(false)
    /// True when the caller should queue a scrub (none is waiting).
    package func arm() -> Bool { waiting.withLock { waiting in defer { waiting = true }; return !waiting } }
    package func release() { waiting.withLock { $0 = false } }
}

/// Hints as `Footfall_V1_StoredHint` in the `hints` column family.
package enum HintCodec {
    /// A hint goes to disk, where a cookieless visitor's today and yesterday ids must never sit
    /// side by side: that pair would link the visitor across the daily salt change, which is what
    /// the salt's destruction exists to prevent. Hinted events drop the link, so on a replica that
    /// was down a visit spanning UTC midnight counts as two.
    package static func encode(_ hint: Replication.Hint) throws -> [UInt8] {
        var payload = hint.payload
        if case .events(let events) = payload {
            payload = .events(events.map { event in
                var unlinked = event
                unlinked.previousDayVisitor = nil
                return unlinked
            })
        }
        let stored = Footfall_V1_StoredHint.with {
            $0.id = hint.id
            $0.target = hint.target
            $0.createdMs = hint.createdMs
            $0.request = ReplicaWire.request(.apply(id: hint.id, payload))
        }
        return try stored.storageBytes()
    }

    package static func decode(_ bytes: [UInt8]) throws -> Replication.Hint {
        let stored = try Footfall_V1_StoredHint(serializedBytes: bytes)
        guard EventCodec.Bounds.timestampMs.contains(stored.createdMs) else { throw StorageError("a stored hint's time is out of range") }
        guard case .apply(_, let payload) = try ReplicaWire.message(stored.request) else {
            throw StorageError("a stored hint holds no payload")
        }
        return Replication.Hint(id: stored.id, target: stored.target, createdMs: stored.createdMs, payload: payload)
    }
}
