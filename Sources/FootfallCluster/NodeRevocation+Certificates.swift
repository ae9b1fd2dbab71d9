import FootfallModel
import FootfallSystem
import Foundation
import X509

/// What a revocation (`NodeRevocation`, a system record) means for the certificates a caller
/// presents.
extension NodeRevocation {
    /// Why `caller` may not revoke `name`'s certificates of `kind`, or nil. An operator never
    /// revokes the name it calls with: that would cut it off at its next call, and if it was the
    /// last operator, every operator with it (nodes cannot list the operator certificates issued,
    /// so "the last one" cannot be counted; refusing one's own name guarantees the caller keeps
    /// access). Another operator revokes it, or the holder of the CA key issues a certificate for
    /// a new name first.
    package static func refusal(revoking kind: Kind, name: String, caller: ClusterIdentity?) -> String? {
        guard kind == .operator, caller == .operator(name) else { return nil }
        return "refusing to revoke the operator certificate this call is made with (\(name)): "
            + "issue another operator certificate (footfall certs operator NAME) and revoke this one with it"
    }

    /// Whether this revocation covers `certificate`. Certificates are issued with a validity that
    /// starts `ClusterCertificates.clockSkewAllowance` before their issue, so that is added back.
    /// A certificate's times are whole seconds, and its issue time can be rounded up: every
    /// certificate stamped up to the end of the revocation's second counts as revoked (one issued
    /// 0.7 s into a second and revoked 0.2 s later otherwise escaped; the hostile-peer suite met it).
    public func covers(_ certificate: Certificate) -> Bool {
        let issuedMs = (certificate.notValidBefore.timeIntervalSince1970 + ClusterCertificates.clockSkewAllowance) * 1000
        return issuedMs <= (Double(revokedMs) / 1000).rounded(.up) * 1000
    }
}

extension SystemStore {
    /// Whether a caller's certificate is revoked, node or operator. A node whose revocations cannot
    /// be read refuses every call rather than let a revoked one in.
    package func isRevoked(_ caller: ClusterIdentity, certificate: Certificate) -> Bool {
        let kind: NodeRevocation.Kind
        switch caller {
        case .node: kind = .node
        case .operator: kind = .operator
        }
        guard let revocations = try? revocations(of: kind) else { return true }
        return revocations[caller.name]?.covers(certificate) ?? false
    }
}
