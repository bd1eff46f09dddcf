#!/usr/bin/env bash
# The whole test suite on a machine with only the Rust toolchain: installs what the tests need (Mesa's lavapipe
# Vulkan driver, Chromium and ChromeDriver, fpack, the Tansu broker), starts Tansu on 127.0.0.1 on a free port with
# durable SQLite storage in a temporary folder, checks formatting and lints, runs every test, and stops the broker
# whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

log "C toolchain (librdkafka, SQLite and zlib are built from source by their crates)"
if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 || ! command -v perl >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential perl pkg-config
fi

log "GPU: a Vulkan driver for wgpu (lavapipe runs Vulkan on the CPU where no GPU is present)"
if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || ! ldconfig -p | grep -q libvulkan.so.1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1
fi

log "Browser: Chromium and ChromeDriver for the review page's browser test"
if ! command -v chromedriver >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi

log "fpack: cfitsio's tile-compression tool, for the .fz test (cli/tests/fz.rs)"
if ! command -v fpack >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcfitsio-bin
fi

log "Kafka: the Tansu broker"
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tansu >/dev/null 2>&1; then
    # About 20 minutes on 2 cores; the binary is cached in ~/.cargo/bin for every later run.
    cargo install tansu --locked --features dynostore,libsql
fi

log "Test runner: cargo-nextest"
if ! cargo nextest --version >/dev/null 2>&1; then
    # A few minutes on 2 cores, once; cached in ~/.cargo/bin.
    cargo install cargo-nextest --locked
fi

. scripts/broker.sh
start_broker
export KESSLER_TEST_BROKERS="127.0.0.1:$port"
# Mesa's Vulkan loader wants a private runtime folder; without one it prints a warning per device.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR="$broker_dir/xdg"
    mkdir -m 700 "$XDG_RUNTIME_DIR"
fi

log "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

log "tests (broker at $KESSLER_TEST_BROKERS)"
status=0
# nextest does not run doc tests, so those go first; then nextest runs every test binary's tests side by side (the
# slow process and browser tests overlap) and its summary closes the run.
cargo test --workspace --doc || status=$?
cargo nextest run --workspace --no-fail-fast --profile ci || status=$?
if [ "$status" != 0 ]; then
    echo "--- the last 40 lines of the broker's log ---" >&2
    tail -n 40 "$broker_dir/broker.log" >&2 || true
fi
exit "$status"
