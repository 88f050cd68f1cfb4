#!/usr/bin/env bash
# Builds lifesign once per X.Org server series, each against that series' own SDK, in Debian
# 11's chroot (scripts/releases.sh), whose C library is the oldest of the releases we support:
# what is linked there runs on Debian 11, 12 and 13 alike.
#
#   1.20   against Debian 11's xserver-xorg-dev (X.Org 1.20.11)
#   21.1   against Debian 12's xserver-xorg-dev (X.Org 21.1.7), this machine's
#
#   scripts/series.sh [--release] [--module-only] [series ...]
#
# Writes target/series/<series>/<profile>/ (liblifesign.so; lifesign-launcher and lifesign too
# unless --module-only) and prints each directory. The tests use the debug module builds, the
# packages (scripts/package.sh) the release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

profile=debug
packages=(-p lifesign-ext -p lifesign-launcher -p lifesign)
series_list=()
for arg in "$@"; do
    case $arg in
        --release) profile=release ;;
        --module-only) packages=(-p lifesign-ext) ;;
        1.20 | 21.1) series_list+=("$arg") ;;
        *) echo "series.sh: unknown series or option: $arg (1.20, 21.1, --release, --module-only)" >&2; exit 2 ;;
    esac
done
[ ${#series_list[@]} -eq 0 ] && series_list=(1.20 21.1)

bullseye=$(bash scripts/releases.sh bullseye | tail -1)
# The chroot has no network: every crate comes from this machine's cargo cache.
cargo fetch --locked -q

rust_home=${CARGO_HOME:-$HOME/.cargo}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
host_sdk=$(pkg-config --variable=sdkdir xorg-server 2>/dev/null || echo /usr/include/xorg)

for series in "${series_list[@]}"; do
    out=$repo/target/series/$series
    case $series in
        1.20) sdk_env=() ;; # the chroot's own SDK, found by pkg-config there
        21.1)
            if [ ! -f "$host_sdk/xorg-server.h" ]; then
                echo "series.sh: the 21.1 SDK is missing here: apt-get install xserver-xorg-dev" >&2
                exit 1
            fi
            sdk_env=("LIFESIGN_XORG_INCLUDE=/opt/lifesign-sdk/21.1:/usr/include/pixman-1")
            ;;
    esac
    flags=()
    [ "$profile" = release ] && flags=(--release)
    # Bind mounts in a private mount namespace that ends with the build: nothing stays mounted.
    unshare --mount --propagation private -- sh -c '
        root=$1 repo=$2 rust_home=$3 rustup_home=$4 host_sdk=$5; shift 5
        mkdir -p "$root$repo" "$root$rust_home" "$root$rustup_home" "$root/opt/lifesign-sdk/21.1"
        mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
        mount --bind "$repo" "$root$repo" && mount --bind "$rust_home" "$root$rust_home" &&
        mount --bind "$rustup_home" "$root$rustup_home" &&
        mount --bind -o ro "$host_sdk" "$root/opt/lifesign-sdk/21.1" &&
        exec chroot "$root" "$@"
    ' sh "$bullseye" "$repo" "$rust_home" "$rustup_home" "$host_sdk" \
        env -i HOME="$HOME" PATH="$rust_home/bin:/usr/bin:/bin" CARGO_HOME="$rust_home" \
        RUSTUP_HOME="$rustup_home" CARGO_TARGET_DIR="$out" "${sdk_env[@]}" \
        sh -c 'cd "$0" && exec cargo build --locked --offline -q "$@"' "$repo" "${flags[@]}" "${packages[@]}"
    echo "$out/$profile"
done
