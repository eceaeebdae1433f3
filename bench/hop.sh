#!/usr/bin/env bash
# The gateway-to-gateway hop on loopback, in one run: the same iperf3 traffic direct, through a
# CONS -> PROD chain of two `scistream server`s with the encrypted hop (the default), through
# the same chain with --plaintext-hop, and through a stunnel client/server pair speaking TLS 1.3.
#
# Usage: bench/hop.sh            (from anywhere; needs root or sudo-less apt for missing tools)
# Knobs (environment): RUNS=3 DURATION=5 BASE_PORT=25500
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
BASE_PORT=${BASE_PORT:-25500}
IPERF_PORT=$BASE_PORT
PROD_CONTROL=$((BASE_PORT + 1))
CONS_CONTROL=$((BASE_PORT + 2))
STUNNEL_PORT=$((BASE_PORT + 3))
STUNNEL_HOP=$((BASE_PORT + 4))
PROD_PORTS="$((BASE_PORT + 10))-$((BASE_PORT + 19))"
CONS_PORTS="$((BASE_PORT + 20))-$((BASE_PORT + 29))"
MODES=(direct encrypted plain stunnel)
HERE=$(cd "$(dirname "$0")/.." && pwd)
SCISTREAM=$HERE/target/release/scistream
# shellcheck source=bench/common.sh
source "$HERE/bench/common.sh"

# Two stunnel processes, TLS 1.3 only with the suite the hop negotiates (AES-128-GCM), so that
# both pay for the same cipher: the client side takes plain TCP and opens TLS to the server
# side, which relays to iperf3.
start_stunnel() {
    local stunnel
    stunnel=$(command -v stunnel4 || command -v stunnel)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj /CN=127.0.0.1 -keyout "$WORK/stunnel.key" -out "$WORK/stunnel.crt" 2>/dev/null
    cat >"$WORK/stunnel-server.conf" <<EOF
foreground = yes
pid =
[hop]
accept = 127.0.0.1:$STUNNEL_HOP
connect = 127.0.0.1:$IPERF_PORT
cert = $WORK/stunnel.crt
key = $WORK/stunnel.key
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
EOF
    cat >"$WORK/stunnel-client.conf" <<EOF
foreground = yes
pid =
[hop]
client = yes
accept = 127.0.0.1:$STUNNEL_PORT
connect = 127.0.0.1:$STUNNEL_HOP
CAfile = $WORK/stunnel.crt
verifyPeer = yes
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
EOF
    start stunnel_server "$stunnel" "$WORK/stunnel-server.conf"
    start stunnel_client "$stunnel" "$WORK/stunnel-client.conf"
}

start_relays() {
    start iperf3 iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
    start prod "$SCISTREAM" --config "$WORK/prod.yaml" server --no-tls --port "$PROD_CONTROL" \
        --listener-ip 127.0.0.1 --port-range "$PROD_PORTS"
    start cons "$SCISTREAM" --config "$WORK/cons.yaml" server --no-tls --port "$CONS_CONTROL" \
        --listener-ip 127.0.0.1 --port-range "$CONS_PORTS"
    start_stunnel
    for port in "$IPERF_PORT" "$PROD_CONTROL" "$CONS_CONTROL" "$STUNNEL_PORT" "$STUNNEL_HOP"; do
        wait_for_port "$port"
    done
}

# open_stream [FLAGS...]: the port of a CONS listener of a new stream to the iperf3 server.
open_stream() {
    local opened
    opened=$("$SCISTREAM" --config "$WORK/client.yaml" req stream --no-tls \
        --prod-s2cs "127.0.0.1:$PROD_CONTROL" --cons-s2cs "127.0.0.1:$CONS_CONTROL" \
        --num-conn 1 --remote-ip 127.0.0.1 --receiver-ports "$IPERF_PORT" --json "$@")
    jq -r '.listeners[0]' <<<"$opened" | sed 's/.*://'
}

