import FootfallModel
import FootfallWire
import Foundation

/// One node's word that it holds no data of a deleted site: `site-gone:<site>/<node>`, replicated
/// like every system record. A site is deleted by a tombstone on its record (an idle account's
/// deletion writes one per site); every node, in its maintenance, deletes what it holds of each
/// tombstoned site and then says so here. The domain can be registered again only once every
/// ring member has, so a new owner can never read the old owner's visitors from a stale replica.
public struct SiteDataGone: Codable, Hashable, Sendable {
    package static let keyPrefix = "site-gone:"

    public var site: SiteID
    public var node: String
    /// The clock of the tombstone this confirms: a later deletion of a later registration needs
    /// confirmations of its own.
    public var deletionHLC: UInt64

    package var key: String { SiteDataGone.key(site: site, node: node) }
    package static func key(site: SiteID, node: String) -> String { keyPrefix + site.rawValue + "/" + node }
}

extension SystemStore {
    /// Sites whose record is a tombstone, with the tombstone's clock.
    public func deletedSites() throws -> [(site: SiteID, deletionHLC: UInt64)] {
        var out = [(site: SiteID, deletionHLC: UInt64)]()
        try kv.scan(.system, prefix: Array("site:".utf8)) { key, value in
            guard let record = try? Footfall_V1_SystemRecord(serializedBytes: value), record.deleted,
                  let site = SiteID(String(decoding: key.dropFirst(5), as: UTF8.self)) else { return true }
            out.append((site, record.hlc))
            return true
        }
        return out
    }

    /// Records that this node holds no data of `site` since its deletion at `deletionHLC`.
    public func confirmSiteDataGone(_ site: SiteID, deletionHLC: UInt64) throws {
        let confirmation = SiteDataGone(site: site, node: nodeName, deletionHLC: deletionHLC)
        try put(confirmation.key, confirmation)
    }

    /// The nodes that confirmed holding no data of `site` since the deletion at `deletionHLC`.
    public func nodesWithoutData(of site: SiteID, deletionHLC: UInt64) throws -> Set<String> {
        let confirmations = try allKeyed(prefix: SiteDataGone.keyPrefix + site.rawValue + "/", as: SiteDataGone.self)
        return Set(confirmations.map(\.1).filter { $0.site == site && $0.deletionHLC >= deletionHLC }.map(\.node))
    }

    /// Which of `members` have not yet confirmed that they hold none of a deleted site's data;
    /// empty when the site was never deleted (or lives again).
    public func membersHoldingData(of site: SiteID, members: [String]) throws -> [String] {
        guard let record = try storedRecord("site:" + site.rawValue), record.deleted else { return [] }
        return Set(members).subtracting(try nodesWithoutData(of: site, deletionHLC: record.hlc)).sorted()
    }
}
