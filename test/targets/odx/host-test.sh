#!/usr/bin/env bash
# Host-side test of the odx handler (no VM): compiles the handler with stand-ins for
# tcmu-runner under AddressSanitizer + UBSan and runs host-test.c. Seconds, not minutes;
# the lab conformance suite (conformance.sh) is the real-kernel proof.
#   usage: test/targets/odx/host-test.sh [-v]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
"$HERE/build.sh" >/dev/null          # also fetches the tcmu headers into the cache
CACHE=${ODXCP_LAB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/odxcp-lab}
SRC="$CACHE/tcmu-src/$(dpkg-query -W -f='${source:Package}-${source:Version}' tcmu-runner)"
OUT="$REPO/build/targets/odx-host-test"
${CC:-gcc} -Wall -Wextra -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined -pthread -I"$SRC" -I"$SRC/ccan" -I"$HERE" \
  "$HERE"/host-test.c "$HERE"/odx_main.c "$HERE"/odx_knobs.c "$HERE"/odx_spc.c "$HERE"/odx_tpc.c "$HERE"/odx_rsoc.c "$HERE"/odx_thin.c \
  -o "$OUT"
exec "$OUT" "$@"
