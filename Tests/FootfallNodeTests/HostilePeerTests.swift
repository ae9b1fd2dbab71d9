@testable import FootfallCluster
import FootfallModel
@testable import FootfallNode
import FootfallProtocols
import FootfallRuntime
import FootfallStorage
@testable import FootfallSystem
import FootfallWire
import Foundation
import GRPCCore
import Synchronization
import Testing

/// What a holder of one valid node certificate can send (issue 14, items 3 and 5), decoder by
/// decoder: every number from a peer is range-checked before any arithmetic, system records are
/// checked whole, and each internal method has only the callers that need it. The same messages
/// go through a real node's gRPC service in Tests/Cluster/hostile_peer_test.py.
@Suite struct HostilePeerTests {
    static let site = SiteID("a.example")!
    static let nowMs: Int64 = 1_781_524_800_000

    static func request(at timestampMs: Int64 = 5, _ edit: (inout Footfall_V1_StoredEvent) -> Void = { _ in }) -> Footfall_V1_ReplicaRequest {
        var event = EventCodec.message(Event(id: EventID.forHit(site: site, hitID: "hit-00000001", timestampMs: timestampMs), site: site,
                                             visitor: VisitorID(rawValue: 9), timestampMs: timestampMs, kind: .pageview, path: "/"))
        edit(&event)
        return .with { $0.id = 1; $0.events = .with { $0.events = [event] } }
    }

    // MARK: Replication

    @Test func eventsOutOfRange_areRefused_beforeAnyArithmetic() throws {
        let bad: [(String, (inout Footfall_V1_StoredEvent) -> Void)] = [
            ("Int64.max", { $0.timestampMs = .max }), ("Int64.min", { $0.timestampMs = .min }), ("-1", { $0.timestampMs = -1 }),
            ("2^52 + 1", { $0.timestampMs = (1 << 52) + 1 }),
            // Found by the replicate fuzz target: filed under its id's day, the event claimed the
            // next day's time, and sealing or a filtered report trapped on it.
            ("a time its id does not carry", { $0.timestampMs = 5 + TimeUnits.dayMs }), ("device 9", { $0.device = .UNRECOGNIZED(9) }),
            ("a long path", { $0.path = String(repeating: "p", count: EventCodec.Bounds.textBytesMax + 1) }),
            ("a long property", { $0.props = ["k": String(repeating: "v", count: EventCodec.Bounds.textBytesMax + 1)] }),
            ("many properties", { event in
                event.props = Dictionary(uniqueKeysWithValues: (0...EventCodec.Bounds.propsCountMax).map { ("k\($0)", "v") })
            }),
        ]
        for (what, edit) in bad {
            #expect(throws: ReplicaWire.Malformed.self, "\(what)") { try ReplicaWire.message(HostilePeerTests.request(edit)) }
        }
        // The latest time an id can carry (48 bits of milliseconds, the year 10889).
        #expect(throws: Never.self) { try ReplicaWire.message(HostilePeerTests.request(at: (1 << 48) - 1)) }
    }

