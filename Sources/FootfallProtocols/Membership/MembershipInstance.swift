import FootfallModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Membership {
    /// One node's membership protocol: SWIM's probe cycle, suspicion and dissemination with
    /// Lifeguard's local health, dynamic suspicion and buddy system, plus periodic full-state
    /// sync and the ownership map.
    ///
    /// Pure: the shell passes `now` and inputs (`onStart`, `onTick`, `onMessage`, `onLeave`,
    /// `onRemove`, `onDecommission`) and carries out the returned actions; randomness comes from a seeded generator
    /// held here, and nothing iterates a dictionary in hash order, so a seeded simulation replays
    /// exactly. Call `onTick` no later than `nextDeadline`.
    ///
    /// Where this differs from the papers:
    /// - Every message's envelope is an alive claim by its sender about itself, so any traffic
    ///   refreshes (or, with a higher incarnation, refutes) what others believe; a sender that we
    ///   hold dead at its incarnation is told so, and refutes.
    /// - Full-state sync goes to a random member *including dead ones*, so two sides of a healed
    ///   partition, each holding the other dead, find each other again without an operator.
    /// - A member is one process: a restart has a larger `uid` and supersedes the old process.
    ///   A newer process at *another address* does not, while the old one is alive or suspect:
    ///   two processes would answer for one name (a copied configuration, a second machine), so
    ///   the holder keeps it and the newcomer, told while it joins, stops (`nameHeld`), as in memberlist.
    ///   Once the holder is held dead, a process at a new address takes the name over (a node
    ///   restarted on another machine), and the old one, should it come back, learns of it from
    ///   its peers and stops (`superseded`).
    public struct Instance: Sendable {
        public let settings: Settings
        public private(set) var myself: Member
        public private(set) var incarnation: UInt64 = 0
        /// Lifeguard's local health score (0 = healthy): probe interval and timeout are scaled by
        /// score + 1.
        public private(set) var localHealth: Int = 0
        /// Whether this node has merged a peer's full state (or bootstrapped a new cluster).
        public private(set) var isJoined = false
        public private(set) var isLeaving = false

        private var others: [String: Entry] = [:]
        private var ownership: [String: OwnershipRecord] { didSet { ownershipDigest = Instance.digest(of: ownership) } }
        /// `Envelope.ownershipDigest` of this node's map.
        public private(set) var ownershipDigest: UInt64 = 0
        private var nextDigestSyncAt = MonotonicTime.zero
        /// The ownership digest on the latest envelope from each member (by name).
        private var digestSeen: [String: UInt64] = [:]
        private let seeds: [String]
        /// Where other members were last seen (an earlier process of this node saved them):
        /// asked for their state while no other member is alive, so a node started without
        /// seeds, the cluster's founder, finds its cluster again after a restart. Unlike a seed,
        /// none has to have joined for this node to count as joined.
        private let lastSeenAt: [String]
        private var random: SplitMix64
        private var sequence: UInt64 = 0
        private var probe: Probe?
        private var nextProbeAt: MonotonicTime
        private var probeOrder: [String] = []
        private var probeIndex = 0
        private var relays: [UInt64: Relay] = [:]
        private var nextSyncAt: MonotonicTime
        private var nextSeedContactAt: MonotonicTime
        private var dissemination = Dissemination()

        /// What this node holds about another member.
        private struct Entry: Sendable {
            var record: MemberRecord
            var origin: String
            var suspicion: Suspicion?
        }

        private struct Suspicion: Sendable {
            var startedAt: MonotonicTime
            var minimum: Duration
            var maximum: Duration
            var expectedConfirmations: Int
            /// Origins of the suspect claims heard, the first one included.
            var origins: Set<String>

            /// Lifeguard's dynamic timeout: from the maximum, shrinking logarithmically with
            /// each independent confirmation down to the minimum.
            var deadline: MonotonicTime {
                let confirmations = max(0, origins.count - 1)
                guard expectedConfirmations > 0, confirmations > 0 else {
                    return startedAt + (expectedConfirmations == 0 ? minimum : maximum)
                }
                let fraction = log(Double(confirmations + 1)) / log(Double(expectedConfirmations + 1))
                let timeout = maximum - (maximum - minimum).scaled(by: min(1, fraction))
                return startedAt + Swift.max(minimum, timeout)
            }
        }

        private struct Probe: Sendable {
            var target: Member
            var sequence: UInt64
            var startedAt: MonotonicTime
            var timeoutAt: MonotonicTime
            var periodEndsAt: MonotonicTime
            var indirectRequests = 0
            var nacks = 0
            var askedOthers = false
        }

        /// A probe this node runs for another member's `pingRequest`.
        private struct Relay: Sendable {
            var requester: Member
            var requesterSequence: UInt64
            var nackAt: MonotonicTime
            var expiresAt: MonotonicTime
            var nackSent = false
        }

        /// - Parameters:
        ///   - knownOwnership: the ownership map persisted by an earlier process of this node.
        ///   - seeds: addresses to join through; empty bootstraps a new cluster (or a single node).
        ///   - lastSeenAt: where other members were last seen, asked again while none is alive.
        ///   - randomSeed: seeds the generator behind every random choice of this instance.
        public init(
            myself: Member, settings: Settings = Settings(), seeds: [String] = [], lastSeenAt: [String] = [],
            knownOwnership: [OwnershipRecord] = [], randomSeed: UInt64, now: MonotonicTime
        ) {
            precondition(settings.problems().isEmpty, "membership settings: \(settings.problems())")
            self.myself = myself
            self.settings = settings
            self.seeds = seeds.filter { $0 != myself.address }.sorted()
            self.lastSeenAt = Set(lastSeenAt).subtracting(seeds).subtracting([myself.address]).sorted()
            self.ownership = Dictionary(knownOwnership.map { ($0.name, $0) }, uniquingKeysWith: { a, b in a.supersedes(b) ? a : b })
            self.random = SplitMix64(seed: randomSeed)
            self.ownershipDigest = Instance.digest(of: ownership)
            self.nextProbeAt = now + settings.probeInterval
            self.nextSyncAt = now + settings.fullSyncInterval
            self.nextSeedContactAt = now
        }

        // MARK: - Views

        /// Every member this node knows, itself included, ordered by name.
        public var members: [MemberRecord] {
            var all = others.values.map(\.record)
            all.append(selfRecord)
            return all.sorted { $0.member.name < $1.member.name }
        }

        /// What is inconsistent in this instance's state, or nil. The simulation asks after every
        /// input of every node and fails the seed on an answer; the shell does not ask.
        public var invariantViolation: String? {
            if others[myself.name] != nil { return "\(myself.name) holds an entry for itself" }
            for (name, entry) in others {
                if entry.record.member.name != name { return "the entry for \(name) holds \(entry.record.member.name)" }
                if (entry.suspicion != nil) != (entry.record.status == .suspect) {
                    return "\(name) is \(entry.record.status.rawValue) with\(entry.suspicion == nil ? "out" : "") a suspicion timer"
                }
                if let suspicion = entry.suspicion, suspicion.origins.isEmpty { return "\(name)'s suspicion has no origin" }
            }
            if !(0...settings.localHealthMax).contains(localHealth) { return "local health \(localHealth) outside 0...\(settings.localHealthMax)" }
            if !(0...probeOrder.count).contains(probeIndex) { return "probe index \(probeIndex) outside an order of \(probeOrder.count)" }
            if ownershipDigest != Instance.digest(of: ownership) { return "an ownership digest that is not its records'" }
            if let (name, record) = ownership.first(where: { $0.key != $0.value.name }) { return "the ownership of \(name) holds \(record.name)" }
            return nil
        }

        public var ownershipRecords: [OwnershipRecord] {
            ownership.values.sorted { $0.name < $1.name }
        }

        /// The ring for reads: names whose ownership is normal or leaving. Its epoch is the sum of
        /// all ownership versions, which only grows as records merge, so two nodes holding the
        /// same records hold the same epoch.
        public func ring(settings ringSettings: Ring.Settings = Ring.Settings()) -> Ring {
            Membership.readRing(of: Array(ownership.values), settings: ringSettings)
        }

        /// The ring writes go to as well: the read ring with joining names added and leaving names
        /// taken away — where every range will be once the moves in progress finish. Equal to
        /// `ring()` (epoch aside) when nothing moves.
        public func pendingRing(settings ringSettings: Ring.Settings = Ring.Settings()) -> Ring {
            let epoch = Membership.epoch(of: ownership.values)
            let owners = Set(ownership.values.filter { $0.state == .normal || $0.state == .joining }.map(\.name))
            return Ring(epoch: epoch, members: owners, settings: ringSettings)
        }

        /// This node's own ownership moves on: joining → normal when its ranges are streamed in,
        /// normal → leaving when it is decommissioned, leaving → removed when they are streamed
        /// away. Anything else is refused (returns no actions).
        public mutating func onOwnStateChange(to state: OwnershipRecord.State, now: MonotonicTime) -> [Action] {
            guard let current = ownership[myself.name] else { return [] }
            let allowed: [OwnershipRecord.State: OwnershipRecord.State] = [.joining: .normal, .normal: .leaving, .leaving: .removed]
            guard allowed[current.state] == state else { return [] }
            var actions = [Action]()
            applyOwnership(OwnershipRecord(name: myself.name, state: state, version: current.nextVersion), into: &actions)
            return actions
        }

        /// Whether every live member's latest message carried this node's ownership map: they all
        /// know the moves in progress. A node streams ranges only then, or a write coordinated by a
        /// member that does not yet know it joins could miss it after its range was streamed.
        public var ownershipAgreed: Bool {
            others.values.filter { $0.record.status.isLive }.allSatisfy { digestSeen[$0.record.member.name] == ownershipDigest }
        }

        /// This node's own ownership state, once it has one.
        public var ownState: OwnershipRecord.State? { ownership[myself.name]?.state }

        /// Names of the members this node holds alive or suspect, itself included.
        public var liveNames: Set<String> {
            var names = Set(others.values.filter { $0.record.status.isLive }.map(\.record.member.name))
            if !isLeaving { names.insert(myself.name) }
            return names
        }

        /// When `onTick` must run next at the latest.
        public var nextDeadline: MonotonicTime {
            var deadline = nextSyncAt
            if let probe {
                deadline = min(deadline, probe.askedOthers ? probe.periodEndsAt : probe.timeoutAt)
            } else {
                deadline = min(deadline, nextProbeAt)
            }
            if needsSeedContact { deadline = min(deadline, nextSeedContactAt) }
            for entry in others.values {
                if let suspicion = entry.suspicion { deadline = min(deadline, suspicion.deadline) }
            }
            for relay in relays.values {
                deadline = min(deadline, relay.nackSent ? relay.expiresAt : relay.nackAt)
            }
            return deadline
        }

        // MARK: - Inputs

        /// Starts the protocol: bootstraps a new cluster when there are no seeds, otherwise asks
        /// the seeds for their state.
        public mutating func onStart(now: MonotonicTime) -> [Action] {
            var actions = [Action]()
            if seeds.isEmpty {
                isJoined = true
                claimOwnership(into: &actions)
            }
            if needsSeedContact { askForState(now: now, into: &actions) }
            return actions
        }

        public mutating func onTick(now: MonotonicTime) -> [Action] {
            guard !isLeaving else { return [] }
            var actions = [Action]()
            if needsSeedContact, now >= nextSeedContactAt { askForState(now: now, into: &actions) }
            expireSuspicions(now: now, into: &actions)
            runRelays(now: now, into: &actions)
            runProbe(now: now, into: &actions)
            if now >= nextSyncAt {
                nextSyncAt = now + settings.fullSyncInterval.scaled(by: 0.75 + 0.5 * unitRandom())
                if let peer = randomMember(where: { $0.status != .left }) {
                    send(.sync(state: fullState()), to: .member(peer.member), into: &actions)
                }
            }
            return actions
        }

        public mutating func onMessage(_ envelope: Envelope, now: MonotonicTime) -> [Action] {
            guard !isLeaving, envelope.from.name != myself.name || envelope.from.uid != myself.uid else { return [] }
            var actions = [Action]()
            acceptSenderClaim(envelope, now: now, into: &actions)
            digestSeen[envelope.from.name] = envelope.ownershipDigest
            let sender = envelope.from
            if envelope.ownershipDigest != ownershipDigest, now >= nextDigestSyncAt, !envelope.message.isStateExchange {
                nextDigestSyncAt = now + settings.probeInterval
                send(.sync(state: fullState()), to: .member(sender), into: &actions)
            }
            switch envelope.message {
            case .ping(let sequence, let gossip):
                apply(gossip, from: sender, now: now, into: &actions)
                send(.ack(sequence: sequence, gossip: piggyback()), to: .member(sender), into: &actions)
            case .ack(let sequence, let gossip):
                apply(gossip, from: sender, now: now, into: &actions)
                onAck(sequence: sequence, now: now, into: &actions)
            case .pingRequest(let sequence, let target, let gossip):
                apply(gossip, from: sender, now: now, into: &actions)
                guard target.name != myself.name else { break }
                let relaySequence = nextSequence()
                relays[relaySequence] = Relay(
                    requester: sender, requesterSequence: sequence,
                    nackAt: now + settings.indirectNackTimeout, expiresAt: now + settings.probeInterval
                )
                send(.ping(sequence: relaySequence, gossip: piggyback()), to: .member(target), into: &actions)
            case .nack(let sequence, let gossip):
                apply(gossip, from: sender, now: now, into: &actions)
                if probe?.sequence == sequence { probe?.nacks += 1 }
            case .gossip(let gossip):
                apply(gossip, from: sender, now: now, into: &actions)
            case .sync(let state):
                apply(state, from: sender, now: now, into: &actions)
                send(.syncReply(state: fullState(), senderJoined: isJoined), to: .member(sender), into: &actions)
            case .syncReply(let state, let senderJoined):
                apply(state, from: sender, now: now, into: &actions)
                if senderJoined { completeJoin(into: &actions) }
            }
            return actions
        }

        /// Graceful leave: tells live members directly and stops taking part. Ownership stays:
        /// a node that leaves this way keeps its ranges until it is decommissioned or removed.
        public mutating func onLeave(now: MonotonicTime) -> [Action] {
            guard !isLeaving else { return [] }
            incarnation += 1
            let notice = Update.liveness(MemberRecord(member: myself, incarnation: incarnation, status: .left), origin: myself.name)
            var actions = [Action]()
            let live = others.values.filter { $0.record.status.isLive }.map(\.record.member).sorted { $0.name < $1.name }
            for member in live {
                send(.gossip([notice]), to: .member(member), into: &actions)
            }
            isLeaving = true
            return actions
        }

        /// An operator's removal of a member name from the ring (a new ownership version). Refused
        /// for a name that holds no ranges, and for a member this node holds alive: its ranges
        /// would be dropped instead of streamed away (that is what decommission does).
        public mutating func onRemove(name: String, now: MonotonicTime) -> Result<[Action], ChangeRefusal> {
            guard let current = ownership[name], current.state != .removed else { return .failure(.holdsNoRanges(name)) }
            guard !liveNames.contains(name) else { return .failure(.alive(name)) }
            var actions = [Action]()
            applyOwnership(OwnershipRecord(name: name, state: .removed, version: current.nextVersion), into: &actions)
            return .success(actions)
        }

        /// An operator's decommission of this node: it turns leaving, and its ranges stream to the
        /// members that take them over (the shell's range mover). Refused while it is still
        /// joining, and when no other member holds ranges to take them; asking again while
        /// leaving (or once removed) changes nothing.
        public mutating func onDecommission(now: MonotonicTime) -> Result<[Action], ChangeRefusal> {
            guard ownership.values.contains(where: { $0.name != myself.name && $0.state == .normal }) else {
                return .failure(.onlyOwner(myself.name))
            }
            switch ownState {
            case .normal?: return .success(onOwnStateChange(to: .leaving, now: now))
            case .leaving?, .removed?: return .success([])
            case .joining?, nil: return .failure(.stillJoining(myself.name))
            }
        }

        // MARK: - Probing

        private mutating func runProbe(now: MonotonicTime, into actions: inout [Action]) {
            if var current = probe {
                if !current.askedOthers, now >= current.timeoutAt {
                    current.askedOthers = true
                    let helpers = randomMembers(count: settings.indirectProbeCount) {
                        $0.status == .alive && $0.member.name != current.target.name
                    }
                    current.indirectRequests = helpers.count
                    for helper in helpers {
                        send(.pingRequest(sequence: current.sequence, target: current.target, gossip: piggyback()),
                             to: .member(helper.member), into: &actions)
                    }
                    probe = current
                }
                if now >= current.periodEndsAt {
                    probeFailed(current, now: now, into: &actions)
                }
            }
            if probe == nil, now >= nextProbeAt {
                guard let target = nextProbeTarget() else {
                    nextProbeAt = now + probeInterval
                    return
                }
                var gossip = [Update]()
                // Lifeguard's buddy system: a suspect learns of its suspicion from the next ping
                // it gets, so it can refute before the timeout instead of after rumours reach it.
                if let entry = others[target.name], entry.record.status == .suspect {
                    gossip.append(.liveness(entry.record, origin: entry.origin))
                }
                gossip += piggyback(max: settings.piggybackMax - gossip.count)
                let sequence = nextSequence()
                probe = Probe(
                    target: target, sequence: sequence, startedAt: now,
                    timeoutAt: now + probeTimeout, periodEndsAt: now + probeInterval
                )
                send(.ping(sequence: sequence, gossip: gossip), to: .member(target), into: &actions)
            }
        }

        private mutating func onAck(sequence: UInt64, now: MonotonicTime, into actions: inout [Action]) {
            if let relay = relays.removeValue(forKey: sequence) {
                send(.ack(sequence: relay.requesterSequence, gossip: piggyback()), to: .member(relay.requester), into: &actions)
                return
            }
            guard let current = probe, current.sequence == sequence else { return }
            probe = nil
            adjustLocalHealth(by: -1)
            nextProbeAt = max(now, current.startedAt + probeInterval)
        }

        private mutating func probeFailed(_ failed: Probe, now: MonotonicTime, into actions: inout [Action]) {
            probe = nil
            nextProbeAt = now
            // Lifeguard: missing nacks mean our own messages or processing are slow, not the
            // target; without helpers to ask, the failed probe itself counts against us.
            let missingNacks = failed.indirectRequests - failed.nacks
            adjustLocalHealth(by: failed.indirectRequests > 0 ? max(0, missingNacks) : 1)
            guard let entry = others[failed.target.name], entry.record.member.uid == failed.target.uid,
                  entry.record.status.isLive
            else { return }
            // Suspects the target, or, when it is suspect already, confirms that independently.
            var suspect = entry.record
            suspect.status = .suspect
            applyLiveness(suspect, origin: myself.name, now: now, into: &actions)
        }

        /// The next member in a round-robin over a shuffled list of live members (SWIM 4.3): every
        /// member is probed once per round, in an order nobody can predict.
        private mutating func nextProbeTarget() -> Member? {
            for _ in 0..<2 {
                while probeIndex < probeOrder.count {
                    let name = probeOrder[probeIndex]
                    probeIndex += 1
                    if let entry = others[name], entry.record.status.isLive { return entry.record.member }
                }
                probeOrder = others.values.filter { $0.record.status.isLive }.map(\.record.member.name).sorted()
                probeOrder.shuffle(using: &random)
                probeIndex = 0
                if probeOrder.isEmpty { return nil }
            }
            return nil
        }

        private mutating func runRelays(now: MonotonicTime, into actions: inout [Action]) {
            for sequence in relays.keys.sorted() {
                guard var relay = relays[sequence] else { continue }
                if now >= relay.expiresAt {
                    relays[sequence] = nil
                } else if !relay.nackSent, now >= relay.nackAt {
                    relay.nackSent = true
                    relays[sequence] = relay
                    send(.nack(sequence: relay.requesterSequence, gossip: piggyback()), to: .member(relay.requester), into: &actions)
                }
            }
        }

        // MARK: - Suspicion

        private mutating func expireSuspicions(now: MonotonicTime, into actions: inout [Action]) {
            for name in others.keys.sorted() {
                guard let entry = others[name], let suspicion = entry.suspicion, now >= suspicion.deadline else { continue }
                var dead = entry.record
                dead.status = .dead
                applyLiveness(dead, origin: myself.name, now: now, into: &actions)
            }
        }

        private func newSuspicion(origin: String, now: MonotonicTime) -> Suspicion {
            let clusterSize = Double(max(1, liveNames.count))
            let minimum = settings.probeInterval.scaled(by: settings.suspicionMultiplier * max(1, log10(clusterSize)))
            return Suspicion(
                startedAt: now, minimum: minimum, maximum: minimum.scaled(by: settings.suspicionMaxMultiplier),
                expectedConfirmations: max(0, min(settings.indirectProbeCount, liveNames.count - 2)),
                origins: [origin]
            )
        }

        // MARK: - Merging what others say

        private mutating func acceptSenderClaim(_ envelope: Envelope, now: MonotonicTime, into actions: inout [Action]) {
            let claim = MemberRecord(member: envelope.from, incarnation: envelope.incarnation, status: .alive)
            if envelope.from.name == myself.name {
                // Another process of this node's name, elsewhere, writing to it. A newer one is
                // told that this one holds the name; an older one is not answered (it hears from
                // its peers that it was superseded, and answering each other would never end).
                if claim.member.address != myself.address {
                    if claim.member.uid > myself.uid {
                        send(.gossip([.liveness(selfRecord, origin: myself.name)]), to: .member(envelope.from), into: &actions)
                    }
                    return
                }
            } else if let known = others[envelope.from.name], Instance.claimsAHeldName(claim, over: known.record) {
                send(.gossip([.liveness(known.record, origin: known.origin)]), to: .member(envelope.from), into: &actions)
                return
            }
            if let known = others[envelope.from.name], !claim.supersedes(known.record) {
                // The sender does not know what we hold about it (suspect or dead at its
                // incarnation, or a newer process of its name): tell it, so it refutes or stops.
                let stale = known.record.member.uid > claim.member.uid
                let doubted = known.record.status == .suspect || known.record.status == .dead
                if known.record != claim, stale || doubted {
                    send(.gossip([.liveness(known.record, origin: known.origin)]), to: .member(envelope.from), into: &actions)
                }
                return
            }
            applyLiveness(claim, origin: envelope.from.name, now: now, into: &actions)
        }

        /// Gossip `sender` passed on. A `left` claim is taken only from the member it is about:
        /// `left` is final for a process, so one forged by any other member would evict it for good.
        /// (The leaver tells every live member itself; one that misses it finds it dead instead.)
        private mutating func apply(_ updates: [Update], from sender: Member, now: MonotonicTime, into actions: inout [Action]) {
            var ownershipUpdates = [OwnershipRecord]()
            for update in updates {
                switch update {
                case .liveness(let record, _) where record.status == .left && record.member.name != sender.name:
                    continue
                case .liveness(let record, _) where record.member.name == myself.name && sender.name == myself.name:
                    // Another process of this node's name speaking of itself: this one holds the
                    // name while it lives; it gives way only to what its peers took over.
                    continue
                case .liveness(let record, let origin): applyLiveness(record, origin: origin, now: now, into: &actions)
                case .ownership(let record): ownershipUpdates.append(record)
                }
            }
            let ownStateBefore = ownState
            applyOwnership(ownershipUpdates, into: &actions)
            // Removed by an operator while held dead, and the news came after the join completed
            // (the member that answered first had not heard of it yet): take the ranges again, as
            // a node started on a removed name does. A leaving node's removal ends its decommission.
            if isJoined, ownState == .removed, ownStateBefore == .normal || ownStateBefore == .joining {
                claimOwnership(into: &actions)
            }
        }

        private mutating func applyLiveness(_ record: MemberRecord, origin: String, now: MonotonicTime, into actions: inout [Action]) {
            let name = record.member.name
            if name == myself.name {
                applyClaimAboutMyself(record, into: &actions)
                return
            }
            guard let existing = others[name] else {
                let suspicion = record.status == .suspect ? newSuspicion(origin: origin, now: now) : nil
                others[name] = Entry(record: record, origin: origin, suspicion: suspicion)
                if record.status.isLive { insertIntoProbeOrder(name) }
                dissemination.enqueue(.liveness(record, origin: origin))
                actions.append(.memberChanged(record, previous: nil))
                return
            }
            if Instance.claimsAHeldName(record, over: existing.record) { return }
            if record.supersedes(existing.record) {
                var entry = Entry(record: record, origin: origin, suspicion: nil)
                if record.status == .suspect { entry.suspicion = newSuspicion(origin: origin, now: now) }
                others[name] = entry
                if record.status.isLive, !existing.record.status.isLive { insertIntoProbeOrder(name) }
                dissemination.enqueue(.liveness(record, origin: origin))
                if record.status != existing.record.status || record.member.uid != existing.record.member.uid {
                    actions.append(.memberChanged(record, previous: existing.record.status))
                }
            } else if record == existing.record, record.status == .suspect, var suspicion = existing.suspicion,
                      !suspicion.origins.contains(origin) {
                // An independent confirmation: shortens the timeout, and is passed on while it
                // can still shorten others' timeouts.
                suspicion.origins.insert(origin)
                others[name]?.suspicion = suspicion
                if suspicion.origins.count <= suspicion.expectedConfirmations {
                    dissemination.enqueue(.liveness(record, origin: origin))
                }
            }
        }

        /// Whether `record` is a newer process of a name that a live process holds at another address.
        private static func claimsAHeldName(_ record: MemberRecord, over holder: MemberRecord) -> Bool {
            record.member.uid > holder.member.uid && record.member.address != holder.member.address && holder.status.isLive
        }

        private mutating func applyClaimAboutMyself(_ record: MemberRecord, into actions: inout [Action]) {
            if !isJoined, record.member.uid < myself.uid, record.member.address != myself.address, record.status.isLive {
                isLeaving = true
                actions.append(.nameHeld(by: record.member))
                return
            }
            if record.member.uid > myself.uid {
                isLeaving = true
                actions.append(.superseded(by: record.member))
                return
            }
            guard record.member.uid == myself.uid, record.status != .alive, record.incarnation >= incarnation else { return }
            // Refutation: someone holds us suspect, dead or gone; a higher incarnation overrides it.
            incarnation = record.incarnation + 1
            adjustLocalHealth(by: 1)
            dissemination.enqueue(.liveness(selfRecord, origin: myself.name))
        }

        private mutating func applyOwnership(_ record: OwnershipRecord, into actions: inout [Action]) {
            applyOwnership([record], into: &actions)
        }

        /// Merges the records into a copy of the map and stores it once: the map's digest is then
        /// computed once per message, not once per record (a full message of records cost
        /// seconds of CPU that way).
        private mutating func applyOwnership(_ records: [OwnershipRecord], into actions: inout [Action]) {
            var merged = ownership
            for record in records {
                if let existing = merged[record.name], !record.supersedes(existing) { continue }
                merged[record.name] = record
                dissemination.enqueue(.ownership(record))
                actions.append(.ownershipChanged(record))
            }
            if merged != ownership { ownership = merged }
        }

        // MARK: - Joining

        /// Until a seed's full state has been merged (the reply to a join can be lost while other
        /// gossip already arrives), and whenever no other member is alive (then the addresses
        /// where members were last seen are asked too).
        private var needsSeedContact: Bool {
            guard !seeds.isEmpty || !lastSeenAt.isEmpty else { return false }
            return (!isJoined && !seeds.isEmpty) || !others.values.contains { $0.record.status == .alive }
        }

        /// Asks every seed, and every address a member was last seen at, for its full state. Only
        /// a seed's reply completes a join: a node that took the state of a member that is itself
        /// still joining could otherwise form a second cluster with it.
        private mutating func askForState(now: MonotonicTime, into actions: inout [Action]) {
            nextSeedContactAt = now + probeInterval
            let state = fullState()
            for address in seeds + lastSeenAt {
                send(.sync(state: state), to: .address(address), into: &actions)
            }
        }

        private mutating func completeJoin(into actions: inout [Action]) {
            guard !isJoined, !isLeaving else { return }
            isJoined = true
            claimOwnership(into: &actions)
        }

        /// A node that starts and finds no ownership for its name (a new node), or finds it
        /// removed (an operator started a removed node again), takes its ranges: at once when it
        /// founds the cluster, otherwise as `joining` — it receives writes for its ranges while it
        /// streams them from their current replicas, and serves reads once `onOwnStateChange(.normal)`.
        private mutating func claimOwnership(into actions: inout [Action]) {
            let existing = ownership[myself.name]
            guard existing == nil || existing?.state == .removed else { return }
            let othersOwn = ownership.values.contains { $0.name != myself.name && $0.state.ownsRanges }
            applyOwnership(OwnershipRecord(name: myself.name, state: othersOwn ? .joining : .normal, version: existing?.nextVersion ?? 1),
                           into: &actions)
        }

        // MARK: - Helpers

        private var selfRecord: MemberRecord {
            MemberRecord(member: myself, incarnation: incarnation, status: isLeaving ? .left : .alive)
        }

        private var probeInterval: Duration { settings.probeInterval * (localHealth + 1) }
        private var probeTimeout: Duration { settings.probeTimeout * (localHealth + 1) }

        private var retransmitLimit: Int {
            settings.retransmitMultiplier * Int(log10(Double(liveNames.count + 1)).rounded(.up))
        }

        private mutating func piggyback(max: Int? = nil) -> [Update] {
            let wanted = max ?? settings.piggybackMax
            guard wanted > 0 else { return [] }
            return dissemination.take(max: wanted, limit: Swift.max(1, retransmitLimit))
        }

        private func fullState() -> [Update] {
            var state = [Update.liveness(selfRecord, origin: myself.name)]
            for name in others.keys.sorted() {
                if let entry = others[name] { state.append(.liveness(entry.record, origin: entry.origin)) }
            }
            state += ownershipRecords.map { .ownership($0) }
            return state
        }

        private mutating func send(_ message: Message, to destination: Destination, into actions: inout [Action]) {
            actions.append(.send(Envelope(from: myself, incarnation: incarnation, ownershipDigest: ownershipDigest, message: message),
                                 to: destination))
        }

        private mutating func nextSequence() -> UInt64 {
            sequence += 1
            return sequence
        }

        /// FNV-1a over the records in name order: equal maps give equal digests on every node.
        static func digest(of ownership: [String: OwnershipRecord]) -> UInt64 {
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            func mix(_ bytes: some Sequence<UInt8>) {
                for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            }
            for name in ownership.keys.sorted() {
                guard let record = ownership[name] else { continue }
                mix(name.utf8)
                mix([0, UInt8(record.state.rank)])
                mix(withUnsafeBytes(of: record.version.bigEndian, Array.init))
            }
            return hash
        }

        private mutating func adjustLocalHealth(by delta: Int) {
            localHealth = min(settings.localHealthMax, max(0, localHealth + delta))
        }

        private mutating func insertIntoProbeOrder(_ name: String) {
            let position = Int.random(in: probeIndex...probeOrder.count, using: &random)
            probeOrder.insert(name, at: position)
        }

        private mutating func unitRandom() -> Double { Double.random(in: 0..<1, using: &random) }

        private mutating func randomMember(where include: (MemberRecord) -> Bool) -> MemberRecord? {
            randomMembers(count: 1, where: include).first
        }

        /// Up to `count` distinct members chosen uniformly among those `include` accepts.
        private mutating func randomMembers(count: Int, where include: (MemberRecord) -> Bool) -> [MemberRecord] {
            var candidates = others.values.map(\.record).filter(include).sorted { $0.member.name < $1.member.name }
            candidates.shuffle(using: &random)
            return Array(candidates.prefix(count))
        }
    }
}
