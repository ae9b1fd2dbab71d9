import FootfallModel
import FootfallProtocols
import FootfallWire

/// Translation between the membership instance's messages and their protobuf form. Decoding
/// validates: a malformed message from a peer is rejected whole with a reason, never half-applied.
package enum GossipWire {
    package struct Malformed: Error, CustomStringConvertible {
        package var description: String
    }

    // MARK: Encoding

    package static func encode(_ envelope: Membership.Envelope) -> Footfall_V1_GossipEnvelope {
        var wire = Footfall_V1_GossipEnvelope()
        wire.from = encode(envelope.from)
        wire.incarnation = envelope.incarnation
        wire.ownershipDigest = envelope.ownershipDigest
        switch envelope.message {
        case .ping(let sequence, let gossip):
            wire.ping = .with { $0.sequence = sequence; $0.gossip = gossip.map(encode) }
        case .ack(let sequence, let gossip):
            wire.ack = .with { $0.sequence = sequence; $0.gossip = gossip.map(encode) }
        case .pingRequest(let sequence, let target, let gossip):
            wire.pingRequest = .with { $0.sequence = sequence; $0.target = encode(target); $0.gossip = gossip.map(encode) }
        case .nack(let sequence, let gossip):
            wire.nack = .with { $0.sequence = sequence; $0.gossip = gossip.map(encode) }
        case .gossip(let gossip):
            wire.gossip = .with { $0.gossip = gossip.map(encode) }
        case .sync(let state):
            wire.sync = .with { $0.state = state.map(encode) }
        case .syncReply(let state, let senderJoined):
            wire.syncReply = .with { $0.state = state.map(encode); $0.senderJoined = senderJoined }
        }
        return wire
    }

    package static func encode(_ member: Membership.Member) -> Footfall_V1_Member {
        .with { $0.name = member.name; $0.uid = member.uid; $0.address = member.address }
    }

    package static func encode(_ record: Membership.MemberRecord) -> Footfall_V1_MemberRecord {
        .with { $0.member = encode(record.member); $0.incarnation = record.incarnation; $0.status = encode(record.status) }
    }

    package static func encode(_ status: Membership.Status) -> Footfall_V1_MemberStatus {
        switch status {
        case .alive: .alive
        case .suspect: .suspect
        case .dead: .dead
        case .left: .left
        }
    }

    package static func encode(_ state: Membership.OwnershipRecord.State) -> Footfall_V1_OwnershipState {
        switch state {
        case .joining: .joining
        case .normal: .normal
        case .leaving: .leaving
        case .removed: .removed
        }
    }

    package static func encode(_ record: Membership.OwnershipRecord) -> Footfall_V1_OwnershipRecord {
        .with { $0.name = record.name; $0.state = encode(record.state); $0.version = record.version }
    }

    package static func encode(_ update: Membership.Update) -> Footfall_V1_GossipUpdate {
        switch update {
        case .liveness(let record, let origin):
            .with { $0.liveness = .with { $0.record = encode(record); $0.origin = origin } }
        case .ownership(let record):
            .with { $0.ownership = encode(record) }
        }
    }

    // MARK: Decoding

    /// Updates in one message at most: a full state of a thousand-member cluster fits easily.
    package static let updatesMax = 4096
    /// Incarnations above this are not plausible (one refutation a millisecond for a hundred
    /// million years stays below it), and leave room for the +1 of a refutation without overflow.
    /// A member's own alive claim may be one higher: it refutes the highest suspect or dead claim
    /// anyone may make about it that way, and the refutation must still travel.
    package static let counterMax: UInt64 = 1 << 52
    package static let refutationMax = counterMax + 1
    /// Ownership versions above this are not plausible: a version grows by one per join,
    /// decommission or removal of its name. Summed over a full message of records
    /// (`updatesMax`) they stay below 2^44, far from overflowing a ring epoch.
    package static let versionMax: UInt64 = 1 << 32
    /// A member's internal address (host:port) in bytes at most.
    package static let addressBytesMax = 300

    /// - Parameter uidMax: the largest plausible member uid, the receiver's clock plus the skew the
    ///   cluster allows: uids are process start times in ms, and a newer uid outranks every claim
    ///   about an older process of the same name, so a uid from the future would evict the real
    ///   process for good.
    package static func decode(_ wire: Footfall_V1_GossipEnvelope, uidMax: UInt64) throws -> Membership.Envelope {
        guard wire.hasFrom else { throw Malformed(description: "envelope without a sender") }
        guard wire.incarnation <= refutationMax else { throw Malformed(description: "implausible incarnation") }
        let from = try decode(wire.from, uidMax: uidMax)
        let message: Membership.Message
        switch wire.message {
        case .ping(let ping)?: message = .ping(sequence: ping.sequence, gossip: try decode(ping.gossip, uidMax: uidMax))
        case .ack(let ack)?: message = .ack(sequence: ack.sequence, gossip: try decode(ack.gossip, uidMax: uidMax))
        case .pingRequest(let request)?:
            guard request.hasTarget else { throw Malformed(description: "ping request without a target") }
            message = .pingRequest(sequence: request.sequence, target: try decode(request.target, uidMax: uidMax),
                                   gossip: try decode(request.gossip, uidMax: uidMax))
        case .nack(let nack)?: message = .nack(sequence: nack.sequence, gossip: try decode(nack.gossip, uidMax: uidMax))
        case .gossip(let gossip)?: message = .gossip(try decode(gossip.gossip, uidMax: uidMax))
        case .sync(let state)?: message = .sync(state: try decode(state.state, uidMax: uidMax))
        case .syncReply(let state)?:
            message = .syncReply(state: try decode(state.state, uidMax: uidMax), senderJoined: state.senderJoined)
        case nil: throw Malformed(description: "envelope without a message")
        }
        return Membership.Envelope(from: from, incarnation: wire.incarnation, ownershipDigest: wire.ownershipDigest, message: message)
    }

    package static func decode(_ wire: Footfall_V1_Member, uidMax: UInt64) throws -> Membership.Member {
        guard ClusterIdentity.isValidName(wire.name) else { throw Malformed(description: "invalid member name") }
        guard !wire.address.isEmpty, wire.address.utf8.count <= addressBytesMax else { throw Malformed(description: "invalid member address") }
        guard wire.uid <= uidMax else {
            throw Malformed(description: "member \(wire.name) has a uid from the future (\(wire.uid) > \(uidMax) ms)")
        }
        return Membership.Member(name: wire.name, uid: wire.uid, address: wire.address)
    }

    package static func decode(_ wire: Footfall_V1_MemberRecord, uidMax: UInt64) throws -> Membership.MemberRecord {
        guard wire.hasMember else { throw Malformed(description: "member record without a member") }
        let status = try decode(wire.status)
        guard wire.incarnation <= (status == .alive ? refutationMax : counterMax) else { throw Malformed(description: "implausible incarnation") }
        return Membership.MemberRecord(member: try decode(wire.member, uidMax: uidMax), incarnation: wire.incarnation, status: status)
    }

    package static func decode(_ wire: Footfall_V1_MemberStatus) throws -> Membership.Status {
        switch wire {
        case .alive: .alive
        case .suspect: .suspect
        case .dead: .dead
        case .left: .left
        case .unspecified, .UNRECOGNIZED: throw Malformed(description: "unknown member status")
        }
    }

    package static func decode(_ wire: Footfall_V1_OwnershipState) throws -> Membership.OwnershipRecord.State {
        switch wire {
        case .joining: .joining
        case .normal: .normal
        case .leaving: .leaving
        case .removed: .removed
        case .unspecified, .UNRECOGNIZED: throw Malformed(description: "unknown ownership state")
        }
    }

    package static func decode(_ wire: [Footfall_V1_GossipUpdate], uidMax: UInt64) throws -> [Membership.Update] {
        guard wire.count <= updatesMax else { throw Malformed(description: "too many updates (\(wire.count))") }
        return try wire.map { update in
            switch update.update {
            case .liveness(let liveness)?:
                guard liveness.hasRecord, ClusterIdentity.isValidName(liveness.origin) else {
                    throw Malformed(description: "liveness update without a record or a valid origin")
                }
                return .liveness(try decode(liveness.record, uidMax: uidMax), origin: liveness.origin)
            case .ownership(let record)?:
                guard ClusterIdentity.isValidName(record.name) else { throw Malformed(description: "invalid name in ownership record") }
                guard record.version <= versionMax else { throw Malformed(description: "implausible ownership version \(record.version)") }
                return .ownership(Membership.OwnershipRecord(name: record.name, state: try decode(record.state), version: record.version))
            case nil:
                throw Malformed(description: "empty gossip update")
            }
        }
    }
}
