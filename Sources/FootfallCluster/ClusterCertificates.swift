import Crypto
import FootfallModel
import Foundation
import SwiftASN1
import X509

// The cluster's private PKI: one self-signed CA per cluster, and one leaf per node or operator
// whose only SubjectAlternativeName is a DNS name that spells the holder's identity. Peers
// authenticate each other with mutual TLS against that CA alone (see ClusterTransport.swift), and
// an RPC handler learns who called by reading the SAN of the verified client certificate.

extension ClusterIdentity {
    /// Throws unless the name is 1–63 characters of a–z, 0–9 and '-', not starting or ending
    /// with '-': exactly one DNS label, so the DNS form always parses back to the same identity.
    public static func validate(name: String) throws {
        if let reason = problem(withName: name) {
            throw ClusterCertificateError.invalidName(name, reason: reason)
        }
    }

    /// Throws if this identity's name is not valid (see `validate(name:)`).
    public func validate() throws {
        try ClusterIdentity.validate(name: name)
    }
}

/// A certificate and its private key, both PEM text (the private key PKCS#8, "PRIVATE KEY").
/// Its description leaves the key out, so logging a credential never logs the secret.
public struct PEMCredential: Sendable, Hashable, CustomStringConvertible {
    public var certificatePEM: String
    public var privateKeyPEM: String

    public init(certificatePEM: String, privateKeyPEM: String) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    public var description: String {
        guard let certificate = try? self.certificate() else { return "PEMCredential(unparsable certificate, private key redacted)" }
        let holder = ClusterCertificates.identity(of: certificate)?.dnsName ?? String(describing: certificate.subject)
        return "PEMCredential(\(holder), private key redacted)"
    }

    public func certificate() throws -> Certificate {
        try ClusterCertificates.certificate(fromPEM: certificatePEM)
    }

    public func privateKey() throws -> Certificate.PrivateKey {
        do {
            return try Certificate.PrivateKey(pemEncoded: privateKeyPEM)
        } catch {
            throw ClusterCertificateError.unreadable(what: "private key", reason: String(describing: error))
        }
    }

    /// Parses both halves and checks the key belongs to the certificate, so a mixed-up pair of
    /// files fails here with a clear message rather than as an opaque TLS handshake failure.
    public func validatedPair() throws -> (certificate: Certificate, privateKey: Certificate.PrivateKey) {
        let certificate = try self.certificate()
        let privateKey = try self.privateKey()
        guard privateKey.publicKey == certificate.publicKey else {
            throw ClusterCertificateError.keyDoesNotMatchCertificate
        }
        return (certificate, privateKey)
    }
}

public enum ClusterCertificateError: Error, Sendable, CustomStringConvertible {
    case invalidName(String, reason: String)
    case invalidClusterName(String)
    case invalidValidity
    case unreadable(what: String, reason: String)
    case keyDoesNotMatchCertificate
    case notAnAuthority
    case authorityExpired(notValidAfter: Date)
    case authorityExists(directory: String)
    case reservedFileName(String)
    case fileSystem(path: String, operation: String, reason: String)
    case insecureKeyFile(path: String)
    case notIssuedFor(ClusterIdentity)
    case notIssuedByAuthority

    /// A failed system call, with errno's text.
    package static func posix(_ path: String, _ operation: String, _ code: Int32) -> Self {
        .fileSystem(path: path, operation: operation, reason: String(cString: strerror(code)))
    }

    public var description: String {
        switch self {
        case .invalidName(let name, let reason):
            return "invalid node or operator name \"\(name)\": \(reason)"
        case .invalidClusterName(let name):
            return "invalid cluster name \"\(name)\": use 1-44 printable ASCII characters"
        case .invalidValidity:
            return "a certificate's validity must be positive"
        case .unreadable(let what, let reason):
            return "cannot read the PEM \(what): \(reason)"
        case .keyDoesNotMatchCertificate:
            return "the private key does not belong to the certificate"
        case .notAnAuthority:
            return "the authority certificate is not a CA certificate (basicConstraints CA=false or missing)"
        case .authorityExpired(let notValidAfter):
            return "the cluster CA expired at \(notValidAfter); create a new CA and reissue every certificate"
        case .authorityExists(let directory):
            return "\(directory) already holds a cluster CA; refusing to overwrite it (every issued certificate depends on it)"
        case .reservedFileName(let name):
            return "\"\(name)\" cannot name a credential file: \"ca\" and names ending in \"-key\" would collide with other files"
        case .fileSystem(let path, let operation, let reason):
            return "cannot \(operation) \(path): \(reason)"
        case .insecureKeyFile(let path):
            return "the private key \(path) is readable by group or others; run chmod 600 on it"
        case .notIssuedFor(let identity):
            return "the certificate does not name \(identity.dnsName)"
        case .notIssuedByAuthority:
            return "the certificate was not signed by this cluster's CA (ca.pem)"
        }
    }
}

