#!/usr/bin/env bash
# The account odxcp prints for 1 GiB copies in the lab: a token copy between two ODX handler
# LUNs, and a token copy forced onto a pair that cannot do it (LIO answers INVALID COMMAND
# OPERATION CODE), which falls back to the host for the whole range. Each destination is
# then compared with its source through the backing files. Needs LUNs of at least 1 GiB:
#   ODXCP_LAB_LUN_MB=1100 npm run lab -- 'bash bench/accounts-1g.sh'
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ODXCP_LAB_TOPOLOGY:?run inside the lab (see the usage line above)}"
lun() { node -e 'const l = JSON.parse(require("fs").readFileSync(process.env.ODXCP_LAB_TOPOLOGY, "utf8")).luns.find((x) => x.name === process.argv[1]); if (!l) process.exit(2); console.log(l[process.argv[2]]);' "$1" "$2"; }
LEN=1G
BYTES=$((1024 * 1024 * 1024))
[ "$(lun odx0 bytes)" -ge $BYTES ] || { echo "accounts-1g: LUNs are smaller than 1 GiB; set ODXCP_LAB_LUN_MB=1100" >&2; exit 2; }
# odx0 starts as zeros: give it fio0's random bytes (behind the target, outside any timing).
dd if="$(lun fio0 file)" of="$(lun odx0 file)" bs=1M count=1024 conv=notrunc,fsync status=none

run() { echo; echo "\$ $*"; "$@"; }
same() { cmp -n $BYTES "$1" "$2" && echo "backing files: the first 1 GiB of $(basename "$1") and $(basename "$2") are identical"; }

run bin/odxcp copy "$(lun odx0 sg)" "$(lun odx1 sg)" --length $LEN --json
same "$(lun odx0 file)" "$(lun odx1 file)"
run bin/odxcp copy "$(lun odx0 sg)" "$(lun fio1 sg)" --length $LEN --mode odx --json
same "$(lun odx0 file)" "$(lun fio1 file)"
