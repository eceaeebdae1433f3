#!/usr/bin/env bash
# Control-plane scale on loopback, against the release binary: sequential create+release over
# gRPC (the in-repo driver, examples/control_load.rs) and with the CLI; thousands of concurrent
# sessions with the server's memory and fds; replayed calls with one rejected token.
#
# Usage: bench/control.sh          (from anywhere)
# Knobs (environment): SEQUENTIAL=5000 CLI_RUNS=100 CONCURRENT=10000x1,3000x5 REJECTED=200
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
cargo build --release --locked --quiet --bin scistream --example control_load
echo "$(nproc) cores, kernel $(uname -r), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# The driver starts and stops its own servers (one per figure), so that figures do not mix.
exec target/release/examples/control_load \
    --scistream target/release/scistream \
    --sequential "${SEQUENTIAL:-5000}" \
    --cli "${CLI_RUNS:-100}" \
    --concurrent "${CONCURRENT:-10000x1,3000x5}" \
    --rejected "${REJECTED:-200}"
