import FootfallCrypto
import FootfallModel
import FootfallProtocols
import FootfallRuntime
import FootfallStorage
import FootfallWire
import Foundation
import SwiftProtobuf
import Synchronization

/// Accounts, sites, tokens and sessions in the `system` column family, replicated to every node
/// as last-writer-wins records under a hybrid logical clock.
///
/// Each key holds a `Footfall_V1_SystemRecord`: the JSON value (or a tombstone for a deletion),
/// its HLC timestamp and the node that wrote it. Local changes are stamped and handed to the
/// change listener (the cluster pushes them to every node); records from peers are merged by
/// (timestamp, origin), so every node that has seen the same records holds the same values.
public final class SystemStore: Sendable {
    package let kv: any KeyValueStore
    /// Serialises read-modify-write changes, so two of them never overwrite each other (two owners
    /// registering one domain, a login's activity stamp racing a password change).
    private let changes = Mutex(())
    /// scrypt's cost; tests lower it so thousands of logins stay fast.
    package let scryptCostN: UInt64
    package let nodeName: String
    package let clock: any WallClock
    private let hlc = Mutex(HybridLogicalClock())
    private let changeListener = Mutex<(@Sendable ([Footfall_V1_SystemRecord]) -> Void)?>(nil)
    private let writeCheck = Mutex<(@Sendable () throws -> Void)?>(nil)
    package let siteCache = SiteCache()
    private let revocationCache = Mutex(RevocationCache())
    private let malformedListener = Mutex<(@Sendable (_ kind: String, _ error: any Error) -> Void)?>(nil)

    /// Key prefixes of replicated records; anything else from a peer is refused.
    package static let replicatedPrefixes = ["account:", "account-email:", "site:", "token:", "session:", NodeRevocation.Kind.node.keyPrefix,
                                     NodeRevocation.Kind.operator.keyPrefix,
                                     SiteDataGone.keyPrefix]

    public init(kv: any KeyValueStore, scryptCostN: UInt64 = 1 << 15, nodeName: String = "node-1", clock: any WallClock = SystemClock()) {
        self.kv = kv
        self.scryptCostN = scryptCostN
        self.nodeName = nodeName
        self.clock = clock
    }

    /// Called with every local change once it is durable.
    public func onChange(_ listener: @escaping @Sendable ([Footfall_V1_SystemRecord]) -> Void) {
        changeListener.withLock { $0 = listener }
    }

    /// Called with the kind of record (its key prefix, never the key: some keys are emails) and the
    /// error whenever a stored record that cannot be decoded is skipped.
    public func onMalformedRecord(_ listener: @escaping @Sendable (_ kind: String, _ error: any Error) -> Void) {
        malformedListener.withLock { $0 = listener }
    }

    /// Called before every local change; a throw refuses it (the node's clock is off its peers':
    /// a change stamped minutes behind would lose to older ones, a revocation among them).
    public func checkWrites(with check: @escaping @Sendable () throws -> Void) {
        writeCheck.withLock { $0 = check }
    }

    // MARK: Records

    /// The record under `key`. Values written before records carried clocks (plain JSON) read as
    /// records from the beginning of time, so any replicated change supersedes them.
    private func record(_ key: [UInt8]) throws -> Footfall_V1_SystemRecord? {
        guard let bytes = try kv.get(.system, key) else { return nil }
        return try SystemStore.decodeRecord(key: key, bytes)
    }

    package static func decodeRecord(key: [UInt8], _ bytes: [UInt8]) throws -> Footfall_V1_SystemRecord {
        if bytes.first == UInt8(ascii: "{") || bytes.first == UInt8(ascii: "\"") {
            return .with { $0.key = String(decoding: key, as: UTF8.self); $0.value = Data(bytes) }
        }
        return try Footfall_V1_SystemRecord(serializedBytes: bytes)
    }

    private func get<T: Decodable>(_ key: String, as type: T.Type) throws -> T? {
        guard let record = try record(Array(key.utf8)), !record.deleted else { return nil }
        return try JSONDecoder().decode(T.self, from: record.value)
    }

    package func put(_ key: String, _ value: some Encodable) throws {
        let json = try JSONEncoder().encode(value)
        try write([(key, json)])
    }

