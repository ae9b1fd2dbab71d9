/// Cluster membership: SWIM (Das, Gupta and Motivala 2002) with the Lifeguard extensions
/// (Dadgar, Phillips and Currey 2018), as a pure state machine. See `Membership.Instance`.
///
/// Besides liveness the instance gossips *ownership*: which member names hold ranges of the ring.
/// The two never mix: a dead member keeps its ranges, and only join, decommission or an
/// operator's removal change ownership, each a versioned record that every node merges alike.
public enum Membership {}

extension Membership {
    /// One process of a node. `name` is persistent (it places the node's virtual nodes on the
    /// ring); `uid` is new for every process start and grows across restarts of the same name, so
    /// a restarted process is a new member that supersedes the old one.
    public struct Member: Hashable, Sendable, CustomStringConvertible {
        public var name: String
        public var uid: UInt64
        /// Where the node's internal gRPC service listens ("host:port").
        public var address: String

        public init(name: String, uid: UInt64, address: String) {
            self.name = name
            self.uid = uid
            self.address = address
        }

        public var description: String { "\(name)#\(uid)" }
    }

    public enum Status: String, Hashable, Sendable, CaseIterable {
        case alive, suspect, dead, left

        /// Order of precedence between claims of the same incarnation.
        var rank: Int {
            switch self {
            case .alive: 0
            case .suspect: 1
            case .dead: 2
            case .left: 3
            }
        }

        /// Whether the member is probed and counted in the live set.
        public var isLive: Bool { self == .alive || self == .suspect }
    }

    /// What one node believes about one member.
    public struct MemberRecord: Hashable, Sendable, CustomStringConvertible {
        public var member: Member
        public var incarnation: UInt64
        public var status: Status

        public init(member: Member, incarnation: UInt64, status: Status) {
            self.member = member
            self.incarnation = incarnation
            self.status = status
        }

        /// SWIM's override rules, with a process generation in front: a newer `uid` always wins;
        /// within one process `left` is final, and otherwise the higher incarnation wins, with
        /// dead over suspect over alive at equal incarnations. An alive claim with a higher
        /// incarnation overrides dead, which is how a member wrongly declared dead during a
        /// partition refutes it once the partition heals.
        public func supersedes(_ other: MemberRecord) -> Bool {
            if member.uid != other.member.uid { return member.uid > other.member.uid }
            if other.status == .left { return false }
            if status == .left { return true }
            return (incarnation, status.rank) > (other.incarnation, other.status.rank)
        }

        public var description: String { "\(member) \(status)@\(incarnation)" }
    }

    /// The ring that serves reads for an ownership map: the names that are normal or leaving, at
    /// the epoch that is the sum of all versions (which only grows as records merge).
    public static func readRing(of records: [OwnershipRecord], settings: Ring.Settings = Ring.Settings()) -> Ring {
        Ring(epoch: epoch(of: records), members: Set(records.filter { $0.state.ownsRanges }.map(\.name)), settings: settings)
    }

    /// The sum of all versions, saturating at `UInt64.max`: versions come from peers and from a
    /// file on disk, and no sum of them may trap. (The wire bounds each version, so a real
    /// cluster never comes near saturation; a saturated epoch still compares as the newest.)
    public static func epoch(of records: some Sequence<OwnershipRecord>) -> UInt64 {
        records.reduce(UInt64(0)) { sum, record in
            let (total, overflow) = sum.addingReportingOverflow(record.version)
            return overflow ? .max : total
        }
    }

    /// Whether a member name holds ranges of the ring. Versions grow with every change of one
    /// name's state; at equal versions the later stage of a lifecycle wins, so every node merges
    /// concurrent changes to the same result.
    public struct OwnershipRecord: Hashable, Sendable, CustomStringConvertible {
        public enum State: String, Hashable, Sendable, CaseIterable {
            /// Receives writes for its ranges but serves no reads for them yet.
            case joining
            /// Owns its ranges.
            case normal
            /// Decommissioning: still owns its ranges while it streams them away.
            case leaving
            /// Holds nothing; kept so that older records about the name cannot resurrect it.
            case removed

            var rank: Int {
                switch self {
                case .joining: 0
                case .normal: 1
                case .leaving: 2
                case .removed: 3
                }
            }

            /// Whether the name's virtual nodes are on the ring that serves reads.
            public var ownsRanges: Bool { self == .normal || self == .leaving }
        }

        public var name: String
        public var state: State
        public var version: UInt64

        public init(name: String, state: State, version: UInt64) {
            self.name = name
            self.state = state
            self.version = version
        }

        public func supersedes(_ other: OwnershipRecord) -> Bool {
            (version, state.rank) > (other.version, other.state.rank)
        }

