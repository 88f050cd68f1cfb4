#!/usr/bin/env bash
# The main command: builds liblifesign.so, starts a headless Xorg (dummy driver) that loads it
# from its config, and shows that the LIFESIGN extension is there and answers.
# Run as root on Debian 12 (Xorg needs it here). Cleans up after itself, also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
if [ "$(id -u)" -ne 0 ]; then
    echo "the demo starts Xorg on the dummy driver: run as root" >&2
    exit 1
fi

cargo build --locked --release -p lifesign-ext
cargo build --locked --release -p lifesign-tests --example query_version
work=$(mktemp -d /tmp/lifesign-demo.XXXXXX)
xorg_pid=""
cleanup() {
    [ -n "$xorg_pid" ] && kill "$xorg_pid" 2>/dev/null && wait "$xorg_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/modules" "$work/xorg.conf.d"
# Our own (empty) config directory keeps the system's xorg.conf.d snippets out.
echo "# nothing" > "$work/xorg.conf.d/00-empty.conf"
cp target/release/liblifesign.so "$work/modules/"
sed "s|ModulePath \"/usr/lib/xorg/modules\"|ModulePath \"$work/modules,/usr/lib/xorg/modules\"|" \
    xorg-conf/headless.conf > "$work/xorg.conf"
cat >> "$work/xorg.conf" <<'CONF'

Section "Module"
    SubSection "lifesign"
        Option "IdleTimeout" "3s"
        Option "Launcher" "none"
    EndSubSection
EndSection
CONF

echo "== starting Xorg (dummy driver) with lifesign"
Xorg -config "$work/xorg.conf" -configdir "$work/xorg.conf.d" -logfile "$work/Xorg.log" \
    -displayfd 3 -novtswitch -sharevts -noreset -nolisten tcp 3>"$work/display" 2>/dev/null &
xorg_pid=$!
for _ in $(seq 100); do
    [ -s "$work/display" ] && break
    kill -0 "$xorg_pid" 2>/dev/null || { cat "$work/Xorg.log"; exit 1; }
    sleep 0.1
done
display=":$(head -n1 "$work/display")"
echo "   display $display"

echo "== xdpyinfo -queryExtensions"
DISPLAY=$display xdpyinfo -queryExtensions | grep LIFESIGN
echo "== QueryVersion"
target/release/examples/query_version "$display"
echo "== lifesign in the server log"
grep -E "lifesign|LIFESIGN" "$work/Xorg.log"
