import Foundation
import X509

/// A node name whose certificates issued up to `revokedMs` are refused by every member
/// (`footfall cluster revoke NAME`): for a node whose key leaked or that an operator no longer
/// trusts. Kept as a system record (`revoked-node:NAME`), so it replicates like accounts and tokens
/// and never expires. A certificate issued for the name afterwards (a rebuilt node) is accepted:
/// the revocation names a moment, not the name for good.
public struct NodeRevocation: Codable, Hashable, Sendable {
    static let keyPrefix = "revoked-node:"

    public var name: String
    public var revokedMs: Int64

    /// Whether this revocation covers `certificate`. Certificates are issued with a validity that
    /// starts `ClusterCertificates.clockSkewAllowance` before their issue, so that is added back;
    /// one issued in the same millisecond as the revocation counts as revoked.
    public func covers(_ certificate: Certificate) -> Bool {
        let issuedMs = (certificate.notValidBefore.timeIntervalSince1970 + ClusterCertificates.clockSkewAllowance) * 1000
        return issuedMs <= Double(revokedMs)
    }
}

extension SystemStore {
    /// Whether a caller's certificate is revoked. Only node certificates are revocable; a node
    /// whose revocations cannot be read refuses every node's calls rather than let a revoked one in.
    func isRevoked(_ caller: ClusterIdentity, certificate: Certificate) -> Bool {
        guard case .node(let name) = caller else { return false }
        guard let revocations = try? revocations() else { return true }
        return revocations[name]?.covers(certificate) ?? false
    }
}
