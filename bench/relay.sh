#!/usr/bin/env bash
# Relay throughput and CPU cost on loopback, in one run: the same iperf3 traffic direct, through
# the scistream relay (the real `scistream server` + `scistream req prod`), through HAProxy in
# TCP mode with splice, and through socat (fork).
#
# Usage: bench/relay.sh            (from anywhere; needs root or sudo-less apt for missing tools)
# Knobs (environment): RUNS=3 DURATION=5 BASE_PORT=25300
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
BASE_PORT=${BASE_PORT:-25300}
IPERF_PORT=$BASE_PORT
CONTROL_PORT=$((BASE_PORT + 1))
HAPROXY_PORT=$((BASE_PORT + 2))
SOCAT_PORT=$((BASE_PORT + 3))
DATA_PORTS="$((BASE_PORT + 10))-$((BASE_PORT + 19))"
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
source "$HERE/bench/common.sh"

# socat charges its forked children's CPU to itself only once it has reaped them.
wait_children_reaped() {
    for _ in $(seq 100); do
        [[ -z "$(cat /proc/"$1"/task/*/children 2>/dev/null | tr -d ' ')" ]] && return 0
        sleep 0.05
    done
}

start_relays() {
    start iperf3 iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
    start scistream "$HERE/target/release/scistream" server --no-tls --port "$CONTROL_PORT" \
        --state-dir "$WORK/state" --listener-ip 127.0.0.1 --port-range "$DATA_PORTS"
    cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 1000
    # The scistream relay sizes its pipes 1 MiB too.
    tune.pipesize 1048576
defaults
    mode tcp
    timeout connect 5s
    timeout client 1m
    timeout server 1m
    option splice-request
    option splice-response
frontend relay
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend iperf3
backend iperf3
    server iperf3 127.0.0.1:$IPERF_PORT
EOF
    start haproxy haproxy -db -f "$WORK/haproxy.cfg"
    start socat socat "TCP-LISTEN:$SOCAT_PORT,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$IPERF_PORT"
    for port in "$IPERF_PORT" "$CONTROL_PORT" "$HAPROXY_PORT" "$SOCAT_PORT"; do
        wait_for_port "$port"
    done
}

# The data port of a plain-hop PROD session (clients connect to it directly, as to HAProxy) whose listener relays to the iperf3 server.
open_scistream_session() {
    local opened
    opened=$("$HERE/target/release/scistream" req prod --no-tls --s2cs "127.0.0.1:$CONTROL_PORT" \
        --num-conn 1 --remote-ip 127.0.0.1 --receiver-ports "$IPERF_PORT" --plaintext-hop --json)
    jq -r '.listeners[0]' <<<"$opened" | sed 's/.*://'
}

# measure MODE PORT STREAMS: appends "MODE STREAMS GBIT_S CPU_S_PER_GB MACHINE_CPU_S_PER_GB"
# to WORK/results.
measure() {
    local mode=$1 port=$2 streams=$3 pid=${PID[$1]:-} before=0 after=0 machine json
    [[ -n "$pid" ]] && before=$(cpu_ticks "$pid")
    machine=$(machine_ticks)
    json=$(iperf3_run "$port" "$streams")
    machine=$(($(machine_ticks) - machine))
    if [[ -n "$pid" ]]; then
        wait_children_reaped "$pid"
        after=$(cpu_ticks "$pid")
    fi
    record_run "$mode" "$streams" $((after - before)) "$machine" \
        "$([[ -n "$pid" ]] && echo true || echo false)" <<<"$json"
}

# Prints the table of medians, each with its ratio to direct and to HAProxy. "relay CPU" is the
# relay process's own (socat: with its children), so direct, which has no relay, has none;
# "machine CPU" is every core's busy time, iperf3 and kernel included.
report() {
    local mode streams column
    for streams in 1 4; do
        for mode in direct scistream haproxy socat; do
            printf '%s\t%s' "$mode" "$streams"
            for column in 3 4 5; do
                printf '\t%s' "$(awk -v m="$mode" -v s="$streams" -v c="$column" \
                    '$1 == m && $2 == s { print $c }' "$WORK/results" | median)"
            done
            printf '\n'
        done
    done | awk -F'\t' '
        { mode[NR] = $1; streams[NR] = $2; gbps[NR] = $3; cpu[NR] = $4; all[NR] = $5
          key = $1 "/" $2; g[key] = $3; c[key] = $4; m[key] = $5 }
        function ratio(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.2f", a / b) }
        END {
            printf "%-10s %7s %7s %8s %9s %10s %9s %12s %9s %9s\n", "relay", "streams", "Gbit/s",
                "/direct", "/haproxy", "relay CPU", "/haproxy", "machine CPU", "/direct", "/haproxy"
            printf "%-10s %7s %7s %8s %9s %10s %9s %12s %9s %9s\n", "", "", "", "", "", "s/GB", "",
                "s/GB", "", ""
            for (i = 1; i <= NR; i++) {
                d = "direct/" streams[i]; h = "haproxy/" streams[i]
                printf "%-10s %7s %7.2f %8s %9s %10s %9s %12.3f %9s %9s\n", mode[i], streams[i],
                    gbps[i], ratio(gbps[i], g[d]), ratio(gbps[i], g[h]),
                    (cpu[i] == "-") ? "-" : sprintf("%.3f", cpu[i]), ratio(cpu[i], c[h]),
                    all[i], ratio(all[i], m[d]), ratio(all[i], m[h])
            }
        }'
}

main() {
    install_missing_tools iperf3 haproxy socat jq
    (cd "$HERE" && cargo build --release --quiet --bin scistream)
    start_relays
    local scistream_port
    scistream_port=$(open_scistream_session)
    local -A port=([direct]=$IPERF_PORT [scistream]=$scistream_port [haproxy]=$HAPROXY_PORT [socat]=$SOCAT_PORT)
    echo "loopback, $(nproc) cores, kernel $(uname -r); medians of $RUNS runs of ${DURATION}s;" \
        "relay CPU = relay process utime+stime per GB received; machine CPU = all cores busy per GB"
    for run in $(seq "$RUNS"); do
        for streams in 1 4; do
            # Interleaved, so that drift on a shared machine hits every relay alike.
            for mode in direct scistream haproxy socat; do
                echo "run $run/$RUNS: $mode, $streams stream(s)" >&2
                measure "$mode" "${port[$mode]}" "$streams"
            done
        done
    done
    report
}

main "$@"
