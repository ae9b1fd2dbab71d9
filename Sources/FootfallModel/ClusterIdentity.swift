// The names cluster certificates carry (see FootfallNode's ClusterCertificates.swift for the PKI):
// a value the model holds because system records name nodes and operators too (revocations,
// site-data confirmations), and checking a name needs no certificate.

/// Who holds a cluster certificate. The DNS form (`NAME.node.footfall`, `NAME.operator.footfall`)
/// is the certificate's only SubjectAlternativeName, so TLS hostname verification on the client
/// side checks "is this the node I meant to reach?" and the server reads the caller from it.
public enum ClusterIdentity: Hashable, Sendable, CustomStringConvertible {
    case node(String)
    case `operator`(String)

    /// The pseudo top-level domain. Not a real TLD, so a cluster name can never be a public name
    /// some public CA would sign (and the cluster trusts only its own CA anyway).
    public static let domain = "footfall"

    public var name: String {
        switch self {
        case .node(let name), .`operator`(let name): return name
        }
    }

    /// The second DNS label, naming the role.
    public var roleLabel: String {
        switch self {
        case .node: return "node"
        case .`operator`: return "operator"
        }
    }

    /// The certificate's SubjectAlternativeName: "NAME.node.footfall" or "NAME.operator.footfall".
    public var dnsName: String { "\(name).\(roleLabel).\(ClusterIdentity.domain)" }

    public var description: String { dnsName }

    /// Parses the DNS form back. Nil for anything else, including names that fail `problem(withName:)`:
    /// a certificate naming "Bad_Name.node.footfall" is not a cluster identity, whoever signed it.
    /// Matching is exact (lower case), because every certificate this code issues is lower case.
    public init?(dnsName: String) {
        let labels = dnsName.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count == 3, labels[2] == Substring(ClusterIdentity.domain) else { return nil }
        let name = String(labels[0])
        guard ClusterIdentity.problem(withName: name) == nil else { return nil }
        switch labels[1] {
        case "node": self = .node(name)
        case "operator": self = .`operator`(name)
        default: return nil
        }
    }

    public static func isValidName(_ name: String) -> Bool { problem(withName: name) == nil }

    /// Why a name is not a valid identity name, or nil if it is.
    public static func problem(withName name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "a name must not be empty" }
        if bytes.count > 63 { return "a name has at most 63 characters (it must fit one DNS label)" }
        let allowed = bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-")
        }
        if !allowed { return "a name may hold only lower-case letters a-z, digits 0-9 and '-'" }
        if bytes.first == UInt8(ascii: "-") || bytes.last == UInt8(ascii: "-") {
            return "a name must not start or end with '-'"
        }
        return nil
    }
}
