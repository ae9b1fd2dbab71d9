import Foundation

// Who owns what and who may do what: accounts, their sites, the credentials that act for them
// (API tokens and dashboard sessions) and the rights those carry. Plain values; `SystemStore`
// keeps them and replicates them, `Node` resolves a request's credential to a `Principal`.

/// A site owner. The password is kept only as a scrypt hash with a per-user salt (promise 12).
public struct Account: Codable, Hashable, Sendable {
    public var id: String
    public var email: String
    public var passwordSalt: [UInt8]
    public var passwordHash: [UInt8]
    public var createdMs: Int64
    /// Last login or token use; accounts idle for 720 days are deleted (promise 11).
    public var lastActiveMs: Int64
    /// The cluster operator principal: cluster status, repair, decommission. Not a site right.
    public var isOperator: Bool

    public init(id: String, email: String, passwordSalt: [UInt8], passwordHash: [UInt8], createdMs: Int64, lastActiveMs: Int64, isOperator: Bool) {
        self.id = id
        self.email = email
        self.passwordSalt = passwordSalt
        self.passwordHash = passwordHash
        self.createdMs = createdMs
        self.lastActiveMs = lastActiveMs
        self.isOperator = isOperator
    }
}

public struct Site: Codable, Hashable, Sendable {
    public var id: SiteID
    public var ownerID: String
    /// IANA time zone name; reports are computed in it.
    public var timeZone: String
    public var retention: RetentionPlan
    public var createdMs: Int64

    public init(id: SiteID, ownerID: String, timeZone: String, retention: RetentionPlan, createdMs: Int64) {
        self.id = id
        self.ownerID = ownerID
        self.timeZone = timeZone
        self.retention = retention
        self.createdMs = createdMs
    }
}

extension SiteID: Codable {
    public init(from decoder: any Swift.Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let site = SiteID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a site id"))
        }
        self = site
    }

    public func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// What a credential may do on a site.
public enum SiteRight: String, Codable, CaseIterable, Sendable, Comparable {
    /// Aggregate reports and realtime.
    case read
    /// Visitor list, profiles, CRM notes and tags, export.
    case visitors
    /// Erasure of a visitor.
    case erase
    /// Site settings and tokens.
    case admin

    public static func < (a: SiteRight, b: SiteRight) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// An API token. Only the SHA-256 of its secret is stored; the secret is shown once at creation.
public struct APIToken: Codable, Hashable, Sendable {
    public var id: String
    public var name: String
    public var accountID: String
    /// Sites the token may touch; nil means every site the account owns, now and later.
    public var sites: [SiteID]?
    public var rights: [SiteRight]
    public var createdMs: Int64

    public init(id: String, name: String, accountID: String, sites: [SiteID]?, rights: [SiteRight], createdMs: Int64) {
        self.id = id
        self.name = name
        self.accountID = accountID
        self.sites = sites
        self.rights = rights
        self.createdMs = createdMs
    }
}

/// A dashboard login. Only the SHA-256 of the cookie value is stored.
public struct LoginSession: Codable, Hashable, Sendable {
    public var accountID: String
    public var csrfToken: String
    public var expiresMs: Int64

    public init(accountID: String, csrfToken: String, expiresMs: Int64) {
        self.accountID = accountID
        self.csrfToken = csrfToken
        self.expiresMs = expiresMs
    }
}

/// Who is asking: an account, through a dashboard session or an API token.
public struct Principal: Sendable {
    public var account: Account
    /// nil for a dashboard session, which carries every right on the account's own sites.
    public var token: APIToken?
    public var session: LoginSession?

    public init(account: Account, token: APIToken? = nil, session: LoginSession? = nil) {
        self.account = account
        self.token = token
        self.session = session
    }

    public func may(_ right: SiteRight, on site: Site) -> Bool {
        guard site.ownerID == account.id else { return false }
        guard let token else { return true }
        return token.rights.contains(right) && (token.sites?.contains(site.id) ?? true)
    }

    /// Names the credential itself (a token, or one sign-in), for limits per credential. In
    /// memory only.
    public var credentialKey: String {
        if let token { return "token:" + token.id }
        return "session:" + (session?.csrfToken ?? account.id)
    }

    /// Whether the principal may see that the site exists at all.
    public func sees(_ site: Site) -> Bool {
        site.ownerID == account.id && (token?.sites?.contains(site.id) ?? true)
    }
}
