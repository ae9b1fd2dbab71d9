@testable import FootfallCluster
import FootfallModel
@testable import FootfallNode
import FootfallProtocols
import Testing

/// What a hint keeps on disk, and what a replica's acknowledgement carries back.
@Suite struct HintCodecTests {
    /// Hits over a visitor's daily cap are dropped on every replica; the ingest node counts them
    /// as dropped only if the acknowledgement says so.
    @Test func anAcknowledgement_carriesEveryOutcome() throws {
        let applied = Replication.Applied(stored: 1, duplicates: 2, expired: 3, fenced: 4, capped: 5)
        guard case .ack(_, _, let decoded) = try ReplicaWire.ack(ReplicaWire.ack(id: 9, atMs: 1_000, applied)) else {
            Issue.record("not an acknowledgement")
            return
        }
        #expect(decoded == applied)
    }

    /// In the half hour after UTC midnight a cookieless hit carries yesterday's id beside today's
    /// (so a visit across midnight stays one). On disk that pair would link the visitor across the
    /// salt change: a hint must never hold it.
    @Test func hintsNeverPairACookielessVisitorsTodayAndYesterdayIDs() throws {
        let site = SiteID("example.com")!
        let today = VisitorID(rawValue: 0x1111_2222_3333_4444), yesterday = VisitorID(rawValue: 0x5555_6666_7777_8888)
        var event = Event(id: EventID.serverMade(timestampMs: 1_000, node: 1, sequence: 1), site: site, visitor: today,
                          timestampMs: 1_000, kind: .pageview, path: "/")
        event.previousDayVisitor = yesterday
        let bytes = try HintCodec.encode(Replication.Hint(id: 7, target: "node-2", createdMs: 1_000, payload: .events([event])))
        let yesterdayBytes = withUnsafeBytes(of: yesterday.rawValue.littleEndian, Array.init)
        #expect(!bytes.indices.dropLast(7).contains { Array(bytes[$0..<$0 + 8]) == yesterdayBytes }, "yesterday's id is in the hint")
        let decoded = try HintCodec.decode(bytes)
        guard case .events(let events) = decoded.payload else { Issue.record("the hint lost its events"); return }
        #expect(events.map(\.visitor) == [today] && events[0].previousDayVisitor == nil)
    }

    /// A hint's time is read back from disk: one past the range a node writes is refused with an
    /// error rather than handed to the coordinator.
    @Test func aStoredHintsTimeOutOfRange_isRefused() throws {
        let event = Event(id: EventID.serverMade(timestampMs: 1_000, node: 1, sequence: 1), site: SiteID("example.com")!,
                          visitor: VisitorID(rawValue: 1), timestampMs: 1_000, kind: .pageview, path: "/")
        for createdMs in [Int64.max, -1] {
            let bytes = try HintCodec.encode(Replication.Hint(id: 7, target: "node-2", createdMs: createdMs, payload: .events([event])))
            #expect(throws: (any Error).self) { try HintCodec.decode(bytes) }
        }
        #expect(try HintCodec.decode(HintCodec.encode(Replication.Hint(id: 7, target: "node-2", createdMs: 1_000, payload: .events([event])))).createdMs == 1_000)
    }
}
