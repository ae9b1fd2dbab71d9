import FootfallModel
import FootfallProtocols
@testable import FootfallStorage
import Testing

/// The id pages anti-entropy lists a day's differing slices with (`EventStore.eventIDs(…after:limit:…)`):
/// in id order from rows and a sealed segment alike, resumable from any cursor, and each page a
/// read of about its own length, so a busy day is read once however many pages and slices it takes.
@Suite struct RepairIDPageTests {
    let plan = RetentionPlan(days: 30)!
    var retention: (SiteID) -> RetentionPlan { { _ in plan } }
    /// Noon of day0 + 5: days up to day0 + 3 seal.
    let now = day0 + 5 * TimeUnits.dayMs + 12 * TimeUnits.hourMs
    let all = Array(0..<EventSetDigest.slicesPerDay)

    func hits(_ name: String, count: Int, on day: Day, every ms: Int64 = 7_000) -> [Event] {
        (0..<count).map { makeEvent("\(name)\($0)", visitor: UInt64($0 % 97), at: day.startMs + 60_000 + Int64($0) * ms) }
    }

    /// Every page from the first, concatenated; fails on a page longer than asked or a `more`
    /// after which nothing came.
    func listed(_ store: EventStore, day: Day, slices: [Int], limit: Int, fromMs: Int64 = 0, untilMs: Int64 = 1 << 52) throws -> (ids: [EventID], pages: Int) {
        var ids = [EventID](), pages = 0, after: EventID?
        while true {
            let page = try store.eventIDs(site: site, day: day, slices: slices, after: after, limit: limit, fromMs: fromMs, untilMs: untilMs)
            pages += 1
            #expect(page.elements.count <= limit)
            ids += page.elements
            guard page.more else { return (ids, pages) }
            #expect(!page.elements.isEmpty, "a page that says more follow holds ids")
            after = page.elements.last
        }
    }

    /// The ids of the slices as the one-slice listing (what a peer of an earlier version asks for) gives them.
    func reference(_ store: EventStore, day: Day, slices: [Int], fromMs: Int64 = 0, untilMs: Int64 = 1 << 52) throws -> [EventID] {
        try slices.flatMap { try store.eventIDs(site: site, day: day, slice: $0, fromMs: fromMs, untilMs: untilMs) }.sorted()
    }

    @Test(arguments: StoreKind.allCases)
    func pages_listTheSlicesInIDOrder_fromRowsAndFromASealedDayWithLateRows(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let sealedDay = Day(containing: day0 + 2 * TimeUnits.dayMs), openDay = Day(containing: now)
        _ = try store.apply(hits("sealed", count: 600, on: sealedDay) + hits("open", count: 500, on: openDay, every: 50), nowMs: now, retention: retention)
        #expect(try store.sealSegments(site: site, plan: plan, nowMs: now).sealed == 1)
        // Late hits of the sealed day wait beside its segment as rows until the next pass.
        let late = hits("late", count: 40, on: sealedDay, every: 1_000_000)
        #expect(try store.apply(late, nowMs: now, retention: retention).allSatisfy { $0 == .stored })
        #expect(try kv.get(.events, StorageKeys.event(site, late[0].id)) != nil, "a late hit of a sealed day is a row")

        for day in [sealedDay, openDay] {
            for slices in [all, [0, 5, 9], [15]] {
                let expected = try reference(store, day: day, slices: slices)
                #expect(!expected.isEmpty)
                for limit in [1, 7, 1_000] {
                    let (ids, pages) = try listed(store, day: day, slices: slices, limit: limit)
                    #expect(ids == expected, "\(day) slices \(slices) in pages of \(limit)")
                    #expect(pages == (expected.count + limit - 1) / limit)
                }
            }
        }
        // A window cuts the day; a cursor need not be a stored id.
        let from = openDay.startMs + 60_000 + 100 * 50, until = openDay.startMs + 60_000 + 300 * 50
        #expect(try listed(store, day: openDay, slices: all, limit: 33, fromMs: from, untilMs: until).ids
                == reference(store, day: openDay, slices: all, fromMs: from, untilMs: until))
        let everything = try reference(store, day: openDay, slices: all)
        let cursor = try #require(EventID(bytes: everything[250].bytes.prefix(15) + [0]))
        let rest = try store.eventIDs(site: site, day: openDay, slices: all, after: cursor, limit: .max, fromMs: 0, untilMs: 1 << 52)
        #expect(rest.elements == everything.filter { $0 > cursor } && !rest.more)
    }

    /// Listing a busy day in pages reads each row about once: a page starts where the last ended,
    /// not at the day's start (16 one-slice listings read the day 16 times; pages each from the
    /// start read it once per page).
    @Test func listingADayInPages_readsItsRowsAboutOnce() throws {
        let kv = CountingStore()
        let store = try EventStore(kv: kv)
        let today = Day(containing: now)
        _ = try store.apply(hits("busy", count: 4_000, on: today, every: 10), nowMs: now, retention: retention)
        let before = kv.reads
        let (ids, pages) = try listed(store, day: today, slices: all, limit: 250)
        #expect(ids.count == 4_000 && pages == 16)
        // A page's reads beyond its rows: its scan's start and end, the sealed-day manifest lookup.
        let reads = kv.reads - before
        #expect(reads <= 4_000 + 4 * pages, "\(reads) reads to list 4,000 ids in \(pages) pages")
    }
}
