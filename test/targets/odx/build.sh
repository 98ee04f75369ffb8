#!/usr/bin/env bash
# Build the ODX tcmu-runner handler: build/targets/handler_odx.so (+ a link to Debian's
# handler_qcow.so, because `tcmu-runner --handler-path DIR` searches only DIR).
#
# tcmu-runner's plugin headers are not packaged in Debian; they come from Debian's `tcmu`
# SOURCE package of exactly the installed tcmu-runner version (the handler struct is an
# ABI), fetched with a private apt configuration so the machine's apt setup is untouched:
# the machine's own Debian entries, repeated as deb-src, into a cache outside the repo.
#
#   usage: test/targets/odx/build.sh [--force]
#   env:   ODXCP_LAB_DIR (cache; default ${XDG_CACHE_HOME:-~/.cache}/odxcp-lab)
#          CC, ODX_CFLAGS (extra compiler flags)
# Idempotent: the source fetch and the compile are skipped when already done.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
CACHE=${ODXCP_LAB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/odxcp-lab}
OUTDIR="$REPO/build/targets"
FORCE=0; [ "${1:-}" = --force ] && FORCE=1
die() { echo "odx build: $*" >&2; exit 2; }
say() { echo "odx build: $*"; }

command -v dpkg-query >/dev/null || die "needs a Debian system (dpkg); tcmu-runner comes from Debian's tcmu-runner package"

# 1. packages: compiler, dpkg-source (dpkg-dev), the tcmu-runner we build against
need=()
for p in gcc make dpkg-dev tcmu-runner; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${need[*]}. Install them once as root
  (sudo apt-get install ${need[*]}) or run this script as root."
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

SRCPKG=$(dpkg-query -W -f='${source:Package}' tcmu-runner)
SRCVER=$(dpkg-query -W -f='${source:Version}' tcmu-runner)
[ -n "$SRCPKG" ] && [ -n "$SRCVER" ] || die "cannot tell which source package tcmu-runner comes from"
SRCROOT="$CACHE/tcmu-src"
SRC="$SRCROOT/$SRCPKG-$SRCVER"

