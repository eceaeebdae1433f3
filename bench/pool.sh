#!/usr/bin/env bash
# A pool of gateways against one gateway, on loopback, with the release binary: `req prod`
# latency (p50, p99) and sequential sessions per second (req prod + req release) through a
# 3-node pool sharing one etcd, and through one node with the embedded store, in one run; then
# how long a node killed with -9 takes to show its listeners lost at another node.
#
# Usage: bench/pool.sh             (from anywhere; needs etcd: apt-get install etcd-server)
# Knobs (environment): SESSIONS=200 NUM_CONN=3 LEASE=5 BASE_PORT=25400
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
. bench/common.sh
install_missing_tools jq
if ! command -v etcd >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
fi
SESSIONS=${SESSIONS:-200} NUM_CONN=${NUM_CONN:-3} LEASE=${LEASE:-5} BASE=${BASE_PORT:-25400}
ETCD="http://127.0.0.1:$BASE"
BIN="$HERE/target/release/scistream"
cargo build --release --locked --quiet --bin scistream
echo "$(nproc) cores, kernel $(uname -r), $(etcd --version | head -1), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

start etcd etcd --name bench --data-dir "$WORK/etcd" \
    --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
    --listen-peer-urls "http://127.0.0.1:$((BASE + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((BASE + 1))" \
    --initial-cluster "bench=http://127.0.0.1:$((BASE + 1))"
wait_for_port "$BASE"

# node NAME IP CONTROL_PORT FIRST_DATA_PORT [FLAGS...]: a gateway on IP with 100 data ports.
node() {
    local name=$1 ip=$2 port=$3 first=$4
    shift 4
    start "$name" "$BIN" --config "$WORK/$name.yaml" server --no-tls --bind "$ip" --port "$port" \
        --listener-ip "$ip" --port-range "$first-$((first + 99))" "$@"
}
node lone 127.0.0.1 $((BASE + 10)) $((BASE + 200)) --state-dir "$WORK/lone-state"
for i in 1 2 3; do
    node "n$i" "127.0.0.$i" $((BASE + 10 + i)) $((BASE + 100)) --cluster "$ETCD" --pool bench \
        --node-name "n$i" --cluster-lease "$LEASE"
done
wait_for_port $((BASE + 10))
for i in 1 2 3; do
    # wait_for_port looks at 127.0.0.1 only.
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.$i/$((BASE + 10 + i))") 2>/dev/null && break
        sleep 0.1
    done
done

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# timed FILE CMD...: runs CMD with its stdout into WORK/out and appends its milliseconds to FILE.
# Only CMD is timed: the clock is read without a fork, and its output is parsed afterwards (a
# `jq` in the pipe would add its own start, about 20 ms here: more than a req takes).
timed() {
    local file=$1 t0
    shift
    t0=${EPOCHREALTIME/./}
    "$@" >"$WORK/out"
    awk -v us=$((${EPOCHREALTIME/./} - t0)) 'BEGIN { printf "%.1f\n", us / 1000 }' >>"$file"
}

# prod_cmd S2CS: opens a PROD session of NUM_CONN listeners at S2CS; prints it as JSON.
prod_cmd() {
    "$BIN" --config "$WORK/client.yaml" req prod -q --no-tls --s2cs "$1" --num-conn "$NUM_CONN" \
        --remote-ip 127.0.0.1 --receiver-ports 9 --json
}

# sequential NAME S2CS: SESSIONS times req prod (timed alone) then req release at S2CS; prints
# "NAME p50 p99 sessions/s" (sessions/s over the whole loop, release and bookkeeping included).
sequential() {
    local name=$1 s2cs=$2 begin uid
    begin=$(now_ms)
    for _ in $(seq "$SESSIONS"); do
        timed "$WORK/$name.ms" prod_cmd "$s2cs"
        uid=$(jq -r .uid <"$WORK/out")
        "$BIN" --config "$WORK/client.yaml" req release -q --no-tls --s2cs "$s2cs" "$uid" >/dev/null
    done
    local elapsed=$(($(now_ms) - begin))
    printf '%-22s %8s %8s %12.1f\n' "$name" "$(median <"$WORK/$name.ms")" "$(p99 <"$WORK/$name.ms")" \
        "$(awk -v n="$SESSIONS" -v ms="$elapsed" 'BEGIN { print n * 1000 / ms }')"
}

p99() {
    sort -g | awk '{ v[NR] = $1 } END { i = int(NR * 0.99 + 0.999); print v[i] }'
}

# floor S2CS: the p50 and p99 of `req list` at S2CS, SESSIONS times: what a CLI run costs
# (process start, connection, one call) before a req adds its own work.
floor() {
    for _ in $(seq "$SESSIONS"); do
        timed "$WORK/floor.ms" "$BIN" --config "$WORK/client.yaml" req list -q --no-tls --s2cs "$1"
    done
    printf '%-22s %8s %8s\n' "(req list: CLI floor)" "$(median <"$WORK/floor.ms")" "$(p99 <"$WORK/floor.ms")"
}

echo
echo "$SESSIONS sequential sessions of $NUM_CONN connections (req prod + req release, each a CLI run)"
printf '%-22s %8s %8s %12s\n' "" "p50 ms" "p99 ms" "sessions/s"
sequential "one node (embedded)" "127.0.0.1:$((BASE + 10))"
sequential "3-node pool (etcd)" "127.0.0.1:$((BASE + 11))"
floor "127.0.0.1:$((BASE + 10))"

# A session over the three nodes, then n3 killed: how long until n1 shows its listeners lost.
uid=$(NUM_CONN=6 prod_cmd "127.0.0.1:$((BASE + 11))" | jq -r .uid)
{
    kill -9 -- "-${PID[n3]}"
    killed=$(now_ms)
    wait "${PID[n3]}"
} 2>/dev/null || true
unset 'PID[n3]'
until "$BIN" --config "$WORK/client.yaml" req status -q --no-tls --s2cs "127.0.0.1:$((BASE + 11))" \
    --json "$uid" | jq -e '.lost_listeners | length == 2' >/dev/null; do
    sleep 0.05
done
echo
echo "node n3 killed (-9) with --cluster-lease $LEASE: its 2 listeners shown lost at n1 after" \
    "$(($(now_ms) - killed)) ms"
