import DP5Client
import DP5Core
import DP5Harness
import DP5Testing
import Foundation
import Testing

@testable import DP5Server

/// The seed's three configuration files, literally as "Running the servers" prints them, and
/// what a newcomer who uses them sees: each missing setting is named, with the file it goes in,
/// until the harness ends with no wrong answers.
@Suite("The seed's own files", .serialized)
struct SeedFilesTests {
    static let regserver = """
        {
        	"server" : {	/* configuration values passed to cherrypy web server */
        		"server.socket_host": "0.0.0.0", 	/* bind to all IP interfaces */
        		"server.socket_port": 8443,			/* listen on port 8443 */
        		/* These are needed to support SSL; leave them out to use plain HTTP */
        		"server.ssl_module": "pyopenssl",
        		"server.ssl_certificate": "testcerts/server.crt",
        		"server.ssl_private_key": "testcerts/server.key"
        	},
        	"isRegServer": true,
        	"isLookupServer": false, 	/* set to true if you want this to also be a lookup server */
        	"regdir": "regdir", 		/* directory for storing registrations for next epoch */
        	"datadir": "datadir"		/* directory for storing presence database */ 
        }                                                                            
        """

    static let lookupserver = """
        {
        	"server" : {	/* configuration values passed to cherrypy web server */
        		"server.socket_host": "0.0.0.0", 	/* bind to all IP interfaces */
        		"server.socket_port": 8444,			/* listen on port 8444 */									
        		/* These are needed to support SSL; leave them out to use plain HTTP */
        		"server.ssl_module": "pyopenssl",
        		"server.ssl_certificate": "testcerts/server.crt",
        		"server.ssl_private_key": "testcerts/server.key"
        	},
        	"isRegServer": false,		
        	"isLookupServer": true,
        	"regServer": "https://localhost:8443", 	/* address of the registration server */
        	"datadir": "lookupdatadir/"			/* directory for storing presence database */ 
        }                                   
        """

    static let servers = """
        {
        	"regServer": "localhost:8443",  /* address of the registration server */
        	"lookupServers":               	/* addresses of the lookup servers */            
        			[ "localhost:8444", "localhost:8445" ], 
        	"privacyLevel": 1				/* maximum number servers that can collude */
        }
        """

    /// Writes `text` as `name` in `directory` and reads it back as a server configuration, then
    /// moves only what a test cannot share (ports, directories, certificate paths) into
    /// `directory`: the keys the seed has and lacks stay as they are.
    func serverConfiguration(
        _ text: String,
        name: String,
        in directory: String,
        certificate: (String, String),
        extra: String = ""
    ) throws -> ServerConfiguration {
        let path = directory + "/" + name
        var edited = text
        if !extra.isEmpty, let brace = edited.lastIndex(of: "}") {
            edited.replaceSubrange(brace...brace, with: ", \(extra) }")
        }
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        var configuration = try ServerConfiguration(contentsOfFile: path)
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.tls = certificate
        configuration.dataDirectory = directory + "/" + name + "-" + configuration.dataDirectory
        configuration.registrationDirectory = directory + "/" + name + "-" + configuration.registrationDirectory
        return configuration
    }

    @Test func aNewcomerGetsFromTheSeedToNoWrongAnswersByReadingErrors() async throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = try SelfSignedCertificate.write(to: directory + "/testcerts")
        let lines = LogLines()
        let logger = collectingLogger(lines)

        // 1. regserver.cfg as printed: the harness's fast-forward is refused, naming the key and the
        //    file, and the status says so before anyone registers.
        let seedRegistration = try serverConfiguration(
            Self.regserver,
            name: "regserver.cfg",
            in: directory,
            certificate: certificate
        )
        try await runServer(seedRegistration, logger: logger) { port in
            let client = try clientConfiguration(
                registrationPort: port,
                lookupPorts: [1, 1],
                directory: directory,
                trusted: true
            )
            try await DP5HTTPClient.withClient(configuration: client) { http in
                #expect(try await HTTPDeployment(client: http).allowsFastForward() == false)
                do {
                    _ = try await http.fastForward()
                    Issue.record("the seed's regserver.cfg fast-forwarded")
                } catch let error as DP5ClientError {
                    #expect(error.description.contains("\"allowDebugFastForward\": true"), "\(error)")
                    #expect(error.description.contains("regserver.cfg"), "\(error)")
                }
            }
        }

