import FootfallModel

/// Three days of random traffic of one site, for the tests that answer the same events two ways
/// (the columnar engine against the row reference, built rollups against one build of all events):
/// visits clustered around the two midnights so many span one, gaps of 0–49 minutes so some visits
/// split, engagement pings, identify calls, clicks and custom events whose names and targets may
/// hold a colon, and every dimension the reports group by.
public enum RandomTraffic {
    public static func events(site: SiteID, from firstDay: Day, seed: UInt64, visitors: Int) -> [Event] {
        var random = SplitMix64(seed: seed)
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        let end = firstDay.advanced(by: 3).startMs
        var events = [Event]()
        for visitorIndex in 0..<visitors {
            let visitor = VisitorID(rawValue: random.next())
            var ts = firstDay.startMs + Int64(random.next() % UInt64(3 * TimeUnits.dayMs))
            if visitorIndex % 3 == 0 { ts = firstDay.advanced(by: 1).startMs - Int64(random.next() % 3_600_000) }
            for n in 0..<Int(1 + random.next() % 12) {
                ts += Int64(random.next() % 50) * 60_000
                guard ts < end else { break }
                let kind = pick([Event.Kind.pageview, .pageview, .pageview, .click, .custom, .engagement, .identify])
                var event = Event(id: EventID.forHit(site: site, hitID: "h\(seed)-\(visitorIndex)-\(n)", timestampMs: ts),
                                  site: site, visitor: visitor, timestampMs: ts, kind: kind, path: pick(["/", "/a", "/b", "/c:d"]))
                event.referrerHost = pick(["", "t.co", "google.com"])
                event.utm = UTM(source: pick(["", "news"]), campaign: pick(["", "spring"]))
                event.geo = Geo(country: pick(["DE", "FR", ""]), region: pick(["", "BE"]))
                event.device = Device(browser: pick(["Chrome", "Firefox"]), os: pick(["Linux", "iOS"]), deviceClass: pick([.desktop, .mobile, .tablet]))
                if kind == .click { event.name = pick(["click", "a:b"]); event.target = pick(["x", "b:x", ""]) }
                if kind == .custom { event.name = pick(["signup", "buy"]) }
                events.append(event)
            }
        }
        return events
    }
}
