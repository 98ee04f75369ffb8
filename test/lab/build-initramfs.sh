#!/bin/bash
# Build the lab's tiny initramfs (busybox-static + virtio/9p/overlay modules). Its /init
# mounts the HOST root fs (virtio-9p, read-only) under a tmpfs overlay and switch_roots
# into it, then runs the script named by lab.script= on the kernel command line, so the
# guest runs the host's node, sg3_utils, tcmu-runner and this repo's build unchanged.
#
# usage: build-initramfs.sh KROOT OUT.cpio.gz
#   KROOT = dir where the Debian linux-image .deb was `dpkg -x`-ed
#           (must contain boot/vmlinuz-* and lib/modules/<kver>/)
# Needs: busybox (static), cpio, gzip. No kmod needed (busybox depmod used).
set -euo pipefail
KROOT=$(realpath "$1"); OUT=$(realpath -m "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
KV=$(ls "$KROOT/lib/modules" | head -n1)
MD="$KROOT/lib/modules/$KV"
BB=$(command -v busybox)
# must be the static busybox (package busybox-static): it runs alone in the initramfs
"$BB" --list | grep -qx depmod || { echo "need busybox-static (busybox with depmod)" >&2; exit 1; }
if ldd "$BB" >/dev/null 2>&1; then echo "busybox is dynamically linked; install busybox-static" >&2; exit 1; fi

# modules.dep (the .deb does not ship it; busybox depmod can make it)
if [ ! -s "$MD/modules.dep" ]; then
  "$BB" depmod -b "$KROOT" "$KV"
fi

# resolve load order for a module name using modules.dep (deps first)
declare -A SEEN=()
ORDER=()
modpath() { # name -> relative path in modules.dep
  local n=${1//-/_}
  awk -F: -v n="$n" '{p=$1; b=p; sub(/.*\//,"",b); sub(/\.ko(\.xz|\.zst|\.gz)?$/,"",b); gsub(/-/,"_",b); if (b==n) {print p; exit}}' "$MD/modules.dep"
}
add() { # relpath
  local p=$1
  [ -n "${SEEN[$p]:-}" ] && return 0
  SEEN[$p]=1
  local deps
  deps=$(awk -F: -v p="$p" '$1==p {print $2; exit}' "$MD/modules.dep")
  local arr=($deps) i
  for ((i=${#arr[@]}-1; i>=0; i--)); do add "${arr[$i]}"; done
  ORDER+=("$p")
}
for m in virtio_pci 9pnet_virtio 9p overlay; do
  p=$(modpath "$m"); [ -n "$p" ] || { echo "module $m not found" >&2; exit 1; }
  add "$p"
done

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/{bin,dev,proc,sys,mnt,newroot,lower,upper,lib/modules}
cp "$BB" "$W/bin/busybox"
for a in sh mount umount mkdir insmod switch_root cat echo sleep poweroff ln ls dmesg; do ln -s busybox "$W/bin/$a"; done
: > "$W/modlist"
for p in "${ORDER[@]}"; do
  b=$(basename "$p")
  case "$b" in
    *.ko.xz) xz -dc "$MD/$p" > "$W/lib/modules/${b%.xz}"; b=${b%.xz} ;;
    *.ko.zst) zstd -dcq "$MD/$p" > "$W/lib/modules/${b%.zst}"; b=${b%.zst} ;;
    *) cp "$MD/$p" "$W/lib/modules/$b" ;;
  esac
  echo "$b" >> "$W/modlist"
done
cp "$HERE/initramfs-init" "$W/init"; chmod +x "$W/init"
echo "$KV" > "$W/kver"
(cd "$W" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT"
echo "initramfs: $OUT ($(du -h "$OUT" | cut -f1)), kernel $KV, modules: $(tr '\n' ' ' < "$W/modlist")"
