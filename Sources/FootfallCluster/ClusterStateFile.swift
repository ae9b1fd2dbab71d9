import FootfallModel
import FootfallProtocols
import Foundation

/// What a node remembers about the cluster across restarts, in `cluster.json` in its data folder:
/// the last process uid it used (so the next is larger, even if the wall clock went back), the
/// ownership map (so a whole-cluster restart keeps the ring) and where the other members were last
/// seen (so a node started without `--join`, the one that founded the cluster, finds it again
/// after a restart: its peers do not seek out a member that left). Written atomically.
package struct ClusterStateFile: Sendable {
    package struct Contents: Codable, Equatable {
        var lastUID: UInt64 = 0
        var ownership: [Ownership] = []
        /// Internal addresses of the other members; absent in files of earlier versions.
        var peers: [String]?
    }

    package struct Ownership: Codable, Equatable {
        var name: String
        var state: String
        var version: UInt64
    }

    package let path: String

    package init(dataDirectory: String) {
        path = (dataDirectory as NSString).appendingPathComponent("cluster.json")
    }

    /// Names in the ownership map at most: far more than a cluster has ever held.
    package static let ownershipNamesMax = 65_536

    package func read() throws -> Contents {
        guard FileManager.default.fileExists(atPath: path) else { return Contents() }
        do {
            let contents = try JSONDecoder().decode(Contents.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            if let problem = ClusterStateFile.problem(in: contents) { throw ClusterSetupError(problem) }
            return contents
        } catch {
            throw FootfallError.internal("the cluster state file \(path) is damaged (\(error)); move it away to rejoin as a new node")
        }
    }

    /// What makes saved contents implausible, or nil. The file holds what peers gossiped (the
    /// ownership map), so it gets the checks gossip gets: a bad map would otherwise be read back
    /// at every start.
    package static func problem(in contents: Contents) -> String? {
        guard contents.lastUID <= GossipWire.counterMax else { return "the last uid \(contents.lastUID) lies beyond any clock" }
        guard contents.ownership.count <= ownershipNamesMax else { return "\(contents.ownership.count) names in the ownership map" }
        guard Set(contents.ownership.map(\.name)).count == contents.ownership.count else { return "a name appears twice in the ownership map" }
        for record in contents.ownership {
            guard ClusterIdentity.isValidName(record.name) else { return "the ownership map holds an invalid name" }
            guard Membership.OwnershipRecord.State(rawValue: record.state) != nil else {
                return "\(record.name) has an unknown ownership state \(record.state.prefix(20).debugDescription)"
            }
            guard record.version <= GossipWire.versionMax else { return "\(record.name) has an implausible ownership version \(record.version)" }
        }
        let peers = contents.peers ?? []
        guard peers.count <= ownershipNamesMax else { return "\(peers.count) peer addresses" }
        // The same bound gossip puts on a member's address.
        guard peers.allSatisfy({ !$0.isEmpty && $0.utf8.count <= GossipWire.addressBytesMax }) else { return "a peer address is empty or too long" }
        return nil
    }

    package func write(_ contents: Contents) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(contents).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// A uid larger than any earlier process of this node used: the wall clock in milliseconds,
    /// or one more than the last uid when the clock is behind it. Recorded before use.
    package func nextUID(wallClockMs: Int64) throws -> UInt64 {
        var contents = try read()
        contents.lastUID = max(contents.lastUID + 1, UInt64(max(0, wallClockMs)))
        try write(contents)
        return contents.lastUID
    }

    package func ownership() throws -> [Membership.OwnershipRecord] {
        try read().ownership.compactMap { record in
            Membership.OwnershipRecord.State(rawValue: record.state).map {
                Membership.OwnershipRecord(name: record.name, state: $0, version: record.version)
            }
        }
    }

    package func peers() throws -> [String] { try read().peers ?? [] }

    package func savePeers(_ addresses: [String]) throws {
        var contents = try read()
        contents.peers = addresses
        try write(contents)
    }

    package func saveOwnership(_ records: [Membership.OwnershipRecord]) throws {
        var contents = try read()
        contents.ownership = records.map { Ownership(name: $0.name, state: $0.state.rawValue, version: $0.version) }
        try write(contents)
    }
}