    /// Deletions are tombstones, so they replicate and win over the older value everywhere.
    private func delete(_ keys: [String]) throws {
        try write(keys.map { ($0, nil) })
    }

    private func write(_ changes: [(String, Data?)]) throws {
        guard !changes.isEmpty else { return }
        try writeCheck.withLock { $0 }?()
        let now = clock.nowMs
        var batch = WriteBatch()
        var records = [Footfall_V1_SystemRecord]()
        for (key, value) in changes {
            let record = Footfall_V1_SystemRecord.with {
                $0.key = key
                $0.hlc = hlc.withLock { $0.now(wallMs: now) }
                $0.origin = nodeName
                $0.deleted = value == nil
                $0.value = value ?? Data()
            }
            batch.put(.system, Array(key.utf8), try Array(record.serializedBytes() as [UInt8]))
            records.append(record)
        }
        try kv.write(batch, sync: true)
        invalidateCaches(for: changes.map(\.0))
        changeListener.withLock { $0 }?(records)
    }

    private func invalidateCaches(for keys: some Sequence<String>) {
        if keys.contains(where: { $0.hasPrefix("site:") }) { siteCache.invalidate() }
        if keys.contains(where: { NodeRevocation.kind(ofKey: $0) != nil }) {
            revocationCache.withLock {
                $0.generation += 1
                $0.revocations = [:]
            }
        }
    }

    private func all<T: Decodable>(prefix: String, as type: T.Type) throws -> [T] {
        try allKeyed(prefix: prefix, as: type).map(\.1)
    }

    /// Every live record under `prefix`. One that cannot be decoded is skipped and reported
    /// (`onMalformedRecord`): maintenance reads every account and site, and one bad record must
    /// not stop retention or idle-account deletion for all the others.
    package func allKeyed<T: Decodable>(prefix: String, as type: T.Type) throws -> [(String, T)] {
        var out = [(String, T)]()
        try kv.scan(.system, prefix: Array(prefix.utf8)) { key, value in
            do {
                let record = try SystemStore.decodeRecord(key: key, value)
                if !record.deleted { out.append((record.key, try JSONDecoder().decode(T.self, from: record.value))) }
            } catch {
                reportMalformed(prefix: prefix, error)
            }
            return true
        }
        return out
    }

    private func reportMalformed(prefix: String, _ error: any Error) {
        malformedListener.withLock { $0 }?(prefix, error)
    }

    // MARK: Replication

    /// Merges records from a peer; returns how many keys changed here.
    ///
    /// The push is refused whole if any record is under a key this store does not replicate, is
    /// malformed (`SystemRecordCheck`: its value must decode as its key's real type, with values
    /// in range), or is stamped more than `maxAheadMs` ahead of this node's clock: last writer
    /// wins, so a stamp from the future would beat every later change — a revocation, a password
    /// change, a deletion — until the clock caught up with it. Peers whose clocks agree (within
    /// `ClockAgreement.Settings.maxOffsetMs`, the default) never stamp that far ahead.
    @discardableResult
    public func merge(_ records: [Footfall_V1_SystemRecord], maxAheadMs: Int64 = ClockAgreement.Settings().maxOffsetMs) throws -> Int {
        let now = clock.nowMs
        for record in records {
            let name = String(record.key.prefix(40)).debugDescription
            guard SystemStore.replicatedPrefixes.contains(where: record.key.hasPrefix), record.key.utf8.count <= 512 else {
                throw FootfallError.invalid("system record key \(name) is not replicated")
            }
            guard record.origin.utf8.count <= 64 else { throw FootfallError.invalid("system record \(name) has an origin of over 64 bytes") }
            let aheadMs = HybridLogicalClock.wallMs(of: record.hlc) - now
            guard aheadMs <= maxAheadMs else {
                throw FootfallError.invalid("system record \(name) is stamped \(aheadMs / 1000) s ahead of this node's clock, "
                                          + "more than the \(maxAheadMs / 1000) s the cluster allows")
            }
            if let problem = SystemRecordCheck.problem(with: record) {
                throw FootfallError.invalid("system record \(name) is malformed: \(problem)")
            }
        }
        return try changes.withLock { _ in
            for record in records { hlc.withLock { $0.observe(record.hlc, wallMs: now) } }
            // Every record of a key at once, with what is stored, so records may arrive in any
            // order (a tombstone before the value it deletes).
            var batch = WriteBatch()
            for (key, incoming) in Dictionary(grouping: records, by: \.key) {
                let held = try storedRecord(key)
                let resolution = SystemRecordMerge.resolve(held: held.map(SystemStore.mergeView), incoming: incoming.map(SystemStore.mergeView)) {
                    SystemRecordMerge.Version(hlc: hlc.withLock { $0.now(wallMs: now) }, origin: nodeName)
                }
                let stored: Footfall_V1_SystemRecord
                switch resolution {
                case .keepHeld: continue
                case .take(let index): stored = incoming[index]
                case .joined(let revokedMs, let version):
                    guard let kind = NodeRevocation.kind(ofKey: key), let name = key.suffix(after: kind.keyPrefix) else { continue }
                    stored = .with {
                        $0.key = key
                        $0.hlc = version.hlc
                        $0.origin = version.origin
                        $0.value = (try? JSONEncoder().encode(NodeRevocation(name: name, revokedMs: revokedMs))) ?? Data()
                    }
                }
                batch.put(.system, Array(key.utf8), try Array(stored.serializedBytes() as [UInt8]))
            }
            if !batch.isEmpty { try kv.write(batch, sync: true) }
            invalidateCaches(for: Set(records.map(\.key)))
            return batch.operations.count
        }
    }

