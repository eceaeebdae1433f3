#!/usr/bin/env bash
# Live upgrades and what the session store costs, on loopback, in one run:
# - upgrade under load: gateway A holds a plain PROD session with 4 streams and the PROD end of an
#   encrypted stream (gateway B holds its CONS end); each stream is paced at RATE MB/s for
#   DURATION s (bench/upgrade_load.py sends, receives and hashes every byte). At half time A is
#   reloaded (SIGHUP: the binary on disk takes over; the encrypted connection drains in the old
#   process). Reported: the longest stall each stream sees from the reload on, against its
#   longest gap before it (the baseline, same run; target: under 50 ms), bytes lost (must be 0),
#   refused connects to A's control port and to a session listener during it (must be 0), the
#   handover time (old process parks -> new process took over) and the reload time (SIGHUP ->
#   new process took over, its start included).
# - persistence: the setup latency (req+hello+update) median and sequential create+release per
#   second, over gRPC with the in-repo driver (examples/control_load.rs: the server's own cost,
#   with its CPU per session) and with the CLI (`req prod` + `req release`, a process each, as a
#   user sees it), against this build with its state on a tmpfs (/dev/shm) and against the
#   previous release (PREVIOUS, the commit before the store; built once in a scratch worktree
#   and kept as target/scistream-previous-COMMIT), alternating. Targets: median under 10 ms,
#   create+release at least 0.6x the previous release.
#
# Usage: bench/upgrade.sh          (from anywhere; needs root or sudo-less apt for missing tools)
# Knobs (environment): RUNS=3 DURATION=6 RATE=40 SESSIONS=100 GRPC_SESSIONS=1000 BASE_PORT=26100
#   PREVIOUS=b65511d^1
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-6}
RATE=${RATE:-40}
SESSIONS=${SESSIONS:-100}
GRPC_SESSIONS=${GRPC_SESSIONS:-1000}
BASE_PORT=${BASE_PORT:-26100}
PREVIOUS=${PREVIOUS:-b65511d^1}
PRODUCER=$BASE_PORT
SINK=$((BASE_PORT + 1))
CONTROL_A=$((BASE_PORT + 2))
CONTROL_B=$((BASE_PORT + 3))
CONTROL_STORE=$((BASE_PORT + 4))
CONTROL_PREVIOUS=$((BASE_PORT + 5))
HERE=$(cd "$(dirname "$0")/.." && pwd)
SCISTREAM=$HERE/target/release/scistream
# shellcheck source=bench/common.sh
source "$HERE/bench/common.sh"

# gateway NAME BINARY CONTROL_PORT FIRST_DATA_PORT [FLAGS...]: a `scistream server` on loopback
# (JSON logs, so that events carry their time).
gateway() {
    local name=$1 binary=$2 control=$3 first=$4
    shift 4
    start "$name" "$binary" --log-format json --config "$WORK/$name.yaml" server --no-tls \
        --port "$control" --listener-ip 127.0.0.1 \
        --port-range "$first-$((first + 19))" "$@"
}

client() {
    "$SCISTREAM" --config "$WORK/client.yaml" "$@"
}

# The previous release's binary, built once in a scratch worktree and target directory (a
# target directory shared with this build mixes the two builds' generated protobuf code).
previous_binary() {
    local commit kept
    commit=$(git -C "$HERE" rev-parse --short "$PREVIOUS")
    kept=$HERE/target/scistream-previous-$commit
    if [[ ! -x "$kept" ]]; then
        echo "building the previous release ($commit) once" >&2
        git -C "$HERE" worktree add --detach "$WORK/previous" "$commit" >/dev/null 2>&1
        (cd "$WORK/previous" && CARGO_TARGET_DIR="$WORK/previous-target" cargo build --release \
            --quiet --bin scistream)
        cp "$WORK/previous-target/release/scistream" "$kept"
        git -C "$HERE" worktree remove --force "$WORK/previous"
        rm -rf "$WORK/previous-target"
    fi
    echo "$kept"
}

# A log's event time (seconds since the epoch) of the first line with "event":"NAME".
event_time() {
    python3 -c '
import datetime, json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == sys.argv[2]:
        t = e["timestamp"].replace("Z", "+00:00")
        print(datetime.datetime.fromisoformat(t).timestamp())
        break
' "$1" "$2"
}

