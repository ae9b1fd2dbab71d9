@testable import FootfallProtocols
import Testing

/// The ring epoch is a sum of ownership versions that came from peers and from a file on disk:
/// however large they are, summing them must not trap.
@Suite struct OwnershipEpochTests {
    typealias M = Membership
    static let t0 = MonotonicTime(nanoseconds: 1_000_000_000)

    static func ghosts(_ count: Int, version: UInt64) -> [M.OwnershipRecord] {
        (0..<count).map { M.OwnershipRecord(name: "ghost-\($0)", state: .removed, version: version) }
    }

    @Test func epoch_saturates_whenVersionsSumPast2To64() {
        let records = OwnershipEpochTests.ghosts(4096, version: 1 << 52) + [M.OwnershipRecord(name: "a", state: .normal, version: 1)]
        #expect(M.readRing(of: records).epoch == .max)
        #expect(M.readRing(of: records).members == ["a"])
        #expect(M.epoch(of: OwnershipEpochTests.ghosts(3, version: 5)) == 15)
    }

    @Test func gossipedVersionsSummingPast2To64_leaveTheInstanceRunning() {
        var a = M.Instance(myself: M.Member(name: "a", uid: 1, address: "a:7946"), randomSeed: 3, now: OwnershipEpochTests.t0)
        _ = a.onStart(now: OwnershipEpochTests.t0)
        // The wire bounds versions; the instance must not trap even on what it lets through.
        let gossip = OwnershipEpochTests.ghosts(2, version: 1 << 63).map { M.Update.ownership($0) }
        _ = a.onMessage(M.Envelope(from: M.Member(name: "b", uid: 1, address: "b:7946"), incarnation: 0, message: .gossip(gossip)),
                        now: OwnershipEpochTests.t0)
        #expect(a.ring().epoch == .max)
        #expect(a.pendingRing().epoch == .max)
        #expect(a.ring().members == ["a"])
    }

    /// A saved map whose versions are at the limit: restarting from it, and changing ownership
    /// afterwards, neither traps nor loses the change.
    @Test func restartFromSavedVersionsAtTheLimit_neitherTrapsNorLosesChanges() {
        let saved = [M.OwnershipRecord(name: "a", state: .normal, version: .max), M.OwnershipRecord(name: "b", state: .normal, version: .max)]
        var a = M.Instance(myself: M.Member(name: "a", uid: 1, address: "a:7946"), knownOwnership: saved, randomSeed: 3,
                           now: OwnershipEpochTests.t0)
        #expect(a.ring().epoch == .max)
        _ = a.onOwnStateChange(to: .leaving, now: OwnershipEpochTests.t0)
        #expect(throws: Never.self) { try a.onRemove(name: "b", now: OwnershipEpochTests.t0).get() }
        #expect(a.ownershipRecords.map(\.state) == [.leaving, .removed])
    }
}
