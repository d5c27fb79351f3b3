import NIOCore
import NIOSSL

/// TLS for a server: STARTTLS on the client port and TLS on LeasePeer links (parameter names in
/// brackets are `PsEPRServer.xml` paths). Off unless a certificate and key are configured.
public struct TLSSettings: Sendable, Hashable {
    /// The server's certificate chain, PEM [`/PsEPRServer/tls/certificateFile`].
    public var certificateFile: String
    /// Its private key, PEM [`/PsEPRServer/tls/keyFile`].
    public var keyFile: String
    /// Refuse logins on the client port before STARTTLS [`/PsEPRServer/tls/required`], no.
    public var required: Bool
    /// A PEM certificate (or bundle) trusted, besides the system's roots, when this server dials
    /// its peers and checks their certificates [`/PsEPRServer/tls/trustCertificateFile`].
    public var trustCertificateFile: String?

    /// Creates settings.
    public init(certificateFile: String, keyFile: String, required: Bool = false, trustCertificateFile: String? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.required = required
        self.trustCertificateFile = trustCertificateFile
    }
}

/// The TLS contexts a server runs with, loaded once at start.
struct ServerTLS: Sendable {
    /// Accepted connections: STARTTLS clients and peers dialling in.
    let server: NIOSSLContext
    /// Links this server dials, verifying the peer's certificate and host name.
    let dialling: NIOSSLContext
    /// Whether plain logins are refused.
    let required: Bool

    /// - Throws: ``SettingsError`` naming the parameter whose file cannot be loaded.
    init(_ settings: TLSSettings) throws {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(settings.certificateFile)
        } catch {
            throw SettingsError(
                message:
                    "\(ServerSettings.Key.tlsCertificateFile): cannot load a PEM certificate from \(settings.certificateFile): \(error)"
            )
        }
        do {
            key = try NIOSSLPrivateKey(file: settings.keyFile, format: .pem)
        } catch {
            throw SettingsError(
                message:
                    "\(ServerSettings.Key.tlsKeyFile): cannot load a PEM private key from \(settings.keyFile): \(error)"
            )
        }
        server = try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) },
                privateKey: .privateKey(key)
            )
        )
        var client = TLSConfiguration.makeClientConfiguration()
        if let trust = settings.trustCertificateFile {
            do {
                client.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(trust))]
            } catch {
                throw SettingsError(
                    message:
                        "\(ServerSettings.Key.tlsTrustCertificateFile): cannot load a PEM certificate from \(trust): \(error)"
                )
            }
        }
        dialling = try NIOSSLContext(configuration: client)
        required = settings.required
    }

    /// What the client port offers.
    var policy: ClientSessionMachine.TLSPolicy { required ? .required : .offered }
}
