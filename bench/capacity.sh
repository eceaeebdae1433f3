#!/usr/bin/env bash
# Relay capacity on loopback, in one run: how many concurrent relayed connections one scistream
# session holds at an open-file limit, against HAProxy (TCP mode, splice) under the same limit,
# and what a connection beyond capacity sees.
#
# Usage: bench/capacity.sh          (from anywhere; installs haproxy and jq if missing, needs root)
# Knobs (environment): FD_LIMIT=<this shell's hard limit> CONNECTIONS=10000 PROBES=20
#                      BASE_PORT=25400
# The load generator and the echo targets hold one fd per connection each, so CONNECTIONS +
# PROBES must stay below this shell's own open-file limit.
set -euo pipefail

FD_LIMIT=${FD_LIMIT:-$(ulimit -Hn)}
CONNECTIONS=${CONNECTIONS:-10000}
PROBES=${PROBES:-20}
BASE_PORT=${BASE_PORT:-25400}
CONTROL_PORT=$BASE_PORT
HAPROXY_PORT=$((BASE_PORT + 1))
METRICS_PORT=$((BASE_PORT + 2))
SCISTREAM_ECHO_PORT=$((BASE_PORT + 3))
HAPROXY_ECHO_PORT=$((BASE_PORT + 4))
DATA_PORTS="$((BASE_PORT + 10))-$((BASE_PORT + 19))"
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
source "$HERE/bench/common.sh"





start_relays() {
    start scistream_echo python3 "$HERE/bench/capacity.py" echo "$SCISTREAM_ECHO_PORT"
    start haproxy_echo python3 "$HERE/bench/capacity.py" echo "$HAPROXY_ECHO_PORT"
    # One source and one session take the whole relay here: lift their shares, so that only
    # the fd limit counts, as for HAProxy.
    start scistream prlimit --nofile="$FD_LIMIT" "$HERE/target/release/scistream" server --no-tls \
        --state-dir "$WORK/state" --port "$CONTROL_PORT" --listener-ip 127.0.0.1 --port-range "$DATA_PORTS" \
        --metrics "127.0.0.1:$METRICS_PORT" --max-connections-per-source 1000000 \
        --max-session-connections 1000000 --max-session-connection-rate 1000000
    # No maxconn: HAProxy derives it (and maxpipes) from the open-file limit, as scistream does.
    cat >"$WORK/haproxy.cfg" <<CFG
global
    tune.pipesize 1048576
    stats socket $WORK/haproxy.sock
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
    option splice-request
    option splice-response
frontend relay
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend echo
backend echo
    server echo 127.0.0.1:$HAPROXY_ECHO_PORT
CFG
    start haproxy prlimit --nofile="$FD_LIMIT" haproxy -db -f "$WORK/haproxy.cfg"
    for port in "$SCISTREAM_ECHO_PORT" "$HAPROXY_ECHO_PORT" "$CONTROL_PORT" "$HAPROXY_PORT"; do
        wait_for_port "$port"
    done
}

# The data port of a plain-hop PROD session (clients connect to it directly, as to HAProxy) of one listener, relayed to the scistream echo target.
open_scistream_session() {
    "$HERE/target/release/scistream" req prod --no-tls --s2cs "127.0.0.1:$CONTROL_PORT" \
        --num-conn 1 --remote-ip 127.0.0.1 --receiver-ports "$SCISTREAM_ECHO_PORT" --plaintext-hop --json |
        jq -r '.listeners[0]' | sed 's/.*://'
}

# The connection limits each relay chose for itself from the fd limit.
limits() {
    local scistream haproxy
    scistream=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" |
        awk '$1 == "scistream_connections_limit" { print $2 }')
    haproxy=$(echo "show info" | socat - "UNIX-CONNECT:$WORK/haproxy.sock" |
        awk -F': ' '$1 == "Maxconn" || $1 == "Maxpipes" { printf "%s%s %s", sep, $1, $2; sep = ", " }')
    echo "scistream: $scistream connections; haproxy: $haproxy"
}

report() {
    awk -F'\t' '
        BEGIN {
            printf "%-10s %7s %8s %6s %8s %12s %9s %6s %10s %10s  %s\n", "relay", "held", "/haproxy",
                "fds", "fds/conn", "RSS MiB", "open s", "pipes", "pipe MiB", "queued KiB",
                "beyond capacity (new connections)"
        }
        { row[NR] = $0; held[$1] = $2 }
        END {
            for (i = 1; i <= NR; i++) {
                split(row[i], f, "\t")
                ratio = held["haproxy"] ? sprintf("%.2f", f[2] / held["haproxy"]) : "-"
                printf "%-10s %7d %8s %6d %8s %5s->%-6s %9s %6d %10s %10s  %s\n", f[1], f[2], ratio,
                    f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12]
                if (f[3] != f[2]) printf "  %s: only %d of %d held connections still relayed at the end\n", f[1], f[3], f[2]
            }
        }' "$WORK/results"
}

main() {
    install_missing_tools haproxy jq python3 prlimit socat curl
    (cd "$HERE" && cargo build --release --quiet --bin scistream)
    start_relays
    local scistream_port
    scistream_port=$(open_scistream_session)
    echo "loopback, $(nproc) cores, kernel $(uname -r), $(haproxy -v | head -1 | cut -d' ' -f1-3);" \
        "open-file limit $FD_LIMIT for each relay; up to $CONNECTIONS connections through one" \
        "listener, $PROBES probes beyond capacity; limits chosen: $(limits)"
    echo "relaying through scistream" >&2
    python3 "$HERE/bench/capacity.py" load scistream "$scistream_port" "${PID[scistream]}" \
        "$CONNECTIONS" "$PROBES" >>"$WORK/results"
    echo "relaying through haproxy" >&2
    python3 "$HERE/bench/capacity.py" load haproxy "$HAPROXY_PORT" "${PID[haproxy]}" \
        "$CONNECTIONS" "$PROBES" >>"$WORK/results"
    report
}

main "$@"
