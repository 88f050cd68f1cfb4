#!/usr/bin/env bash
# Installs the Debian 12 packages lifesign needs to build, demo and test.
# As root it installs what is missing; otherwise it names the exact command and fails.
set -euo pipefail

PACKAGES=(
    # build: bindgen reads the server SDK through pkg-config and libclang
    xserver-xorg-dev libclang-dev pkg-config
    # servers: headless Xorg on the dummy driver; Xvfb, Xephyr and Xtigervnc for preload mode
    xserver-xorg-core xserver-xorg-video-dummy xvfb xserver-xephyr tigervnc-standalone-server
    # the other Debian releases' servers, in chroots (scripts/releases.sh); objdump, for the
    # packages' check of the C library versions they need (scripts/package.sh)
    debootstrap binutils
    # real clients the tests and the demo run (tk: wish, a toolkit that does not list
    # _NET_WM_PING, for the compatibility table's test)
    x11-apps x11-utils xterm zenity tk
    # the repaint probe's test (tests/tests/repaint.rs): a real application of each toolkit
    # that answers no _NET_WM_PING (Motif: nedit; Java Swing: the JRE runs compat/apps/Swing.java,
    # javac compiles it) and of Qt 5 (featherpad)
    nedit featherpad openjdk-17-jre openjdk-17-jdk-headless
    # network namespaces and veth for network faults; nftables drops packets in them
    iproute2 nftables
    # systemd-analyze, to verify the launcher's unit
    systemd
    # man, for the package test's man pages
    man-db
    # the heartbeat examples in C (Xlib, XCB) and Python, built and run by the tests
    gcc libc6-dev libx11-dev libxcb1-dev python3 python3-xlib
    # the font the benchmark's plots and the demo's pictures draw their text with (both are
    # tested in the suite)
    fonts-dejavu-core
    # memcheck, for the memory-safety test (tests/tests/memcheck.rs); xauth, for the
    # untrusted-client test (tests/tests/threats.rs)
    valgrind xauth
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "lifesign needs these Debian packages: ${missing[*]}" >&2
    echo "install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
