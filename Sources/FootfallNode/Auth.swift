import Foundation
import FootfallModel
import HTTPTypes
import Hummingbird

extension Node {
    static let sessionCookie = "footfall_session"

    /// Resolves the request's credential: `Authorization: Bearer <token>` or the session cookie.
    /// Mutating requests made with a session cookie must echo its CSRF token in `X-CSRF-Token`.
    func principal(_ request: Request) throws -> Principal {
        try failClosedOnStaleSystemData()
        let now = clock.nowMs
        if let header = request.headers[.authorization] {
            return try principal(authorization: header)
        }
        if let secret = request.cookies[Node.sessionCookie]?.value, let session = try system.session(secret: secret, nowMs: now),
           let account = try system.account(id: session.accountID) {
            if request.method != .get && request.method != .head {
                guard let csrf = request.headers[HTTPField.Name("X-CSRF-Token")!], csrf == session.csrfToken else {
                    throw FootfallError(.forbidden, "missing or wrong X-CSRF-Token header for a session request")
                }
            }
            try system.touch(accountID: account.id, nowMs: now)
            return Principal(account: account, session: session)
        }
        throw FootfallError.unauthorized
    }

    /// The account behind an `Authorization: Bearer <token>` value (HTTP header or gRPC metadata).
    func principal(authorization header: String) throws -> Principal {
        try failClosedOnStaleSystemData()
        guard header.hasPrefix("Bearer "), let token = try system.token(secret: String(header.dropFirst(7))),
              let account = try system.account(id: token.accountID) else { throw FootfallError.unauthorized }
        try system.touch(accountID: account.id, nowMs: clock.nowMs)
        return Principal(account: account, token: token)
    }

    /// A node cut off from every peer for longer than `systemStaleAfter` may hold a token that was
    /// revoked or a password that was changed elsewhere: it refuses credentials until it has synced.
    private func failClosedOnStaleSystemData() throws {
        if systemDataCheck.isStale {
            throw FootfallError.unavailable("this node cannot reach its cluster to check credentials; try another node or again shortly")
        }
    }

    /// The site a request names, if the principal holds `right` on it. A site the principal may
    /// not see answers exactly as a site that does not exist, so ids cannot be probed.
    func authorizedSite(_ request: Request, _ context: FootfallRequestContext, right: SiteRight) throws -> (Principal, Site) {
        let principal = try principal(request)
        return (principal, try authorizedSite(named: context.parameters.get("site") ?? "", for: principal, right: right))
    }

    func authorizedSite(named raw: String, for principal: Principal, right: SiteRight) throws -> Site {
        guard let id = SiteID(raw), let site = try system.site(id), principal.sees(site) else {
            throw FootfallError.notFound("no site \(String(raw.prefix(64)).debugDescription) for this credential")
        }
        guard principal.may(right, on: site) else { throw FootfallError.forbidden }
        return site
    }
}
