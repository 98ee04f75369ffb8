#!/usr/bin/env bash
# Prepare the real-kernel SCSI lab: Debian packages, the Debian kernel unpacked into the
# cache, a small initramfs, and the ODX tcmu-runner handler. Idempotent: each step is
# skipped when its output is already there and up to date.
#   usage: test/lab/setup.sh [--quiet]
set -euo pipefail
. "$(dirname "$0")/common.sh"
QUIET=0; [ "${1:-}" = --quiet ] && QUIET=1
say() { [ $QUIET = 1 ] || echo "lab setup: $*"; }
T0=$(date +%s.%N)

[ "$(uname -s)" = Linux ] || lab_die "the lab needs Linux (QEMU + a Debian kernel); this is $(uname -s)"
[ "$(uname -m)" = x86_64 ] || lab_die "the lab is built for x86_64 hosts; this is $(uname -m)"
command -v dpkg >/dev/null || lab_die "the lab installs Debian packages; no dpkg on this machine"

missing=()
for p in $LAB_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    lab_die "missing Debian packages: ${missing[*]}; run this as root once (or: sudo apt-get install ${missing[*]})"
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$ODXCP_LAB_DIR"
KROOT="$ODXCP_LAB_DIR/kroot"
if [ ! -d "$KROOT/boot" ] || ! ls "$KROOT"/boot/vmlinuz-* >/dev/null 2>&1; then
  # The ABI number in the kernel package name changes: resolve what linux-image-amd64 pulls in.
  KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [ -z "$KPKG" ]; then
    apt-get update -qq
    KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  fi
  [ -n "$KPKG" ] || lab_die "cannot resolve the kernel package behind linux-image-amd64"
  say "fetching $KPKG"
  tmp=$(mktemp -d "$ODXCP_LAB_DIR/kdeb.XXXXXX")
  (cd "$tmp" && apt-get download "$KPKG" >/dev/null 2>&1) || lab_die "apt-get download $KPKG failed"
  rm -rf "$KROOT.new"
  dpkg -x "$tmp"/*.deb "$KROOT.new"
  rm -rf "$tmp"
  KV=$(ls "$KROOT.new/lib/modules")
  # The .deb ships no module indexes. busybox modprobe reads modules.dep; tcmu-runner
  # loads target_core_user through libkmod, which needs the binary indexes of kmod's depmod.
  depmod -b "$KROOT.new" "$KV"
  rm -rf "$KROOT"; mv "$KROOT.new" "$KROOT"
fi

KV=$(ls "$KROOT/lib/modules")
[ -s "$KROOT/lib/modules/$KV/modules.dep.bin" ] || depmod -b "$KROOT" "$KV"

# Rebuild the initramfs when its inputs change.
STAMP=$(cat "$LAB_HERE/build-initramfs.sh" "$LAB_HERE/initramfs-init" | sha256sum | cut -c1-16)
if [ ! -s "$ODXCP_LAB_DIR/initramfs.cpio.gz" ] || [ "$(cat "$ODXCP_LAB_DIR/initramfs.stamp" 2>/dev/null)" != "$STAMP" ]; then
  say "building initramfs"
  "$LAB_HERE/build-initramfs.sh" "$KROOT" "$ODXCP_LAB_DIR/initramfs.cpio.gz" >/dev/null
  echo "$STAMP" > "$ODXCP_LAB_DIR/initramfs.stamp"
fi

# The ODX-capable tcmu-runner handler (test/targets/odx); its script caches its own work.
if [ -x "$LAB_REPO/test/targets/odx/build.sh" ]; then
  if [ $QUIET = 1 ]; then "$LAB_REPO/test/targets/odx/build.sh" >/dev/null
  else "$LAB_REPO/test/targets/odx/build.sh"; fi
fi
say "ready in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s (cache: $ODXCP_LAB_DIR)"
