import FootfallModel
import FootfallSystem

extension Node {
    /// Deletes what this node holds of every deleted site, then confirms it (see `SiteDataGone`).
    /// Runs in every maintenance pass on every node: data a late hint or repair brings back is
    /// deleted again at the next pass.
    func deleteDataOfDeletedSites() throws {
        let confirmedHere = configuration.nodeName
        for (site, deletionHLC) in try system.deletedSites() {
            if try store.holdsData(of: site) {
                try store.deleteSite(site)
                logger.info("deleted the data of a deleted site", metadata: ["site": "\(site)"])
            }
            if try !system.nodesWithoutData(of: site, deletionHLC: deletionHLC).contains(confirmedHere) {
                try system.confirmSiteDataGone(site, deletionHLC: deletionHLC)
            }
        }
    }

    /// Registers a site. A domain deleted before is refused until every ring member confirmed it
    /// holds none of its former data.
    public func createSite(_ id: SiteID, ownerID: String, timeZone: String, retention: RetentionPlan) async throws -> Site {
        let waiting = try system.membersHoldingData(of: id, members: await replication.ring.members)
        guard waiting.isEmpty else {
            throw FootfallError.conflict("this domain's former data is still being deleted on \(waiting.joined(separator: ", ")); "
                                    + "try again after their next maintenance pass (within an hour)")
        }
        return try system.createSite(id, ownerID: ownerID, timeZone: timeZone, retention: retention, nowMs: clock.nowMs)
    }
}