    /// What the merge reads of a record: its version, and a revocation's time.
    package static func mergeView(_ record: Footfall_V1_SystemRecord) -> SystemRecordMerge.Record {
        let revokedMs = NodeRevocation.kind(ofKey: record.key) == nil || record.deleted
            ? nil : (try? JSONDecoder().decode(NodeRevocation.self, from: record.value))?.revokedMs
        return SystemRecordMerge.Record(version: .init(hlc: record.hlc, origin: record.origin), revokedMs: revokedMs)
    }

    /// The record stored under `key`; one that cannot be decoded is reported and counts as
    /// absent (a merge replaces it with whatever a peer holds).
    package func storedRecord(_ key: String) throws -> Footfall_V1_SystemRecord? {
        guard let bytes = try kv.get(.system, Array(key.utf8)) else { return nil }
        do {
            return try SystemStore.decodeRecord(key: Array(key.utf8), bytes)
        } catch {
            reportMalformed(prefix: SystemStore.replicatedPrefixes.first(where: key.hasPrefix) ?? "", error)
            return nil
        }
    }

    /// Whether this store holds any record peers replicate (tombstones included): a founder's
    /// always does; a folder a node joined with holds none until its first sync.
    public func holdsReplicatedRecords() throws -> Bool {
        var found = false
        for prefix in SystemStore.replicatedPrefixes where !found {
            try kv.scan(.system, prefix: Array(prefix.utf8)) { _, _ in
                found = true
                return false
            }
        }
        return found
    }

    /// Every record's key, clock and origin (tombstones included): what anti-entropy compares.
    public func index() throws -> [Footfall_V1_SystemIndexEntry] {
        var out = [Footfall_V1_SystemIndexEntry]()
        try kv.scan(.system, prefix: []) { key, value in
            let record: Footfall_V1_SystemRecord
            do {
                record = try SystemStore.decodeRecord(key: key, value)
            } catch {
                reportMalformed(prefix: "", error)
                return true
            }
            guard SystemStore.replicatedPrefixes.contains(where: record.key.hasPrefix) else { return true }
            out.append(.with { $0.key = record.key; $0.hlc = record.hlc; $0.origin = record.origin })
            return true
        }
        return out
    }

    /// The records under these keys that this node holds. One that peers would refuse
    /// (`SystemRecordCheck`: stored before the checks, or damaged) is reported and left out, so it
    /// never spreads, and never gets a whole sync refused with it.
    public func records(_ keys: [String]) throws -> [Footfall_V1_SystemRecord] {
        try keys.compactMap { key in
            guard let prefix = SystemStore.replicatedPrefixes.first(where: key.hasPrefix), var out = try storedRecord(key) else { return nil }
            out.key = key
            if let problem = SystemRecordCheck.problem(with: out) {
                reportMalformed(prefix: prefix, FootfallError.invalid("not offered to peers: \(problem)"))
                return nil
            }
            return out
        }
    }

