#!/usr/bin/env bash
# `npm run demo`: inside the lab VM, copy between virtual LUNs with odxcp and show what
# happened: the pair's plan, a token copy (ODX handler LUNs) with the progress bar and the
# per-method account, an EXTENDED COPY between LIO fileio LUNs as JSON, and the backing
# files compared. Runs in the guest: npm run lab -- 'bash test/lab/demo.sh'.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${ODXCP_LAB_TOPOLOGY:?run inside the lab: npm run demo}"
ODXCP=bin/odxcp

# field of a LUN in the topology file: lun NAME FIELD
lun() {
  node -e '
    const t = JSON.parse(require("fs").readFileSync(process.env.ODXCP_LAB_TOPOLOGY, "utf8"));
    const l = t.luns.find((x) => x.name === process.argv[1]);
    if (!l) { console.error("demo: no LUN " + process.argv[1] + " in the lab topology"); process.exit(2); }
    console.log(l[process.argv[2]]);' "$1" "$2"
}

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

same() { # same FILE_A FILE_B LENGTH
  if cmp -s -n "$3" "$1" "$2"; then echo "backing files: the first $3 bytes of $(basename "$1") and $(basename "$2") are identical"
  else echo "backing files differ!"; return 1; fi
}

ODX0=$(lun odx0 sg); ODX1=$(lun odx1 sg)
FIO0=$(lun fio0 sg); FIO1=$(lun fio1 sg)
LEN=${ODXCP_DEMO_LENGTH:-64M}
BYTES=$(node -e 'const m = /^(\d+)M$/.exec(process.argv[1]); console.log(m ? Number(m[1]) * 1048576 : process.argv[1])' "$LEN")

# odx0 starts as zeros; give it fio0's random bytes so the copy has something to show.
dd if="$(lun fio0 file)" of="$(lun odx0 file)" bs=1M count=$((BYTES / 1048576)) conv=notrunc,fsync status=none

step "what the pair supports, and the plan" $ODXCP info "$ODX0" "$ODX1" --length "$LEN"
step "token copy (POPULATE TOKEN / WRITE USING TOKEN) between two ODX LUNs" \
  $ODXCP copy "$ODX0" "$ODX1" --length "$LEN" --progress=bar
same "$(lun odx0 file)" "$(lun odx1 file)" "$BYTES"
step "EXTENDED COPY between two LIO fileio LUNs, the account as JSON" \
  $ODXCP copy "$FIO0" "$FIO1" --length "$LEN" --json
same "$(lun fio0 file)" "$(lun fio1 file)" "$BYTES"
step "the same with sg_xcopy's operands" $ODXCP if="$FIO0" of="$(lun fio2 sg)" bs=512 count=2048 time=1
same "$(lun fio0 file)" "$(lun fio2 file)" $((2048 * 512))
