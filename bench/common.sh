# Shared by the bench/*.sh scripts (sourced, not run): a scratch directory, background servers
# that are all stopped on exit, and the tools a benchmark needs.

WORK=$(mktemp -d)
declare -A PID=()

cleanup() {
    for name in "${!PID[@]}"; do
        # Each server runs in its own session: the group also holds any children it forked.
        kill -- "-${PID[$name]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# install_missing_tools TOOL...: installs from Debian the tools that are not on PATH.
install_missing_tools() {
    local missing=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        echo "installing ${missing[*]} from Debian" >&2
        apt-get update -qq
        # Tools whose package has another name.
        local packages=("${missing[@]/prlimit/util-linux}")
        packages=("${packages[@]/stunnel/stunnel4}")
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
}

# start NAME COMMAND...: runs COMMAND in the background in its own session, logging to WORK.
start() {
    local name=$1
    shift
    setsid "$@" >"$WORK/$name.log" 2>&1 &
    PID[$name]=$!
}

# wait_for_port PORT: until something listens on 127.0.0.1:PORT (10 s at most).
wait_for_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1; logs in $WORK" >&2
    exit 1
}

CLK_TCK=$(getconf CLK_TCK)

# CPU ticks (user + system, including reaped children) of a process.
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat"
}

# CPU ticks the whole machine spent busy (user, nice, system, irq, softirq). On loopback the kernel
# bills TCP work of both ends to whichever process happens to run it, so this total is the fair
# comparison; the relays' own ticks are shown beside it.
machine_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

# iperf3_run PORT STREAMS: iperf3 JSON of one client run of DURATION seconds to 127.0.0.1:PORT;
# retried because the server takes a moment between tests.
iperf3_run() {
    local port=$1 streams=$2
    for _ in 1 2 3 4 5; do
        iperf3 -c 127.0.0.1 -p "$port" -t "$DURATION" -P "$streams" -J 2>/dev/null && return 0
        sleep 0.5
    done
    echo "iperf3 to port $port failed" >&2
    exit 1
}

# record_run MODE STREAMS RELAY_TICKS MACHINE_TICKS RELAYED < IPERF3_JSON: appends "MODE STREAMS
# GBIT_S RELAY_CPU_S_PER_GB MACHINE_CPU_S_PER_GB" to WORK/results ("-" for the relay CPU unless
# RELAYED is true).
record_run() {
    jq -r --arg mode "$1" --argjson streams "$2" --argjson ticks "$3" \
        --argjson machine "$4" --argjson hz "$CLK_TCK" --argjson relayed "$5" \
        '.end.sum_received as $r | ($r.bytes / 1e9) as $gb
         | [$mode, $streams, ($r.bits_per_second / 1e9),
            (if $relayed then ($ticks / $hz) / $gb else "-" end), (($machine / $hz) / $gb)] | @tsv' \
        >>"$WORK/results"
}

# median < NUMBERS: the median of one number per line.
median() {
    sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
