#!/usr/bin/env bash
# Builds one Debian package per X.Org server series with dpkg-deb, into target/debian/:
#
#   lifesign_<version>+xorg1.20_<arch>.deb   X.Org 1.20: Debian 11, Ubuntu 20.04
#   lifesign_<version>+xorg21.1_<arch>.deb   X.Org 21.1: Debian 12 and 13, Ubuntu 22.04 and 24.04
#
# The module reads structures of the server that move between series, so each package holds
# the module built against its series' SDK (scripts/series.sh, in Debian 11's chroot: glibc
# 2.31) and depends on an xserver-xorg-core of that series only: apt refuses it elsewhere, and
# the module refuses a server of another series if forced in (decisions 62, 63). Each package
# installs the module in Xorg's module directory, lifesign-launcher with its systemd units, the
# lifesign command, an example launcher config, the xorg.conf.d snippet (commented out) and
# the man pages. The package is named lifesign for every series: one replaces the other.
#
#   scripts/package.sh [--debug]
#
# Prints each package's path, one a line, on stdout, and which series and distributions each
# is for on stderr. `--debug` packages the debug builds (the tests do, to save release builds).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
for arg in "$@"; do
    case $arg in
        --debug) profile=debug ;;
        *) echo "package.sh: unknown option: $arg (--debug)" >&2; exit 2 ;;
    esac
done
flags=(--release)
compression=()
if [ "$profile" = debug ]; then
    # Debug builds are large (debug info) and only for the tests: fast compression.
    flags=()
    compression=(-Zgzip -z1)
fi
bash scripts/series.sh "${flags[@]}" 1.20 21.1 >/dev/null

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
# Linked in Debian 11: nothing may need a C library newer than its 2.31.
glibc=2.31

# The xserver-xorg-core versions of a series: the series itself, not the next one's snapshots,
# which X.Org numbers <series>.99.x (1.20.99.901 was a 21.1 release candidate). The epoch (2:)
# is part of every Debian and Ubuntu version of the package: a bound without it holds for all.
server_depends() {
    echo "xserver-xorg-core (>= 2:$1), xserver-xorg-core (<< 2:$1.99)"
}
distributions() {
    case $1 in
        1.20) echo "Debian 11, Ubuntu 20.04" ;;
        21.1) echo "Debian 12 and 13, Ubuntu 22.04 and 24.04" ;;
    esac
}

# The highest glibc symbol version a binary needs.
glibc_needed() {
    objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1
}

mkdir -p target/debian
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for series in 1.20 21.1; do
    bin="target/series/$series/$profile"
    for file in liblifesign.so lifesign-launcher lifesign; do
        needed=$(glibc_needed "$bin/$file")
        if dpkg --compare-versions "$needed" gt "$glibc"; then
            echo "package.sh: $bin/$file needs glibc $needed, above Debian 11's $glibc" >&2
            exit 1
        fi
    done
    stage=$work/$series

    install -D -m 0644 "$bin/liblifesign.so" "$stage/usr/lib/xorg/modules/extensions/liblifesign.so"
    install -D -m 0755 "$bin/lifesign-launcher" "$stage/usr/bin/lifesign-launcher"
    install -D -m 0755 "$bin/lifesign" "$stage/usr/bin/lifesign"
    install -D -m 0644 launcher/lifesign-launcher.service "$stage/lib/systemd/system/lifesign-launcher.service"
    install -D -m 0644 launcher/lifesign-launcher@.service "$stage/lib/systemd/system/lifesign-launcher@.service"
    install -D -m 0644 launcher/launcher.example.toml "$stage/usr/share/doc/lifesign/examples/launcher.toml"
    install -D -m 0644 xorg-conf/50-lifesign.conf "$stage/usr/share/X11/xorg.conf.d/50-lifesign.conf"
    for page in man/lifesign.1 man/lifesign.4 man/lifesign-launcher.8; do
        section=${page##*.}
        install -D -m 0644 "$page" "$stage/usr/share/man/man$section/$(basename "$page")"
        gzip -9n "$stage/usr/share/man/man$section/$(basename "$page")"
    done
    install -D -m 0644 /dev/stdin "$stage/usr/share/doc/lifesign/copyright" <<'COPYRIGHT'
lifesign: MIT licence (see the project's Cargo.toml).
COPYRIGHT

    mkdir -p "$stage/DEBIAN"
    cat >"$stage/DEBIAN/control" <<CONTROL
Package: lifesign
Version: $version+xorg$series
Architecture: $arch
Maintainer: lifesign developers <lifesign@localhost>
Depends: $(server_depends "$series"), libc6 (>= $glibc), libgcc-s1
Section: x11
Priority: optional
Description: closes X clients whose host or network died, and starts backups
 An X.Org server module (SubSection "lifesign" in xorg.conf) that watches client
 connections and closes lost ones within seconds, lifesign-launcher, a daemon that
 starts the application again on a backup host, and the lifesign command.
 .
 This build is for X.Org $series servers ($(distributions "$series")).
CONTROL

    out="target/debian/lifesign_${version}+xorg${series}_${arch}.deb"
    # Written aside and renamed: a concurrent run (the tests build the packages each) never
    # reads half a package.
    dpkg-deb "${compression[@]}" --root-owner-group --build "$stage" "$out.$$" >/dev/null
    mv "$out.$$" "$out"
    echo "$out"
    echo "  for X.Org $series ($(distributions "$series")): $(server_depends "$series")" >&2
done
