#!/usr/bin/env bash
# The main job on one machine, with nothing external: two gateways (PROD on 127.0.0.1, CONS on
# 127.0.0.2), a producer application that listens and sends, and a consumer that connects
# through the CONS listener and receives, with one session streaming through the chain
#   app recv --connect -> CONS gateway listener -> PROD gateway listener -> app send --listen
# (connections go left to right, the data right to left: producer -> consumer).
# Prints each command and its output, the checksum both ends computed, and the throughput.
# Everything it starts is stopped, and its scratch directory removed, however it ends.
#   MIB=64                    send 64 MiB instead of 512
#   SCISTREAM_BIN=PATH        use this binary instead of building with cargo
#   DEMO_PROD_IP, DEMO_CONS_IP  the gateways' loopback addresses
set -euo pipefail
cd "$(dirname "$0")/.."

MIB=${MIB:-512}
prod_ip=${DEMO_PROD_IP:-127.0.0.1}
cons_ip=${DEMO_CONS_IP:-127.0.0.2}
if [ -n "${SCISTREAM_BIN:-}" ]; then
    bin=$SCISTREAM_BIN
else
    command -v cargo >/dev/null || { echo "demo: needs Rust's cargo (https://rustup.rs)" >&2; exit 1; }
    cargo build --release --quiet
    bin=$PWD/target/release/scistream
fi

work=$(mktemp -d)
pids=()
cleanup() {
    trap - EXIT INT TERM
    [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
# `exit` runs the EXIT trap. Long steps run in the background under `wait`, which a signal
# interrupts at once (a foreground child would delay the trap until it ends).
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for_line FILE PATTERN WHAT: prints what follows PATTERN at the start of a line of FILE
# once it appears; fails if the process started last ends first.
wait_for_line() {
    local file=$1 pattern=$2 what=$3 line
    while :; do
        # The background process creates FILE: it may not exist yet.
        line=$(sed -n "s/^$pattern//p" "$file" 2>/dev/null)
        [ -n "$line" ] && { echo "$line"; return; }
        kill -0 "${pids[-1]}" 2>/dev/null || { echo "demo: $what did not start:" >&2; cat "$work"/*.log >&2; return 1; }
        sleep 0.1
    done
}

# start_gateway NAME IP: starts a server with its own config dir; sets $gateway to its address.
start_gateway() {
    local name=$1 ip=$2
    mkdir -p "$work/$name"
    "$bin" --config "$work/$name/config.yaml" -q server --port 0 --bind "$ip" --listener-ip "$ip" \
        --port-range 5100-5199 >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    gateway=$(wait_for_line "$work/$name.out" "Server started on " "the $name gateway")
}

start_gateway prod "$prod_ip"
prod_gw=$gateway
start_gateway cons "$cons_ip"
cons_gw=$gateway
echo "PROD gateway: $prod_gw   CONS gateway: $cons_gw"

# The producer application: listens where the PROD session relays to, and sends random data
# to the consumer's connections.
echo "\$ scistream app send --listen $prod_ip:0 --bytes ${MIB}M"
"$bin" -q app send --listen "$prod_ip:0" --bytes "${MIB}M" >"$work/send.out" 2>"$work/send.log" &
pids+=($!)
send_pid=$!
app=$(wait_for_line "$work/send.log" "Listening on " "app send")
echo "Listening on $app"

echo "\$ scistream req prod --s2cs $prod_gw --num-conn 1 --remote-ip ${app%:*} --receiver-ports ${app##*:}"
"$bin" --config "$work/prod/config.yaml" -q req prod --s2cs "$prod_gw" --num-conn 1 \
    --remote-ip "${app%:*}" --receiver-ports "${app##*:}" | tee "$work/prod.req"
uid=$(sed -n 2p "$work/prod.req" | cut -d' ' -f1)
prod_listeners=$(sed -n 's/^Listeners: //p' "$work/prod.req")

# --prod-s2cs: req cons asks the PROD gateway for the session's hop credential, so the CONS
# gateway reaches the PROD listeners over TLS 1.3 pinned to this session.
echo "\$ scistream req cons --s2cs $cons_gw --prod-s2cs $prod_gw --num-conn 1 $uid $prod_listeners"
"$bin" --config "$work/cons/config.yaml" -q req cons --s2cs "$cons_gw" --prod-s2cs "$prod_gw" \
    --prod-server-cert "$work/prod/server.crt" --num-conn 1 "$uid" "$prod_listeners" \
    | tee "$work/cons.req"
cons_listener=$(sed -n 's/^Listeners: //p' "$work/cons.req")

# The consumer, through the CONS listener: verifies every byte and prints a checksum.
echo "\$ scistream app recv --connect $cons_listener"
"$bin" app recv --connect "$cons_listener" >"$work/recv.out" &
pids+=($!)
wait $!
wait "$send_pid" || { status=$?; cat "$work/send.log" >&2; exit "$status"; }
cat "$work/send.out" "$work/recv.out"

sent=$(sed -n 's/^checksum: //p' "$work/send.out")
received=$(sed -n 's/^checksum: //p' "$work/recv.out")
echo "sender checksum:   $sent"
echo "receiver checksum: $received"
[ -n "$sent" ] && [ "$sent" = "$received" ] || { echo "demo: the checksums differ" >&2; exit 1; }

"$bin" --config "$work/cons/config.yaml" req release --s2cs "$cons_gw" "$uid"
"$bin" --config "$work/prod/config.yaml" req release --s2cs "$prod_gw" "$uid"
