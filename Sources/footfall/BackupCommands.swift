import ArgumentParser
import FootfallCluster
import FootfallNode
import FootfallStorage
import FootfallWire
import Foundation
import GRPCCore

/// What a backup folder holds besides the snapshot's files, written last: a backup without it was
/// interrupted, and `restore` refuses it.
struct BackupManifest: Codable {
    static let fileName = "footfall-backup.json"
    var format = 1
    var node: String
    var snapshotMs: Int64
    var files: [Entry]

    struct Entry: Codable {
        var path: String
        var size: UInt64
    }

    enum CodingKeys: String, CodingKey { case format, node, files; case snapshotMs = "snapshot_ms" }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Take an online snapshot of a running node (its store and cluster state) into a folder, or as a tar stream.",
        discussion: """
        The node keeps serving; the snapshot is one consistent view of its store. It holds raw events and visitor \
        profiles: keep it as safe as the node's disk, and no longer than the sites' retention. Not included: the \
        daily-salt seed (a restored node gets today's from a peer) and certificates.
        """)
    @OptionGroup var connection: ClusterCommand.Connection
    @Option(help: "A new (or empty) folder to write the snapshot into; - writes a tar stream to standard output.")
    var to: String

    func run() async throws {
        let to = self.to
        let manifest = try await connection.withNode { client in
            try await client.backup(Footfall_V1_BackupRequest(), options: ClusterTransport.callOptions(timeout: .seconds(24 * 3600))) { response in
                var sink: any BackupSink = to == "-" ? TarSink(output: .standardOutput) : try FolderSink(path: to)
                var manifest: BackupManifest?
                var filesDone = 0, bytesDone: UInt64 = 0
                var expected: (files: UInt32, bytes: UInt64) = (0, 0)
                for try await chunk in response.messages {
                    try sink.write(chunk)
                    expected = (chunk.totalFiles, chunk.totalBytes)
                    if manifest == nil { manifest = BackupManifest(node: chunk.nodeName, snapshotMs: chunk.snapshotMs, files: []) }
                    bytesDone += UInt64(chunk.data.count)
                    if chunk.offset + UInt64(chunk.data.count) == chunk.fileSize {
                        filesDone += 1
                        manifest?.files.append(.init(path: chunk.path, size: chunk.fileSize))
                        BackupCommand.progress("[\(filesDone)/\(chunk.totalFiles)] \(chunk.path): "
                                               + "\(ClusterCommand.bytes(bytesDone)) of \(ClusterCommand.bytes(chunk.totalBytes))")
                    }
                }
                // The manifest is what makes a backup complete: a stream that ended early, or
                // short of what its chunks said the snapshot holds, gets none.
                guard let manifest, !manifest.files.isEmpty, manifest.files.count == Int(expected.files),
                      manifest.files.reduce(0, { $0 + $1.size }) == expected.bytes
                else {
                    throw ValidationError("the node's stream ended short of its snapshot (\(filesDone) of \(expected.files) files): "
                                          + "this backup is incomplete; run it again")
                }
                try sink.finish(manifest: manifest)
                return manifest
            }
        }
        let taken = Date(timeIntervalSince1970: Double(manifest.snapshotMs) / 1000)
        BackupCommand.progress("backup of \(manifest.node) taken at \(taken) complete: \(manifest.files.count) files")
    }

    /// Progress goes to standard error, so a tar stream on standard output stays clean.
    static func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Where a backup's chunks go: each file's chunks arrive in order, from offset 0.
protocol BackupSink {
    mutating func write(_ chunk: Footfall_V1_BackupChunk) throws
    mutating func finish(manifest: BackupManifest) throws
}

/// Files under a folder that did not exist or was empty.
struct FolderSink: BackupSink {
    let folder: URL
    private var open: (path: String, handle: FileHandle, written: UInt64)?

    init(path: String) throws {
        folder = URL(fileURLWithPath: path)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        guard existing.isEmpty else { throw ValidationError("\(path) is not empty: back up into a new folder") }
        // Private, like the node's own data folder: a snapshot holds raw events and profiles.
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    mutating func write(_ chunk: Footfall_V1_BackupChunk) throws {
        if chunk.offset == 0 {
            let url = try BackupPath.resolve(chunk.path, under: folder)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot create \(url.path)")
            }
            open = (chunk.path, try FileHandle(forWritingTo: url), 0)
        }
        guard let current = open, current.path == chunk.path, current.written == chunk.offset else {
            throw ValidationError("the node's stream skipped part of \(chunk.path)")
        }
        try current.handle.write(contentsOf: chunk.data)
        open?.written += UInt64(chunk.data.count)
        if chunk.offset + UInt64(chunk.data.count) == chunk.fileSize {
            try current.handle.synchronize()
            try current.handle.close()
            open = nil
        }
    }

    func finish(manifest: BackupManifest) throws {
        try manifest.encoded().write(to: folder.appendingPathComponent(BackupManifest.fileName), options: .atomic)
    }
}

/// A POSIX tar (ustar) stream: extract it with `tar -xf` into a folder `restore` reads.
struct TarSink: BackupSink {
    let output: FileHandle
    private var written: UInt64 = 0

