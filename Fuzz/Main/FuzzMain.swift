import FootfallFuzzTargets
import Foundation

// libFuzzer's callbacks (`-sanitize=fuzzer` links its `main`, which calls them). The target is
// chosen by FOOTFALL_FUZZ_TARGET; `Fuzz/run` runs each in turn. With FOOTFALL_FUZZ_WRITE_SEEDS set
// to a folder, the binary writes every target's seed inputs there instead and exits.

private nonisolated(unsafe) var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> CInt {
    let environment = ProcessInfo.processInfo.environment
    if let folder = environment["FOOTFALL_FUZZ_WRITE_SEEDS"] {
        do {
            try SeedWriter.write(to: folder)
        } catch {
            FileHandle.standardError.write(Data("cannot write the seeds: \(error)\n".utf8))
            exit(1)
        }
        exit(0)
    }
    guard let name = environment["FOOTFALL_FUZZ_TARGET"], let target = FuzzTargets.named(name) else {
        let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("set FOOTFALL_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selected?.run(input)
    return 0
}