    /// Compares a peer's index with this node's: the records this node holds newer (or the peer
    /// lacks), and the keys the peer holds newer (or this node lacks).
    public func compare(with theirs: [Footfall_V1_SystemIndexEntry]) throws -> (newer: [Footfall_V1_SystemRecord], wanted: [String]) {
        let versions = { (entries: [Footfall_V1_SystemIndexEntry]) in
            Dictionary(entries.map { ($0.key, SystemRecordMerge.Version(hlc: $0.hlc, origin: $0.origin)) }, uniquingKeysWith: { a, b in max(a, b) })
        }
        let (newer, wanted) = SystemRecordMerge.compare(mine: versions(try index()), theirs: versions(theirs))
        return (try records(newer), wanted)
    }

    // MARK: Accounts

    public func createAccount(email: String, password: String, isOperator: Bool = false, nowMs: Int64) throws -> Account {
        let normalized = email.lowercased().trimmingCharacters(in: .whitespaces)
        guard normalized.count <= 254, normalized.contains("@"), !normalized.hasPrefix("@"), !normalized.hasSuffix("@") else {
            throw FootfallError.invalid("email must look like name@example.com")
        }
        guard password.count >= 10, password.utf8.count <= 1024 else {
            throw FootfallError.invalid("password must have at least 10 characters")
        }
        let salt = Crypto.randomBytes(16)
        let hash = Crypto.scrypt(password: Array(password.utf8), salt: salt, costN: scryptCostN)
        return try changes.withLock { _ in
            guard try get("account-email:\(normalized)", as: String.self) == nil else {
                throw FootfallError.conflict("an account with this email exists")
            }
            let account = Account(
                id: Hex.encode(Crypto.randomBytes(8)), email: normalized, passwordSalt: salt, passwordHash: hash,
                createdMs: nowMs, lastActiveMs: nowMs, isOperator: isOperator)
            try put("account:\(account.id)", account)
            try put("account-email:\(normalized)", account.id)
            return account
        }
    }

    public func account(id: String) throws -> Account? { try get("account:\(id)", as: Account.self) }

    public func accounts() throws -> [Account] { try all(prefix: "account:", as: Account.self) }

    /// The account whose password matches, or nil. Takes the same scrypt time whether or not the
    /// email exists, so a login cannot probe which emails have accounts.
    public func authenticate(email: String, password: String) throws -> Account? {
        let normalized = email.lowercased().trimmingCharacters(in: .whitespaces)
        let account = try get("account-email:\(normalized)", as: String.self).flatMap { try self.account(id: $0) }
        let salt = account?.passwordSalt ?? [UInt8](repeating: 0, count: 16)
        let hash = Crypto.scrypt(password: Array(password.utf8), salt: salt, costN: scryptCostN)
        guard let account, Crypto.constantTimeEquals(hash, account.passwordHash) else { return nil }
        return account
    }

    public func changePassword(accountID: String, newPassword: String) throws {
        guard newPassword.count >= 10, newPassword.utf8.count <= 1024 else {
            throw FootfallError.invalid("password must have at least 10 characters")
        }
        let salt = Crypto.randomBytes(16)
        let hash = Crypto.scrypt(password: Array(newPassword.utf8), salt: salt, costN: scryptCostN)
        try changes.withLock { _ in
            guard var account = try account(id: accountID) else { throw FootfallError.notFound("no such account") }
            account.passwordSalt = salt
            account.passwordHash = hash
            try put("account:\(account.id)", account)
            // A changed password ends every other login.
            let sessions = try allKeyed(prefix: "session:", as: LoginSession.self).filter { $0.1.accountID == accountID }
            try delete(sessions.map(\.0))
        }
    }

    /// Marks the account active, at most once a day so reads do not turn into writes.
    public func touch(accountID: String, nowMs: Int64) throws {
        guard let current = try account(id: accountID), nowMs - current.lastActiveMs > TimeUnits.dayMs else { return }
        try changes.withLock { _ in
            guard var account = try account(id: accountID) else { return }
            account.lastActiveMs = nowMs
            try put("account:\(account.id)", account)
        }
    }

