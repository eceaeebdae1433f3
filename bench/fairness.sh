#!/usr/bin/env bash
# Rate limits on loopback, in one run, with iperf3 through real sessions (`scistream server` +
# `scistream req prod --plaintext-hop`, clients connecting to the PROD listener):
# - accuracy: sessions limited to 1, 2 and 4 Gbit/s; the measured rate within 5% of the limit;
# - sharing: two sessions limited to 1 and 3 Gbit/s at once; each within 10% of its limit;
# - cost: an unlimited session on a `--rate-policy limit` server against the same on an `ignore`
#   server, alternating: at least 0.97x the throughput and at most 1.05x the machine CPU per GB;
# - refusals: a `--rate-policy reserve` server refusing sessions past its `--bandwidth`, and a
#   `--quota-sessions 1` server refusing a second session of one client, each answered in under
#   5 ms (99th percentile).
#
# Usage: bench/fairness.sh         (from anywhere; needs root or sudo-less apt for missing tools)
# Knobs (environment): RUNS=3 DURATION=5 BASE_PORT=25700 REFUSALS=200
#   PARTS="accuracy sharing cost refusals" (e.g. PARTS=refusals for the refusal times alone)
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
BASE_PORT=${BASE_PORT:-25700}
REFUSALS=${REFUSALS:-200}
IPERF_A=$BASE_PORT
IPERF_B=$((BASE_PORT + 1))
LIMIT_CONTROL=$((BASE_PORT + 2))
IGNORE_CONTROL=$((BASE_PORT + 3))
RESERVE_CONTROL=$((BASE_PORT + 4))
QUOTA_CONTROL=$((BASE_PORT + 5))
PARTS=${PARTS:-accuracy sharing cost refusals}
HERE=$(cd "$(dirname "$0")/.." && pwd)
SCISTREAM=$HERE/target/release/scistream
# shellcheck source=bench/common.sh
source "$HERE/bench/common.sh"

# gateway NAME CONTROL_PORT FIRST_DATA_PORT [FLAGS...]: a `scistream server` on loopback, with
# a session store of its own in the run's scratch directory.
gateway() {
    local name=$1 control=$2 first=$3
    shift 3
    start "$name" "$SCISTREAM" --config "$WORK/$name.yaml" server --no-tls --port "$control" \
        --state-dir "$WORK/$name-state" --listener-ip 127.0.0.1 \
        --port-range "$first-$((first + 9))" "$@"
}

start_servers() {
    start iperf3_a iperf3 -s -B 127.0.0.1 -p "$IPERF_A"
    start iperf3_b iperf3 -s -B 127.0.0.1 -p "$IPERF_B"
    gateway limit "$LIMIT_CONTROL" $((BASE_PORT + 10)) --rate-policy limit
    gateway ignore "$IGNORE_CONTROL" $((BASE_PORT + 20))
    gateway reserve "$RESERVE_CONTROL" $((BASE_PORT + 30)) --rate-policy reserve --bandwidth 1G
    gateway quota "$QUOTA_CONTROL" $((BASE_PORT + 40)) --quota-sessions 1
    for port in "$IPERF_A" "$IPERF_B" "$LIMIT_CONTROL" "$IGNORE_CONTROL" "$RESERVE_CONTROL" \
        "$QUOTA_CONTROL"; do
        wait_for_port "$port"
    done
}

# open_session CONTROL_PORT TARGET_PORT RATE: the data port of a new session to 127.0.0.1:TARGET_PORT.
open_session() {
    "$SCISTREAM" --config "$WORK/client.yaml" req prod --no-tls --s2cs "127.0.0.1:$1" \
        --num-conn 1 --remote-ip 127.0.0.1 --receiver-ports "$2" --plaintext-hop --rate "$3" \
        --json | jq -r '.listeners[0]' | sed 's/.*://'
}

gbit_per_s() {
    jq -r '.end.sum_received.bits_per_second / 1e9'
}

# verdict OK: "yes" or "NO".
verdict() {
    if [[ "$1" == 1 ]]; then echo yes; else echo NO; fi
}

# accuracy: one session per limit, RUNS runs each, medians against the limit.
accuracy() {
    local limit port run
    printf '\naccuracy: one session per limit, 1 stream; medians of %s runs of %ss\n' "$RUNS" "$DURATION"
    printf '%-8s %10s %7s %10s\n' limit "Gbit/s" ratio "within 5%"
    for limit in 1 2 4; do
        port=$(open_session "$LIMIT_CONTROL" "$IPERF_A" "${limit}G")
        for run in $(seq "$RUNS"); do
            echo "run $run/$RUNS: accuracy, ${limit}G" >&2
            iperf3_run "$port" 1 | gbit_per_s >>"$WORK/accuracy-$limit"
        done
        median <"$WORK/accuracy-$limit" | awk -v l="$limit" '{
            r = $1 / l; printf "%-8s %10.3f %7.3f %10s\n", l "G", $1, r, (r >= 0.95 && r <= 1.05) ? "yes" : "NO" }'
    done
}

