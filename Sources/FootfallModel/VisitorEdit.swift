import FootfallCrypto

/// An owner's change to a consented visitor's CRM record (notes, tags, rectified personal data).
/// Replicas apply edits in whatever order they arrive and end alike: notes are added and removed
/// by id (a removal is remembered, so a late addition does not bring a note back), and tags and
/// personal data keep the latest edit by `atMs`.
public struct VisitorEdit: Hashable, Sendable {
    public enum Change: Hashable, Sendable {
        case addNote(id: String, text: String)
        case removeNote(id: String)
        case setTags([String])
        /// nil leaves a field as it is.
        case rectify(name: String?, email: String?, phone: String?)
    }

    public var site: SiteID
    public var visitor: VisitorID
    /// The coordinating node's clock when the owner made the edit.
    public var atMs: Int64
    public var change: Change

    public init(site: SiteID, visitor: VisitorID, atMs: Int64, change: Change) {
        self.site = site
        self.visitor = visitor
        self.atMs = atMs
        self.change = change
    }

    /// Limits the API enforces and replicas check again.
    public static let noteLengthMax = 2000
    public static let notesMax = 500
    public static let tagsMax = 50
    public static let tagLengthMax = 50
    public static let personalFieldBytesMax = 254

    /// Why the edit is malformed, or nil.
    public var problem: String? {
        // Millisecond times below 2^52 (year 144,000): later arithmetic on them cannot overflow.
        guard (0...(Int64(1) << 52)).contains(atMs) else { return "an edit time out of range" }
        switch change {
        case .addNote(let id, let text):
            if id.isEmpty || id.utf8.count > 64 { return "a note id has 1 to 64 bytes" }
            if !(1...VisitorEdit.noteLengthMax).contains(text.count) { return "a note has 1 to \(VisitorEdit.noteLengthMax) characters" }
        case .removeNote(let id):
            if id.utf8.count > 64 { return "a note id has at most 64 bytes" }
        case .setTags(let tags):
            if tags.count > VisitorEdit.tagsMax || tags.contains(where: { $0.isEmpty || $0.count > VisitorEdit.tagLengthMax }) {
                return "at most \(VisitorEdit.tagsMax) tags of 1 to \(VisitorEdit.tagLengthMax) characters"
            }
        case .rectify(let name, let email, let phone):
            if [name, email, phone].contains(where: { ($0?.utf8.count ?? 0) > VisitorEdit.personalFieldBytesMax }) {
                return "personal data fields are at most \(VisitorEdit.personalFieldBytesMax) bytes"
            }
        }
        return nil
    }
}

extension VisitorEdit {
    /// A digest of the edits that rebuild a visitor's record (`VisitorRecord.rebuildingEdits`), so
    /// that replicas compare records without sending them: equal exactly when the notes, removed
    /// notes, tags and personal data agree, with their times. A removal's time is left out (a
    /// record remembers which notes were removed, not when). SHA-256 over a length-prefixed
    /// encoding, so no two lists of edits share an input.
    public static func digest(of edits: [VisitorEdit]) -> UInt64 {
        var bytes = [UInt8]()
        func append(_ text: String?) {
            guard let text else { return bytes.append(0) }
            bytes.append(1)
            bytes += UInt64(text.utf8.count).bigEndianBytes
            bytes += Array(text.utf8)
        }
        for edit in edits {
            switch edit.change {
            case .addNote(let id, let text):
                bytes.append(1)
                bytes += edit.atMs.bigEndianBytes
                append(id)
                append(text)
            case .removeNote(let id):
                bytes.append(2)
                append(id)
            case .setTags(let tags):
                bytes.append(3)
                bytes += edit.atMs.bigEndianBytes
                bytes += UInt64(tags.count).bigEndianBytes
                tags.forEach { append($0) }
            case .rectify(let name, let email, let phone):
                bytes.append(4)
                bytes += edit.atMs.bigEndianBytes
                append(name)
                append(email)
                append(phone)
            }
        }
        return UInt64(bigEndianBytes: Crypto.sha256(bytes).prefix(8))
    }
}