# measure MODE PORT STREAMS PIDS...: appends "MODE STREAMS GBIT_S RELAY_CPU_S_PER_GB
# MACHINE_CPU_S_PER_GB" to WORK/results; the relay CPU is the sum over PIDS.
measure() {
    local mode=$1 port=$2 streams=$3
    shift 3
    local pids=("$@") before=0 after=0 machine json pid
    for pid in "${pids[@]}"; do before=$((before + $(cpu_ticks "$pid"))); done
    machine=$(machine_ticks)
    json=$(iperf3_run "$port" "$streams")
    machine=$(($(machine_ticks) - machine))
    for pid in "${pids[@]}"; do after=$((after + $(cpu_ticks "$pid"))); done
    record_run "$mode" "$streams" $((after - before)) "$machine" \
        "$( ((${#pids[@]})) && echo true || echo false)" <<<"$json"
}

# The table of medians, with ratios to direct, to the plain chain and to stunnel. "relay CPU" is
# both relay processes' (the two gateways, or the two stunnels); "machine CPU" is every core's.
report() {
    local mode streams column
    for streams in 1 4; do
        for mode in "${MODES[@]}"; do
            printf '%s\t%s' "$mode" "$streams"
            for column in 3 4 5; do
                printf '\t%s' "$(awk -v m="$mode" -v s="$streams" -v c="$column" \
                    '$1 == m && $2 == s { print $c }' "$WORK/results" | median)"
            done
            printf '\n'
        done
    done | awk -F'\t' '
        { mode[NR] = $1; streams[NR] = $2; gbps[NR] = $3; cpu[NR] = $4; all[NR] = $5
          key = $1 "/" $2; g[key] = $3; m[key] = $5 }
        function ratio(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.2f", a / b) }
        END {
            printf "%-10s %7s %7s %8s %7s %9s %10s %12s %7s %9s\n", "path", "streams", "Gbit/s",
                "/direct", "/plain", "/stunnel", "relay CPU", "machine CPU", "/plain", "/stunnel"
            printf "%-10s %7s %7s %8s %7s %9s %10s %12s %7s %9s\n", "", "", "", "", "", "",
                "s/GB", "s/GB", "", ""
            for (i = 1; i <= NR; i++) {
                d = "direct/" streams[i]; p = "plain/" streams[i]; s = "stunnel/" streams[i]
                printf "%-10s %7s %7.2f %8s %7s %9s %10s %12.3f %7s %9s\n", mode[i], streams[i],
                    gbps[i], ratio(gbps[i], g[d]), ratio(gbps[i], g[p]), ratio(gbps[i], g[s]),
                    (cpu[i] == "-") ? "-" : sprintf("%.3f", cpu[i]),
                    all[i], ratio(all[i], m[p]), ratio(all[i], m[s])
            }
        }'
}

main() {
    install_missing_tools iperf3 jq openssl stunnel
    (cd "$HERE" && cargo build --release --quiet --bin scistream)
    start_relays
    local encrypted plain
    encrypted=$(open_stream)
    plain=$(open_stream --plaintext-hop)
    local -A port=([direct]=$IPERF_PORT [encrypted]=$encrypted [plain]=$plain [stunnel]=$STUNNEL_PORT)
    local -A pids=([direct]="" [encrypted]="${PID[prod]} ${PID[cons]}"
        [plain]="${PID[prod]} ${PID[cons]}"
        [stunnel]="${PID[stunnel_server]} ${PID[stunnel_client]}")
    echo "loopback, $(nproc) cores, kernel $(uname -r); medians of $RUNS runs of ${DURATION}s;" \
        "relay CPU = both relay processes' utime+stime per GB received; machine CPU = all cores busy per GB"
    for run in $(seq "$RUNS"); do
        for streams in 1 4; do
            # Interleaved, so that drift on a shared machine hits every path alike.
            for mode in "${MODES[@]}"; do
                echo "run $run/$RUNS: $mode, $streams stream(s)" >&2
                # shellcheck disable=SC2086 # the pid list splits on purpose
                measure "$mode" "${port[$mode]}" "$streams" ${pids[$mode]}
            done
        done
    done
    report
}

main "$@"
