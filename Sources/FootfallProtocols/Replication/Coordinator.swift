import FootfallModel

extension Replication {
    /// The coordinator side of replication on one node, as a pure state machine: client writes and
    /// erasures in, messages to replicas and durable hints out. No clock reads, no I/O; the shell
    /// (or the simulated cluster) delivers messages, persists hints and answers clients. Its
    /// timers run on the monotonic clock it is handed; hint ages on the wall clock (`Instant`).
    ///
    /// - A write is split by replica set (the ring's preference list of each event's site) and
    ///   sent to every live replica; it succeeds once each set reached the consistency level.
    ///   While ranges move (a node joining or leaving), the replicas that will hold a site once
    ///   the move is done get every write too, and each must acknowledge on top of the level
    ///   (Cassandra's pending replicas), so no acknowledged write is missing after the switch.
    ///   **A hint never counts toward it**: a replica that is down, fails or times out gets a
    ///   durable hint, replayed when membership says it is alive again.
    /// - A hint older than the hint window is dropped and its target recorded as having a gap, as
    ///   is a target whose hint would overflow the store; the target is told to repair before it
    ///   serves reads. Erasure hints never expire.
    /// - An erasure goes to every replica of the site (hinted where one is down) and first purges
    ///   the visitor's events from the hint store. It succeeds, like a quorum write, once a quorum
    ///   of replicas confirmed it; the client sends one that did not again.
    public struct Coordinator: Sendable {
        public let myself: String
        public let settings: Settings
        public private(set) var ring: Ring
        /// Where ranges will be once the moves in progress finish (`Membership.Instance.pendingRing`).
        public private(set) var pendingRing: Ring
        /// Members membership holds alive; the coordinator itself always is.
        public private(set) var alive: Set<String>
        public private(set) var hints: [UInt64: Hint] = [:]
        public private(set) var gaps: Set<String>
        public private(set) var hintedEvents = 0
        /// Client writes waiting on their replicas (at most `settings.writesInFlightMax`).
        public var writesInFlight: Int { writes.count }

        private var nextID: UInt64
        // Bounds: every entry below is decided by its deadline (`writeTimeoutMs`) at the latest, and
        // `writes` holds at most `settings.writesInFlightMax`; `groups` one per replica set a write
        // reaches, `outstanding` one per live replica of a group or an erasure round plus one
        // replay or gap notice per target (`busyUntil`). Erasures are owners' requests, each a round.
        private var writes: [UInt64: ClientWrite] = [:]
        private var groups: [UInt64: WriteGroup] = [:]
        private var erasures: [UInt64: ErasureRound] = [:]
        /// What each outstanding message id stands for.
        private var outstanding: [UInt64: Outstanding] = [:]
        private var hintQueues: [String: [UInt64]] = [:]
        /// Targets with a replay or gap notice in flight, and when it times out.
        private var busyUntil: [String: MonotonicTime] = [:]
        /// What the shell failed to persist, to be written again from what is held now.
        private var unpersisted = Unpersisted()

        private struct Unpersisted: Sendable {
            var hints = Set<UInt64>()
            var gaps = Set<String>()
            var scrub = false
            var retryAt: MonotonicTime?
        }

        private enum Outstanding: Hashable {
            case write(group: UInt64, replica: String, deadline: MonotonicTime)
            case erasure(round: UInt64, replica: String)
            /// Hints sent together, in queue order.
            case replay(hints: [UInt64], target: String)
            case gapNotice(target: String)
        }

        private struct ClientWrite {
            var undecidedGroups: Int
            var failure: WriteOutcome?
            var applied = Applied()
        }

        private struct WriteGroup {
            var request: UInt64
            var replicas: [String]
            var payload: Payload
            var required: Int
            var acknowledged: Set<String> = []
            var answered: Set<String> = []
            var applied: Applied?
            var deadline: MonotonicTime
            var decided = false
        }