    /// A replica's erasure state comes from a peer: a fence or count out of range is no answer,
    /// and a receipt over several visitors adds their counts without overflowing (two peers'
    /// answers of Int64.max stopped the node that asked).
    @Test func erasureStatesOutOfRange_areRefused_andReceiptsAddWithoutOverflow() throws {
        func state(_ fence: Int64, _ count: Int64) -> Data {
            Data(#"{"requestID":"er","erasedAtMs":\#(fence),"deletedEvents":\#(count),"confirmations":[]}"#.utf8)
        }
        #expect(try JSONDecoder().decode(ReplicaErasureState.self, from: state(5_000, 3)).deletedEvents == 3)
        for (fence, count) in [(Int64.max, Int64(3)), (-1, 3), (5_000, .max), (5_000, -1)] {
            #expect(throws: (any Error).self) { try JSONDecoder().decode(ReplicaErasureState.self, from: state(fence, count)) }
        }
        let receipts = (1...3).map { n in
            ErasureReceipt(order: Replication.ErasureOrder(requestID: "er-\(n)", site: HostilePeerTests.site, visitor: VisitorID(rawValue: UInt64(n)), fenceMs: 5_000),
                           confirmations: [], pending: [], deletedEvents: .max / 2)
        }
        #expect(ErasureReceipt(combining: receipts, site: HostilePeerTests.site).deletedEvents == .max)
    }

    @Test func repairWindowsDaysDigestsAndAcks_outOfRange_areRefused() throws {
        let windows: [(Int64, Int64)] = [(.min, .max), (-1, 5), (0, (1 << 52) + 1), (10, 5)]
        for (from, until) in windows {
            let window = Footfall_V1_RepairWindow.with { $0.site = "a.example"; $0.fromMs = from; $0.untilMs = until }
            #expect(throws: ReplicaWire.Malformed.self, "\(from)..<\(until)") { try ReplicaWire.window(window) }
        }
        let plausible = try ReplicaWire.window(.with { $0.site = "a.example"; $0.fromMs = 0; $0.untilMs = 1 << 52 })
        #expect(plausible.untilMs == 1 << 52)
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.day(.max) }
        #expect(try ReplicaWire.day(ReplicaWire.lastDay.index) == ReplicaWire.lastDay)

        func tree(day: UInt32, count: UInt64) -> Footfall_V1_DigestTree {
            .with { $0.days = [.with { $0.day = day; $0.slices = (0..<EventSetDigest.slicesPerDay).map { _ in .with { $0.count = count } } }] }
        }
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.tree(tree(day: 1, count: .max)) }
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.tree(tree(day: .max, count: 1)) }
        #expect(try ReplicaWire.tree(tree(day: 20_000, count: ReplicaWire.sliceCountMax)).count == 1)
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.ack(.with { $0.id = 1; $0.atMs = .min }) }
    }

    // MARK: Who may call what

    @Test func aNodeCertificate_getsWhatMembersSayToEachOther_andNothingThatChangesTheCluster() {
        typealias Method = Footfall_V1_NodeService.Method
        let node = ClusterIdentity.node("node-9"), admin = ClusterIdentity.operator("admin")
        for method in [Method.Decommission.descriptor, Method.Repair.descriptor, Method.RemoveMember.descriptor, Method.RevokeNode.descriptor,
                       Method.Backup.descriptor] {
            #expect(!NodeServiceHandler.policy(node, method), "\(method)")
            #expect(NodeServiceHandler.policy(admin, method), "\(method)")
        }
        for method in [Method.Gossip.descriptor, Method.Replicate.descriptor, Method.SystemPush.descriptor,
                       Method.FetchClusterSecrets.descriptor, Method.SiteQuery.descriptor, Method.Clock.descriptor] {
            #expect(NodeServiceHandler.policy(node, method), "\(method)")
            #expect(!NodeServiceHandler.policy(admin, method), "\(method)")
        }
        // Every method has a caller; none is open to both by accident of a default.
        for method in Footfall_V1_NodeService.Method.descriptors {
            #expect(NodeServiceHandler.policy(node, method) || NodeServiceHandler.policy(admin, method), "\(method) has no caller")
        }
    }

    // MARK: System records

    static func store(clock: ManualClock = ManualClock(nowMs: nowMs)) -> SystemStore {
        SystemStore(kv: InMemoryStore(), scryptCostN: 16, nodeName: "node-1", clock: clock)
    }

    static func record(_ key: String, _ json: String, hlc: UInt64 = HybridLogicalClock.timestamp(wallMs: nowMs)) -> Footfall_V1_SystemRecord {
        .with { $0.key = key; $0.hlc = hlc; $0.origin = "node-9"; $0.value = Data(json.utf8) }
    }

    static let siteJSON = #"{"id":"a.example","ownerID":"abc","timeZone":"UTC","retention":{"days":30},"createdMs":5}"#

    @Test func recordsStampedBeyondTheClockAndItsSkew_areRefusedWhole() throws {
        let store = HostilePeerTests.store()
        let skew = ClockAgreement.Settings().maxOffsetMs
        let planted = HostilePeerTests.record("site:a.example", HostilePeerTests.siteJSON, hlc: .max)
        #expect(throws: FootfallError.self) { try store.merge([planted]) }
        let justBeyond = HostilePeerTests.record("site:a.example", HostilePeerTests.siteJSON,
                                                 hlc: HybridLogicalClock.timestamp(wallMs: HostilePeerTests.nowMs + skew + 1))
        #expect(throws: FootfallError.self) { try store.merge([justBeyond]) }
        #expect(try store.index().isEmpty)
        let withinSkew = HostilePeerTests.record("site:a.example", HostilePeerTests.siteJSON,
                                                 hlc: HybridLogicalClock.timestamp(wallMs: HostilePeerTests.nowMs + skew))
        #expect(try store.merge([withinSkew]) == 1)
        // A later local change (a revocation, a deletion) still wins over it.
        let site = try #require(try store.site(HostilePeerTests.site))
        try store.updateSite(Site(id: site.id, ownerID: site.ownerID, timeZone: "Europe/Paris", retention: site.retention, createdMs: 5))
        #expect(try store.site(HostilePeerTests.site)?.timeZone == "Europe/Paris")
    }

    @Test func malformedRecordsOfEveryKind_areRefusedWhole() throws {
        let store = HostilePeerTests.store()
        let account = #"{"id":"abc","email":"ann@example.org","passwordSalt":[1],"passwordHash":[2],"createdMs":5,"lastActiveMs":%@,"isOperator":false}"#
        let malformed: [Footfall_V1_SystemRecord] = [
            HostilePeerTests.record("site:a.example", #"{"nonsense": 1}"#),
            HostilePeerTests.record("site:b.example", HostilePeerTests.siteJSON),
            HostilePeerTests.record("site:a.example", HostilePeerTests.siteJSON.replacingOccurrences(of: #""days":30"#, with: #""days":100000"#)),
            HostilePeerTests.record("site:a.example", HostilePeerTests.siteJSON.replacingOccurrences(of: "UTC", with: "Mars/Olympus")),
            HostilePeerTests.record("account:abc", account.replacingOccurrences(of: "%@", with: "\(Int64.min)")),
            HostilePeerTests.record("account:xyz", account.replacingOccurrences(of: "%@", with: "5")),
            HostilePeerTests.record("account-email:ann@example.org", "17"),
            HostilePeerTests.record("token:ab", #"{"id":"t","name":"t","accountID":"abc","rights":["root"],"createdMs":5}"#),
            HostilePeerTests.record("session:ab", #"{"accountID":"abc","csrfToken":"c","expiresMs":-1}"#),
            HostilePeerTests.record("revoked-node:node-9", #"{"name":"node-8","revokedMs":5}"#),
            .with { $0.key = "revoked-node:node-9"; $0.hlc = 5; $0.origin = "node-9"; $0.deleted = true },
        ]
        let good = HostilePeerTests.record("site:a.example", HostilePeerTests.siteJSON)
        for record in malformed {
            #expect(throws: FootfallError.self, "\(record.key)") { try store.merge([good, record]) }
        }
        #expect(try store.index().isEmpty, "nothing of a refused push is stored")
        let wellFormed = account.replacingOccurrences(of: "%@", with: "5")
        #expect(try store.merge([good, HostilePeerTests.record("account:abc", wellFormed)]) == 2)
    }

    /// A record that was stored malformed (before these checks, or by a bug) is skipped and
    /// reported: maintenance goes on for every other account and site.
    @Test func aMalformedStoredRecord_neitherStopsMaintenance_norHidesTheOthers() throws {
        let test = try TestNode()
        let owner = try test.makeOwner("ann", site: "ann.example")
        let skipped = Mutex<[String]>([])
        test.node.system.onMalformedRecord { kind, _ in skipped.withLock { $0.append(kind) } }
        var batch = WriteBatch()
        let bad = HostilePeerTests.record("site:bad.example", #"{"nonsense": 1}"#)
        batch.put(.system, Array(bad.key.utf8), try Array(bad.serializedBytes() as [UInt8]))
        batch.put(.system, Array("account:zzz".utf8), [0xFF, 0x01])
        try test.node.kv.write(batch, sync: true)

        try test.node.runMaintenance()
        #expect(try test.node.system.sites().map(\.id) == [owner.site.id])
        #expect(try test.node.system.accounts().map(\.id) == [owner.account.id])
        #expect(skipped.withLock { $0 }.contains("site:"))
        #expect(skipped.withLock { $0 }.contains("account:"))
        // Never sent to a peer, which would refuse the whole sync it came in.
        #expect(try test.node.system.records(["site:bad.example", "site:ann.example"]).map(\.key) == ["site:ann.example"])
    }

    // MARK: Revocation

    @Test func aRevocation_coversCertificatesIssuedUpToIt_only() throws {
        let authority = try ClusterCertificates.createAuthority(clusterName: "t", now: Date(timeIntervalSince1970: 1_000_000),
                                                                validity: .seconds(86_400 * 365))
        func issued(atMs ms: Int64) throws -> PEMCredential {
            try ClusterCertificates.issue(.node("node-9"), authority: authority, now: Date(timeIntervalSince1970: Double(ms) / 1000),
                                          validity: .seconds(86_400))
        }
        let revocation = NodeRevocation(name: "node-9", revokedMs: 2_000_000_000)
        #expect(revocation.covers(try issued(atMs: 1_500_000_000).certificate()))
        #expect(revocation.covers(try issued(atMs: 2_000_000_000).certificate()))
        #expect(!revocation.covers(try issued(atMs: 2_001_000_000).certificate()), "a certificate issued afterwards works")
        // Certificates hold whole seconds: one issued 0.2 s before a revocation, in the same second,
        // is covered however its time was rounded.
        #expect(NodeRevocation(name: "node-9", revokedMs: 2_000_000_900).covers(try issued(atMs: 2_000_000_700).certificate()))

        let store = HostilePeerTests.store()
        #expect(!store.isRevoked(.node("node-9"), certificate: try issued(atMs: 1_500_000_000).certificate()))
        _ = try store.revokeNode(name: "node-9", nowMs: 2_000_000_000)
        #expect(store.isRevoked(.node("node-9"), certificate: try issued(atMs: 1_500_000_000).certificate()))
        #expect(!store.isRevoked(.node("node-8"), certificate: try issued(atMs: 1_500_000_000).certificate()))
    }

    @Test func aRevocation_replicates_andNoPeerCanWithdrawIt() throws {
        let a = HostilePeerTests.store(), b = HostilePeerTests.store()
        let pushed = Mutex<[Footfall_V1_SystemRecord]>([])
        a.onChange { records in pushed.withLock { $0 += records } }
        _ = try a.revokeNode(name: "node-9", nowMs: HostilePeerTests.nowMs)
        try b.merge(pushed.withLock { $0 })
        #expect(try b.revocations()["node-9"]?.revokedMs == HostilePeerTests.nowMs)
        // A later record moving the revocation back does not take: the revocation keeps its time,
        // stamped anew so that it wins over that record everywhere. Deleting it is refused.
        let later = HybridLogicalClock.timestamp(wallMs: HostilePeerTests.nowMs + 1_000)
        #expect(try b.merge([HostilePeerTests.record("revoked-node:node-9", #"{"name":"node-9","revokedMs":5}"#, hlc: later)]) == 1)
        #expect(try b.revocations()["node-9"]?.revokedMs == HostilePeerTests.nowMs)
        #expect(try b.storedRecord("revoked-node:node-9").map { $0.hlc > later } == true)
        #expect(throws: FootfallError.self) {
            try b.merge([.with { $0.key = "revoked-node:node-9"; $0.hlc = later; $0.origin = "node-9"; $0.deleted = true }])
        }
        #expect(try b.revocations()["node-9"]?.revokedMs == HostilePeerTests.nowMs)
        // An operator revoking again on a node whose clock is behind keeps the later time.
        #expect(try b.revokeNode(name: "node-9", nowMs: HostilePeerTests.nowMs - 30_000).revokedMs == HostilePeerTests.nowMs)
    }

    @Test func anOperatorRevocation_refusesThatOperatorsCertificates_only() throws {
        let authority = try ClusterCertificates.createAuthority(clusterName: "t", now: Date(timeIntervalSince1970: 1_000_000),
                                                                validity: .seconds(86_400 * 365))
        func issued(_ identity: ClusterIdentity, atMs ms: Int64) throws -> PEMCredential {
            try ClusterCertificates.issue(identity, authority: authority, now: Date(timeIntervalSince1970: Double(ms) / 1000),
                                          validity: .seconds(86_400))
        }
        let store = HostilePeerTests.store()
        #expect(!store.isRevoked(.operator("ann"), certificate: try issued(.operator("ann"), atMs: 1_500_000_000).certificate()))
        _ = try store.revoke(.operator, name: "ann", nowMs: 2_000_000_000)
        #expect(store.isRevoked(.operator("ann"), certificate: try issued(.operator("ann"), atMs: 1_500_000_000).certificate()),
                "ann's operator certificate is refused")
        #expect(!store.isRevoked(.operator("bob"), certificate: try issued(.operator("bob"), atMs: 1_500_000_000).certificate()),
                "another operator's works")
        #expect(!store.isRevoked(.operator("ann"), certificate: try issued(.operator("ann"), atMs: 2_001_000_000).certificate()),
                "one issued for ann afterwards works")
        #expect(!store.isRevoked(.node("ann"), certificate: try issued(.node("ann"), atMs: 1_500_000_000).certificate()),
                "a node of the same name is another identity")
        #expect(try store.revocations(of: .node).isEmpty)
        _ = try store.revokeNode(name: "bob", nowMs: 2_000_000_000)
        #expect(!store.isRevoked(.operator("bob"), certificate: try issued(.operator("bob"), atMs: 1_500_000_000).certificate()),
                "a node's revocation leaves the operator of the same name alone")
    }

    @Test func anOperatorRevocation_replicates_andNoPeerCanWithdrawIt() throws {
        let a = HostilePeerTests.store(), b = HostilePeerTests.store()
        let pushed = Mutex<[Footfall_V1_SystemRecord]>([])
        a.onChange { records in pushed.withLock { $0 += records } }
        _ = try a.revoke(.operator, name: "ann", nowMs: HostilePeerTests.nowMs)
        #expect(pushed.withLock { $0 }.map(\.key) == ["revoked-operator:ann"])
        try b.merge(pushed.withLock { $0 })
        #expect(try b.revocations(of: .operator)["ann"]?.revokedMs == HostilePeerTests.nowMs)
        let later = HybridLogicalClock.timestamp(wallMs: HostilePeerTests.nowMs + 1_000)
        #expect(try b.merge([HostilePeerTests.record("revoked-operator:ann", #"{"name":"ann","revokedMs":5}"#, hlc: later)]) == 1)
        #expect(try b.revocations(of: .operator)["ann"]?.revokedMs == HostilePeerTests.nowMs, "joined at the later time")
        #expect(throws: FootfallError.self) {
            try b.merge([.with { $0.key = "revoked-operator:ann"; $0.hlc = later; $0.origin = "node-9"; $0.deleted = true }])
        }
        #expect(throws: FootfallError.self, "a revocation stored under another name is refused") {
            try b.merge([HostilePeerTests.record("revoked-operator:bob", #"{"name":"ann","revokedMs":5}"#, hlc: later)])
        }
        #expect(try b.revocations(of: .operator)["ann"]?.revokedMs == HostilePeerTests.nowMs)
    }

    @Test func anOperator_cannotRevokeTheCertificateItCallsWith() {
        #expect(NodeRevocation.refusal(revoking: .operator, name: "ann", caller: .operator("ann")) != nil,
                "the last operator would lock every operator out")
        #expect(NodeRevocation.refusal(revoking: .operator, name: "ann", caller: .operator("bob")) == nil)
        #expect(NodeRevocation.refusal(revoking: .node, name: "ann", caller: .operator("ann")) == nil)
    }

    // MARK: Saved cluster state

    @Test func aClusterStateFileWithImplausibleValues_isRefusedWithAReason() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("footfall-state-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = ClusterStateFile(dataDirectory: directory)
        let damaged: [ClusterStateFile.Contents] = [
            .init(lastUID: 1, ownership: [.init(name: "node-1", state: "normal", version: .max)]),
            .init(lastUID: .max, ownership: []),
            .init(lastUID: 1, ownership: [.init(name: "node-1", state: "normal", version: 1), .init(name: "node-1", state: "removed", version: 2)]),
            .init(lastUID: 1, ownership: [.init(name: "node-1", state: "owning", version: 1)]),
            .init(lastUID: 1, ownership: [.init(name: "Not A Name", state: "normal", version: 1)]),
            .init(lastUID: 1, ownership: [], peers: [""]),
            .init(lastUID: 1, ownership: [], peers: [String(repeating: "a", count: GossipWire.addressBytesMax + 1)]),
        ]
        for contents in damaged {
            try file.write(contents)
            #expect(throws: FootfallError.self, "\(contents)") { try file.ownership() }
        }
        try file.write(.init(lastUID: 1, ownership: [.init(name: "node-1", state: "normal", version: GossipWire.versionMax)]))
        #expect(try file.ownership() == [Membership.OwnershipRecord(name: "node-1", state: .normal, version: GossipWire.versionMax)])
        #expect(try file.peers() == [], "a file of an earlier version names no peers")
        try file.savePeers(["10.0.0.2:7946", "10.0.0.3:7946"])
        #expect(try file.peers() == ["10.0.0.2:7946", "10.0.0.3:7946"])
        #expect(try file.ownership().count == 1, "saving the peers keeps the ownership map")
    }
}
