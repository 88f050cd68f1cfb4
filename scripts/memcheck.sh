#!/usr/bin/env bash
# Memory-safety evidence, the long run (the test command runs the short one, one round): the
# module's scenarios under valgrind memcheck on Xvfb in preload mode (tests/tests/memcheck.rs),
# the first generation's scenarios repeated in one server (--rounds, default 20, about 10 s
# each under memcheck), then two server resets and a clean end. It fails on any memcheck error
# or definitely lost block in liblifesign, and on anything liblifesign holds (reachable
# included) that grew from the first round to the last (valgrind's gdbserver, vgdb, asked
# while the server runs). It prints each round, then errors and leaks, liblifesign's apart
# from the server's, and the server's errors with their stacks; the whole report is in
# target/memcheck/memcheck-<N>-rounds.xml (valgrind's commentary in .log).
#
# Usage: sudo ./scripts/memcheck.sh [--rounds N]     (as root, like scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=20
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
        *) echo "usage: $0 [--rounds N]" >&2; exit 2 ;;
    esac
done
case "$rounds" in
    '' | *[!0-9]* | 0) echo "--rounds: a whole number of at least 1, not '$rounds'" >&2; exit 2 ;;
esac

bash scripts/deps.sh
if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "valgrind is missing: sudo apt-get install -y valgrind" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind
fi

cargo build --locked -p lifesign-ext -p lifesign-launcher -p lifesign
started=$(date +%s)
export LIFESIGN_MEMCHECK_ROUNDS="$rounds"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked -p lifesign-tests --test memcheck --no-capture
else
    cargo test --locked -p lifesign-tests --test memcheck -- --nocapture
fi
echo "memcheck: $rounds rounds, clean, in $(($(date +%s) - started)) s"