        private struct ErasureRound {
            var order: ErasureOrder
            var waiting: Set<String>
            var confirmed: Set<String> = []
            /// Confirmations the round needs to succeed, as a quorum write's acknowledgements.
            var required: Int
            var deadline: MonotonicTime
        }

        /// - Parameters:
        ///   - hints, gaps: what the previous process persisted.
        ///   - idSeed: random, so message ids of a restarted process do not meet the old ones.
        public init(myself: String, settings: Settings, ring: Ring, alive: Set<String>,
                    hints: [Hint] = [], gaps: Set<String> = [], idSeed: UInt64) {
            self.myself = myself
            self.settings = settings
            self.ring = ring
            pendingRing = ring
            self.alive = alive.union([myself])
            self.gaps = gaps
            // Ids are read back from disk, and wrap as `makeID` does: one at UInt64.max
            // must not stop the node at every start.
            nextID = max(idSeed >> 2, (hints.map(\.id).max() ?? 0) &+ 1)
            for hint in hints.sorted(by: { $0.id < $1.id }) { remember(hint) }
        }

        // MARK: Inputs

        /// A client's write of `events` (any sites) under `request`, answered by `.writeFinished`.
        public mutating func onWrite(request: UInt64, events: [Event], consistency: Consistency, now: Instant) -> Effects {
            guard writes.count < settings.writesInFlightMax else { return .complete(.writeFinished(request: request, .overloaded, applied: Applied())) }
            var bySet = [[String]: [Event]]()
            var required = [[String]: Int]()
            // A batch's events nearly always share a site: each site is placed once, not per
            // event (two preference lists and two hashes of the set were 10 % of ingest).
            var placed = [SiteID: [String]]()
            for event in events {
                if let set = placed[event.site] {
                    bySet[set, default: []].append(event)
                    continue
                }
                let (replicas, pending) = writeReplicas(for: event.site)
                let set = replicas + pending
                placed[event.site] = set
                bySet[set, default: []].append(event)
                // Sites sharing a set may split it differently between owners and pending
                // owners (a range move): the set waits for the most any of them needs.
                let needed = min(set.count, consistency.required(replicas: replicas.count) + pending.count)
                required[set] = max(required[set] ?? 0, needed)
            }
            let sets = bySet.keys.sorted { $0.joined(separator: ",") < $1.joined(separator: ",") }
            for replicas in sets {
                let required = required[replicas]!
                let live = replicas.filter(alive.contains).count
                if live < required || replicas.isEmpty {
                    return .complete(.writeFinished(request: request, .unavailable(alive: live, required: max(required, 1)), applied: Applied()))
                }
            }
            guard !sets.isEmpty else { return .complete(.writeFinished(request: request, .succeeded, applied: Applied())) }
            writes[request] = ClientWrite(undecidedGroups: sets.count)
            return sets.reduce(into: Effects()) { effects, replicas in
                effects += startGroup(request: request, replicas: replicas, payload: .events(bySet[replicas]!), required: required[replicas]!, now: now)
            }
        }

        /// An owner's CRM edit, written like events (consistency level, hints), answered by
        /// `.writeFinished`.
        public mutating func onEdit(request: UInt64, _ edit: VisitorEdit, consistency: Consistency, now: Instant) -> Effects {
            guard writes.count < settings.writesInFlightMax else { return .complete(.writeFinished(request: request, .overloaded, applied: Applied())) }
            let (replicas, pending) = writeReplicas(for: edit.site)
            let required = min(replicas.count + pending.count, consistency.required(replicas: replicas.count) + pending.count)
            let live = (replicas + pending).filter(alive.contains).count
            guard !replicas.isEmpty, live >= required else {
                return .complete(.writeFinished(request: request, .unavailable(alive: live, required: max(required, 1)), applied: Applied()))
            }
            writes[request] = ClientWrite(undecidedGroups: 1)
            return startGroup(request: request, replicas: replicas + pending, payload: .visitorEdit(edit), required: required, now: now)
        }

