"""A PsEPR subscriber that reads its whole stream with expat, a conforming XML parser (the one
XMPP libraries build on), so any byte the server forwards that is not well-formed XML kills it.

Logs in (jabber:iq:auth), takes a lease on CHANNEL, prints READY, then waits for an event whose
payload text contains MARKER and prints OK. Once READY, any payload other than the good
event's (namespace urn:test) is a failure: nothing refused may be forwarded. Never waits for ever: every socket read times out and the whole run has a deadline.

Usage: python3 expat_subscriber.py HOST PORT CHANNEL MARKER
Exit status: 0 OK; 1 expat refused the stream, the server closed it, or a poison arrived;
2 deadline.
"""
import socket
import sys
import time
import xml.parsers.expat

DEADLINE_SECONDS = 45
READ_TIMEOUT_SECONDS = 2


class Stream:
    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.text
        self.stack = []
        self.texts = {}
        self.seen = set()  # things that happened: "features", "auth", "granted", "good", "poison"

    def start(self, name, attributes):
        self.stack.append(name)
        if name == "payload" and "granted" in self.seen and attributes.get("xmlns") != "urn:test":
            self.seen.add("poison")
        if name == "iq" and attributes.get("type") == "result" and attributes.get("id") == "a1":
            self.seen.add("auth")
        self.texts[len(self.stack)] = ""

    def end(self, name):
        depth = len(self.stack)
        text = self.texts.pop(depth, "")
        self.stack.pop()
        if name == "stream:features":
            self.seen.add("features")
        if name == "op" and text.strip() == "lease":
            self.seen.add("granted")
        if depth > 0 and self.stack:
            self.texts[len(self.stack)] = self.texts.get(len(self.stack), "") + text

    def text(self, data):
        depth = len(self.stack)
        self.texts[depth] = self.texts.get(depth, "") + data
        if MARKER in data:
            self.seen.add("good")

    def send(self, text):
        self.sock.sendall(text.encode("utf-8"))

    def wait_for(self, what):
        """Reads and parses until `what` has been seen; exits on any failure."""
        while what not in self.seen:
            if "poison" in self.seen:
                fail(1, "a poison payload was forwarded")
            if time.monotonic() > self.deadline:
                fail(2, "deadline waiting for " + what)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                fail(1, "the server closed the connection while waiting for " + what)
            try:
                self.parser.Parse(data, False)
            except xml.parsers.expat.ExpatError as error:
                fail(1, "expat refused the stream: %s" % error)
        if "poison" in self.seen:
            fail(1, "a poison payload was forwarded")


def fail(status, reason):
    print("FAIL " + reason, flush=True)
    sys.exit(status)


def main():
    global MARKER
    host, port, channel, MARKER = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    deadline = time.monotonic() + DEADLINE_SECONDS
    sock = socket.create_connection((host, port), timeout=READ_TIMEOUT_SECONDS)
    sock.settimeout(READ_TIMEOUT_SECONDS)
    stream = Stream(sock, deadline)
    stream.send("<?xml version='1.0'?><stream:stream to='x' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    stream.wait_for("features")
    stream.send("<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>expat</username><password>pw</password><resource>sub</resource></query></iq>")
    stream.wait_for("auth")
    stream.send(
        "<message id='l1'><event xmlns='http://psepr.org/xs/event'><to><channel>%s</channel></to><from><service>expat</service></from>"
        "<payload xmlns='http://psepr.org/xs/payload/lease'><duration>600</duration><identifier>expat-1</identifier><op>register</op></payload></event></message>"
        % channel
    )
    stream.wait_for("granted")
    print("READY", flush=True)
    stream.wait_for("good")
    print("OK the good event arrived and the stream stayed well-formed", flush=True)
    sock.close()
    return 0


MARKER = ""
if __name__ == "__main__":
    sys.exit(main())