    init(output: FileHandle) { self.output = output }

    mutating func write(_ chunk: Footfall_V1_BackupChunk) throws {
        if chunk.offset == 0 {
            try BackupPath.validate(chunk.path)
            try output.write(contentsOf: try TarSink.header(path: chunk.path, size: chunk.fileSize))
            written = 0
        }
        guard written == chunk.offset else { throw ValidationError("the node's stream skipped part of \(chunk.path)") }
        try output.write(contentsOf: chunk.data)
        written += UInt64(chunk.data.count)
        if written == chunk.fileSize { try output.write(contentsOf: TarSink.padding(after: written)) }
    }

    func finish(manifest: BackupManifest) throws {
        let data = try manifest.encoded()
        try output.write(contentsOf: try TarSink.header(path: BackupManifest.fileName, size: UInt64(data.count)))
        try output.write(contentsOf: data + TarSink.padding(after: UInt64(data.count)))
        // Two zero blocks end the archive.
        try output.write(contentsOf: Data(count: 1024))
    }

    static func padding(after size: UInt64) -> Data { Data(count: Int((512 - size % 512) % 512)) }

    /// A 512-byte ustar header of a regular file (owner root, mode 0600: a backup is private).
    static func header(path: String, size: UInt64) throws -> Data {
        let name = Array(path.utf8)
        guard name.count < 100 else { throw ValidationError("\(path) is too long a name for tar") }
        // Eleven octal digits: ustar's size field stops below 8 GiB (RocksDB's table files are far smaller).
        guard size < 1 << 33 else { throw ValidationError("\(path) is 8 GiB or more: back it up into a folder instead") }
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) { for (i, byte) in text.utf8.enumerated() { block[offset + i] = byte } }
        func octal(_ value: UInt64, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
        }
        block.replaceSubrange(0..<name.count, with: name)
        put(octal(0o600, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(UInt64(Date().timeIntervalSince1970), width: 12), at: 136)
        put("        ", at: 148)
        block[156] = UInt8(ascii: "0")
        put("ustar", at: 257)
        put("00", at: 263)
        let sum = block.reduce(0) { $0 + UInt64($1) }
        put(octal(sum, width: 7), at: 148)
        return Data(block)
    }
}

/// A snapshot's relative paths are the node's to name, so they are checked before use: no
/// absolute path, no "..", nothing that leaves the folder.
enum BackupPath {
    static func validate(_ path: String) throws {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw ValidationError("refusing the path \(path.debugDescription) in a backup")
        }
    }

    static func resolve(_ path: String, under folder: URL) throws -> URL {
        try validate(path)
        return folder.appendingPathComponent(path)
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Build a node's data folder from a backup; started, the node repairs from its peers before it serves reads.",
        discussion: """
        A tar stream from `footfall backup --to -` is extracted first (tar -xf backup.tar -C folder). Start the \
        restored node with the name it had (--node-name) and --join a live member: anti-entropy brings it what was \
        written after the snapshot, and the erasures made since, whose fences delete what it held of those \
        visitors. A single node has no peer to learn them from: repeat those erasures (footfall erase) before \
        serving.
        """)
    @Option(help: "The backup folder.") var from: String
    @OptionGroup var target: DataOptions

    func run() async throws {
        let source = URL(fileURLWithPath: from)
        guard let data = FileManager.default.contents(atPath: source.appendingPathComponent(BackupManifest.fileName).path),
              let manifest = try? JSONDecoder().decode(BackupManifest.self, from: data)
        else {
            throw ValidationError("\(from) is not a complete backup: it has no readable \(BackupManifest.fileName) (was the backup interrupted?)")
        }
        guard manifest.format == 1 else { throw ValidationError("\(from) is a backup of format \(manifest.format); this footfall reads format 1") }
        let destination = URL(fileURLWithPath: target.data)
        guard ((try? FileManager.default.contentsOfDirectory(atPath: target.data)) ?? []).isEmpty else {
            throw ValidationError("\(target.data) is not empty: restore into a new folder (the node must be stopped)")
        }
        for file in manifest.files {
            let origin = try BackupPath.resolve(file.path, under: source), copy = try BackupPath.resolve(file.path, under: destination)
            let size = (try? FileManager.default.attributesOfItem(atPath: origin.path)[.size] as? NSNumber)?.uint64Value
            guard size == file.size else { throw ValidationError("\(origin.path) has \(size.map(String.init) ?? "no") bytes, the backup \(file.size)") }
            try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: origin, to: copy)
        }
        let store = try RocksDBStore(path: destination.appendingPathComponent("db").path, settings: RocksDBStore.Settings())
        try Backup.markRestored(store)
        let taken = Date(timeIntervalSince1970: Double(manifest.snapshotMs) / 1000)
        print("""
        Restored \(manifest.node)'s snapshot of \(taken) into \(target.data) (\(manifest.files.count) files).
        Start it as \(manifest.node) and join a live member:
          footfall serve --data \(target.data) --node-name \(manifest.node) --join <member's cluster address> …
        It serves no reads of its own until anti-entropy has compared it with its replicas.
        """)
    }
}