public enum ClusterCertificates {
    /// Leaves start this much before `now`, so a peer whose clock runs a little behind the
    /// issuer's accepts a certificate issued moments ago.
    public static let clockSkewAllowance: TimeInterval = 5 * 60

    /// A new self-signed cluster CA with a fresh P-256 key.
    ///
    /// pathLen 0: the CA signs leaves only, never an intermediate, so a stolen leaf key can never
    /// mint further certificates even if some verifier ignored the leaf's CA=false.
    public static func createAuthority(clusterName: String, now: Date, validity: Duration) throws -> PEMCredential {
        // A CommonName holds at most 64 characters; the fixed prefix takes 20.
        let printable = clusterName.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        guard !clusterName.isEmpty, clusterName.utf8.count <= 44, printable else {
            throw ClusterCertificateError.invalidClusterName(clusterName)
        }
        let lifetime = validity.secondsAsTimeInterval
        guard lifetime > 0 else { throw ClusterCertificateError.invalidValidity }

        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName {
            CommonName("Footfall cluster CA \(clusterName)")
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: key.publicKey)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: randomSerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-clockSkewAllowance),
            notValidAfter: now.addingTimeInterval(lifetime),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: key)
        return try credential(certificate, key)
    }

    /// A leaf for `identity`, signed by `authority`, with a fresh P-256 key.
    ///
    /// Usable both as a TLS server and a TLS client certificate (every node is both). Its
    /// validity is cut to the CA's, because a leaf outliving its CA would fail verification anyway.
    public static func issue(_ identity: ClusterIdentity, authority: PEMCredential, now: Date, validity: Duration) throws -> PEMCredential {
        try identity.validate()
        let lifetime = validity.secondsAsTimeInterval
        guard lifetime > 0 else { throw ClusterCertificateError.invalidValidity }

        let (authorityCertificate, authorityKey) = try authority.validatedPair()
        guard case .some(.isCertificateAuthority) = try authorityCertificate.extensions.basicConstraints else {
            throw ClusterCertificateError.notAnAuthority
        }
        guard now < authorityCertificate.notValidAfter else {
            throw ClusterCertificateError.authorityExpired(notValidAfter: authorityCertificate.notValidAfter)
        }
        let notValidAfter = min(now.addingTimeInterval(lifetime), authorityCertificate.notValidAfter)
        let notValidBefore = max(now.addingTimeInterval(-clockSkewAllowance), authorityCertificate.notValidBefore)

        // The AuthorityKeyIdentifier lets verifiers pick the right CA when a cluster rotates its CA
        // and trusts the old and the new one side by side for a while.
        let authorityKeyID = try authorityCertificate.extensions.subjectKeyIdentifier?.keyIdentifier
            ?? SubjectKeyIdentifier(hash: authorityCertificate.publicKey).keyIdentifier

        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let usages = try ExtendedKeyUsage([.serverAuth, .clientAuth])
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            usages
            SubjectAlternativeNames([.dnsName(identity.dnsName)])
            SubjectKeyIdentifier(hash: key.publicKey)
            AuthorityKeyIdentifier(keyIdentifier: authorityKeyID)
        }
        let subject = try DistinguishedName {
            CommonName(identity.dnsName)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: randomSerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: notValidBefore,
            notValidAfter: notValidAfter,
            issuer: authorityCertificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: authorityKey)
        return try credential(certificate, key)
    }

    /// The identity a leaf certificate names: its SubjectAlternativeName extension must hold
    /// exactly one entry, a DNS name that parses as a `ClusterIdentity`. CA certificates name none.
    ///
    /// This does not check signatures or dates: call it only on a certificate the TLS handshake
    /// has already verified against the cluster CA (as the peer certificate of a server context is).
    public static func identity(of certificate: Certificate) -> ClusterIdentity? {
        if case .some(.isCertificateAuthority) = try? certificate.extensions.basicConstraints {
            return nil
        }
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
        var found: ClusterIdentity?
        for name in names {
            // A second name of any kind makes the certificate ambiguous: refuse it.
            guard found == nil, case .dnsName(let dnsName) = name, let identity = ClusterIdentity(dnsName: dnsName) else {
                return nil
            }
            found = identity
        }
        return found
    }

    /// Whether `certificate` can be served as `identity`'s own: it names that identity and was
    /// signed by `authority`. Checked before a node serves a certificate it found on disk, so a
    /// wrong file is refused there, not by every peer's handshake.
    public static func checkOwn(_ certificate: Certificate, as identity: ClusterIdentity, authority: Certificate) throws {
        guard self.identity(of: certificate) == identity else { throw ClusterCertificateError.notIssuedFor(identity) }
        guard certificate.issuer == authority.subject,
              authority.publicKey.isValidSignature(certificate.signature, for: certificate)
        else { throw ClusterCertificateError.notIssuedByAuthority }
    }

    /// Parses one PEM certificate, with an error that says which kind of thing failed to parse.
    public static func certificate(fromPEM pem: String) throws -> Certificate {
        do {
            return try Certificate(pemEncoded: pem)
        } catch {
            throw ClusterCertificateError.unreadable(what: "certificate", reason: String(describing: error))
        }
    }

    /// `identity(of:)` for a DER-encoded certificate; nil if it does not parse.
    public static func identity(ofDER der: [UInt8]) -> ClusterIdentity? {
        guard let certificate = try? Certificate(derEncoded: der) else { return nil }
        return identity(of: certificate)
    }

    /// 20 random bytes as a positive INTEGER of exactly 20 octets: the sign bit is cleared so DER
    /// needs no 0x00 pad (RFC 5280 caps serials at 20 octets) and the next bit is set so no
    /// leading zero byte gets trimmed. 158 random bits, far beyond the 64 the CA/B Forum asks for.
    package static func randomSerialNumber() -> Certificate.SerialNumber {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<20).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        bytes[0] = (bytes[0] & 0x7F) | 0x40
        return Certificate.SerialNumber(bytes: bytes)
    }

    private static func credential(_ certificate: Certificate, _ key: Certificate.PrivateKey) throws -> PEMCredential {
        PEMCredential(
            certificatePEM: try certificate.serializeAsPEM().pemString + "\n",
            privateKeyPEM: try key.serializeAsPEM().pemString + "\n")
    }
}

