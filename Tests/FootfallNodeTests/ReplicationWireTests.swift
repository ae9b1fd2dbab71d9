@testable import FootfallCluster
import FootfallModel
@testable import FootfallNode
import FootfallProtocols
import FootfallRuntime
import FootfallStorage
@testable import FootfallSystem
import FootfallWire
import Foundation
import Synchronization
import Testing

/// System records merge last-writer-wins under the hybrid logical clock, and malformed requests
/// from peers are refused whole.
@Suite struct SystemReplicationTests {
    static func store(_ name: String, clock: ManualClock = ManualClock(nowMs: 1_000_000)) -> SystemStore {
        SystemStore(kv: InMemoryStore(), scryptCostN: 16, nodeName: name, clock: clock)
    }

    @Test func changesReachAnotherNode_andTheLaterWriteWinsEverywhere() throws {
        let clockA = ManualClock(nowMs: 1_000_000)
        let a = SystemReplicationTests.store("node-a", clock: clockA), b = SystemReplicationTests.store("node-b")
        let pushed = Mutex<[Footfall_V1_SystemRecord]>([])
        a.onChange { records in pushed.withLock { $0 += records } }
        let account = try a.createAccount(email: "ann@example.org", password: "correct horse", nowMs: 1)
        let site = try a.createSite(SiteID("ann.example")!, ownerID: account.id, timeZone: "UTC", retention: .default, nowMs: 1)
        try b.merge(pushed.withLock { $0 })
        #expect(try b.site(site.id) == site)
        #expect(try b.authenticate(email: "ann@example.org", password: "correct horse")?.id == account.id)

        // b renames the zone; a, which has not seen it, changes retention later: both converge on a's.
        var onB = site
        onB.timeZone = "Europe/Paris"
        try b.updateSite(onB)
        // Read (and so cached) between the writes: each write, local or merged, must show.
        #expect(try b.site(site.id)?.timeZone == "Europe/Paris")
        #expect(try a.site(site.id)?.timeZone == "UTC")
        clockA.advance(byMs: 10)
        var onA = site
        onA.retention = RetentionPlan(days: 90)!
        try a.updateSite(onA)
        let (newerOnA, _) = try a.compare(with: try b.index())
        try b.merge(newerOnA)
        let (newerOnB, _) = try b.compare(with: try a.index())
        try a.merge(newerOnB)
        #expect(try a.site(site.id) == b.site(site.id))
        #expect(try b.site(site.id)?.retention.days == 90, "the later write (a's) wins on both")
        // Replaying an older record changes nothing.
        #expect(try b.merge(pushed.withLock { $0 }) == 0)
    }

    @Test func aRevokedTokenStaysRevoked_whateverOrderRecordsArrive() throws {
        let a = SystemReplicationTests.store("node-a"), b = SystemReplicationTests.store("node-b")
        let pushed = Mutex<[Footfall_V1_SystemRecord]>([])
        a.onChange { records in pushed.withLock { $0 += records } }
        let account = try a.createAccount(email: "bo@example.org", password: "correct horse", nowMs: 1)
        let (token, secret) = try a.createToken(name: "t", accountID: account.id, sites: nil, rights: [.read], nowMs: 1)
        #expect(try a.revokeToken(id: token.id, accountID: account.id))
        // The tombstone arrives before the token itself.
        try b.merge(pushed.withLock { $0 }.reversed())
        #expect(try b.token(secret: secret) == nil)
        #expect(try a.token(secret: secret) == nil)
    }

    @Test func recordsOutsideTheReplicatedKeys_orWithoutJSON_areRefusedWhole() throws {
        let b = SystemReplicationTests.store("node-b")
        let site = #"{"id":"x.example","ownerID":"abc","timeZone":"UTC","retention":{"days":30},"createdMs":5}"#
        let good = Footfall_V1_SystemRecord.with { $0.key = "site:x.example"; $0.hlc = 5; $0.origin = "a"; $0.value = Data(site.utf8) }
        let foreign = Footfall_V1_SystemRecord.with { $0.key = "salt-seed"; $0.hlc = 5; $0.origin = "a"; $0.value = Data("{}".utf8) }
        let garbage = Footfall_V1_SystemRecord.with { $0.key = "site:y.example"; $0.hlc = 5; $0.origin = "a"; $0.value = Data([0xff, 0x00]) }
        #expect(throws: FootfallError.self) { try b.merge([good, foreign]) }
        #expect(throws: FootfallError.self) { try b.merge([good, garbage]) }
        #expect(try b.index().isEmpty, "nothing of a refused batch was applied")
        #expect(try b.merge([good]) == 1, "positive control")
    }

    @Test func malformedReplicaRequests_areRefused() throws {
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.message(Footfall_V1_ReplicaRequest()) }
        let badSite = Footfall_V1_ReplicaRequest.with {
            $0.id = 1
            $0.erasure = .with { $0.site = "not a site"; $0.requestID = "r"; $0.visitor = 1 }
        }
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.message(badSite) }
        let badEvent = Footfall_V1_ReplicaRequest.with {
            $0.id = 2
            $0.events = .with { $0.events = [.with { $0.id = Data([1, 2, 3]); $0.site = "a.example" }] }
        }
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.message(badEvent) }
        let tooMany = Footfall_V1_ReplicaRequest.with {
            $0.id = 3
            $0.events = .with { $0.events = Array(repeating: Footfall_V1_StoredEvent(), count: ReplicaWire.eventsMax + 1) }
        }
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.message(tooMany) }
        let farFence = Footfall_V1_ReplicaRequest.with {
            $0.id = 5
            $0.erasure = .with { $0.site = "a.example"; $0.requestID = "r"; $0.visitor = 1; $0.fenceMs = .max }
        }
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.message(farFence) }
        let farEdit = Footfall_V1_ReplicaRequest.with {
            $0.id = 6
            $0.visitorEdit = .with { $0.site = "a.example"; $0.visitor = 1; $0.atMs = .max; $0.removeNote = "n" }
        }
        #expect(throws: ReplicaWire.Malformed.self) { try ReplicaWire.message(farEdit) }
        // Positive control: a well-formed request round-trips, the previous day's visitor included.
        var event = Event(id: EventID.forHit(site: SiteID("a.example")!, hitID: "hit-00000001", timestampMs: 5), site: SiteID("a.example")!,
                          visitor: VisitorID(rawValue: 9), timestampMs: 5, kind: .pageview, path: "/")
        event.previousDayVisitor = VisitorID(rawValue: 8)
        let message = Replication.Message.apply(id: 4, .events([event]))
        #expect(try ReplicaWire.message(ReplicaWire.request(message)) == message)
    }
}