        /// Sends a payload to every live replica of a set and hints the others.
        private mutating func startGroup(request: UInt64, replicas: [String], payload: Payload, required: Int, now: Instant) -> Effects {
            let groupID = makeID()
            var group = WriteGroup(request: request, replicas: replicas, payload: payload, required: required,
                                   deadline: now.monotonic(afterMs: settings.writeTimeoutMs))
            var effects = Effects()
            for replica in replicas {
                if alive.contains(replica) {
                    let id = makeID()
                    outstanding[id] = .write(group: groupID, replica: replica, deadline: group.deadline)
                    effects += .send(to: replica, .apply(id: id, payload))
                } else {
                    group.answered.insert(replica)
                    effects += hint(payload, for: replica, createdMs: now.wallMs)
                }
            }
            groups[groupID] = group
            return effects
        }

        /// Erases a visitor on every replica of the site, answered by `.erasureFinished`.
        public mutating func onErase(_ order: ErasureOrder, now: Instant) -> Effects {
            var effects = purgeHints(of: order)
            let (current, pending) = writeReplicas(for: order.site)
            let replicas = current + pending
            let roundID = makeID()
            let required = min(replicas.count, Consistency.quorum.required(replicas: current.count) + pending.count)
            var round = ErasureRound(order: order, waiting: Set(replicas), required: max(required, 1),
                                     deadline: now.monotonic(afterMs: settings.writeTimeoutMs))
            for replica in replicas {
                if alive.contains(replica) {
                    let id = makeID()
                    outstanding[id] = .erasure(round: roundID, replica: replica)
                    effects += .send(to: replica, .apply(id: id, .erasure(order)))
                } else {
                    round.waiting.remove(replica)
                    effects += hint(.erasure(order), for: replica, createdMs: now.wallMs)
                }
            }
            erasures[roundID] = round
            if round.waiting.isEmpty { effects += finishErasure(roundID) }
            return effects
        }

        /// A message from another node (acknowledgements; requests to apply go to the store).
        public mutating func onMessage(_ message: Message, from sender: String, now: Instant) -> Effects {
            guard case .ack(let id, let atMs, let applied) = message, let what = outstanding[id] else { return .none }
            switch what {
            case .write(let groupID, let replica, _):
                guard replica == sender else { return .none }
                outstanding[id] = nil
                return answer(group: groupID, replica: replica, acknowledged: applied, now: now)
            case .erasure(let roundID, let replica):
                guard replica == sender else { return .none }
                outstanding[id] = nil
                guard var round = erasures[roundID] else { return .none }
                round.waiting.remove(replica)
                round.confirmed.insert(replica)
                erasures[roundID] = round
                let confirmed = Effects.complete(.erasureConfirmed(requestID: round.order.requestID, replica: replica, atMs: atMs))
                return confirmed + (round.waiting.isEmpty ? finishErasure(roundID) : .none)
            case .replay(let hintIDs, let target):
                guard target == sender else { return .none }
                outstanding[id] = nil
                busyUntil[target] = nil
                var effects = Effects()
                var forgotten = false
                for hintID in hintIDs {
                    guard let hint = forget(hintID) else { continue }
                    forgotten = true
                    effects += .persist(.deleteHint(id: hintID))
                    if case .erasure(let order) = hint.payload {
                        effects += .complete(.erasureConfirmed(requestID: order.requestID, replica: target, atMs: atMs))
                    }
                }
                // Deleted hints stay in the files until scrubbed, and one may have held a visitor
                // erased since through another node: scrub once the target caught up, and at once
                // when it refused events an erasure fences.
                if forgotten, applied.fenced > 0 || hintQueues[target] == nil { effects += .persist(.scrubHints) }
                return effects + sendDue(now: now)
            case .gapNotice(let target):
                guard target == sender else { return .none }
                outstanding[id] = nil
                busyUntil[target] = nil
                gaps.remove(target)
                return .persist(.clearGap(target: target)) + sendDue(now: now)
            }
        }

