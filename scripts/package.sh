#!/usr/bin/env bash
# Builds the Debian package target/debian/lifesign_<version>_<arch>.deb with dpkg-deb: the
# module in Xorg's module directory, lifesign-launcher with its systemd unit, the lifesign
# command, an example launcher config, the xorg.conf.d snippet (commented out) and the man
# pages. `--debug` packages the debug build (the tests do, to save a release build).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
[ "${1:-}" = "--debug" ] && profile=debug
if [ "$profile" = release ]; then
    cargo build --locked --release -q -p lifesign-ext -p lifesign-launcher -p lifesign
else
    cargo build --locked -q -p lifesign-ext -p lifesign-launcher -p lifesign
fi
bin="target/$profile"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

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
cat > "$stage/DEBIAN/control" <<CONTROL
Package: lifesign
Version: $version
Architecture: $arch
Maintainer: lifesign developers <lifesign@localhost>
Depends: xserver-xorg-core (>= 2:21.1), libc6
Section: x11
Priority: optional
Description: closes X clients whose host or network died, and starts backups
 An X.Org server module (SubSection "lifesign" in xorg.conf) that watches client
 connections and closes lost ones within seconds, lifesign-launcher, a daemon that
 starts the application again on a backup host, and the lifesign command.
CONTROL

mkdir -p target/debian
out="target/debian/lifesign_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$out" >/dev/null
echo "$out"
