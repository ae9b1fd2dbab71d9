import FootfallModel
import FootfallWire
import Foundation

/// Whole-record checks for system records from peers. A value must decode as its key's real type
/// (an account, a site, a token…), name the key it is stored under, and hold times within
/// 0...2^52 ms and sizes within what this node itself would write. Readers trust stored records —
/// maintenance subtracts an account's last activity from now, reports use a site's zone and
/// retention — so a record failing any check is never stored.
package enum SystemRecordCheck {
    package static let timeMs: ClosedRange<Int64> = 0...(Int64(1) << 52)

    /// What is wrong with `record`, or nil. Tombstones carry no value; a revocation is never
    /// deleted.
    package static func problem(with record: Footfall_V1_SystemRecord) -> String? {
        let key = record.key
        if record.deleted {
            return NodeRevocation.kind(ofKey: key) != nil ? "a revocation cannot be deleted" : nil
        }
        do {
            if let id = key.suffix(after: "account:") { return try problem(with: decode(Account.self, record), id: id) }
            if key.hasPrefix("account-email:") {
                let id = try decode(String.self, record)
                return (1...64).contains(id.utf8.count) ? nil : "an account id of \(id.utf8.count) bytes"
            }
            if let id = key.suffix(after: "site:") { return try problem(with: decode(Site.self, record), id: id) }
            if key.hasPrefix("token:") { return try problem(with: decode(APIToken.self, record)) }
            if key.hasPrefix("session:") {
                let session = try decode(LoginSession.self, record)
                return timeMs.contains(session.expiresMs) ? nil : "a session expiry out of range"
            }
            if let kind = NodeRevocation.kind(ofKey: key), let name = key.suffix(after: kind.keyPrefix) {
                let revocation = try decode(NodeRevocation.self, record)
                guard revocation.name == name, ClusterIdentity.isValidName(name) else { return "a revocation for another name" }
                return timeMs.contains(revocation.revokedMs) ? nil : "a revocation time out of range"
            }
            if key.hasPrefix(SiteDataGone.keyPrefix) {
                let gone = try decode(SiteDataGone.self, record)
                guard gone.key == key, ClusterIdentity.isValidName(gone.node) else { return "a confirmation stored under another key" }
                return record.origin == gone.node ? nil : "a confirmation written by another node than the one it speaks for"
            }
            return "no known kind of record"
        } catch {
            return "its value does not decode (\(error))"
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ record: Footfall_V1_SystemRecord) throws -> T {
        try JSONDecoder().decode(type, from: record.value)
    }

    private static func problem(with account: Account, id: String) -> String? {
        guard account.id == id else { return "an account stored under another id" }
        guard timeMs.contains(account.createdMs), timeMs.contains(account.lastActiveMs) else { return "an account time out of range" }
        guard (1...254).contains(account.email.utf8.count) else { return "an account email of \(account.email.utf8.count) bytes" }
        guard (1...64).contains(account.passwordSalt.count), (1...64).contains(account.passwordHash.count) else {
            return "an account password salt or hash of implausible size"
        }
        return nil
    }

    private static func problem(with site: Site, id: String) -> String? {
        guard site.id.rawValue == id else { return "a site stored under another domain" }
        guard RetentionPlan(days: site.retention.days) != nil else { return "a retention of \(site.retention.days) days" }
        guard site.timeZone.utf8.count <= 64, TimeZone(identifier: site.timeZone) != nil else { return "an unknown time zone" }
        guard timeMs.contains(site.createdMs), (1...64).contains(site.ownerID.utf8.count) else { return "a site time or owner out of range" }
        return nil
    }

    private static func problem(with token: APIToken) -> String? {
        guard (1...64).contains(token.id.utf8.count), (1...64).contains(token.accountID.utf8.count), token.name.utf8.count <= 400 else {
            return "a token id, account or name out of range"
        }
        guard (token.sites?.count ?? 0) <= 10_000 else { return "a token for more than 10,000 sites" }
        return timeMs.contains(token.createdMs) ? nil : "a token time out of range"
    }
}

extension String {
    /// What follows `prefix`, when the string starts with it.
    package func suffix(after prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