        /// The shell could not deliver message `id` (connection refused, RPC error).
        public mutating func onSendFailed(_ id: UInt64, now: Instant) -> Effects {
            guard let what = outstanding.removeValue(forKey: id) else { return .none }
            switch what {
            case .write(let groupID, let replica, _):
                return answer(group: groupID, replica: replica, acknowledged: nil, now: now)
            case .erasure(let roundID, let replica):
                guard var round = erasures[roundID] else { return .none }
                round.waiting.remove(replica)
                erasures[roundID] = round
                var effects = hint(.erasure(round.order), for: replica, createdMs: now.wallMs)
                if round.waiting.isEmpty { effects += finishErasure(roundID) }
                return effects
            case .replay(_, let target), .gapNotice(let target):
                busyUntil[target] = now.monotonic(afterMs: settings.hintRetryMs)
                return .none
            }
        }

        /// The shell could not write `persist` (a full or failing disk). What is held in memory
        /// is unchanged: hints still replay and gaps are still announced, but a crash now would
        /// lose them, so they are written again at the first tick after `hintRetryMs` — as they
        /// stand then: a hint delivered meanwhile is written as deleted.
        public mutating func onPersistFailed(_ persist: [Effects.Persist], now: Instant) {
            for failed in persist {
                switch failed {
                case .hint(let hint): unpersisted.hints.insert(hint.id)
                case .deleteHint(let id): unpersisted.hints.insert(id)
                case .recordGap(let target), .clearGap(let target): unpersisted.gaps.insert(target)
                case .scrubHints: unpersisted.scrub = true
                }
            }
            unpersisted.retryAt = unpersisted.retryAt ?? now.monotonic(afterMs: settings.hintRetryMs)
        }

        /// A new view from membership: the rings (for reads, and with moves finished) and which
        /// members are alive.
        public mutating func onMembershipChange(ring: Ring, pendingRing: Ring? = nil, alive: Set<String>, now: Instant) -> Effects {
            self.ring = ring
            self.pendingRing = pendingRing ?? ring
            self.alive = alive.union([myself])
            return retargetHintsOfRemovedMembers() + sendDue(now: now)
        }

        /// Timeouts, hint expiry and replays due `now`.
        public mutating func onTick(now: Instant) -> Effects {
            var effects = Effects()
            // Only what is due is sorted (for a deterministic order): the shell ticks at every
            // deadline and at least every 100 ms, and sorting every request in flight or every
            // hint each time cost a node 4 % of its CPU while a peer was down and hints piled up
            // (session 27's soak).
            let timedOut = outstanding.compactMap { id, what -> (id: UInt64, group: UInt64, replica: String)? in
                guard case .write(let groupID, let replica, let deadline) = what, deadline <= now.monotonic else { return nil }
                return (id, groupID, replica)
            }
            for write in timedOut.sorted(by: { $0.id < $1.id }) {
                outstanding[write.id] = nil
                effects += answer(group: write.group, replica: write.replica, acknowledged: nil, now: now)
            }
            for (roundID, round) in erasures.sorted(by: { $0.key < $1.key }) where round.deadline <= now.monotonic {
                for replica in round.waiting.sorted() { effects += hint(.erasure(round.order), for: replica, createdMs: now.wallMs) }
                outstanding = outstanding.filter {
                    if case .erasure(let r, _) = $0.value { return r != roundID }
                    return true
                }
                effects += finishErasure(roundID)
            }
            for (target, until) in busyUntil where until <= now.monotonic {
                busyUntil[target] = nil
                outstanding = outstanding.filter {
                    switch $0.value {
                    case .replay(_, let t), .gapNotice(let t): return t != target
                    default: return true
                    }
                }
            }
            effects += expireHints(now: now)
            return persistAgain(now: now) + effects + sendDue(now: now)
        }

