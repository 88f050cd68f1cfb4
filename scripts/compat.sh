#!/usr/bin/env bash
# Regenerates docs/compatibility.md: installs the toolkits' Debian packages it needs, builds the
# module and lifesign-compat, and measures every toolkit against Xvfb with the module (a few
# minutes). Run as root on Debian 12. Arguments go to lifesign-compat (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "run as root: it installs Debian packages and starts X servers" >&2
    exit 1
fi

# The build's own packages (server SDK, libclang, Xvfb, zenity, ...).
bash scripts/deps.sh

# One program per toolkit (compat/src/toolkits.rs names them; keep the two in step).
PACKAGES=(
    zenity                                  # GTK 3
    python3-gi gir1.2-gtk-4.0               # GTK 4, by PyGObject
    featherpad                              # Qt 5
    python3-pyqt6                           # Qt 6
    tk                                      # Tk: wish
    nedit                                   # Motif
    x11-apps xterm                          # Athena and Xt: xlogo, xclock, xterm
    openjdk-17-jre openjdk-17-jdk-headless  # Java AWT/Swing: the JRE runs it, javac builds it
    fltk1.3-games                           # FLTK: flsudoku
    python3-wxgtk4.0                        # wxWidgets
    python3-sdl2                            # SDL2
    terminology                             # EFL
    gnustep-examples                        # GNUstep: Calculator
)
missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo build --locked -q -p lifesign-ext -p lifesign-compat
target_dir="${CARGO_TARGET_DIR:-target}"
"$target_dir/debug/lifesign-compat" "$@"