upgrade_under_load() {
    gateway a "$SCISTREAM" "$CONTROL_A" $((BASE_PORT + 10)) --state-dir "$STATE_ROOT/a"
    gateway b "$SCISTREAM" "$CONTROL_B" $((BASE_PORT + 40)) --state-dir "$STATE_ROOT/b"
    wait_for_port "$CONTROL_A"
    wait_for_port "$CONTROL_B"
    local plain encrypted sink
    plain=$(client req prod -q --no-tls --s2cs "127.0.0.1:$CONTROL_A" --num-conn 4 \
        --remote-ip 127.0.0.1 --receiver-ports "$PRODUCER" --plaintext-hop --json |
        jq -r '.listeners | join(",")')
    encrypted=$(client req stream -q --no-tls --prod-s2cs "127.0.0.1:$CONTROL_A" \
        --cons-s2cs "127.0.0.1:$CONTROL_B" --num-conn 1 --remote-ip 127.0.0.1 \
        --receiver-ports "$PRODUCER" --json | jq -r '.listeners[0]')
    sink=$(client req prod -q --no-tls --s2cs "127.0.0.1:$CONTROL_A" --num-conn 1 \
        --remote-ip 127.0.0.1 --receiver-ports "$SINK" --plaintext-hop --json |
        jq -r '.listeners[0]')
    local old=${PID[a]}
    python3 "$HERE/bench/upgrade_load.py" --producer-port "$PRODUCER" --sink-port "$SINK" \
        --plain "$plain" --encrypted "$encrypted" --connect-to "127.0.0.1:$CONTROL_A,$sink" \
        --rate "$RATE" --duration "$DURATION" --upgrade-at "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')" \
        --hup "$old" >"$WORK/load.json"
    # The old process exits once its encrypted connection has drained.
    for _ in $(seq 200); do
        kill -0 "$old" 2>/dev/null || break
        sleep 0.1
    done
    local exited=yes handover took_over hup
    kill -0 "$old" 2>/dev/null && exited=NO
    handover=$(event_time "$WORK/a.log" handover)
    took_over=$(event_time "$WORK/a.log" took_over)
    hup=$(jq -r .hup_at "$WORK/load.json")
    echo "== live upgrade of gateway A under load: 4 plain streams + 1 encrypted, ${RATE} MB/s each, ${DURATION} s, reload at half time"
    jq -r '.streams[] | [(if .encrypted then "encrypted" else "plain" end), .addr, .bytes,
            (if .lost then "NO" else "yes" end),
            (.longest_gap_before_ms * 100 | round / 100), (.longest_gap_after_ms * 100 | round / 100),
            (if .longest_gap_before_ms > 0 then (.longest_gap_after_ms / .longest_gap_before_ms * 100 | round / 100) else "-" end)]
           | @tsv' "$WORK/load.json" |
        awk -F'\t' 'BEGIN { printf "%-10s %-16s %12s %9s %18s %17s %8s\n", "stream", "listener",
                "bytes", "intact", "longest gap ms", "longest stall ms", "/before" }
            { printf "%-10s %-16s %12s %9s %18s %17s %8s\n", $1, $2, $3, $4, $5, $6, $7 }'
    jq -r '"bytes lost: \(.bytes_lost) (must be 0)",
           "connects during the run: \(.connects.tried), refused: \(.connects.refused) (must be 0)"' \
        "$WORK/load.json"
    awk -v h="$handover" -v t="$took_over" -v s="$hup" 'BEGIN {
        printf "handover (old parks -> new took over): %.1f ms; reload (SIGHUP -> new took over): %.1f ms\n",
            (t - h) * 1000, (t - s) * 1000 }'
    echo "old process exited after its encrypted connection drained: $exited"
    kill -- "-${PID[a]}" "-${PID[b]}" 2>/dev/null || true
}