        /// When, on the monotonic clock, the coordinator next needs a tick (a deadline, a retry, or
        /// the oldest hint's expiry, as far off as it is on the wall clock `now`), if ever.
        public func nextDeadline(now: Instant) -> MonotonicTime? {
            var deadlines = Array(busyUntil.values)
            deadlines += groups.values.map(\.deadline)
            deadlines += erasures.values.map(\.deadline)
            if let retry = unpersisted.retryAt { deadlines.append(retry) }
            if let oldest = hints.values.lazy.filter({ $0.payload.eventCount > 0 }).map(\.createdMs).min() {
                deadlines.append(now.monotonic(atWallMs: expiryMs(createdMs: oldest)))
            }
            return deadlines.min()
        }

        /// When a hint of events created at `createdMs` expires; saturating, as the time is read
        /// back from disk.
        private func expiryMs(createdMs: Int64) -> Int64 {
            let (expiry, overflow) = createdMs.addingReportingOverflow(settings.hintWindowMs)
            return overflow ? (createdMs < 0 ? .min : .max) : expiry
        }

        /// What is inconsistent in this coordinator's state, or nil. A walk of every table, so the
        /// shell does not ask; the simulation asks after every input of every node and fails the
        /// seed on an answer, and the unit tests after theirs.
        public var invariantViolation: String? {
            let held = hints.values.reduce(0) { $0 + $1.payload.eventCount }
            if held != hintedEvents { return "hinted events counted \(hintedEvents), the hints hold \(held)" }
            var queued = 0
            for (target, queue) in hintQueues {
                if queue.isEmpty { return "an empty hint queue for \(target)" }
                if let stray = queue.first(where: { hints[$0]?.target != target }) { return "hint \(stray) is in \(target)'s queue but not its hint" }
                queued += queue.count
            }
            if queued != hints.count { return "\(hints.count) hints, \(queued) queued" }
            if writes.count > settings.writesInFlightMax { return "\(writes.count) writes in flight, past \(settings.writesInFlightMax)" }
            if let (request, _) = writes.first(where: { $0.value.undecidedGroups <= 0 }) { return "write \(request) waits with no group undecided" }
            if let group = groups.values.first(where: { !$0.decided && writes[$0.request] == nil }) {
                return "an undecided group of write \(group.request), which is finished"
            }
            for (id, what) in outstanding {
                switch what {
                case .write(let group, _, _) where groups[group] == nil: return "message \(id) waits for write group \(group), which is gone"
                case .erasure(let round, _) where erasures[round] == nil: return "message \(id) waits for erasure round \(round), which is gone"
                case .replay(_, let target) where busyUntil[target] == nil, .gapNotice(let target) where busyUntil[target] == nil:
                    return "message \(id) to \(target), which is not marked busy"
                default: continue
                }
            }
            return nil
        }

        /// A site's replicas, and the members that will also hold it once moves finish.
        public func writeReplicas(for site: SiteID) -> (replicas: [String], pending: [String]) {
            let replicas = ring.preferenceList(for: site, replicationFactor: settings.replicationFactor)
            let pending = pendingRing.preferenceList(for: site, replicationFactor: settings.replicationFactor).filter { !replicas.contains($0) }
            return (replicas, pending)
        }

        // MARK: Internals

        private mutating func makeID() -> UInt64 {
            nextID &+= 1
            return nextID
        }

        /// Records a replica's answer: its acknowledgement (with what it applied), or nil for a
        /// failure or timeout, which hints it.
        private mutating func answer(group groupID: UInt64, replica: String, acknowledged applied: Applied?, now: Instant) -> Effects {
            guard var group = groups[groupID] else { return .none }
            var effects = Effects()
            group.answered.insert(replica)
            if let applied {
                group.acknowledged.insert(replica)
                group.applied = group.applied ?? applied
            } else {
                effects += hint(group.payload, for: replica, createdMs: now.wallMs)
            }
            if !group.decided {
                if group.acknowledged.count >= group.required {
                    group.decided = true
                    effects += decide(request: group.request, failure: nil, applied: group.applied ?? Applied())
                } else if group.replicas.count - group.answered.count + group.acknowledged.count < group.required {
                    group.decided = true
                    effects += decide(request: group.request,
                                      failure: .failed(acknowledged: group.acknowledged.count, required: group.required),
                                      applied: group.applied ?? Applied())
                }
            }
            groups[groupID] = group.answered.count == group.replicas.count ? nil : group
            return effects
        }

