import Dispatch
@testable import FootfallIngest
import FootfallModel
@testable import FootfallNode
import FootfallRuntime
import FootfallStorage
import Foundation
import Testing

/// How requests gather into storage batches, with a write that holds each batch until the test
/// lets it go: no store, no timing.
@Suite struct GroupCommitterTests {
    /// Records each batch's size as its write begins, and holds the write until released.
    final class HeldWrites: @unchecked Sendable {
        private let lock = NSLock()
        private var sizes: [Int] = []
        private let gate = DispatchSemaphore(value: 0)

        func write(_ events: [Event]) -> [EventStore.Outcome] {
            lock.withLock { sizes.append(events.count) }
            gate.wait()
            return events.map { _ in .stored }
        }

        var begun: [Int] { lock.withLock { sizes } }
        func release(_ count: Int) { for _ in 0..<count { gate.signal() } }

        /// Waits (up to ten seconds) until `count` writes have begun.
        func awaitBegun(_ count: Int) async -> Bool {
            for _ in 0..<1_000 {
                if begun.count >= count { return true }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return false
        }
    }

    static func events(_ count: Int, from first: Int) -> [Event] {
        (first..<first + count).map { n in
            Event(id: .forHit(site: SiteID("commit.example")!, hitID: "hit-\(n)-abcdef", timestampMs: 1_000), site: SiteID("commit.example")!,
                  visitor: VisitorID(rawValue: UInt64(n)), timestampMs: 1_000, kind: .pageview, path: "/")
        }
    }

    static func waitUntilPending(_ committer: GroupCommitter, _ count: Int) async -> Bool {
        for _ in 0..<1_000 {
            if await committer.pendingEvents == count { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Single hits that arrive while a batch is written wait for it and go out together in one
    /// batch (one WAL sync), not in a second small batch beside it.
    @Test func singleHitsDuringAWrite_gatherIntoOneBatch() async throws {
        let held = HeldWrites()
        let committer = GroupCommitter(clock: ManualClock(nowMs: 1_000)) { events, _ in held.write(events) }
        let first = Task { try await committer.submit(GroupCommitterTests.events(1, from: 0)) }
        #expect(await held.awaitBegun(1))
        let singles = (1...10).map { n in Task { try await committer.submit(GroupCommitterTests.events(1, from: n)) } }
        #expect(await GroupCommitterTests.waitUntilPending(committer, 10), "the ten hits wait while the first batch is written")
        #expect(held.begun == [1], "no second batch for ten single hits")
        held.release(1)
        #expect(await held.awaitBegun(2))
        held.release(11)  // enough for every batch, however they were cut: a wrong cut fails, not hangs
        #expect(try await first.value == [.stored])
        for single in singles { #expect(try await single.value == [.stored]) }
        #expect(held.begun == [1, 10], "the ten hits went out as one batch")
    }

    /// A request of many events does not wait: it starts a second batch beside the one being
    /// written, so the store prepares it while the other holds the write lock.
    @Test func manyEventsDuringAWrite_startASecondBatchAtOnce() async throws {
        let held = HeldWrites()
        let committer = GroupCommitter(clock: ManualClock(nowMs: 1_000)) { events, _ in held.write(events) }
        let first = Task { try await committer.submit(GroupCommitterTests.events(1, from: 0)) }
        #expect(await held.awaitBegun(1))
        let big = Task { try await committer.submit(GroupCommitterTests.events(GroupCommitter.secondBatchEventsMin, from: 1)) }
        #expect(await held.awaitBegun(2), "a second batch began while the first was still held")
        #expect(held.begun == [1, GroupCommitter.secondBatchEventsMin])
        held.release(2)
        #expect(try await first.value == [.stored])
        #expect(try await big.value.count == GroupCommitter.secondBatchEventsMin)
    }
}
