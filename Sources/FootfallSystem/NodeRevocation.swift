import FootfallModel
import Foundation

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

        package var keyPrefix: String {
            switch self {
            case .node: "revoked-node:"
            case .operator: "revoked-operator:"
            }
        }
    }

    package static let keyPrefix = Kind.node.keyPrefix

    /// The kind of revocation stored under `key`, or nil for any other record.
    package static func kind(ofKey key: String) -> Kind? { Kind.allCases.first { key.hasPrefix($0.keyPrefix) } }

    public var name: String
    public var revokedMs: Int64

    public init(name: String, revokedMs: Int64) {
        self.name = name
        self.revokedMs = revokedMs
    }
}
