import Foundation
import FootfallModel

extension Node {
    /// The account behind an `Authorization: Bearer <token>` value (HTTP header or gRPC metadata).
    package func principal(authorization header: String) throws -> Principal {
        try failClosedOnStaleSystemData()
        guard header.hasPrefix("Bearer "), let token = try system.token(secret: String(header.dropFirst(7))),
              let account = try system.account(id: token.accountID) else { throw FootfallError.unauthorized }
        try system.touch(accountID: account.id, nowMs: clock.nowMs)
        return Principal(account: account, token: token)
    }

    /// A node cut off from every peer for longer than `systemStaleAfter` may hold a token that was
    /// revoked or a password that was changed elsewhere: it refuses credentials until it has synced.
    package func failClosedOnStaleSystemData() throws {
        if systemDataCheck.isStale {
            throw FootfallError.unavailable("this node cannot reach its cluster to check credentials; try another node or again shortly")
        }
    }

    package func authorizedSite(named raw: String, for principal: Principal, right: SiteRight) throws -> Site {
        guard let id = SiteID(raw), let site = try system.site(id), principal.sees(site) else {
            throw FootfallError.notFound("no site \(String(raw.prefix(64)).debugDescription) for this credential")
        }
        guard principal.may(right, on: site) else { throw FootfallError.forbidden }
        return site
    }
}
