#!/usr/bin/env bash
# Frames per second through publish -> detect on a real Tansu beside a bare consumer, and peak memory:
#   bash scripts/bench-pipeline.sh [kessler bench-pipeline options, e.g. --frames 200 --cpu]
# Starts its own broker (as scripts/test.sh does; Tansu must be in ~/.cargo/bin) and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
export PATH="$HOME/.cargo/bin:$PATH"
command -v tansu >/dev/null 2>&1 || { echo "tansu is not installed: run scripts/test.sh once" >&2; exit 1; }
cargo build --release -p kessler
. scripts/broker.sh
start_broker
target/release/kessler bench-pipeline --brokers "127.0.0.1:$port" "$@"
