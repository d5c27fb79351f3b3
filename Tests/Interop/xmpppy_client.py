"""A standard XMPP library (xmpppy, from PyPI) as a PsEPR client.

Logs in through xmpppy's non-SASL path (XEP-0078), or with "sasl" through SASL PLAIN, binding
and the session; fetches the roster (which must come back, empty); takes a lease on /interop/
with an ordinary <message> carrying a PsEPR lease event, publishes an event below it and waits
for both the grant and the event to come back. Prints one line starting with OK on success and
exits 0.

Usage: python3 xmpppy_client.py HOST PORT SERVICE PASSWORD [legacy|sasl]
"""
import sys
import time

import xmpp

EVENT_NS = "http://psepr.org/xs/event"
LEASE_NS = "http://psepr.org/xs/payload/lease"
ATTRIBUTE_NS = "http://psepr.org/xs/payload/attribute"


def event(channel, payload):
    node = xmpp.Node("event", attrs={"xmlns": EVENT_NS})
    node.addChild("to").addChild("channel").setData(channel)
    source = node.addChild("from")
    source.addChild("service").setData(sys.argv[3])
    source.addChild("instance").setData("xmpppy")
    node.addChild(node=payload)
    return node


def main():
    host, port, service, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sasl = len(sys.argv) > 5 and sys.argv[5] == "sasl"
    client = xmpp.Client(host, debug=[])
    if not client.connect(server=(host, port), use_srv=False, secure=0):
        print("FAIL connect")
        return 1
    if client.auth(service, password, "xmpppy", sasl=1 if sasl else 0) != ("sasl" if sasl else "old_auth"):
        print("FAIL auth")
        return 1

    # What getRoster() does, with a deadline instead of waiting for ever.
    xmpp.roster.Roster().PlugIn(client)
    deadline = time.time() + 10
    while not client.Roster.set and time.time() < deadline:
        client.Process(0.2)
    if not client.Roster.set:
        print("FAIL no roster")
        return 1

    seen = {"grant": False, "event": False}

    def on_message(connection, message):
        node = message.getTag("event", namespace=EVENT_NS)
        if node is None:
            return
        payload = node.getTag("payload")
        if payload is None:
            return
        if payload.getNamespace() == LEASE_NS and payload.getTagData("op") == "lease":
            seen["grant"] = True
        if payload.getNamespace() == ATTRIBUTE_NS and payload.getTagData("field") == "greeting":
            seen["event"] = True

    client.RegisterHandler("message", on_message)

    lease = xmpp.Node("payload", attrs={"xmlns": LEASE_NS})
    lease.addChild("identifier").setData("xmpppy-lease-1")
    lease.addChild("duration").setData("600")
    lease.addChild("op").setData("register")
    client.send(xmpp.Message(payload=[event("/interop/", lease)]))

    deadline = time.time() + 10
    while not seen["grant"] and time.time() < deadline:
        client.Process(0.2)
    if not seen["grant"]:
        print("FAIL no grant")
        return 1

    attribute = xmpp.Node("payload", attrs={"xmlns": ATTRIBUTE_NS})
    attribute.addChild("field").setData("greeting")
    attribute.addChild("value").setData("hello from xmpppy")
    client.send(xmpp.Message(payload=[event("/interop/chat/", attribute)]))

    while not seen["event"] and time.time() < deadline:
        client.Process(0.2)
    if not seen["event"]:
        print("FAIL no event")
        return 1
    client.disconnect()
    print("OK roster, grant and event received")
    return 0


if __name__ == "__main__":
    sys.exit(main())
