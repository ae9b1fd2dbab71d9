#if canImport(Glibc)
import Glibc
#endif

/// The benchmark's shared data set, as `Bench/dataset.py` writes it for every contender: a CSV
/// with a header, one event a row (site, ts_ms, visitor, path, referrer, country, browser, os,
/// device, user_agent). Only the user agent is quoted (it holds commas); no field spans lines.
struct DatasetCSV: Sequence, IteratorProtocol {
    struct Row {
        var site: String
        var timestampMs: Int64
        var visitor: UInt64
        var path: String
        var referrer: String
        var country: String
        var userAgent: String
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    private let file: UnsafeMutablePointer<FILE>
    private var line: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    private(set) var lineNumber = 1

    init(path: String) throws {
        guard let file = fopen(path, "r") else { throw Failure(description: "cannot open \(path)") }
        self.file = file
        _ = getline(&line, &capacity, file)  // the header
    }

    /// Closes the file; the sequence is done with it (it is read once, front to back).
    func close() {
        fclose(file)
        free(line)
    }

    mutating func next() -> Row? {
        let length = getline(&line, &capacity, file)
        guard length > 0, let line else { return nil }
        lineNumber += 1
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(line).assumingMemoryBound(to: UInt8.self), count: length)
        let fields = DatasetCSV.split(bytes)
        guard fields.count == 10, let ms = Int64(fields[1]), let visitor = UInt64(fields[2]) else { return nil }
        return Row(site: fields[0], timestampMs: ms, visitor: visitor, path: fields[3], referrer: fields[4],
                   country: fields[5], userAgent: fields[9])
    }

    /// The fields of one line: commas split, except inside double quotes (`""` is a quote).
    static func split(_ bytes: UnsafeBufferPointer<UInt8>) -> [String] {
        var fields = [String]()
        fields.reserveCapacity(10)
        var current = [UInt8]()
        var quoted = false
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") { current.append(byte); i += 1 } else { quoted = false }
                } else {
                    current.append(byte)
                }
            } else if byte == UInt8(ascii: "\"") {
                quoted = true
            } else if byte == UInt8(ascii: ",") {
                fields.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            } else if byte != UInt8(ascii: "\n") && byte != UInt8(ascii: "\r") {
                current.append(byte)
            }
            i += 1
        }
        fields.append(String(decoding: current, as: UTF8.self))
        return fields
    }
}
