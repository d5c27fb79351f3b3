#!/usr/bin/env bash
# Where the CPU of a 1 -> N harness round goes: `psepr server` (default settings) and
# nats-server on free loopback ports, each driven by the shared harness (../shared/tools/fanout.py)
# in alternating rounds. For each round: the delivered rate, the server's CPU (user and system,
# from /proc) and the harness's own CPU (its publisher and subscriber processes, less what a
# 1,000-event round of the same broker costs, which is Python's start-up and the logins), all
# in CPU-seconds per million deliveries (events × subscribers), and the harness's minor page
# faults in the round (Python's receive buffers; a round with many is slow for that alone). On a
# 2-core machine a round cannot deliver faster than 2 cores / (server + harness) CPU-seconds per
# delivery.
# Usage: scripts/cpu-per-delivery.sh .build/release/psepr [ROUNDS] [SUBSCRIBERS] [MESSAGES]
set -euo pipefail
psepr=$(realpath "$1"); rounds=${2:-3}; subscribers=${3:-1}; messages=${4:-1000000}
here=$(cd "$(dirname "$0")" && pwd); tools=${TOOLS:-$here/../../shared/tools}
work=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
read -r nats client oneevent peer < <(python3 -c 'import socket;s=[socket.socket() for _ in range(4)];[x.bind(("127.0.0.1",0)) for x in s];print(*[x.getsockname()[1] for x in s])')
nats-server -a 127.0.0.1 -p "$nats" >"$work/nats.log" 2>&1 &
pids+=($!)
cat >"$work/PsEPRServer.xml" <<XML
<PsEPRServer><client><XMPP><port>$client</port></XMPP><oneEvent><port>$oneevent</port></oneEvent></client>
<peer><leasePeer><port>$peer</port></leasePeer></peer><debug><directory>$work/logs</directory><filterLevel>0x8000</filterLevel></debug></PsEPRServer>
XML
(cd "$work" && HOME="$work" exec "$psepr" server --config "$work/PsEPRServer.xml") >"$work/psepr.log" 2>&1 &
pids+=($!)
for port in "$nats" "$client"; do
    for _ in $(seq 100); do python3 -c "import socket;socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break; sleep 0.1; done
done
ticks=$(getconf CLK_TCK)
# server_ticks PID: user and system clock ticks of the process so far.
server_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# harness PROTOCOL PORT EVENTS: one round; prints "RATE HARNESS_SECONDS HARNESS_PAGE_FAULTS".
harness() {
    /usr/bin/time -f "%U %S %R" -o "$work/time" timeout 120 python3 "$tools/fanout.py" --proto "$1" --port "$2" \
        --subs "$subscribers" --msgs "$3" --size 100 >"$work/round"
    grep -q "(100.0%)" "$work/round" || { echo "not every event was delivered: $(cat "$work/round")" >&2; exit 1; }
    echo "$(grep -o '[0-9,]* msgs/s delivered' "$work/round" | tr -d , | cut -d' ' -f1) $(awk '{print $1 + $2, $3}' "$work/time")"
}
declare -A fixed
for spec in "nats $nats ${pids[0]}" "psepr $client ${pids[1]}"; do
    set -- $spec
    # Assigned, not read from a process substitution, so that a round with a loss ends the script.
    start=$(harness "$1" "$2" 1000)
    read -r _ seconds _ <<<"$start"
    fixed[$1]=$seconds
done
echo "CPU-seconds per million deliveries: $messages events of 100 bytes to $subscribers subscriber(s)"
for round in $(seq "$rounds"); do
    for spec in "nats $nats ${pids[0]}" "psepr $client ${pids[1]}"; do
        set -- $spec
        read -r user0 system0 < <(server_ticks "$3")
        round_figures=$(harness "$1" "$2" "$messages")
        read -r rate seconds faults <<<"$round_figures"
        read -r user1 system1 < <(server_ticks "$3")
        awk -v p="$1" -v r="$round" -v rate="$rate" -v u=$((user1 - user0)) -v s=$((system1 - system0)) \
            -v t="$ticks" -v h="$seconds" -v f="${fixed[$1]}" -v pf="$faults" -v m=$((messages * subscribers)) 'BEGIN {
                scale = 1e6 / m
                printf "round %d %-5s %5.2f M/s delivered  server %.2f (user %.2f, system %.2f)  harness %.2f (%d page faults)\n",
                    r, p, rate / 1e6, (u + s) / t * scale, u / t * scale, s / t * scale, (h - f) * scale, pf
            }'
    done
done