        private mutating func decide(request: UInt64, failure: WriteOutcome?, applied: Applied) -> Effects {
            guard var write = writes[request] else { return .none }
            write.undecidedGroups -= 1
            write.failure = write.failure ?? failure
            write.applied.add(applied)
            if write.undecidedGroups == 0 {
                writes[request] = nil
                return .complete(.writeFinished(request: request, write.failure ?? .succeeded, applied: write.applied))
            }
            writes[request] = write
            return .none
        }

        private mutating func finishErasure(_ roundID: UInt64) -> Effects {
            guard let round = erasures.removeValue(forKey: roundID) else { return .none }
            let hinted = hints.values.filter { $0.payload == .erasure(round.order) }.map(\.target)
            let outcome: WriteOutcome = round.confirmed.count >= round.required
                ? .succeeded : .failed(acknowledged: round.confirmed.count, required: round.required)
            return .complete(.erasureFinished(requestID: round.order.requestID, outcome, pending: Set(hinted).sorted()))
        }

        /// What failed to persist, written again as held now (`onPersistFailed`).
        private mutating func persistAgain(now: Instant) -> Effects {
            guard let retryAt = unpersisted.retryAt, retryAt <= now.monotonic else { return .none }
            var effects = Effects()
            effects.persist = unpersisted.hints.sorted().map { id in hints[id].map { .hint($0) } ?? .deleteHint(id: id) }
                + unpersisted.gaps.sorted().map { gaps.contains($0) ? .recordGap(target: $0) : .clearGap(target: $0) }
                + (unpersisted.scrub ? [.scrubHints] : [])
            unpersisted = Unpersisted()
            return effects
        }

        /// Stores a hint for `target` (aged from `createdMs`), or records a gap when the store is full.
        private mutating func hint(_ payload: Payload, for target: String, createdMs: Int64) -> Effects {
            if payload.eventCount > 0, hintedEvents + payload.eventCount > settings.hintCapacityEvents {
                return recordGap(target)
            }
            let hint = Hint(id: makeID(), target: target, createdMs: createdMs, payload: payload)
            remember(hint)
            return .persist(.hint(hint))
        }

        private mutating func recordGap(_ target: String) -> Effects {
            gaps.insert(target).inserted ? .persist(.recordGap(target: target)) : .none
        }

        private mutating func remember(_ hint: Hint) {
            if let old = hints[hint.id] { hintedEvents -= old.payload.eventCount } else { hintQueues[hint.target, default: []].append(hint.id) }
            hints[hint.id] = hint
            hintedEvents += hint.payload.eventCount
        }

        private mutating func forget(_ id: UInt64) -> Hint? {
            guard let hint = hints.removeValue(forKey: id) else { return nil }
            hintedEvents -= hint.payload.eventCount
            hintQueues[hint.target]?.removeAll { $0 == id }
            if hintQueues[hint.target]?.isEmpty == true { hintQueues[hint.target] = nil }
            return hint
        }

        /// Removes the erased visitor's events and CRM edits from every hint, so no copy waits anywhere.
        private mutating func purgeHints(of order: ErasureOrder) -> Effects {
            var effects = Effects()
            for id in hints.keys.sorted() {
                guard var hint = hints[id] else { continue }
                if case .visitorEdit(let edit) = hint.payload, order.covers(edit) {
                    _ = forget(id)
                    effects += .persist(.deleteHint(id: id))
                    continue
                }
                guard case .events(let events) = hint.payload, events.contains(where: order.covers) else { continue }
                let kept = events.filter { !order.covers($0) }
                if kept.isEmpty {
                    _ = forget(id)
                    effects += .persist(.deleteHint(id: id))
                } else {
                    hint.payload = .events(kept)
                    remember(hint)
                    effects += .persist(.hint(hint))
                }
            }
            return effects.isEmpty ? .none : effects + .persist(.scrubHints)
        }

