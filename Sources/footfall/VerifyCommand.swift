import ArgumentParser
import Foundation
import FootfallStorage

/// `footfall verify`: reads every block of a stopped node's store and checks its checksum, the
/// way to tell whether a folder a node stopped on (`DataCorruption`) is damaged, and where.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every block of a stopped node's store against its checksum; exits 1 when any is damaged.",
        discussion: "Opens the store as the node does (replaying its write-ahead log), lists the table files with the family each holds, then reads every key of every family.")
    @OptionGroup var target: DataOptions

    func run() async throws {
        let path = (target.data as NSString).appendingPathComponent("db")
        guard FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("CURRENT")) else {
            throw ValidationError("\(target.data) holds no store (no db/CURRENT)")
        }
        let store: RocksDBStore
        do {
            store = try RocksDBStore(path: path)
        } catch where DataCorruption.isCorruption("\(error)") {
            print("damaged: the store does not open: \(error)")
            throw ExitCode(1)
        } catch {
            throw ValidationError("cannot open the store (RocksDB allows one process per folder: is the node still running?): \(error)")
        }
        defer { store.close() }
        let files = store.liveFiles().sorted { ($0.family, $0.name) < ($1.family, $1.name) }
        for file in files {
            print("\(file.family)\t\(file.name)\tlevel \(file.level)\t\(file.bytes) bytes\t\(file.entries) entries")
        }
        do {
            let keys = try store.verifyEveryBlock()
            print("clean: \(files.count) table files; keys read: " + keys.map { "\($0.0.rawValue) \($0.1)" }.joined(separator: ", "))
        } catch {
            print("damaged: \(error)")
            throw ExitCode(1)
        }
    }
}
