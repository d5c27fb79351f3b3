"""A stock XMPP library (slixmpp, from PyPI) as a PsEPR client.

Logs in the RFC 6120 way, with nothing of slixmpp changed: SASL PLAIN, the stream restart,
resource binding and the session, then fetches the (empty) roster. With a CA file it negotiates
STARTTLS first and verifies the server's certificate; without one it runs on a plain stream
(slixmpp must be told that PLAIN without TLS is allowed). Once logged in it takes a lease on
/interop/ with an ordinary <message> carrying a PsEPR lease event, publishes an event below it
and waits for the grant and the event to come back. Prints one line starting with OK on success
and exits 0; a line starting with FAIL and exit 1 otherwise.

Usage: python3 slixmpp_client.py HOST PORT DOMAIN SERVICE PASSWORD [CA-FILE]
"""
import asyncio
import sys

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

EVENT_NS = "http://psepr.org/xs/event"
LEASE_NS = "http://psepr.org/xs/payload/lease"
ATTRIBUTE_NS = "http://psepr.org/xs/payload/attribute"


def event(channel, service, payload):
    return (
        f"<message id='{channel.strip('/').replace('/', '-')}'><event xmlns='{EVENT_NS}'>"
        f"<to><channel>{channel}</channel></to><from><service>{service}</service><instance>slixmpp</instance></from>"
        f"{payload}</event></message>"
    )


class PsEPRClient(slixmpp.ClientXMPP):
    def __init__(self, jid, password, service, ca_file):
        super().__init__(jid, password, plugin_config={"feature_mechanisms": {"unencrypted_plain": ca_file is None}})
        self.service = service
        self.outcome = asyncio.get_running_loop().create_future()
        self.grant = asyncio.Event()
        self.greeting = asyncio.Event()
        self.enable_direct_tls = False
        if ca_file is None:
            self.enable_starttls = False
            self.enable_plaintext = True
        else:
            self.enable_starttls = True
            self.enable_plaintext = False
            self.ca_certs = ca_file
        self.add_event_handler("session_start", self.session_start)
        self.add_event_handler("failed_auth", lambda _: self.finish("FAIL the server refused the login"))
        self.add_event_handler("disconnected", lambda _: self.finish("FAIL disconnected"))
        # slixmpp's own "message" event is for chat messages (with a <body>): take every <message>.
        self.register_handler(Callback("PsEPR events", StanzaPath("message"), self.on_message))

    def finish(self, line):
        if not self.outcome.done():
            self.outcome.set_result(line)

    async def session_start(self, _):
        try:
            roster = await self.get_roster(timeout=10)
        except Exception as error:  # a timeout or an error reply
            return self.finish(f"FAIL roster: {error!r}")
        if roster["type"] != "result":
            return self.finish(f"FAIL roster reply {roster}")
        if self.boundjid.resource != "slixmpp":
            return self.finish(f"FAIL bound {self.boundjid}")
        lease = (
            f"<payload xmlns='{LEASE_NS}'><identifier>slixmpp-lease-1</identifier>"
            "<duration>600</duration><op>register</op></payload>"
        )
        self.send_raw(event("/interop/", self.service, lease))
        try:
            await asyncio.wait_for(self.grant.wait(), 10)
        except asyncio.TimeoutError:
            return self.finish("FAIL no grant")
        greeting = (
            f"<payload xmlns='{ATTRIBUTE_NS}'><field>greeting</field><value>hello from slixmpp</value></payload>"
        )
        self.send_raw(event("/interop/chat/", self.service, greeting))
        try:
            await asyncio.wait_for(self.greeting.wait(), 10)
        except asyncio.TimeoutError:
            return self.finish("FAIL no event")
        self.finish(f"OK logged in as {self.boundjid}, roster, grant and event received")

    def on_message(self, message):
        node = message.xml.find(f"{{{EVENT_NS}}}event")
        if node is None:
            return
        lease = node.find(f"{{{LEASE_NS}}}payload")
        if lease is not None and lease.findtext(f"{{{LEASE_NS}}}op") == "lease":
            self.grant.set()
        attribute = node.find(f"{{{ATTRIBUTE_NS}}}payload")
        if attribute is not None and attribute.findtext(f"{{{ATTRIBUTE_NS}}}field") == "greeting":
            self.greeting.set()


async def main():
    host, port, domain, service, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    ca_file = sys.argv[6] if len(sys.argv) > 6 else None
    client = PsEPRClient(f"{service}@{domain}/slixmpp", password, service, ca_file)
    client.connect(host, port)
    try:
        line = await asyncio.wait_for(client.outcome, 30)
    except asyncio.TimeoutError:
        line = "FAIL timed out"
    print(line, flush=True)
    client.disconnect(wait=1)
    return 0 if line.startswith("OK") else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
