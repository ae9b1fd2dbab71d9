import Foundation
import FootfallModel
import FootfallStorage

/// The two implementations of the storage contract. Every contract test runs against both.
enum StoreKind: String, CaseIterable, Sendable {
    case inMemory, rocksDB

    func make() throws -> (any KeyValueStore, cleanup: () -> Void) {
        switch self {
        case .inMemory:
            return (InMemoryStore(), {})
        case .rocksDB:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("footfall-test-\(UUID().uuidString)").path
            var settings = RocksDBStore.Settings()
            settings.compression = .none
            let store = try RocksDBStore(path: directory, settings: settings)
            return (store, { store.close(); try? FileManager.default.removeItem(atPath: directory) })
        }
    }
}


let site = SiteID("example.com")!
let otherSite = SiteID("example.org")!
let day0: Int64 = 1_780_000_000_000 - 1_780_000_000_000 % TimeUnits.dayMs // a UTC midnight in 2026

func makeEvent(_ hitID: String, site: SiteID = site, visitor: UInt64 = 1, at ms: Int64, kind: Event.Kind = .pageview,
               path: String = "/", country: String = "DE") -> Event {
    var event = Event(id: EventID.forHit(site: site, hitID: hitID, timestampMs: ms), site: site,
                      visitor: VisitorID(rawValue: visitor), timestampMs: ms, kind: kind, path: path)
    event.geo = Geo(country: country)
    event.device = Device(browser: "Firefox", browserMajor: 120, os: "Linux", deviceClass: .desktop)
    return event
}