        // 2. With that key added: the seed's lookupserver.cfg cannot fetch the database, and says
        //    which key to add to which file, in its log (at the default level) and to clients.
        let registration = try serverConfiguration(
            Self.regserver,
            name: "regserver.cfg",
            in: directory,
            certificate: certificate,
            extra: "\"allowDebugFastForward\": true"
        )
        try await runServer(registration, logger: logger) { registrationPort in
            var seedLookup = try serverConfiguration(
                Self.lookupserver,
                name: "lookupserver.cfg",
                in: directory,
                certificate: certificate
            )
            seedLookup.registrationServer = "https://localhost:\(registrationPort)"
            let client = try clientConfiguration(
                registrationPort: registrationPort,
                lookupPorts: [],
                directory: directory,
                trusted: true
            )
            try await DP5HTTPClient.withClient(configuration: client) { http in _ = try await http.fastForward() }
            try await runServer(seedLookup, logger: logger) { lookupPort in
                let client = try clientConfiguration(
                    registrationPort: registrationPort,
                    lookupPorts: [lookupPort, lookupPort],
                    directory: directory,
                    trusted: true
                )
                try await DP5HTTPClient.withClient(configuration: client) { http in
                    do {
                        _ = try await http.lookup(privateKey: .generate(), buddies: [DHPrivateKey.generate().publicKey])
                        Issue.record("the seed's lookupserver.cfg served a database it cannot have fetched")
                    } catch {
                        #expect("\(error)".contains("\"trustCertificate\""), "\(error)")
                        #expect("\(error)".contains("lookupserver.cfg"), "\(error)")
                    }
                }
            }
            #expect(lines.all.contains("trustCertificate"), "the lookup server's failing fetch was not logged")

            // 3. The seed's servers.cfg: the client does not trust the self-signed certificate, and
            //    says which key to add to servers.cfg.
            let seedClient = try clientConfiguration(
                registrationPort: registrationPort,
                lookupPorts: [1, 1],
                directory: directory,
                trusted: false
            )
            try await DP5HTTPClient.withClient(configuration: seedClient, connectTimeout: .seconds(5)) { http in
                do {
                    _ = try await http.registrationServerStatus()
                    Issue.record("the seed's servers.cfg trusted a self-signed certificate")
                } catch {
                    #expect("\(error)".contains("\"trustCertificate\""), "\(error)")
                    #expect("\(error)".contains("servers.cfg"), "\(error)")
                }
            }

            // 4. Every key added as the messages said: no wrong answers.
            var lookups: [ServerConfiguration] = []
            for index in 0..<3 {
                var lookup = try serverConfiguration(
                    Self.lookupserver,
                    name: "lookupserver\(index).cfg",
                    in: directory,
                    certificate: certificate,
                    extra: "\"trustCertificate\": \"\(certificate.certificatePath)\""
                )
                lookup.registrationServer = "https://localhost:\(registrationPort)"
                lookups.append(lookup)
            }
            try await runServer(lookups[0], logger: logger) { first in
                try await runServer(lookups[1], logger: logger) { second in
                    try await runServer(lookups[2], logger: logger) { third in
                        let client = try clientConfiguration(
                            registrationPort: registrationPort,
                            lookupPorts: [first, second, third],
                            directory: directory,
                            trusted: true
                        )
                        try await DP5HTTPClient.withClient(configuration: client) { http in
                            let deployment = HTTPDeployment(client: http)
                            let harness = Harness(
                                configuration: .default,
                                parameters: client.lookupParameters,
                                concurrency: 4
                            )
                            let users = mixedPopulation(count: 20)
                            _ = try await harness.registerAll(users, on: deployment)
                            let epoch = try await deployment.fastForward().new
                            let tally = try await harness.lookUp(users, registered: users, epoch: epoch, on: deployment)
                            #expect(tally.wrong == 0 && tally.failed == 0 && tally.online > 0, "\(tally)")
                        }
                    }
                }
            }
        }
    }

    /// The seed's `servers.cfg` (as written to `directory/servers.cfg`) pointed at this test's
    /// ports, with `trustCertificate` added if `trusted`.
    func clientConfiguration(
        registrationPort: Int,
        lookupPorts: [Int],
        directory: String,
        trusted: Bool
    ) throws -> ClientConfiguration {
        let path = directory + "/servers.cfg"
        var text = Self.servers
        if trusted, let brace = text.lastIndex(of: "}") {
            text.replaceSubrange(brace...brace, with: ", \"trustCertificate\": \"\(directory)/testcerts/server.crt\" }")
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var configuration = try ClientConfiguration(contentsOfFile: path)
        configuration.registrationServer = "https://localhost:\(registrationPort)"
        if !lookupPorts.isEmpty {
            configuration.lookupServers = lookupPorts.map { "https://localhost:\($0)" }
            configuration.lookupParameters = try LookupParameters(numberOfServers: lookupPorts.count, privacyLevel: 1)
        }
        return configuration
    }

    @Test func theSeedsFilesParse() throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, text) in [("regserver.cfg", Self.regserver), ("lookupserver.cfg", Self.lookupserver)] {
            try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
            let configuration = try ServerConfiguration(contentsOfFile: directory + "/" + name)
            #expect(configuration.sourceFile == directory + "/" + name)
        }
        try Self.servers.write(toFile: directory + "/servers.cfg", atomically: true, encoding: .utf8)
        #expect(try ClientConfiguration(contentsOfFile: directory + "/servers.cfg").lookupServers.count == 2)
    }
}