# sharing: two sessions at once, 1G and 3G, each to its own iperf3 server.
sharing() {
    local port_a port_b run background
    printf '\nsharing: sessions limited to 1 and 3 Gbit/s at once; medians of %s runs of %ss\n' "$RUNS" "$DURATION"
    port_a=$(open_session "$LIMIT_CONTROL" "$IPERF_A" 1G)
    port_b=$(open_session "$LIMIT_CONTROL" "$IPERF_B" 3G)
    for run in $(seq "$RUNS"); do
        echo "run $run/$RUNS: sharing" >&2
        iperf3_run "$port_a" 1 >"$WORK/share-a.json" &
        background=$!
        iperf3_run "$port_b" 1 >"$WORK/share-b.json"
        wait "$background"
        gbit_per_s <"$WORK/share-a.json" >>"$WORK/sharing-1"
        gbit_per_s <"$WORK/share-b.json" >>"$WORK/sharing-3"
    done
    printf '%-8s %10s %7s %11s\n' limit "Gbit/s" ratio "within 10%"
    for limit in 1 3; do
        median <"$WORK/sharing-$limit" | awk -v l="$limit" '{
            r = $1 / l; printf "%-8s %10.3f %7.3f %11s\n", l "G", $1, r, (r >= 0.9 && r <= 1.1) ? "yes" : "NO" }'
    done
}

# measure MODE PORT: appends "MODE 1 GBIT_S - MACHINE_CPU_S_PER_GB" to WORK/results.
measure() {
    local machine json
    machine=$(machine_ticks)
    json=$(iperf3_run "$2" 1)
    machine=$(($(machine_ticks) - machine))
    record_run "$1" 1 0 "$machine" false <<<"$json"
}

# cost: unlimited sessions on the limit and the ignore server, alternating (and the order
# swapped every run, so that neither always goes first).
cost() {
    local limited ignored run
    printf '\ncost of --rate-policy limit to an unlimited session (rate 0); medians of %s runs of %ss\n' \
        "$RUNS" "$DURATION"
    limited=$(open_session "$LIMIT_CONTROL" "$IPERF_A" 0)
    ignored=$(open_session "$IGNORE_CONTROL" "$IPERF_A" 0)
    for run in $(seq "$RUNS"); do
        echo "run $run/$RUNS: cost" >&2
        if ((run % 2)); then
            measure limit "$limited"
            measure ignore "$ignored"
        else
            measure ignore "$ignored"
            measure limit "$limited"
        fi
    done
    local mode gbps cpu
    declare -A g c
    for mode in ignore limit; do
        g[$mode]=$(awk -v m="$mode" '$1 == m { print $3 }' "$WORK/results" | median)
        c[$mode]=$(awk -v m="$mode" '$1 == m { print $5 }' "$WORK/results" | median)
    done
    printf '%-8s %10s %18s\n' server "Gbit/s" "machine CPU s/GB"
    for mode in ignore limit; do
        printf '%-8s %10.3f %18.3f\n' "$mode" "${g[$mode]}" "${c[$mode]}"
    done
    gbps=$(awk -v a="${g[limit]}" -v b="${g[ignore]}" 'BEGIN { print a / b }')
    cpu=$(awk -v a="${c[limit]}" -v b="${c[ignore]}" 'BEGIN { print a / b }')
    printf 'limit/ignore: throughput %.3fx (at least 0.97x: %s), machine CPU per GB %.3fx (at most 1.05x: %s)\n' \
        "$gbps" "$(verdict "$(awk -v r="$gbps" 'BEGIN { print (r >= 0.97) }')")" \
        "$cpu" "$(verdict "$(awk -v r="$cpu" 'BEGIN { print (r <= 1.05) }')")"
}

# refusals: the reserve server's 1G all taken by one session, then REFUSALS reqs for 1G more;
# the quota server's one session per client taken, then REFUSALS reqs for another.
refusals() {
    printf '\nrefusals: answer time of a req refused with RESOURCE_EXHAUSTED, %s in a row\n' "$REFUSALS"
    open_session "$RESERVE_CONTROL" 9 1G >/dev/null
    "$HERE/target/release/examples/refusals" --s2cs "127.0.0.1:$RESERVE_CONTROL" \
        --rate 1000000 --count "$REFUSALS" | awk '{
        printf "reservation (past --bandwidth): median %.3f ms, p99 %.3f ms (under 5 ms: %s)\n",
            $1, $2, ($2 < 5) ? "yes" : "NO" }'
    open_session "$QUOTA_CONTROL" 9 10000 >/dev/null
    "$HERE/target/release/examples/refusals" --s2cs "127.0.0.1:$QUOTA_CONTROL" \
        --count "$REFUSALS" | awk '{
        printf "quota (past --quota-sessions): median %.3f ms, p99 %.3f ms (under 5 ms: %s)\n",
            $1, $2, ($2 < 5) ? "yes" : "NO" }'
}

main() {
    install_missing_tools iperf3 jq
    (cd "$HERE" && cargo build --release --quiet --bin scistream --example refusals)
    start_servers
    echo "loopback, $(nproc) cores, kernel $(uname -r); iperf3 client -> scistream PROD listener" \
        "-> iperf3 server; Gbit/s = iperf3's received rate; machine CPU = all cores busy per GB"
    local part
    for part in $PARTS; do
        case $part in
        accuracy | sharing | cost | refusals) "$part" ;;
        *) echo "unknown part $part in PARTS: accuracy, sharing, cost, refusals" >&2 && exit 2 ;;
        esac
    done
}

main "$@"
