import FootfallCrypto
import FootfallModel
import Synchronization

/// Consistent-hash placement of sites on nodes.
///
/// A site's position is `Ring.position(of:)`: the first 8 bytes, big-endian, of
/// SHA-256("footfall.ring.v1" · 0x00 · site id). This function is part of the storage format —
/// changing it would move every site — so it never changes; a new scheme would get a new name.
/// Each member owns `virtualNodes` positions derived the same way from its persistent name, so a
/// restart (new incarnation, same name) moves nothing, and every node that knows the same members
/// computes the same ring. A site's preference list is the first `replicationFactor` distinct
/// members clockwise from its position.
///
/// Ownership is not liveness: a member stays on the ring while membership says it is dead; only
/// join, decommission or an operator's removal change the layout, each as a new `epoch`.
public struct Ring: Hashable, Sendable {
    public struct Settings: Hashable, Sendable {
        /// Positions per member. 256 keeps the busiest of 50 members within 1.3× the mean load
        /// (see RingTests) at a few hundred kilobytes of ring per node.
        public var virtualNodes: Int = 256
        public init(virtualNodes: Int = 256) { self.virtualNodes = virtualNodes }
    }

    public let epoch: UInt64
    public let members: [String]
    public let settings: Settings
    /// (position, index into `members`), sorted by position.
    private let tokens: [(position: UInt64, member: Int)]

    public init(epoch: UInt64, members: Set<String>, settings: Settings = Settings()) {
        self.epoch = epoch
        self.settings = settings
        self.members = members.sorted()
        var tokens = [(position: UInt64, member: Int)]()
        tokens.reserveCapacity(self.members.count * settings.virtualNodes)
        for (index, name) in self.members.enumerated() {
            for replica in 0..<settings.virtualNodes {
                tokens.append((Ring.position(ofVirtualNode: replica, of: name), index))
            }
        }
        // Ties (vanishingly rare) are broken by member index, which follows the sorted names, so
        // every node sorts alike.
        self.tokens = tokens.sorted { ($0.position, $0.member) < ($1.position, $1.member) }
    }

    /// The stable 64-bit ring position of a site (see the type's documentation).
    public static func position(of site: SiteID) -> UInt64 {
        if let known = sitePositions.withLock({ $0[site] }) { return known }
        let position = hash64("footfall.ring.v1\u{0}\(site.rawValue)")
        sitePositions.withLock { positions in
            // Bounded: forgetting costs one hash per site again, never a different answer.
            if positions.count >= sitePositionsMax { positions.removeAll(keepingCapacity: true) }
            positions[site] = position
        }
        return position
    }

    /// Sites' positions once hashed: every write places its batch's sites, and a SHA-256 per site
    /// and batch was 3 % of a node's ingest CPU (a bench batch names some forty sites).
    private static let sitePositions = Mutex([SiteID: UInt64]())
    static let sitePositionsMax = 100_000

    static func position(ofVirtualNode replica: Int, of member: String) -> UInt64 {
        hash64("footfall.vnode.v1\u{0}\(member)\u{0}\(replica)")
    }

    private static func hash64(_ text: String) -> UInt64 {
        UInt64(bigEndianBytes: Crypto.sha256(Array(text.utf8)).prefix(8))
    }

    /// The members that hold a site, primary first: the first `replicationFactor` distinct members
    /// clockwise from the site's position (fewer when the ring has fewer members).
    public func preferenceList(for site: SiteID, replicationFactor: Int) -> [String] {
        guard !tokens.isEmpty, replicationFactor > 0 else { return [] }
        let wanted = min(replicationFactor, members.count)
        let target = Ring.position(of: site)
        var low = 0, high = tokens.count
        while low < high {
            let mid = (low + high) / 2
            if tokens[mid].position < target { low = mid + 1 } else { high = mid }
        }
        var chosen = [Int]()
        var seen = Set<Int>()
        var index = low
        while chosen.count < wanted {
            let member = tokens[index % tokens.count].member
            if seen.insert(member).inserted { chosen.append(member) }
            index += 1
        }
        return chosen.map { members[$0] }
    }

    /// Each member's share of the hash space as primary, in [0, 1]: a site whose position falls
    /// between two tokens belongs to the later one, so each token owns the arc before it.
    public func primaryShares() -> [String: Double] {
        guard let last = tokens.last else { return [:] }
        var shares = [String: Double]()
        var previous = last.position
        for token in tokens {
            let arc = token.position &- previous
            shares[members[token.member], default: 0] += Double(arc) / 18_446_744_073_709_551_616.0
            previous = token.position
        }
        return shares
    }

    /// The same ring with `member` added, as the next epoch.
    public func joining(_ member: String) -> Ring {
        Ring(epoch: epoch + 1, members: Set(members).union([member]), settings: settings)
    }

    /// The same ring without `member`, as the next epoch.
    public func leaving(_ member: String) -> Ring {
        Ring(epoch: epoch + 1, members: Set(members).subtracting([member]), settings: settings)
    }

    public static func == (a: Ring, b: Ring) -> Bool {
        a.epoch == b.epoch && a.members == b.members && a.settings == b.settings
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(epoch)
        hasher.combine(members)
    }
}
