import FootfallHTTP
import FootfallIngest
import FootfallModel
import FootfallNode
import FootfallRuntime
import FootfallStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization

/// A real node (RocksDB with compression off, so tests can search its files) on a temporary
/// folder, with a manual clock and every log line captured.
final class TestNode: Sendable {
    let directory: String
    let clock: ManualClock
    let node: Node
    let logs = LogCollector()

    /// 2026-06-15 12:00 UTC.
    static let noon: Int64 = 1_781_524_800_000

    init(nowMs: Int64 = TestNode.noon, geo: any GeoLocator = FixedGeo(), trustedProxies: [IPAddress] = [], name: String = "node-1") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("footfall-node-\(UUID().uuidString)").path
        clock = ManualClock(nowMs: nowMs)
        var configuration = NodeConfiguration()
        configuration.dataDirectory = directory
        configuration.compression = .none
        configuration.scryptCostN = 1 << 10
        configuration.trustedProxies = trustedProxies
        configuration.hitsPerSecondPerIP = 10_000
        configuration.nodeName = name
        let collector = logs
        node = try Node(configuration: configuration, clock: clock, geo: geo,
                        logger: Logger(label: "footfall", factory: { _ in collector }))
        try node.salts.initialize(nowMs: nowMs)
    }

    deinit {
        (node.kv as? RocksDBStore)?.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The node's HTTP routes as an application. Tests run it in-process (`.test(.router)`, no
    /// socket) unless the client's address is part of what they check — ingest keys cookieless
    /// visitors and rate limits on it (so every test that posts hits), `/metrics` answers loopback
    /// without a credential — or they need a port for a stream or a raw request (`.test(.live)`).
    func app() -> some ApplicationProtocol {
        let collector = logs
        return Application(router: HTTPRoutes.router(for: node), logger: Logger(label: "http", factory: { _ in collector }))
    }

    struct Owner {
        var account: Account
        var site: Site
        /// A token with every right on the owner's sites.
        var token: String
        var email: String
        var password: String
        var auth: HTTPFields { [.authorization: "Bearer \(token)"] }
    }

    func makeOwner(_ name: String, site domain: String, timeZone: String = "UTC", retentionDays: Int = 30) throws -> Owner {
        let email = "\(name)@example.net", password = "correct horse \(name)"
        let account = try node.system.createAccount(email: email, password: password, nowMs: clock.nowMs)
        let site = try node.system.createSite(SiteID(domain)!, ownerID: account.id, timeZone: timeZone,
                                              retention: RetentionPlan(days: retentionDays)!, nowMs: clock.nowMs)
        let (_, token) = try node.system.createToken(name: "all", accountID: account.id, sites: nil, rights: SiteRight.allCases, nowMs: clock.nowMs)
        return Owner(account: account, site: site, token: token, email: email, password: password)
    }

    /// Every byte of every file under the data folder (SSTs, WAL, MANIFEST, salt) and every log line.
    func everything() throws -> [UInt8] {
        // An erasure's purge runs in the background: what the files hold is read after it.
        node.store.waitForPurges()
        if let store = node.kv as? RocksDBStore { try store.flushAll() }
        var bytes = [UInt8]()
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            let path = (directory as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
               let data = FileManager.default.contents(atPath: path) {
                bytes += Array(data)
            }
        }
        return bytes + Array(logs.text.utf8)
    }

    /// Closes the database and opens it again, as a node restart does. RocksDB then writes a fresh
    /// MANIFEST, dropping the boundary keys of deleted files that the old one still listed.
    func reopenStorage() throws {
        guard let store = node.kv as? RocksDBStore else { return }
        node.store.waitForPurges()
        store.close()
        var settings = RocksDBStore.Settings()
        settings.compression = .none
        try RocksDBStore(path: store.path, settings: settings).close()
    }

    /// Which files (or "logs") hold `needle`, for failure messages.
    func filesContaining(_ needle: [UInt8]) throws -> [String] {
        node.store.waitForPurges()
        if let store = node.kv as? RocksDBStore, store.isOpen { try store.flushAll() }
        var found = [String]()
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            let path = (directory as NSString).appendingPathComponent(relative)
            if let data = FileManager.default.contents(atPath: path), data.range(of: Data(needle)) != nil { found.append(relative) }
        }
        if logs.text.utf8.count >= needle.count, Data(logs.text.utf8).range(of: Data(needle)) != nil { found.append("logs") }
        return found
    }

    func contains(_ needle: [UInt8]) throws -> Bool {
        let haystack = try everything()
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        while i <= haystack.count - needle.count {
            if haystack[i] == first && Array(haystack[i..<i + needle.count]) == needle { return true }
            i += 1
        }
        return false
    }
}

/// Geo data for tests without a database file: 127.0.0.0/8 is "DE", region "DE-BE".
struct FixedGeo: GeoLocator {
    func locate(_ ip: IPAddress) -> Geo { ip.bytes.first == 127 ? Geo(country: "DE", region: "DE-BE") : Geo() }
}

/// A swift-log handler that keeps every line, with its metadata, for the tests to search.
final class LogCollector: LogHandler, Sendable {
    private let lines = Mutex([String]())
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        let line = "\(event.level) \(event.message) \(event.metadata ?? [:])"
        lines.withLock { $0.append(line) }
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

let chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

extension TestClientProtocol {
    /// Sends JSON to the collect endpoint as a browser would.
    func hit(_ json: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var fields: HTTPFields = [.userAgent: chromeUA, .contentType: "text/plain"]
        for field in headers {
            fields[field.name] = field.value.isEmpty ? nil : field.value
        }
        return try await execute(uri: "/api/event", method: .post, headers: fields, body: ByteBuffer(string: json))
    }

    func getJSON(_ uri: String, _ headers: HTTPFields) async throws -> (HTTPResponse.Status, Any) {
        let response = try await execute(uri: uri, method: .get, headers: headers)
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) ?? [:])
    }
}

func jsonObject(_ response: TestResponse) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:]
}

func jsonArray(_ response: TestResponse) -> [[String: Any]] {
    (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [[String: Any]] ?? []
}

func hitJSON(site: String, id: String, ts: Int64, url: String = "https://example.com/", extra: String = "") -> String {
    "{\"site\":\"\(site)\",\"id\":\"\(id)\",\"ts\":\(ts),\"url\":\"\(url)\"\(extra.isEmpty ? "" : ",\(extra)")}"
}
