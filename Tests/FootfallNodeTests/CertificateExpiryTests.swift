@testable import FootfallCluster
@testable import FootfallNode
import FootfallProtocols
import Foundation
import Testing

/// Nodes warn a month ahead of a certificate's expiry, in the log and in `/metrics`.
@Suite struct CertificateExpiryTests {
    @Test func status_isValidUntilAMonthIsLeft_thenSoon_thenExpired() {
        let now = Date(timeIntervalSince1970: 1_781_524_800)
        #expect(CertificateExpiry.status(notValidAfter: now.addingTimeInterval(60 * 86_400), now: now) == .valid)
        #expect(CertificateExpiry.status(notValidAfter: now.addingTimeInterval(10.5 * 86_400), now: now) == .expiresSoon(days: 10))
        #expect(CertificateExpiry.status(notValidAfter: now, now: now) == .expired)
        #expect(CertificateExpiry.status(notValidAfter: now.addingTimeInterval(-1), now: now) == .expired)
    }

    /// A node certificate issued two years (its lifetime) less ten days ago: the node's gauge says
    /// ten days and its log says what to run; the CA, ten years long, raises nothing.
    @Test func aNodeCertificateAboutToExpire_isInTheGaugeAndTheLog() throws {
        let test = try TestNode()
        let issued = Date().addingTimeInterval(-(CertificateLifetimes.leaf.seconds - 10 * 86_400))
        let configuration = test.node.configuration
        try ClusterSetup.prepareCertificates(nodeName: configuration.nodeName, cluster: configuration.cluster,
                                             dataDirectory: configuration.dataDirectory, now: issued) { _ in }
        CertificateExpiry.check(test.node)

        let node = test.node.metrics.value("footfall_certificate_expiry_seconds", labels: ["certificate": "node"])
        #expect(abs(node - 10 * 86_400) < 120, "\(node)")
        let ca = test.node.metrics.value("footfall_certificate_expiry_seconds", labels: ["certificate": "ca"])
        #expect(ca > 7 * 365 * 86_400, "\(ca)")  // created with the node certificate: ten years from then
        #expect(test.node.metrics.render().contains("footfall_certificate_expiry_seconds{certificate=\"node\"}"))
        let log = test.logs.text
        #expect(log.contains("a certificate expires soon") && log.contains("footfall cluster certs rotate --out DIR node-1"))
        #expect(log.contains("\"certificate\": node") && !log.contains("\"certificate\": ca"), "only the node certificate is close to expiry")
    }
}
