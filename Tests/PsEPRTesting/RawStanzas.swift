public import NIOCore
public import PsEPRLoadGenerator

extension AsyncStream<ByteBuffer>.Iterator {
    /// Reads until the text received so far contains `marker`; returns it all. Fails after `seconds`.
    public mutating func read(until marker: String, seconds: Int = 10) async throws -> String {
        var text = ""
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
        while !text.contains(marker) {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("timed out waiting for \(marker) in \(text.suffix(200))")
            }
            guard let chunk = await next() else {
                throw TestFailure("connection closed before \(marker); got \(text.suffix(200))")
            }
            text += String(buffer: chunk)
        }
        return text
    }

    /// Reads one chunk, as a naive client does.
    public mutating func chunk() async throws -> String {
        guard let chunk = await next() else { throw TestFailure("connection closed") }
        return String(buffer: chunk)
    }

    /// Reads until the connection closes; returns everything received.
    public mutating func readToEnd() async -> String {
        var text = ""
        while let chunk = await next() { text += String(buffer: chunk) }
        return text
    }
}

/// A raw connection on `port` logged in by the literal XMPP stanzas (open server: any password),
/// with its inbound iterator past the login reply; the connection twice, as reader and writer.
public func loggedIn(
    port: Int,
    service: String = "svc",
    password: String = "pw",
    resource: String = "Home",
    readChunkBytes: Int? = nil
) async throws
    -> (LoadConnection, AsyncStream<ByteBuffer>.Iterator, LoadConnection)
{
    let client = try await LoadConnection.open(port: port, readChunkBytes: readChunkBytes)
    var iterator = client.inbound.makeAsyncIterator()
    try await client.send(
        "<?xml version='1.0'?><stream:stream to='x' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
    _ = try await iterator.read(until: "</stream:features>")
    try await client.send(
        "<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>\(service)</username><password>\(password)</password><resource>\(resource)</resource></query></iq>"
    )
    _ = try await iterator.read(until: "id='a1'")
    return (client, iterator, client)
}

/// A lease stanza as the Stork client writes one.
public func leaseStanza(
    _ channel: String,
    identifier: String,
    op: String = "register",
    duration: Int = 600,
    type: String? = nil
) -> String {
    let filter = type.map { "<type>\($0)</type>" } ?? ""
    return
        "<message id='l-\(identifier)'><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel></to><from><service>svc</service></from>"
        + "<payload xmlns='http://psepr.org/xs/payload/lease'><duration>\(duration)</duration><identifier>\(identifier)</identifier><op>\(op)</op>\(filter)</payload></event></message>"
}

/// An event stanza carrying `<v>body</v>` in a payload of `namespace`.
public func eventStanza(
    _ channel: String,
    body: String,
    namespace: String = "urn:test",
    toService: String? = nil
) -> String {
    let to = toService.map { "<service>\($0)</service>" } ?? ""
    return "<message id='e'><event xmlns='http://psepr.org/xs/event'><to><channel>\(channel)</channel>\(to)</to>"
        + "<from><service>pub</service><instance>pub-1</instance></from><payload xmlns='\(namespace)'><v>\(body)</v></payload></event></message>"
}
