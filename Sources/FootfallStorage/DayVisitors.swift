import FootfallModel

/// Which visitors have visitor-index entries on a UTC day of a site, for the site-days ingest
/// touched lately. Visit derivation looks up each new hit's visitor around the hit; most hits come
/// from a visitor with no other hit that day, and knowing so spares a store seek per visitor (the
/// largest single cost of applying a batch).
///
/// A day's set is read from the day's visit records (a `VisitorDay` per visitor) the first time it
/// is asked about and grows with every stored hit. Deletions (erasure, retention) leave their
/// visitors in it: a set that holds too many visitors only costs a read that finds nothing, one
/// that misses a visitor would lose a visit. Used under the store's write lock, which serialises
/// every write to the visit records.
struct DayVisitors {
    struct SiteDay: Hashable {
        let site: SiteID
        let day: Day
    }

    /// Visitors held in all sets together; past it the least recently used days are dropped.
    static let visitorsMax = 1_000_000
    /// A day with more visitors than this is not held (it would crowd out every other day).
    static let dayVisitorsMax = 250_000
    /// Site-days held at most, however few visitors they have.
    static let daysMax = 10_000

    /// A day's visitors as read from the index, or nil for a day with too many to hold (each
    /// lookup on it seeks the store).
    private var sets: [SiteDay: Set<VisitorID>?] = [:]
    private var lastUse: [SiteDay: UInt64] = [:]
    private var uses: UInt64 = 0
    private var held = 0

    /// Whether the visitor may have entries on the site-day: false only when it surely has none.
    /// `load` reads the day's visitors from the index when the day is not held (nil: too many).
    mutating func mayHave(_ visitor: VisitorID, on siteDay: SiteDay, load: () throws -> Set<VisitorID>?) rethrows -> Bool {
        uses += 1
        if let entry = sets[siteDay] {
            lastUse[siteDay] = uses
            return entry?.contains(visitor) ?? true
        }
        let visitors = try load()
        sets[siteDay] = .some(visitors)
        lastUse[siteDay] = uses
        held += visitors?.count ?? 0
        evictWhileOverLimit(keeping: siteDay)
        return visitors?.contains(visitor) ?? true
    }

    /// Records that the visitor now has entries on the site-day (after they were written).
    mutating func insert(_ visitor: VisitorID, on siteDay: SiteDay) {
        guard case .some(.some(var visitors)) = sets[siteDay] else { return }
        sets[siteDay] = .some(nil)  // not a second copy of the set while it grows
        if visitors.insert(visitor).inserted { held += 1 }
        if visitors.count > DayVisitors.dayVisitorsMax {
            held -= visitors.count
        } else {
            sets[siteDay] = .some(visitors)
        }
        evictWhileOverLimit(keeping: siteDay)
    }

    mutating func forget(site: SiteID) {
        for siteDay in sets.keys where siteDay.site == site { drop(siteDay) }
    }

    private mutating func drop(_ siteDay: SiteDay) {
        if case .some(.some(let visitors)) = sets.removeValue(forKey: siteDay) { held -= visitors.count }
        lastUse[siteDay] = nil
    }

    private mutating func evictWhileOverLimit(keeping current: SiteDay) {
        while held > DayVisitors.visitorsMax || sets.count > DayVisitors.daysMax,
              let oldest = lastUse.filter({ $0.key != current }).min(by: { $0.value < $1.value })?.key {
            drop(oldest)
        }
    }
}