# 2. the matching source package, once
if [ ! -f "$SRC/tcmu-runner.h" ]; then
  command -v apt-get >/dev/null || die "needs apt-get to fetch the $SRCPKG source package"
  mkdir -p "$SRCROOT"
  WORK=$(mktemp -d "$SRCROOT/fetch.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  LIST="$WORK/deb-src.sources"
  # Repeat this machine's Debian entries (deb822 *.sources and one-line *.list/sources.list)
  # as deb-src stanzas. Nothing here names a mirror: it is whatever the machine uses.
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk 'BEGIN{RS="";FS="\n"}
        {
          types=""; enabled=1; out=""
          for (i=1;i<=NF;i++) {
            line=$i
            if (line ~ /^[ \t]*#/) continue
            if (tolower(line) ~ /^types:/) { types=line; continue }
            if (tolower(line) ~ /^enabled:[ \t]*no/) enabled=0
            out=out line "\n"
          }
          if (enabled && types ~ /(^|[ \t])deb([ \t]|$)/) printf "Types: deb-src\n%s\n", out
        }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      awk '$1=="deb" {
          signed=""; i=2
          if ($2 ~ /^\[/) {
            while (i<=NF) { o=$i; gsub(/[\[\]]/,"",o); if (o ~ /^signed-by=/) { sub(/^signed-by=/,"",o); signed=o }
                            if ($i ~ /\]$/) { i++; break } ; i++ }
          }
          uri=$i; suite=$(i+1); comps=""
          for (j=i+2;j<=NF;j++) comps=comps (comps?" ":"") $j
          printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", uri, suite, comps
          if (signed) printf "Signed-By: %s\n", signed
          printf "\n"
        }' "$f"
    done
  } > "$LIST"
  grep -q '^Types: deb-src' "$LIST" || die "found no Debian apt entries to derive a deb-src entry from"
  mkdir -p "$WORK/lists/partial" "$WORK/archives/partial"
  APT=(apt-get -q -o Dir::Etc::SourceList="$LIST" -o Dir::Etc::SourceParts=/dev/null
       -o Dir::State::Lists="$WORK/lists" -o Dir::Cache::Archives="$WORK/archives"
       -o APT::Sandbox::User=root)
  say "fetching Debian source package $SRCPKG $SRCVER (headers only; into $SRCROOT)"
  "${APT[@]}" update >"$WORK/update.log" 2>&1 || { cat "$WORK/update.log" >&2; die "apt-get update (deb-src) failed"; }
  (cd "$WORK" && "${APT[@]}" source --download-only "$SRCPKG=$SRCVER" >"$WORK/source.log" 2>&1) ||
    { cat "$WORK/source.log" >&2; die "apt-get source $SRCPKG=$SRCVER failed"; }
  (cd "$WORK" && dpkg-source -x ./*.dsc src >"$WORK/x.log" 2>&1) ||
    { cat "$WORK/x.log" >&2; die "dpkg-source -x failed"; }
  [ -f "$WORK/src/tcmu-runner.h" ] || die "the $SRCPKG source has no tcmu-runner.h"
  rm -rf "$SRC"; mv "$WORK/src" "$SRC"
  rm -rf "$WORK"; trap - EXIT
fi

# odx_ring.c reaches the command ring through the first two members of libtcmu's private
# struct tcmu_device: refuse to build against a tcmu-runner where they moved.
awk '/^struct tcmu_device \{/{f=1;next} f&&NF{print;n++} n==2{exit}' "$SRC/libtcmu_priv.h" | tr -s ' \t' ' ' |
  tr '\n' '|' | grep -qx ' *int fd;| *struct tcmu_mailbox \*map;|' ||
  die "$SRC/libtcmu_priv.h: struct tcmu_device no longer starts with fd, map (see odx_ring.c)"

# 3. compile (skipped when sources, flags and headers are unchanged)
mkdir -p "$OUTDIR"
CC=${CC:-gcc}
CFLAGS=(-Wall -Wextra -O2 -g -fPIC -shared -pthread -fvisibility=hidden ${ODX_CFLAGS:-})
SOURCES=("$HERE"/odx_main.c "$HERE"/odx_knobs.c "$HERE"/odx_spc.c "$HERE"/odx_tpc.c "$HERE"/odx_ring.c "$HERE"/odx_rsoc.c "$HERE"/odx_thin.c)
STAMP=$(cat "${SOURCES[@]}" "$HERE/odx.h" | sha256sum | cut -c1-16)-$SRCVER-$(printf '%s ' "$CC" "${CFLAGS[@]}" | sha256sum | cut -c1-8)
SO="$OUTDIR/handler_odx.so"
if [ $FORCE = 1 ] || [ ! -f "$SO" ] || [ "$(cat "$OUTDIR/.handler_odx.stamp" 2>/dev/null)" != "$STAMP" ]; then
  say "compiling $SO against $SRCPKG $SRCVER headers"
  "$CC" "${CFLAGS[@]}" -I"$SRC" -I"$SRC/ccan" "${SOURCES[@]}" -o "$SO.tmp"
  mv "$SO.tmp" "$SO"
  echo "$STAMP" > "$OUTDIR/.handler_odx.stamp"
fi

# 4. the qcow handler next to ours: the lab's plain TCMU LUN uses it
QCOW=$(dpkg -L tcmu-runner | grep '/handler_qcow\.so$' | head -n1 || true)
[ -n "$QCOW" ] || die "tcmu-runner ships no handler_qcow.so (dpkg -L tcmu-runner)"
[ "$(readlink "$OUTDIR/handler_qcow.so" 2>/dev/null)" = "$QCOW" ] || ln -sfn "$QCOW" "$OUTDIR/handler_qcow.so"
say "ready: $SO (+ handler_qcow.so link)"
