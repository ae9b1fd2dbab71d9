@testable import FootfallModel
import Testing

@Suite struct EventIDTests {
    let example = FootfallModelTests.site("example.com")
    let other = FootfallModelTests.site("other.org")
    let now = may1st2024Ms + 12_345

    @Test func retriedHit_hasSameEventID() {
        #expect(EventID.forHit(site: example, hitID: "k3j4h5", timestampMs: now) == EventID.forHit(site: example, hitID: "k3j4h5", timestampMs: now))
    }

    @Test func differentHits_haveDifferentEventIDs() {
        let ids = Set((0..<10_000).map { EventID.forHit(site: example, hitID: "hit-\($0)", timestampMs: now) })
        #expect(ids.count == 10_000)
    }

    @Test func sameHitIDOnAnotherSite_isAnotherEvent() {
        let a = EventID.forHit(site: example, hitID: "k3j4h5", timestampMs: now)
        let b = EventID.forHit(site: other, hitID: "k3j4h5", timestampMs: now)
        #expect(a != b)
        #expect(a.bytes.suffix(10) != b.bytes.suffix(10))
    }

    @Test func siteAndHitIDBoundary_cannotBeShifted() {
        #expect(EventID.forHit(site: FootfallModelTests.site("a.com"), hitID: "x", timestampMs: now)
                != EventID.forHit(site: FootfallModelTests.site("a.co"), hitID: "mx", timestampMs: now))
    }

    @Test func forHit_keepsTheHitsTimestamp() {
        let id = EventID.forHit(site: example, hitID: "h", timestampMs: now)
        #expect(id.timestampMs == now)
        #expect(id.bytes.count == 16)
        #expect(EventID.forHit(site: example, hitID: "h", timestampMs: now + 1) != id)
    }

    @Test(arguments: [0, 1, 999, may1st2024Ms, 4_102_444_800_000, (1 << 48) - 1] as [Int64])
    func timestamp_roundTrips(ms: Int64) {
        #expect(EventID.forHit(site: example, hitID: "h", timestampMs: ms).timestampMs == ms)
        #expect(EventID.serverMade(timestampMs: ms, node: 7, sequence: 9).timestampMs == ms)
    }

    @Test func timestamp_isTheFirst48BitsBigEndian() {
        let id = EventID.serverMade(timestampMs: 0x0102_0304_0506, node: 0, sequence: 0)
        #expect(Array(id.bytes.prefix(6)) == [1, 2, 3, 4, 5, 6])
    }

    @Test func negativeTimestamps_clampToZero() {
        #expect(EventID.forHit(site: example, hitID: "h", timestampMs: -5).timestampMs == 0)
    }

    @Test func ordering_followsTime_whateverTheTail() {
        var rng = SplitMix64(seed: 11)
        let ids = (0..<2_000).map { i -> EventID in
            let ms = may1st2024Ms + Int64.random(in: 0..<(1 << 30), using: &rng)
            return i % 2 == 0
                ? EventID.forHit(site: example, hitID: "h\(i)", timestampMs: ms)
                : EventID.serverMade(timestampMs: ms, node: UInt32.random(in: 0...UInt32.max, using: &rng), sequence: rng.next())
        }
        let sorted = ids.sorted()
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            #expect(a.timestampMs <= b.timestampMs)
        }
        #expect(EventID.forHit(site: example, hitID: "zzz", timestampMs: now) < EventID.forHit(site: example, hitID: "aaa", timestampMs: now + 1))
        #expect(EventID.serverMade(timestampMs: 255, node: .max, sequence: .max) < EventID.serverMade(timestampMs: 256, node: 0, sequence: 0))
    }

    @Test func serverMadeIDs_withDifferentNodes_neverCollide() {
        // A restarted node (new random node field) whose clock stepped back reuses times and sequences.
        var seen = Set<EventID>()
        for node: UInt32 in [0, 1, 0x8000_0000, .max] {
            for sequence: UInt64 in 0..<500 {
                #expect(seen.insert(EventID.serverMade(timestampMs: now, node: node, sequence: sequence)).inserted)
            }
        }
        #expect(EventID.serverMade(timestampMs: now, node: 1, sequence: 0) != EventID.serverMade(timestampMs: now, node: 2, sequence: 0))
    }

    @Test func serverMadeIDs_fromOneNode_differBySequence() {
        #expect(EventID.serverMade(timestampMs: now, node: 5, sequence: 1) != EventID.serverMade(timestampMs: now, node: 5, sequence: 2))
        #expect(EventID.serverMade(timestampMs: now, node: 5, sequence: (1 << 48) - 1) != EventID.serverMade(timestampMs: now, node: 5, sequence: 0))
    }

    @Test func serverMadeLayout_isTimeNodeSequence() {
        let id = EventID.serverMade(timestampMs: 1, node: 0xAABB_CCDD, sequence: 0x1122_3344_5566)
        #expect(id.bytes == [0, 0, 0, 0, 0, 1, 0xAA, 0xBB, 0xCC, 0xDD, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66])
    }

    @Test func hex_roundTrips() {
        for id in [EventID.forHit(site: example, hitID: "h", timestampMs: now), EventID.serverMade(timestampMs: 0, node: 0, sequence: 0),
                   EventID(bytes: [UInt8](repeating: 0xff, count: 16))!] {
            #expect(id.description.count == 32)
            #expect(EventID(hex: id.description) == id)
            #expect(EventID(hex: id.description.uppercased()) == id)
        }
        #expect(EventID(bytes: Array(0..<16))!.description == "000102030405060708090a0b0c0d0e0f")
    }

    @Test(arguments: ["", "00", String(repeating: "0", count: 30), String(repeating: "0", count: 34), String(repeating: "0", count: 31),
                      String(repeating: "0", count: 31) + "g", String(repeating: "é", count: 16)])
    func badHex_isRejected(hex: String) {
        #expect(EventID(hex: hex) == nil)
    }

    @Test func bytes_mustBe16() {
        #expect(EventID(bytes: []) == nil)
        #expect(EventID(bytes: [UInt8](repeating: 0, count: 15)) == nil)
        #expect(EventID(bytes: [UInt8](repeating: 0, count: 17)) == nil)
        #expect(EventID(bytes: [UInt8](repeating: 0, count: 16)) != nil)
    }
}
