@testable import FootfallCluster
import FootfallModel
@testable import FootfallNode
import Foundation
import Testing
import X509

/// A node reads its certificate again from disk and serves a renewed one; anything else it finds
/// there is refused and the certificate in use kept.
@Suite struct CertificateReloadTests {
    let now = Date()
    let authority: PEMCredential
    let folder: CertificateDirectory

    init() throws {
        authority = try ClusterCertificates.createAuthority(clusterName: "t", now: now, validity: .seconds(86_400))
        folder = CertificateDirectory(path: NSTemporaryDirectory() + "footfall-reload-\(UUID().uuidString)")
        try folder.writeCredential(issue(.node("node-1")), name: "node-1")
    }

    func issue(_ identity: ClusterIdentity, by issuer: PEMCredential? = nil, at time: Date? = nil, for validity: Duration = .seconds(3_600)) throws -> PEMCredential {
        try ClusterCertificates.issue(identity, authority: issuer ?? authority, now: time ?? now, validity: validity)
    }

    func nodeCredential() throws -> ReloadingCredential {
        let folder = folder, authorityCertificate = try authority.certificate()
        return try ReloadingCredential(label: "node", read: { try folder.readCredential(name: "node-1") }) {
            try ClusterCertificates.checkOwn($0, as: .node("node-1"), authority: authorityCertificate)
        }
    }

    @Test func aRenewedCertificate_isServedFromTheNextRead() throws {
        let credential = try nodeCredential()
        let first = credential.current.serial
        #expect(credential.reload(now: now) == .unchanged)
        let renewed = try issue(.node("node-1"), for: .seconds(7_200))
        try folder.writeCredential(renewed, name: "node-1")
        #expect(credential.reload(now: now) == .replaced(notValidAfter: try renewed.certificate().notValidAfter))
        #expect(credential.current.serial == (try renewed.certificate().serialNumber) && credential.current.serial != first)
        #expect(credential.sslContextConfigurationOverride.certificateChain?.count == 1)
    }

    @Test(arguments: ["another node", "an operator", "another CA", "expired", "not yet valid", "a mismatched key"])
    func aCertificateUnfitToServe_isRefusedAndTheOneInUseKept(case name: String) throws {
        let credential = try nodeCredential()
        let served = credential.current.serial
        let otherAuthority = try ClusterCertificates.createAuthority(clusterName: "other", now: now, validity: .seconds(86_400))
        let bad: PEMCredential
        switch name {
        case "another node": bad = try issue(.node("node-2"))
        case "an operator": bad = try issue(.operator("node-1"))
        case "another CA": bad = try issue(.node("node-1"), by: otherAuthority)
        // Issued 10 minutes ago for a minute (its start is backdated by the skew allowance).
        case "expired": bad = try issue(.node("node-1"), at: now.addingTimeInterval(-600), for: .seconds(60))
        case "not yet valid": bad = try issue(.node("node-1"), at: now.addingTimeInterval(3_600))
        default:
            let other = try issue(.node("node-1"))
            bad = PEMCredential(certificatePEM: other.certificatePEM, privateKeyPEM: try issue(.node("node-1")).privateKeyPEM)
        }
        // writeCredential would refuse nothing here: the files are what an operator copied.
        try bad.privateKeyPEM.write(toFile: folder.path + "/node-1-key.pem", atomically: true, encoding: .utf8)
        try bad.certificatePEM.write(toFile: folder.path + "/node-1.pem", atomically: true, encoding: .utf8)
        chmod(folder.path + "/node-1-key.pem", 0o600)

        guard case .refused = credential.reload(now: now) else {
            Issue.record("\(name): taken")
            return
        }
        #expect(credential.current.serial == served)
    }

    @Test func aNodeDoesNotStart_withACertificateItCannotServe() throws {
        try folder.writeCredential(issue(.node("node-2")), name: "node-1")
        #expect(throws: ClusterCertificateError.self) { try nodeCredential() }
    }

    /// Alone, a node keeps working past its certificate's end (peers refuse it; the log warns).
    @Test func aNodeStarts_withItsOwnExpiredCertificate() throws {
        try folder.writeCredential(issue(.node("node-1"), at: now.addingTimeInterval(-600), for: .seconds(60)), name: "node-1")
        #expect(try nodeCredential().current.notValidAfter < now)
    }
}
