import Foundation
import HTTPTypes
import Testing
@testable import FootfallFuzzTargets

/// Every committed fuzz input — the seed corpora and the inputs that once crashed a target — runs
/// through its target in every `make test`, so a fixed finding stays fixed and the targets keep
/// building and running between `make fuzz` runs. A trap or a broken invariant fails the run.
@Suite struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ folder: String, _ target: FuzzTarget) -> [URL] {
        let directory = root.appendingPathComponent(folder).appendingPathComponent(target.name)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func committedInputsRunClean(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        let seeds = Self.inputs("Corpus", target)
        #expect(!seeds.isEmpty, "no committed seed corpus for \(name): run make fuzz-seeds")
        let inputs = try (seeds + Self.inputs("Regressions", target)).map { Array(try Data(contentsOf: $0)) }
        await Self.run(target, inputs)
    }

    /// The seeds each target builds from today's formats run clean too (the committed corpus may
    /// predate a format change; `make fuzz-seeds` refreshes it).
    @Test(arguments: FuzzTargets.all.map(\.name))
    func freshSeedsRunClean(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        let built = await Self.offPool { target.seeds() }
        #expect(!built.isEmpty)
        await Self.run(target, built)
    }

    /// The targets reach the node, not an error path in front of it: the fixture holds its traffic,
    /// and the router session answers the owner's token and refuses another account's.
    @Test func fixtureAndRouterAreLive() async throws {
        let (stored, owner, stranger) = await Self.offPool {
            let fixture = FuzzNode()
            let router = RouterSession(node: fixture.node)
            func status(_ token: String) -> HTTPResponse.Status? {
                router.send(uri: "/api/sites/shop.example/summary?filter.page=/p/1", method: .get,
                            headers: [.authorization: "Bearer \(token)"], body: nil)?.status
            }
            return (fixture.storedEvents().count, status(fixture.ownerToken), status(fixture.strangerToken))
        }
        #expect(stored >= 150, "the fixture's traffic was not stored: \(stored) events")
        #expect(owner == .ok)
        #expect(stranger == .notFound)
    }

    static func run(_ target: FuzzTarget, _ inputs: [[UInt8]]) async {
        await offPool { for input in inputs { target.run(input) } }
    }

    /// Targets wait for async node code as libFuzzer's callback does, blocking their thread: run
    /// them on a Dispatch thread, never on the cooperative pool they wait for.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }
}
