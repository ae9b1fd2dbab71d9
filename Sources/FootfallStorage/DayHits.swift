import FootfallModel

/// How many hits each visitor has stored on a UTC day of a site, for the site-days ingest touched
/// lately. A visitor's hits a day are capped (`EventStore.visitorDayHitsMax`), and a cookieless
/// hit after midnight asks whether its visitor had hits just before; most hits come from a
/// visitor with no other hit that day, and knowing so from memory spares a store seek per visitor.
///
/// A day's counts are read from its segment and the visitor index the first time it is asked
/// about (a scan of the day's hits), grow with every stored hit and shrink by what an erasure
/// deletes; days retention deletes are dropped. So a count is what is stored, and a busy day is
/// not scanned again after each erasure. Used under the store's write lock, which serialises
/// every write to the index.
struct DayHits {
    struct SiteDay: Hashable {
        let site: SiteID
        let day: Day
    }

    /// Visitors held in all days together; past it the least recently used days are dropped.
    static let visitorsMax = 1_000_000
    /// A day with more visitors than this is not held (it would crowd out every other day).
    static let dayVisitorsMax = 250_000
    /// Site-days held at most, however few visitors they have.
    static let daysMax = 10_000

    /// A day's counts as read from the store, or nil for a day with too many visitors to hold
    /// (each question about it is answered from the store).
    private var counts: [SiteDay: [VisitorID: Int]?] = [:]
    private var lastUse: [SiteDay: UInt64] = [:]
    private var uses: UInt64 = 0
    private var held = 0

    /// The visitor's stored hits on the site-day, or nil when the day is not held. `load` reads
    /// the day's counts from the store when the day is not held yet (nil: too many visitors).
    mutating func hits(of visitor: VisitorID, on siteDay: SiteDay, load: () throws -> [VisitorID: Int]?) rethrows -> Int? {
        uses += 1
        if let entry = counts[siteDay] {
            lastUse[siteDay] = uses
            return entry.map { $0[visitor, default: 0] }
        }
        let loaded = try load()
        counts[siteDay] = .some(loaded)
        lastUse[siteDay] = uses
        held += loaded?.count ?? 0
        evictWhileOverLimit(keeping: siteDay)
        return loaded.map { $0[visitor, default: 0] }
    }

    /// Counts a hit of the visitor on the site-day (after it was written).
    mutating func add(_ visitor: VisitorID, on siteDay: SiteDay) {
        guard case .some(.some(var day)) = counts[siteDay] else { return }
        counts[siteDay] = .some(nil)  // not a second copy of the counts while they grow
        if day[visitor] == nil { held += 1 }
        day[visitor, default: 0] += 1
        if day.count > DayHits.dayVisitorsMax {
            held -= day.count
        } else {
            counts[siteDay] = .some(day)
        }
        evictWhileOverLimit(keeping: siteDay)
    }

    /// Counts out `count` hits of the visitor that were deleted from the site-day.
    mutating func remove(_ count: Int, of visitor: VisitorID, on siteDay: SiteDay) {
        guard count > 0, case .some(.some(var day)) = counts[siteDay], let hits = day[visitor] else { return }
        counts[siteDay] = .some(nil)
        if hits > count {
            day[visitor] = hits - count
        } else {
            day[visitor] = nil
            held -= 1
        }
        counts[siteDay] = .some(day)
    }

    /// Drops the site's days before `day`, or all of them when nil.
    mutating func forget(site: SiteID, before day: Day? = nil) {
        for siteDay in counts.keys where siteDay.site == site && day.map({ siteDay.day < $0 }) ?? true { drop(siteDay) }
    }

    private mutating func drop(_ siteDay: SiteDay) {
        if case .some(.some(let day)) = counts.removeValue(forKey: siteDay) { held -= day.count }
        lastUse[siteDay] = nil
    }

    private mutating func evictWhileOverLimit(keeping current: SiteDay) {
        while held > DayHits.visitorsMax || counts.count > DayHits.daysMax,
              let oldest = lastUse.filter({ $0.key != current }).min(by: { $0.value < $1.value })?.key {
            drop(oldest)
        }
    }
}