    /// Deletes an account with its tokens and sessions; the caller deletes its sites' data.
    public func deleteAccount(_ account: Account) throws {
        let tokens = try allKeyed(prefix: "token:", as: APIToken.self).filter { $0.1.accountID == account.id }.map(\.0)
        let sessions = try allKeyed(prefix: "session:", as: LoginSession.self).filter { $0.1.accountID == account.id }.map(\.0)
        let sites = try sites(ownedBy: account.id).map { "site:\($0.id.rawValue)" }
        try delete(tokens + sessions + sites + ["account:\(account.id)", "account-email:\(account.email)"])
    }

    // MARK: Sites

    public func createSite(_ id: SiteID, ownerID: String, timeZone: String, retention: RetentionPlan, nowMs: Int64) throws -> Site {
        guard TimeZone(identifier: timeZone) != nil else { throw FootfallError.invalid("unknown time zone \(timeZone)") }
        return try changes.withLock { _ in
            guard try site(id) == nil else { throw FootfallError.conflict("this domain cannot be registered; ask the operator if it is yours") }
            let site = Site(id: id, ownerID: ownerID, timeZone: timeZone, retention: retention, createdMs: nowMs)
            try put("site:\(id.rawValue)", site)
            return site
        }
    }

    public func updateSite(_ site: Site) throws {
        try changes.withLock { _ in try put("site:\(site.id.rawValue)", site) }
    }
    public func site(_ id: SiteID) throws -> Site? {
        try siteCache.site(id) { try get("site:\(id.rawValue)", as: Site.self) }
    }
    public func sites() throws -> [Site] { try all(prefix: "site:", as: Site.self) }
    /// Decoded sites held in memory, and names held as no site (`SiteCache`).
    public var cachedSites: (known: Int, unknown: Int) { siteCache.count }
    public func sites(ownedBy accountID: String) throws -> [Site] { try sites().filter { $0.ownerID == accountID } }

    // MARK: Tokens

    /// Creates a token and returns it with its secret, which is not stored and cannot be shown again.
    public func createToken(name: String, accountID: String, sites: [SiteID]?, rights: [SiteRight], nowMs: Int64) throws -> (APIToken, String) {
        let secret = "fft_" + Hex.encode(Crypto.randomBytes(24))
        let token = APIToken(id: Hex.encode(Crypto.randomBytes(6)), name: String(name.prefix(100)), accountID: accountID,
                             sites: sites, rights: Array(Set(rights)).sorted(), createdMs: nowMs)
        try put("token:\(SystemStore.digest(secret))", token)
        return (token, secret)
    }

    public func token(secret: String) throws -> APIToken? { try get("token:\(SystemStore.digest(secret))", as: APIToken.self) }

    public func tokens(accountID: String) throws -> [APIToken] {
        try all(prefix: "token:", as: APIToken.self).filter { $0.accountID == accountID }
    }

    public func revokeToken(id: String, accountID: String) throws -> Bool {
        let matches = try allKeyed(prefix: "token:", as: APIToken.self).filter { $0.1.id == id && $0.1.accountID == accountID }
        try delete(matches.map(\.0))
        return !matches.isEmpty
    }

    // MARK: Sessions

    public func createSession(accountID: String, nowMs: Int64, lifetimeMs: Int64 = 14 * TimeUnits.dayMs) throws -> (String, LoginSession) {
        let secret = Hex.encode(Crypto.randomBytes(32))
        let session = LoginSession(accountID: accountID, csrfToken: Hex.encode(Crypto.randomBytes(16)), expiresMs: nowMs + lifetimeMs)
        try put("session:\(SystemStore.digest(secret))", session)
        return (secret, session)
    }

    public func session(secret: String, nowMs: Int64) throws -> LoginSession? {
        guard let session = try get("session:\(SystemStore.digest(secret))", as: LoginSession.self), session.expiresMs > nowMs else { return nil }
        return session
    }

    public func deleteSession(secret: String) throws { try delete(["session:\(SystemStore.digest(secret))"]) }

    package static func digest(_ secret: String) -> String { Hex.encode(Crypto.sha256(Array(secret.utf8))) }

