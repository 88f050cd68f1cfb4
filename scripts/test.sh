#!/usr/bin/env bash
# The test command: installs what is missing, builds the module, checks lints, runs every test
# (unit tests, and integration tests against real Xorg and Xvfb). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
if [ "$(id -u)" -ne 0 ]; then
    echo "the integration tests start Xorg and make network namespaces: run as root" >&2
    exit 1
fi

cargo build --locked -p lifesign-ext -p lifesign-launcher -p lifesign -p lifesign-demo -p lifesign-robust
# The same module with fault injection, for the tests of the panic guard.
cargo build --locked -p lifesign-ext --features fault-injection --target-dir target/fault-injection
cargo clippy --locked --workspace --all-targets -- -D warnings
# The benchmark's handler-timing build of the module must stay clean too.
cargo clippy --locked -p lifesign-ext --features handler-timing -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --workspace --no-fail-fast "$@"
else
    echo "cargo-nextest not found; running with cargo test"
    cargo test --locked --workspace --no-fail-fast "$@"
fi
