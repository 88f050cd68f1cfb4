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

# The other Debian releases' servers (cached chroots, made once) and lifesign built for each
# X.Org series in Debian 11's chroot: the support matrix (tests/tests/matrix.rs) and the
# per-series packages (tests/tests/package.rs).
bash scripts/releases.sh >/dev/null
bash scripts/series.sh >/dev/null
cargo build --locked -p lifesign-ext -p lifesign-launcher -p lifesign -p lifesign-demo -p lifesign-robust
# The same module with fault injection, for the tests of the panic guard.
cargo build --locked -p lifesign-ext --features fault-injection --target-dir target/fault-injection
cargo clippy --locked --workspace --all-targets -- -D warnings
# The benchmark's handler-timing build of the module must stay clean too.
cargo clippy --locked -p lifesign-ext --features handler-timing -- -D warnings
rm -rf target/matrix
status=0
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --workspace --no-fail-fast "$@" || status=$?
else
    echo "cargo-nextest not found; running with cargo test"
    cargo test --locked --workspace --no-fail-fast "$@" || status=$?
fi
# Each matrix test that passed left a line naming its cell and the server's version.
if compgen -G "target/matrix/*.txt" >/dev/null; then
    echo "support matrix, scenarios passed per server:"
    sort target/matrix/*.txt | sed 's/^/  /'
fi
exit $status