    // MARK: Certificate revocations

    /// Revokes every certificate issued for the node `name` up to `nowMs`; replicated like any
    /// other record, so every member refuses them within a push's round trip.
    public func revokeNode(name: String, nowMs: Int64) throws -> NodeRevocation {
        try revoke(.node, name: name, nowMs: nowMs)
    }

    /// Revokes every certificate of `kind` issued for `name` up to `nowMs` (see `revokeNode`).
    /// A revocation only grows: one already held at a later time (made on a node whose clock is
    /// ahead of this one's) stays at that time.
    public func revoke(_ kind: NodeRevocation.Kind, name: String, nowMs: Int64) throws -> NodeRevocation {
        try changes.withLock { _ in
            let held = try storedRecord(kind.keyPrefix + name).map(SystemStore.mergeView)
            let revocation = NodeRevocation(name: name, revokedMs: SystemRecordMerge.revokedMs(at: nowMs, held: held))
            try put(kind.keyPrefix + name, revocation)
            return revocation
        }
    }

    /// The revocations of `kind` this node holds, by name (cached: every internal call asks).
    public func revocations(of kind: NodeRevocation.Kind = .node) throws -> [String: NodeRevocation] {
        let (cached, generation) = revocationCache.withLock { ($0.revocations[kind], $0.generation) }
        if let cached { return cached }
        let loaded = Dictionary(try all(prefix: kind.keyPrefix, as: NodeRevocation.self).map { ($0.name, $0) },
                                uniquingKeysWith: { a, b in a.revokedMs >= b.revokedMs ? a : b })
        // A load that raced a change does not fill the cache (the generation moved).
        revocationCache.withLock { if $0.generation == generation { $0.revocations[kind] = loaded } }
        return loaded
    }

    private struct RevocationCache {
        var generation = 0
        var revocations: [NodeRevocation.Kind: [String: NodeRevocation]] = [:]
    }
}

/// Sites as decoded records: every hit and every event applied (its site's retention) asks for
/// one, and decoding its JSON each time was a seventh of the CPU of ingest. A write of any site
/// record clears the cache; a read that raced such a write does not fill it (the generation moved).
///
/// Bounded, because whoever sends a hit names its site: at most `knownMax` sites and `unknownMax`
/// names that are no site (so hits for made-up sites cost a read each, not memory); past either,
/// an arbitrary entry of that kind makes room, and a later ask for it reads its record again.
package final class SiteCache: Sendable {
    /// Sites held at most: every site of a node with 100,000 small sites (about 300 bytes each).
    package static let knownMax = 100_000
    /// Names held at most that are no site.
    package static let unknownMax = 10_000

    private struct State {
        var generation = 0
        var known = [SiteID: Site]()
        var unknown = Set<SiteID>()
    }

    private let state = Mutex(State())
    private let knownMax: Int
    private let unknownMax: Int

    package init(knownMax: Int = SiteCache.knownMax, unknownMax: Int = SiteCache.unknownMax) {
        self.knownMax = knownMax
        self.unknownMax = unknownMax
    }

    package func site(_ id: SiteID, load: () throws -> Site?) throws -> Site? {
        let (cached, generation) = state.withLock { state -> (Site??, Int) in
            if let site = state.known[id] { return (.some(site), state.generation) }
            return (state.unknown.contains(id) ? .some(nil) : nil, state.generation)
        }
        if let cached { return cached }
        let site = try load()
        state.withLock { state in
            guard state.generation == generation else { return }
            if let site {
                if state.known[id] == nil, state.known.count >= knownMax { state.known.remove(at: state.known.startIndex) }
                state.known[id] = site
            } else {
                if !state.unknown.contains(id), state.unknown.count >= unknownMax { state.unknown.remove(at: state.unknown.startIndex) }
                state.unknown.insert(id)
            }
        }
        return site
    }

    /// Entries held: sites, and names that are no site.
    package var count: (known: Int, unknown: Int) { state.withLock { ($0.known.count, $0.unknown.count) } }

    package func invalidate() {
        state.withLock {
            $0.generation += 1
            $0.known.removeAll()
            $0.unknown.removeAll()
        }
    }
}
