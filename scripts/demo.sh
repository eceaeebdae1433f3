#!/usr/bin/env bash
# The main job on one machine, with nothing external: two gateways (PROD on 127.0.0.1, CONS on
# 127.0.0.2), a producer application and a consumer, and one session streaming through the chain
#   consumer -> CONS gateway listener -> PROD gateway listener -> producer
# Prints each command's output, the bytes' sha256 at both ends, and the throughput.
set -euo pipefail
cd "$(dirname "$0")/.."

MIB=${MIB:-512}
command -v cargo >/dev/null || { echo "demo: needs Rust's cargo (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "demo: needs python3 for the producer and consumer apps (apt-get install python3)" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/scistream
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# start_gateway NAME IP: starts a server with its own config dir; prints its control address.
start_gateway() {
    local name=$1 ip=$2
    mkdir -p "$work/$name"
    "$bin" --config "$work/$name/config.yaml" -q server --port 0 --bind "$ip" --listener-ip "$ip" \
        --port-range 5100-5199 >"$work/$name/out" 2>"$work/$name/log" &
    pids+=($!)
    for _ in $(seq 100); do
        addr=$(sed -n 's/^Server started on //p' "$work/$name/out")
        [ -n "$addr" ] && { echo "$addr"; return; }
        sleep 0.1
    done
    echo "demo: the $name gateway did not start:" >&2; cat "$work/$name/log" >&2; exit 1
}

# The producer application: sends $MIB MiB of pseudo-random bytes to the first connection.
python3 - "$MIB" >"$work/producer" <<'PY' &
import hashlib, random, socket, sys
mib = int(sys.argv[1])
srv = socket.create_server(("127.0.0.1", 0))
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
rng, digest = random.Random(42), hashlib.sha256()
block = rng.randbytes(1 << 20)
for i in range(mib):
    chunk = bytes([i % 251]) + block[1:]
    digest.update(chunk)
    conn.sendall(chunk)
conn.close()
print(digest.hexdigest(), flush=True)
PY
pids+=($!)
until [ -s "$work/producer" ]; do sleep 0.05; done
app_port=$(head -1 "$work/producer")

prod_gw=$(start_gateway prod 127.0.0.1)
cons_gw=$(start_gateway cons 127.0.0.2)
echo "PROD gateway: $prod_gw   CONS gateway: $cons_gw   producer app: 127.0.0.1:$app_port"

echo "\$ scistream req prod --s2cs $prod_gw --num-conn 1 --remote-ip 127.0.0.1 --receiver-ports $app_port"
"$bin" --config "$work/prod/config.yaml" req prod --s2cs "$prod_gw" --num-conn 1 \
    --remote-ip 127.0.0.1 --receiver-ports "$app_port" | tee "$work/prod.req"
uid=$(sed -n 2p "$work/prod.req" | cut -d' ' -f1)
prod_listeners=$(sed -n 's/^Listeners: //p' "$work/prod.req")

# --prod-s2cs: req cons asks the PROD gateway for the session's hop credential, so the CONS
# gateway reaches the PROD listeners over TLS 1.3 pinned to this session.
echo "\$ scistream req cons --s2cs $cons_gw --prod-s2cs $prod_gw --num-conn 1 $uid $prod_listeners"
"$bin" --config "$work/cons/config.yaml" req cons --s2cs "$cons_gw" --prod-s2cs "$prod_gw" \
    --prod-server-cert "$work/prod/server.crt" --num-conn 1 "$uid" "$prod_listeners" \
    | tee "$work/cons.req"
cons_listener=$(sed -n 's/^Listeners: //p' "$work/cons.req")

# The consumer application reads everything through the CONS listener.
python3 - "$cons_listener" <<'PY'
import hashlib, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
digest, total, start = hashlib.sha256(), 0, time.monotonic()
with socket.create_connection((host, int(port))) as s:
    while chunk := s.recv(1 << 20):
        digest.update(chunk)
        total += len(chunk)
secs = time.monotonic() - start
print(f"consumer: received {total / 2**20:.0f} MiB in {secs:.2f} s ({total * 8 / secs / 1e9:.2f} Gbit/s)")
print(f"consumer sha256: {digest.hexdigest()}")
PY
wait "${pids[0]}"
echo "producer sha256: $(tail -1 "$work/producer")"

"$bin" --config "$work/cons/config.yaml" req release --s2cs "$cons_gw" "$uid"
"$bin" --config "$work/prod/config.yaml" req release --s2cs "$prod_gw" "$uid"