# persist BINARY CONTROL NAME [FLAGS...]: SESSIONS sequential req prod + req release against a fresh
# gateway; appends "NAME REQ_PROD_MEDIAN_MS CREATE_RELEASE_PER_S -" to WORK/persist.
persist() {
    local binary=$1 control=$2 name=$3 start_ns end_ns t0 t1 uid
    shift 3
    rm -rf "${STATE_ROOT:?}/$name"
    gateway "$name" "$binary" "$control" $((BASE_PORT + 70)) "$@"
    wait_for_port "$control"
    : >"$WORK/latencies"
    start_ns=$(date +%s%N)
    for _ in $(seq "$SESSIONS"); do
        t0=$(date +%s%N)
        uid=$(client req prod -q --no-tls --s2cs "127.0.0.1:$control" --num-conn 1 \
            --remote-ip 127.0.0.1 --receiver-ports "$PRODUCER" --json | jq -r .uid)
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000)) >>"$WORK/latencies"
        client req release -q --no-tls --s2cs "127.0.0.1:$control" "$uid" >/dev/null
    done
    end_ns=$(date +%s%N)
    # The CLI cannot tell the server's CPU from the client's: "-".
    printf '%s\t%s\t%s\t-\n' "$name" \
        "$(awk '{ print $1 / 1000 }' "$WORK/latencies" | median)" \
        "$(awk -v n="$SESSIONS" -v ns=$((end_ns - start_ns)) 'BEGIN { print n / (ns / 1e9) }')" \
        >>"$WORK/persist"
    kill -- "-${PID[$name]}"
    wait "${PID[$name]}" 2>/dev/null || true
    unset "PID[$name]"
}

# grpc BINARY NAME: the driver's sequential figures against BINARY, the state of its servers
# (beside their config, in TMPDIR) on tmpfs; appends "NAME P50_MS PER_S CPU_US" to WORK/grpc.
grpc() {
    TMPDIR=$STATE_ROOT "$HERE/target/release/examples/control_load" --scistream "$1" \
        --sequential "$GRPC_SESSIONS" --cli 0 --concurrent 1x1 --rejected 0 |
        awk -v n="$2" '/setup latency p50/ { p50 = $NF } /create\+release per second/ { ps = $NF }
            /server CPU per create\+release/ { cpu = $NF }
            END { printf "%s\t%s\t%s\t%s\n", n, p50, ps, cpu }' >>"$WORK/grpc"
}

# table FILE TITLE: medians per server of FILE's columns, with create+release against the
# previous release.
table() {
    local file=$1 name column
    echo "== $2"
    for name in previous store; do
        printf '%s' "$name"
        for column in 2 3 4; do
            printf '\t%s' "$(awk -v n="$name" -v c="$column" '$1 == n { print $c }' "$file" | median)"
        done
        printf '\n'
    done | awk -F'\t' '{ ms[$1] = $2; ps[$1] = $3; cpu[$1] = $4 }
        END {
            printf "%-30s %15s %21s %10s %22s\n", "server", "setup median", "create+release per s",
                "/previous", "server CPU per session"
            printf "%-30s %12.3f ms %21.1f %10s %22s\n", "previous release (no store)",
                ms["previous"], ps["previous"], "1.00", cpu["previous"] + 0 == 0 ? "-" : cpu["previous"] " us"
            printf "%-30s %12.3f ms %21.1f %10.2f %22s\n", "this build, store on tmpfs",
                ms["store"], ps["store"], ps["store"] / ps["previous"], cpu["store"] + 0 == 0 ? "-" : cpu["store"] " us"
        }'
}

persistence() {
    local previous=$1
    for run in $(seq "$RUNS"); do
        echo "persistence run $run/$RUNS" >&2
        grpc "$previous" previous
        grpc "$SCISTREAM" store
        # It has no store, and no --state-dir.
        persist "$previous" "$CONTROL_PREVIOUS" previous
        persist "$SCISTREAM" "$CONTROL_STORE" store --state-dir "$STATE_ROOT/store"
    done
    table "$WORK/grpc" "persistence over gRPC: $GRPC_SESSIONS sequential req+hello+update and release per run (examples/control_load.rs), medians of $RUNS runs"
    table "$WORK/persist" "persistence with the CLI: $SESSIONS sequential req prod + req release per run (a process each, its start included), medians of $RUNS runs"
}

main() {
    install_missing_tools jq python3
    (cd "$HERE" && cargo build --release --quiet --bin scistream --example control_load)
    local previous
    previous=$(previous_binary)
    STATE_ROOT=$(mktemp -d -p /dev/shm scistream-bench.XXXXXX)
    trap 'cleanup; rm -rf "$STATE_ROOT"' EXIT INT TERM
    echo "loopback, $(nproc) cores, kernel $(uname -r); this build $(git -C "$HERE" describe --always --dirty)," \
        "previous release $(git -C "$HERE" rev-parse --short "$PREVIOUS"); state on tmpfs ($STATE_ROOT)"
    upgrade_under_load
    persistence "$previous"
}

main "$@"