        private mutating func expireHints(now: Instant) -> Effects {
            var effects = Effects()
            let expired = hints.filter { $0.value.payload.eventCount > 0 && expiryMs(createdMs: $0.value.createdMs) <= now.wallMs }
            for (id, hint) in expired.sorted(by: { $0.key < $1.key }) {
                _ = forget(id)
                effects += .persist(.deleteHint(id: id))
                effects += recordGap(hint.target)
            }
            return effects.isEmpty ? .none : effects + .persist(.scrubHints)
        }

        /// Hints for a member no longer on the ring go to the current replicas of their sites.
        private mutating func retargetHintsOfRemovedMembers() -> Effects {
            let members = Set(ring.members).union(pendingRing.members)
            var effects = Effects()
            for (id, old) in hints.filter({ !members.contains($0.value.target) }).sorted(by: { $0.key < $1.key }) {
                _ = forget(id)
                effects += .persist(.deleteHint(id: id))
                // Every holder, current and pending, of the payload's sites gets its own hint
                // (applying twice is harmless).
                switch old.payload {
                case .events(let events):
                    var bySet = [[String]: [Event]]()
                    for event in events {
                        let (replicas, pending) = writeReplicas(for: event.site)
                        bySet[replicas + pending, default: []].append(event)
                    }
                    for (replicas, events) in bySet.sorted(by: { $0.key.joined() < $1.key.joined() }) {
                        for replica in replicas { effects += hint(.events(events), for: replica, createdMs: old.createdMs) }
                    }
                case .erasure(let order):
                    let (replicas, pending) = writeReplicas(for: order.site)
                    for replica in replicas + pending { effects += hint(old.payload, for: replica, createdMs: old.createdMs) }
                case .visitorEdit(let edit):
                    let (replicas, pending) = writeReplicas(for: edit.site)
                    for replica in replicas + pending { effects += hint(old.payload, for: replica, createdMs: old.createdMs) }
                }
            }
            return effects
        }

        /// Offers the oldest hints (or a gap notice) to every live target with nothing in flight.
        private mutating func sendDue(now: Instant) -> Effects {
            var effects = Effects()
            // The coordinator itself is a target too: a local write that failed is hinted like any other.
            let targets = Set(hintQueues.keys).union(gaps).filter { alive.contains($0) && busyUntil[$0] == nil }
            for target in targets.sorted() {
                let id = makeID()
                busyUntil[target] = now.monotonic(afterMs: settings.writeTimeoutMs)
                if let (hintIDs, payload) = nextReplay(to: target) {
                    outstanding[id] = .replay(hints: hintIDs, target: target)
                    effects += .send(to: target, .apply(id: id, payload))
                } else {
                    outstanding[id] = .gapNotice(target: target)
                    effects += .send(to: target, .repairNeeded(id: id))
                }
            }
            return effects
        }

        /// The target's oldest hint, with the hints of events right after it when it is one of
        /// events, up to `replayEventsMax` events: one replay, in queue order (an erasure or a CRM
        /// edit goes alone, so nothing is applied ahead of it that was hinted after it).
        private func nextReplay(to target: String) -> (hints: [UInt64], payload: Payload)? {
            guard let queue = hintQueues[target], let first = queue.first, let oldest = hints[first] else { return nil }
            guard case .events(var events) = oldest.payload else { return ([first], oldest.payload) }
            var taken = [first]
            for id in queue.dropFirst() {
                guard case .events(let more)? = hints[id]?.payload, events.count + more.count <= settings.replayEventsMax else { break }
                events += more
                taken.append(id)
            }
            return (taken, .events(events))
        }
    }
}
