import FootfallModel
import FootfallNode
import Foundation
import HTTPTypes
import Hummingbird

/// Who an HTTP request comes from: a session cookie (with its CSRF token on changes) or a bearer
/// token, and the site it names if that principal may act on it.
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

    /// The site a request names, if the principal holds `right` on it. A site the principal may
    /// not see answers exactly as a site that does not exist, so ids cannot be probed.
    func authorizedSite(_ request: Request, _ context: FootfallRequestContext, right: SiteRight) throws -> (Principal, Site) {
        let principal = try principal(request)
        return (principal, try authorizedSite(named: context.parameters.get("site") ?? "", for: principal, right: right))
    }
}
