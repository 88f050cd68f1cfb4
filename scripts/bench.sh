#!/usr/bin/env bash
# The benchmark: builds the release module and the bench, measures against real servers
# (x11perf against a stock Xorg, cable cuts and lossy links in network namespaces), writes
# docs/benchmarks.md.
# Not part of the test suite; takes about 38 minutes (the transport part alone, `--part
# transport`, about 10). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
if [ "$(id -u)" -ne 0 ]; then
    echo "the benchmark starts Xorg and makes network namespaces: run as root" >&2
    exit 1
fi
# The failover part runs the real launcher: the release build, named by LIFESIGN_LAUNCHER.
cargo build --locked --release -p lifesign-ext -p lifesign-bench -p lifesign-launcher
# The same module timing its handlers and every call into it, for the scale and faults parts
# (the faults part runs the fault tests with it, through cargo).
cargo build --locked --release -p lifesign-ext --features handler-timing --target-dir target/timing
LIFESIGN_MODULE="$PWD/target/release/liblifesign.so" \
    LIFESIGN_LAUNCHER="$PWD/target/release/lifesign-launcher" \
    LIFESIGN_TIMING_MODULE="$PWD/target/timing/release/liblifesign.so" \
    target/release/lifesign-bench "$@"