/// A folder of PEM files: `ca.pem` and `ca-key.pem` for the cluster CA, `NAME.pem` and
/// `NAME-key.pem` for a leaf. Private keys are created with mode 0600 and refused on read if
/// group or others may read them (as ssh does), so a careless copy is caught before it is used.
///
/// A node normally holds `ca.pem` (the trust root) and its own leaf only; `ca-key.pem` belongs on
/// the operator's machine where certificates are issued.
public struct CertificateDirectory: Sendable {
    public let path: String

    public static let authorityCertificateFile = "ca.pem"
    public static let authorityKeyFile = "ca-key.pem"

    public init(path: String) {
        self.path = path
    }

    public var hasAuthority: Bool {
        FileManager.default.fileExists(atPath: file(CertificateDirectory.authorityCertificateFile))
            || FileManager.default.fileExists(atPath: file(CertificateDirectory.authorityKeyFile))
    }

    /// Writes a new CA. Refuses if either CA file exists: every certificate the old CA issued
    /// would stop verifying, so replacing it must be a deliberate act outside this code.
    public func writeAuthority(_ authority: PEMCredential) throws {
        try createDirectory()
        guard !hasAuthority else { throw ClusterCertificateError.authorityExists(directory: path) }
        let keyPath = file(CertificateDirectory.authorityKeyFile)
        // O_EXCL makes the existence check and the creation one step, so two concurrent
        // `init` runs cannot both believe they created the CA.
        try CertificateDirectory.writeFile(keyPath, authority.privateKeyPEM, mode: 0o600, replacing: false)
        do {
            try CertificateDirectory.writeFile(
                file(CertificateDirectory.authorityCertificateFile), authority.certificatePEM, mode: 0o644, replacing: false)
        } catch {
            // Do not leave a key without its certificate behind: it would block the next attempt.
            unlink(keyPath)
            throw error
        }
    }

