#!/usr/bin/env bash
# Makes (once) and keeps a chroot of each other Debian release lifesign supports, holding that
# release's own X servers, so the tests run them and the series builds use their SDK:
#   bullseye  Debian 11, Xorg 1.20 (the series RHEL 8/9 and Ubuntu 20.04 ship); it also builds
#             every series' module, since its C library is the oldest one we support
#   trixie    Debian 13, Xorg 21.1
# Debian 12 (bookworm) is this machine itself. The archive is the one this machine's apt uses.
#
#   scripts/releases.sh [--refresh] [release ...]    prints each chroot's directory
#
# The chroots live in $LIFESIGN_RELEASES (default /var/cache/lifesign/releases), outside the
# clone, so that a second run (or a second clone) finds them made. --refresh upgrades them.
set -euo pipefail

root_dir=${LIFESIGN_RELEASES:-/var/cache/lifesign/releases}
refresh=0
releases=()
for arg in "$@"; do
    case $arg in
        --refresh) refresh=1 ;;
        bullseye | trixie) releases+=("$arg") ;;
        *) echo "releases.sh: unknown release or option: $arg (bullseye, trixie, --refresh)" >&2; exit 2 ;;
    esac
done
[ ${#releases[@]} -eq 0 ] && releases=(bullseye trixie)

if [ "$(id -u)" -ne 0 ]; then
    echo "releases.sh makes chroots with debootstrap: run as root" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null; then
    echo "installing: debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi

# The archive and its security archive, as this machine's apt configuration names them.
archive_of() {
    apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | sort -u |
        awk -v want="$1" '$2 ~ want { print $1; exit }'
}
archive=$(archive_of '^[a-z]+$')
security=$(archive_of '-security$')
if [ -z "$archive" ]; then
    echo "releases.sh: this machine's apt configuration names no Debian archive" >&2
    exit 1
fi

# What every release's chroot holds: its X servers, and what starts and builds against them.
SERVERS="xserver-xorg-core,xserver-xorg-video-dummy,xvfb,xserver-xephyr,tigervnc-standalone-server,xauth"
BUILD="gcc,libc6-dev,pkg-config,libclang-dev,xserver-xorg-dev"
packages_of() {
    case $1 in
        bullseye) echo "$SERVERS,$BUILD" ;;
        *) echo "$SERVERS" ;;
    esac
}

# Bind mounts, in a private mount namespace that ends with the command: nothing stays mounted.
in_chroot() {
    local dir=$1
    shift
    unshare --mount --propagation private -- sh -c '
        dir=$1; shift
        mount -t proc proc "$dir/proc" && mount --rbind /dev "$dir/dev" && mount --rbind /sys "$dir/sys"
        exec chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
    ' sh "$dir" "$@"
}

# The servers' packages must be at the archive's current version; only others (an SDK the
# archive lists but no longer serves) may stay behind.
UPGRADE='apt-get update -qq && { apt-get upgrade -y -qq --fix-missing || true; } && apt-get check -qq &&
    for p in xserver-xorg-core xvfb xserver-xephyr tigervnc-standalone-server; do
        have=$(dpkg-query -W -f="\${Version}" $p) &&
        want=$(apt-cache policy $p | sed -n "s/^ *Candidate: //p") &&
        if [ "$have" != "$want" ]; then echo "$p is at $have, not $want" >&2; exit 1; fi
    done'

# One run at a time per cache: a second one waits, then finds the chroots made.
mkdir -p "$root_dir"
exec 9>"$root_dir/.lock"
flock 9

for release in "${releases[@]}"; do
    dir=$root_dir/$release
    packages=$(packages_of "$release")
    stamp="$packages $archive $security"
    if [ -f "$dir/.lifesign-release" ] && [ "$(cat "$dir/.lifesign-release")" = "$stamp" ]; then
        if [ $refresh -eq 1 ]; then
            echo "upgrading the $release chroot"
            in_chroot "$dir" sh -c "$UPGRADE" >/dev/null
        fi
        echo "$dir"
        continue
    fi
    echo "making the $release chroot (its X servers, from $archive) in $dir" >&2
    rm -rf "$dir.new"
    debootstrap --variant=minbase --include="$packages" "$release" "$dir.new" "$archive" \
        >"$root_dir/$release.debootstrap.log" 2>&1 ||
        { tail -20 "$root_dir/$release.debootstrap.log" >&2; exit 1; }
    {
        echo "deb $archive $release main"
        echo "deb $archive $release-updates main"
        [ -n "$security" ] && echo "deb $security $release-security main"
    } >"$dir.new/etc/apt/sources.list"
    # The release's current packages, security updates included: what its users run. An
    # archive past its support may list updates it no longer serves (bullseye's security
    # archive lists xserver-xorg-dev updates it answers 404 for): those stay at the release's.
    in_chroot "$dir.new" sh -c "$UPGRADE && apt-get clean" \
        >>"$root_dir/$release.debootstrap.log" 2>&1 ||
        { tail -20 "$root_dir/$release.debootstrap.log" >&2; exit 1; }
    echo "$stamp" >"$dir.new/.lifesign-release"
    rm -rf "$dir"
    mv "$dir.new" "$dir"
    echo "$dir"
done
