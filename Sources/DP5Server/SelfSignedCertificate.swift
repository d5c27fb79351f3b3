import Crypto
import Foundation
import SwiftASN1
import X509

/// Makes the `server.crt` / `server.key` pair the seed has users make with openssl: a
/// self-signed P-256 certificate for `localhost`, `127.0.0.1` and any extra host names.
public enum SelfSignedCertificate {
    /// The PEM texts of a new certificate and its private key.
    ///
    /// - Parameters:
    ///   - hosts: extra DNS names or IP addresses the certificate is valid for.
    ///   - validity: how long it is valid, from one hour ago.
    public static func make(
        hosts: [String] = [],
        validity: Duration = .seconds(3 * 365 * 86_400)
    ) throws -> (certificatePEM: String, privateKeyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("DP5 server") }
        let now = Date()
        var names: [GeneralName] = []
        for host in ["localhost", "127.0.0.1"] + hosts where !names.contains(generalName(host)) {
            names.append(generalName(host))
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(validity.components.seconds)),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                // A trust anchor for clients that trust this one certificate, and a server leaf.
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key)
        )
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    /// Writes `server.crt` and `server.key` into `directory` (created if missing); the key file
    /// is readable by its owner only.
    public static func write(
        to directory: String,
        hosts: [String] = []
    ) throws -> (certificatePath: String, privateKeyPath: String) {
        try DurableFiles.createDirectory(directory)
        let (certificate, key) = try make(hosts: hosts)
        let certificatePath = directory + "/server.crt"
        let keyPath = directory + "/server.key"
        try DurableFiles.writeAtomically(Array(certificate.utf8), to: certificatePath)
        try DurableFiles.writeAtomically(Array(key.utf8), to: keyPath)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyPath)
        return (certificatePath, keyPath)
    }

    private static func generalName(_ host: String) -> GeneralName {
        if let address = ipv4Bytes(host) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))) }
        return .dnsName(host)
    }

    private static func ipv4Bytes(_ host: String) -> [UInt8]? {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
        guard parts.count == 4, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.map { $0! }
    }
}