    /// The CA certificate and key (for issuing).
    public func readAuthority() throws -> PEMCredential {
        let credential = PEMCredential(
            certificatePEM: try CertificateDirectory.readFile(file(CertificateDirectory.authorityCertificateFile)),
            privateKeyPEM: try CertificateDirectory.readPrivateKey(file(CertificateDirectory.authorityKeyFile)))
        _ = try credential.validatedPair()
        return credential
    }

    /// The CA certificate alone: the trust root every node needs.
    public func readAuthorityCertificatePEM() throws -> String {
        let pem = try CertificateDirectory.readFile(file(CertificateDirectory.authorityCertificateFile))
        _ = try ClusterCertificates.certificate(fromPEM: pem)
        return pem
    }

    /// Writes (or atomically replaces, for renewal) `NAME.pem` and `NAME-key.pem`. The key is
    /// replaced first: a crash between the two renames leaves a new key beside the old
    /// certificate, which `readCredential(name:)` reports as a mismatch instead of serving a stale pair.
    public func writeCredential(_ credential: PEMCredential, name: String) throws {
        try CertificateDirectory.checkStem(name)
        try createDirectory()
        try CertificateDirectory.writeFile(file("\(name)-key.pem"), credential.privateKeyPEM, mode: 0o600, replacing: true)
        try CertificateDirectory.writeFile(file("\(name).pem"), credential.certificatePEM, mode: 0o644, replacing: true)
    }

    public func readCredential(name: String) throws -> PEMCredential {
        try CertificateDirectory.checkStem(name)
        let credential = PEMCredential(
            certificatePEM: try CertificateDirectory.readFile(file("\(name).pem")),
            privateKeyPEM: try CertificateDirectory.readPrivateKey(file("\(name)-key.pem")))
        _ = try credential.validatedPair()
        return credential
    }

    private func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    private func createDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ClusterCertificateError.fileSystem(path: path, operation: "create the folder", reason: String(describing: error))
        }
    }

    /// Identity names are valid stems (and cannot escape the folder); "ca" and "*-key" would
    /// collide with the CA files or with another name's key file.
    private static func checkStem(_ name: String) throws {
        try ClusterIdentity.validate(name: name)
        guard name != "ca", !name.hasSuffix("-key") else { throw ClusterCertificateError.reservedFileName(name) }
    }

    private static func readFile(_ path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ClusterCertificateError.fileSystem(path: path, operation: "read", reason: String(describing: error))
        }
    }

    private static func readPrivateKey(_ path: String) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ClusterCertificateError.posix(path, "read", errno)
        }
        guard info.st_mode & 0o077 == 0 else { throw ClusterCertificateError.insecureKeyFile(path: path) }
        return try readFile(path)
    }

    /// Writes `contents` with `mode` from the first byte on (open(2) applies it at creation, so the
    /// key is never briefly world-readable). `replacing`: write `path.new`, fsync, rename over
    /// `path`. Otherwise create `path` exclusively and fail if it exists.
    private static func writeFile(_ path: String, _ contents: String, mode: mode_t, replacing: Bool) throws {
        let target = replacing ? path + ".new" : path
        if replacing { unlink(target) }  // A leftover from a crash; O_EXCL below would trip on it.
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw ClusterCertificateError.posix(target, "create", errno) }
        var failure: Int32?
        // The umask can only remove bits; fchmod makes a 0644 certificate 0644 whatever it is.
        if fchmod(fd, mode) != 0 { failure = errno }
        let bytes = Array(contents.utf8)
        var offset = 0
        while failure == nil, offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return write(fd, base + offset, buffer.count - offset)
            }
            if written > 0 {
                offset += written
            } else if written < 0, errno == EINTR {
                continue
            } else {
                failure = written < 0 ? errno : EIO
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = errno }
        close(fd)
        if let failure {
            unlink(target)
            throw ClusterCertificateError.posix(target, "write", failure)
        }
        if replacing, rename(target, path) != 0 {
            let code = errno
            unlink(target)
            throw ClusterCertificateError.posix(path, "replace", code)
        }
    }
}

extension Duration {
    /// Seconds as a TimeInterval (attosecond precision is far beyond what certificate dates keep).
    fileprivate var secondsAsTimeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
