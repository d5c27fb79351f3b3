#!/usr/bin/env bash
# Server memory while one subscriber never reads: `psepr server` (default settings) on free
# loopback ports, a stuck subscriber on /ch/ (scripts/stuck_subscriber.py), and the shared
# harness's 1 -> 1 run (../shared/tools/fanout.py) publishing to a reading subscriber on the
# same channel. Prints the server's RSS before, its peak, the harness's delivered figures, and
# how the stuck subscriber's stream ended.
# Usage: scripts/stuck-subscriber-rss.sh .build/release/psepr [MESSAGES] [SIZE]
set -euo pipefail
psepr=$(realpath "$1"); messages=${2:-1000000}; size=${3:-100}
here=$(cd "$(dirname "$0")" && pwd); tools=${TOOLS:-$here/../../shared/tools}
work=$(mktemp -d); trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
read -r client oneevent peer < <(python3 -c 'import socket;s=[socket.socket() for _ in range(3)];[x.bind(("127.0.0.1",0)) for x in s];print(*[x.getsockname()[1] for x in s])')
cat >"$work/PsEPRServer.xml" <<XML
<PsEPRServer><client><XMPP><port>$client</port></XMPP><oneEvent><port>$oneevent</port></oneEvent></client>
<peer><leasePeer><port>$peer</port></leasePeer></peer><monitor><port>0</port></monitor><debug><directory>$work/logs</directory></debug></PsEPRServer>
XML
(cd "$work" && HOME="$work" exec "$psepr" server --config "$work/PsEPRServer.xml") >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do python3 -c "import socket;socket.create_connection(('127.0.0.1',$client),1)" 2>/dev/null && break; sleep 0.1; done
echo "server RSS at start: $(grep VmRSS /proc/$server/status | awk '{print $2, $3}')"
python3 "$here/stuck_subscriber.py" --port "$client" --hold 40 &
stuck=$!
sleep 1
timeout 120 python3 "$tools/fanout.py" --proto psepr --port "$client" --subs 1 --msgs "$messages" --size "$size"
echo "server peak RSS (VmHWM): $(grep VmHWM /proc/$server/status | awk '{print $2, $3}'), now: $(grep VmRSS /proc/$server/status | awk '{print $2, $3}')"
wait $stuck
grep -rih "slow consumer" "$work/server.log" "$work/logs" | head -3 || true