        /// The version of the name's next change; saturates rather than traps on a version
        /// that came from a peer or a file.
        public var nextVersion: UInt64 { version == .max ? .max : version + 1 }

        public var description: String { "\(name) \(state)@v\(version)" }
    }

    /// One piece of gossip.
    public enum Update: Hashable, Sendable {
        /// A liveness claim, with the name of the member that originated it (for suspicion,
        /// Lifeguard counts independent confirmations by origin).
        case liveness(MemberRecord, origin: String)
        case ownership(OwnershipRecord)
    }

    /// Messages between instances. Every message travels in an `Envelope` naming its sender.
    public enum Message: Hashable, Sendable {
        /// A direct probe; answered by `ack` with the same sequence.
        case ping(sequence: UInt64, gossip: [Update])
        case ack(sequence: UInt64, gossip: [Update])
        /// "Probe `target` for me": the receiver pings it and forwards the ack, or answers
        /// `nack` when it has not heard back in time (Lifeguard).
        case pingRequest(sequence: UInt64, target: Member, gossip: [Update])
        case nack(sequence: UInt64, gossip: [Update])
        /// Gossip with nothing to answer (a leave notice, a correction to a stale sender).
        case gossip([Update])
        /// Full state exchange (push-pull): joins, periodic anti-entropy, healing after a
        /// partition. `sync` is answered by `syncReply`, which says whether its sender has joined
        /// the cluster itself: only such a reply completes a join, so two nodes that both missed
        /// their seeds' answers cannot form a second cluster between them.
        case sync(state: [Update])
        case syncReply(state: [Update], senderJoined: Bool)
    }

    public struct Envelope: Hashable, Sendable {
        /// The sender, with its current incarnation: a sender is authoritative about itself, so
        /// the envelope doubles as an alive claim (the shell checks `from.name` against the peer's
        /// certificate before it gets here).
        public var from: Member
        public var incarnation: UInt64
        /// A digest of the sender's ownership map: a receiver holding a different map asks the
        /// sender for its full state, so a lost ownership update is repaired by the next message
        /// rather than by the next periodic sync.
        public var ownershipDigest: UInt64
        public var message: Message

        public init(from: Member, incarnation: UInt64, ownershipDigest: UInt64 = 0, message: Message) {
            self.from = from
            self.incarnation = incarnation
            self.ownershipDigest = ownershipDigest
            self.message = message
        }
    }

    public enum Destination: Hashable, Sendable {
        case member(Member)
        /// A seed address whose member is not known yet (joining).
        case address(String)
    }

    /// What the shell carries out, in order.
    public enum Action: Hashable, Sendable {
        case send(Envelope, to: Destination)
        /// A member's status changed in this node's view (for logs, metrics and the replication
        /// layer, which hints writes for members that are not alive).
        case memberChanged(MemberRecord, previous: Status?)
        /// The ownership map changed: persist it and rebuild the ring.
        case ownershipChanged(OwnershipRecord)
        /// A newer process with this node's name exists: this process is stale and must stop.
        case superseded(by: Member)
        /// An older process with this node's name is alive at another address: two processes
        /// claim one name, the older keeps it, and this one must stop.
        case nameHeld(by: Member)

        /// Whether the action changes what the replication layer follows (which members are live,
        /// where they are, and the ring): the shell hands replication a new view after a batch
        /// holding one, instead of replication asking every so often.
        public var changesView: Bool {
            switch self {
            case .memberChanged, .ownershipChanged: true
            case .send, .superseded, .nameHeld: false
            }
        }
    }

    /// Why an operator's change to the ring (`onRemove`, `onDecommission`) is refused.
    public enum ChangeRefusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// The name holds no ranges: never a member, or removed already.
        case holdsNoRanges(String)
        /// The member is alive: removing it would drop its ranges instead of streaming them.
        case alive(String)
        /// This node holds the only ranges: nothing could take them over.
        case onlyOwner(String)
        /// This node has not finished joining.
        case stillJoining(String)

        public var description: String {
            switch self {
            case .holdsNoRanges(let name): "\(name) holds no ranges of the ring"
            case .alive(let name): "\(name) is alive; stop it first (decommission streams its data away)"
            case .onlyOwner(let name): "\(name) is the only node holding ranges; nothing could take them over"
            case .stillJoining(let name): "\(name) has not finished joining; decommission it once it has"
            }
        }
    }
}

extension Membership.Message {
    /// Full-state messages repair ownership themselves; they never trigger a digest sync.
    var isStateExchange: Bool {
        switch self {
        case .sync, .syncReply: true
        default: false
        }
    }
}
