import Foundation
import X509

/// A node or operator name whose certificates issued up to `revokedMs` are refused by every member
/// (`footfall cluster revoke NAME`, `footfall cluster revoke --operator NAME`): for a key that
/// leaked or a person or node an operator no longer trusts. Kept as a system record, one prefix per
/// identity kind (`revoked-node:NAME`, `revoked-operator:NAME`, so a node and an operator of the
/// same name are revoked apart), so it replicates like accounts and tokens and never expires; both
/// kinds share one merge rule (`SystemStore.replaces`: a revocation never moves back). A
/// certificate issued for the name afterwards (a rebuilt node, a reissued operator) is accepted:
/// the revocation names a moment, not the name for good.
public struct NodeRevocation: Codable, Hashable, Sendable {
    /// The identity kinds a revocation can name; the kind lives in the key, not the value.
    public enum Kind: CaseIterable, Hashable, Sendable {
        case node, `operator`

        var keyPrefix: String {
            switch self {
            case .node: "revoked-node:"
            case .operator: "revoked-operator:"
            }
        }
    }

    static let keyPrefix = Kind.node.keyPrefix

    /// The kind of revocation stored under `key`, or nil for any other record.
    static func kind(ofKey key: String) -> Kind? { Kind.allCases.first { key.hasPrefix($0.keyPrefix) } }

    public var name: String
    public var revokedMs: Int64

    /// Why `caller` may not revoke `name`'s certificates of `kind`, or nil. An operator never
    /// revokes the name it calls with: that would cut it off at its next call, and if it was the
    /// last operator, every operator with it (nodes cannot list the operator certificates issued,
    /// so "the last one" cannot be counted; refusing one's own name guarantees the caller keeps
    /// access). Another operator revokes it, or the holder of the CA key issues a certificate for
    /// a new name first.
    static func refusal(revoking kind: Kind, name: String, caller: ClusterIdentity?) -> String? {
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
    func isRevoked(_ caller: ClusterIdentity, certificate: Certificate) -> Bool {
        let kind: NodeRevocation.Kind
        switch caller {
        case .node: kind = .node
        case .operator: kind = .operator
        }
        guard let revocations = try? revocations(of: kind) else { return true }
        return revocations[caller.name]?.covers(certificate) ?? false
    }
}
