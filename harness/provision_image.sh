#!/usr/bin/env bash
# `make image-test` runs this first: podman (with runc: crun refuses this machine's hybrid
# cgroups), debootstrap, and a Debian bookworm minbase root filesystem as a tarball in
# .cache/ (no container registry is reachable here, so the image's base is built from Debian's
# packages; harness/podman.py imports it into podman). As root on a Debian-like machine it
# installs what is missing with apt-get; anywhere else it stops with one line saying what to do.
set -euo pipefail
cd "$(dirname "$0")/.."

rootfs_tar=.cache/debian-bookworm-minbase.tar
missing=()
command -v podman >/dev/null || missing+=(podman)
[ -x /usr/sbin/runc ] || command -v runc >/dev/null || missing+=(runc)
if [ ! -s "$rootfs_tar" ]; then command -v debootstrap >/dev/null || missing+=(debootstrap); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "provision_image: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "make image-test needs ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and re-run" >&2
    exit 1
  fi
fi

# The base root filesystem, once per checkout (~40 s, ~200 MB from deb.debian.org).
if [ ! -s "$rootfs_tar" ]; then
  [ "$(id -u)" = 0 ] || { echo "make image-test: debootstrap needs root to build $rootfs_tar; run it once as root" >&2; exit 1; }
  mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
  work=$(mktemp -d /tmp/snowmcp-rootfs.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "provision_image: debootstrap --variant=minbase bookworm ($mirror)"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2; echo "make image-test: debootstrap failed (log above)" >&2; exit 1; }
  # Leave out what a container never uses and what debootstrap leaves behind.
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/debootstrap"
  mkdir -p .cache
  tar -C "$work/rootfs" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  echo "provision_image: $rootfs_tar ($(du -h "$rootfs_tar" | cut -f1))"
fi
