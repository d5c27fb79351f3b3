#!/usr/bin/env python3
"""A PsEPR subscriber that never reads: logs in (Stork-style legacy login), leases /ch/, then
holds its socket without reading for --hold seconds. Afterwards it reads what the server left
and reports how its stream ended (a stream error and end, or a bare close). Used by
stuck-subscriber-rss.sh to show that a subscriber that takes nothing costs the server bounded
memory and is disconnected with a stream error."""
import argparse, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--hold", type=float, default=30.0)
a = ap.parse_args()

HEADER = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<stream:stream to="localhost"\n'
          b'xmlns="jabber:client"\nxmlns:stream="http://etherx.jabber.org/streams">')
GET = (b"<iq xmlns=\"jabber:client\" type='get' id='logon_1'><query xmlns='jabber:iq:auth'>"
       b"<username>stuck</username></query></iq>")
SET = (b"<iq xmlns=\"jabber:client\" type='set' id='logon_2'><query xmlns='jabber:iq:auth'>"
       b"<username>stuck</username><password>x</password><resource>stuck</resource></query></iq>")
LEASE = (b"<message to='psepr_registry@jabber.services.planet-lab.org' id='lease1'>"
         b"<event xmlns='http://psepr.org/xs/event'><to><channel>/ch/</channel>"
         b"<service>psepr_router</service><instance></instance></to>"
         b"<from><service>stuck</service><instance>stuck</instance></from>"
         b"<payload xmlns='http://psepr.org/xs/payload/lease'><duration>600</duration>"
         b"<identifier>stuck-1</identifier><op>register</op></payload></event></message>")

s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
# The receive buffer is left as the kernel sets it: shrunk, the window it announces would stay
# below one segment once reading resumes, and the server's kernel would send what it holds only
# at its zero-window probes.
for step in (HEADER, GET, SET):  # one step per chunk received, as Stork logs in
    s.sendall(step)
    s.recv(65536)
s.sendall(LEASE)
buf = b""
while b"</message>" not in buf:  # the grant
    buf += s.recv(65536)
print("stuck subscriber: leased /ch/, not reading for %.0f s" % a.hold, flush=True)
time.sleep(a.hold)
s.settimeout(5)
tail, total = b"", 0
try:
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        total += len(d)
        tail = (tail + d)[-400:]
except (socket.timeout, ConnectionResetError) as e:
    print("stuck subscriber: read stopped: %r" % e)
ended = b"</stream:stream>" in tail
print("stuck subscriber: read %d bytes after holding; stream %s" % (
    total, "ended with: " + tail[tail.rfind(b"<stream:error"):].decode(errors="replace") if b"<stream:error" in tail
    else ("ended" if ended else "closed without a stream error")))
