#!/usr/bin/env bash
# The main command: the failover demo. Builds lifesign, makes two application hosts as network
# namespaces, starts a headless Xorg (dummy driver) with the module and lifesign-launcher (which
# runs lifesign overlay), pulls host A's cable and then hangs an application, and prints what
# happened in ms, with captioned screenshots of the overlay's marks and a picture of the
# timeline (target/demo/, or $LIFESIGN_DEMO_OUT; the README's are docs/demo/). Without root it
# runs the part that needs none (a hung application on Xvfb) and says what it skipped. Cleans
# up, also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cargo build --locked -q -p lifesign-ext -p lifesign-launcher -p lifesign -p lifesign-demo
exec target/debug/lifesign-demo "$@"
