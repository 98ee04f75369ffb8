#!/usr/bin/env bash
# Conformance of the odx tcmu-runner handler, proven with tools nobody here wrote
# (sg3_utils: sg_raw, sg_inq, sg_vpd, sg_readcap, sg_write_same, sg_xcopy,
# sg_copy_results; ddpt/ddptctl; dd, cmp). Runs INSIDE the lab VM, against the
# real path: SG_IO -> tcm_loop -> LIO TCMU backstore -> tcmu-runner -> handler_odx.so.
#
#   npm run lab -- 'bash test/targets/odx/conformance.sh'
#
# Uses the odx LUNs of the lab topology (lab-luns.txt: odx0, odx1, odx4k, odxslow) and
# creates a few LUNs of its own with other knobs in the same TPG (removed at the end).
# Prints TAP-like "ok N - ..." / "not ok N - ..." lines, a last line "N passed, N failed",
# and exits 1 if anything failed (2 if the lab is not there). Parameter lists are built
# by hand here, byte by byte, from the copy-offload reference (sections in comments).
set -u
T=${ODXCP_LAB_TOPOLOGY:-}
[ -n "$T" ] && [ -f "$T" ] || { echo "conformance.sh: run me inside the lab (ODXCP_LAB_TOPOLOGY unset)" >&2; exit 2; }
CFG=/sys/kernel/config/target
W=$(mktemp -d /tmp/odxconf.XXXXXX)
LOG=${LAB_OUT:-$W}/odx-conformance.log
: > "$LOG"
PASS=0 FAILN=0 N=0

ok()  { N=$((N+1)); PASS=$((PASS+1)); echo "ok $N - $*"; }
nok() { N=$((N+1)); FAILN=$((FAILN+1)); echo "not ok $N - $*"; }
check() { local d=$1; shift; if "$@" >>"$LOG" 2>&1; then ok "$d"; else nok "$d"; fi; }
note() { echo "# $*"; }

# ---- topology: L_<name>_<field> shell variables -------------------------------------
eval "$(node -e '
  const t = require(process.argv[1]);
  for (const l of t.luns) for (const k of ["sg","sd","file","blockSize","bytes","address"])
    if (/^[A-Za-z0-9_]+$/.test(l.name)) console.log(`L_${l.name}_${k}=${JSON.stringify(String(l[k] ?? ""))}`);
' "$T")"
lunvar() { local v="L_$1_$2"; echo "${!v:-}"; }
for n in odx0 odx1 odx4k; do
  [ -n "$(lunvar $n sg)" ] || { echo "conformance.sh: LUN $n missing from the topology (lab-luns.txt)" >&2; exit 2; }
done
A=$L_odx0_sg; B=$L_odx1_sg; K=$L_odx4k_sg
FA=$L_odx0_file; FB=$L_odx1_file; FK=$L_odx4k_file
SDA=$L_odx0_sd
S=${L_odxslow_sg:-}; FS=${L_odxslow_file:-}
TPID=$(pidof tcmu-runner | awk '{print $1}')

# ---- SCSI plumbing --------------------------------------------------------------------
# scsi DEV CDBHEX [-i FILE] [-r LEN OUTFILE]: one command through sg_raw. Sets ST (good,
# check or other), SK/ASC/ASCQ (hex, 2 digits), SBYTES (sense bytes). Retries UNIT ATTENTION.
scsi() {
  local dev=$1 cdb=$2; shift 2
  local opts=() out try
  while [ $# -gt 0 ]; do
    case $1 in
      -i) opts+=(-s "$(stat -c %s "$2")" -i "$2"); shift 2 ;;
      -r) rm -f "$3"; opts+=(-r "$2" -o "$3"); shift 3 ;;
      *) echo "scsi: bad option $1" >&2; return 2 ;;
    esac
  done
  for try in 1 2 3 4; do
    out=$(sg_raw -v -t 120 "${opts[@]}" "$dev" $(echo "$cdb" | sed 's/../& /g') 2>&1)
    echo "### sg_raw $dev $cdb" >>"$LOG"; echo "$out" >>"$LOG"
    SBYTES=(); SK=; ASC=; ASCQ=
    if grep -q 'SCSI Status: Good' <<<"$out"; then ST=good
    elif grep -q 'SCSI Status: Check Condition' <<<"$out"; then
      ST=check
      SBYTES=($(awk '/Raw sense data/{f=1;next} f&&/^[ \t]+([0-9a-f][0-9a-f][ \t]*)+$/{print;next} f{exit}' <<<"$out"))
      local rc=$((16#${SBYTES[0]:-0} & 0x7f))
      if [ $rc = $((0x72)) ] || [ $rc = $((0x73)) ]; then
        SK=$(printf %x $((16#${SBYTES[1]} & 0xf))); ASC=${SBYTES[2]}; ASCQ=${SBYTES[3]}
      else
        SK=$(printf %x $((16#${SBYTES[2]:-0} & 0xf))); ASC=${SBYTES[12]:-}; ASCQ=${SBYTES[13]:-}
      fi
      [ "$SK" = 6 ] && continue
    else ST=other
    fi
    return 0
  done
}
sense() { echo "${SK:-}/${ASC:-}/${ASCQ:-}"; }
# expect_good DESC / expect_sense DESC K/AA/QQ (after scsi)
expect_good() { if [ "$ST" = good ]; then ok "$1"; else nok "$1 (got $ST $(sense))"; fi; }
expect_sense() { if [ "$ST" = check ] && [ "$(sense)" = "$2" ]; then ok "$1 -> $2"; else nok "$1: want $2, got $ST $(sense)"; fi; }

h8() { printf '%02x' "$1"; }
h16() { printf '%04x' "$1"; }
h32() { printf '%08x' "$1"; }
h64() { printf '%016x' "$1"; }
bin() { xxd -r -p > "$1"; }                       # hex on stdin -> file
hexof() { xxd -p "$1" | tr -d '\n'; }              # file -> hex
# field FILE OFFSET LEN -> decimal big-endian integer
field() { local h; h=$(od -A n -t x1 -j "$2" -N "$3" "$1" | tr -d ' \n'); echo $((16#${h:-0})); }

# POPULATE TOKEN parameter list (ref 5.8): pt_params FILE FLAGS TIMEOUT RODTYPE LBA:N...
pt_params() {
  local f=$1 fl=$2 tmo=$3 rod=$4 r rs="" n=0; shift 4
  for r in "$@"; do rs+=$(h64 "${r%%:*}")$(h32 "${r##*:}")00000000; n=$((n+1)); done
  echo "$(h16 $((14+16*n)))$(h8 "$fl")00$(h32 "$tmo")$(h32 "$rod")0000$(h16 $((16*n)))$rs" | bin "$f"
}
# WRITE USING TOKEN parameter list (ref 5.9): wut_params FILE FLAGS OFFSET TOKENFILE LBA:N...
wut_params() {
  local f=$1 fl=$2 off=$3 tok=$4 r rs="" n=0; shift 4
  for r in "$@"; do rs+=$(h64 "${r%%:*}")$(h32 "${r##*:}")00000000; n=$((n+1)); done
  echo "$(h16 $((534+16*n)))$(h8 "$fl")0000000000$(h64 "$off")$(hexof "$tok")000000000000$(h16 $((16*n)))$rs" | bin "$f"
}
cdb_out() { echo "83$(h8 "$1")00000000$(h32 "$2")$(h32 "$3")0000"; }       # SA LID LEN (PT/WUT)
cdb_in() { echo "84$(h8 "$1")$(h32 "$2")00000000$(h32 "$3")0000"; }        # SA LID ALLOC (LID4 SAs)
# pt DEV LID FLAGS TIMEOUT RODTYPE RANGES... ; wut DEV LID FLAGS OFFSET TOKENFILE RANGES...
pt() { local d=$1 l=$2; shift 2; pt_params "$W/pt.bin" "$@"; scsi "$d" "$(cdb_out 16 "$l" "$(stat -c %s "$W/pt.bin")")" -i "$W/pt.bin"; }
wut() { local d=$1 l=$2; shift 2; wut_params "$W/wut.bin" "$@"; scsi "$d" "$(cdb_out 17 "$l" "$(stat -c %s "$W/wut.bin")")" -i "$W/wut.bin"; }
# rrti DEV LID: RECEIVE ROD TOKEN INFORMATION into $W/rrti.bin; RR_* fields (ref 5.10)
rrti() {
  scsi "$1" "$(cdb_in 7 "$2" 1024)" -r 1024 "$W/rrti.bin"
  RR_SA=; RR_STATUS=; RR_UNITS=; RR_COUNT=; RR_TOKLEN=; RR_LEN=
  [ "$ST" = good ] || return 0
  RR_LEN=$(( $(field "$W/rrti.bin" 0 4) + 4 ))
  RR_SA=$(field "$W/rrti.bin" 4 1); RR_STATUS=$(printf %02x "$(field "$W/rrti.bin" 5 1)")
  RR_UNITS=$(printf %02x "$(field "$W/rrti.bin" 15 1)"); RR_COUNT=$(field "$W/rrti.bin" 16 8)
  local sl; sl=$(field "$W/rrti.bin" 13 1)
  RR_TOKLEN=$(field "$W/rrti.bin" $((32+sl)) 4)
  [ "$RR_TOKLEN" = 514 ] && dd if="$W/rrti.bin" of="$W/token.bin" bs=1 skip=$((38+sl)) count=512 status=none
  return 0
}
# poll DEV LID: RRTI until the operation is no longer in progress (0x10-0x12); counts polls
poll() {
  POLLS=0
  while :; do
    rrti "$1" "$2"; POLLS=$((POLLS+1))
    case "$RR_STATUS" in 10|11|12) [ $POLLS -lt 400 ] || return 1; sleep 0.1 ;; *) return 0 ;; esac
  done
}
# same FILE1 LBA1 FILE2 LBA2 NBLOCKS [BS]: byte-exact comparison of two block ranges
same() { local bs=${6:-512}; cmp -n $(($5*bs)) -i $(($2*bs)):$(($4*bs)) "$1" "$3"; }
zeros() { local bs=${4:-512}; cmp -n $(($3*bs)) -i $(($2*bs)):0 "$1" /dev/zero; }
alive() { kill -0 "$TPID" 2>/dev/null; }
export -f same zeros field
tur() { local d; for d in "$@"; do sg_turs "$d" >/dev/null 2>&1; sg_turs "$d" >/dev/null 2>&1; done; }

# ---- LUNs of our own, for knobs the topology does not have ---------------------------
TPGDIR=
for l in $CFG/loopback/*/tpgt_*/lun/lun_*; do
  for s in "$l"/*; do [ "$(readlink -f "$s")" = "$(readlink -f $CFG/core/user_0/odx0)" ] && TPGDIR=${l%/lun/*}; done
done
MADE=()
# mklun NAME SERIAL SIZE_MB KNOBS -> prints /dev/sgN (fails if the backstore does not enable);
# the backing file is $MKLUN_DIR/NAME.img ($W by default)
mklun() {
  local name=$1 serial=$2 mb=$3 knobs=$4 d=$CFG/core/user_0/$1 i lun addr s img=${MKLUN_DIR:-$W}/$1.img
  truncate -s $((mb<<20)) "$img"
  mkdir -p "$d" || return 1
  MADE+=("$name")
  echo -n "dev_config=odx/$img${knobs:+?$knobs}" > "$d/control" || return 1
  echo -n "dev_size=$((mb<<20))" > "$d/control" || return 1
  echo "$serial" > "$d/wwn/vpd_unit_serial" || return 1
  echo 1 > "$d/enable" 2>/dev/null || return 1
  lun=100; while [ -e "$TPGDIR/lun/lun_$lun" ]; do lun=$((lun+1)); done
  mkdir "$TPGDIR/lun/lun_$lun" && ln -s "$d" "$TPGDIR/lun/lun_$lun/$name" || return 1
  addr="$(cat "$TPGDIR/address"):$lun"
  for i in $(seq 1 150); do
    for s in /sys/bus/scsi/devices/$addr/scsi_generic/*; do
      [ -e "$s" ] && [ -e "/dev/$(basename "$s")" ] && { tur "/dev/$(basename "$s")"; echo "/dev/$(basename "$s")"; return 0; }
    done
    sleep 0.1
  done
  return 1
}
rmluns() {
  local n l s
  for l in "$TPGDIR"/lun/lun_*; do
    for s in "$l"/*; do
      for n in "${MADE[@]}"; do [ "$(basename "$s")" = "$n" ] && [ -L "$s" ] && { rm -f "$s"; rmdir "$l"; }; done
    done
  done
  for n in "${MADE[@]}"; do [ -d $CFG/core/user_0/$n ] && rmdir $CFG/core/user_0/$n; done
}
trap 'rmluns 2>/dev/null' EXIT

tur $A $B $K ${S:-}
note "odx0=$A odx1=$B odx4k=$K odxslow=${S:-none}; tcmu-runner pid $TPID; log $LOG"

# ======================================================================================
note "identity and VPD pages (ref 3)"
check "INQUIRY: 3PC=1" bash -c "sg_inq $A | grep -q '3PC=1'"
check "VPD 0x00 lists 0x8F" bash -c "sg_vpd -p sv $A | grep -q 'Third party copy'"
for d in $A $K; do
  out=$(sg_vpd -p tpc $d 2>&1); rc=$?
  echo "$out" >>"$LOG"
  missing=
  for h in "Block Device ROD Token Limits" "Supported commands" "Parameter data" "Supported descriptors" \
           "Supported CSCD IDs" "ROD token features" "Supported ROD token and ROD types" "General copy operations"; do
    grep -qi "$h" <<<"$out" || missing+="[$h]"
  done
  complaints=$(grep -iE 'bad|short|error|unknown|too long|truncat|warn|invalid' <<<"$out")
  if [ $rc = 0 ] && [ -z "$missing" ] && [ -z "$complaints" ]; then ok "sg_vpd -p tpc $d decodes all 8 descriptors without complaint"
  else nok "sg_vpd -p tpc $d: rc=$rc missing=$missing complaints=$complaints"; fi
done
check "VPD 0x83: a 16-byte NAA-6 LU designator" bash -c "sg_vpd -p di $A | grep -qE '^ +0x6[0-9a-f]{31}$'"
check "READ CAPACITY(16): 512-byte blocks, size from the topology" \
  bash -c "sg_readcap -l $A | grep -q 'Logical block length=512' && sg_readcap -l $A | grep -q 'Number of logical blocks=$((L_odx0_bytes/512))'"
check "READ CAPACITY(16) on odx4k: 4096-byte blocks" bash -c "sg_readcap -l $K | grep -q 'Logical block length=4096'"
check "the kernel's sd sees 4096-byte logical blocks on odx4k" \
  bash -c "[ \$(cat /sys/block/$(basename $L_odx4k_sd)/queue/logical_block_size) = 4096 ]"
sg_copy_results -p $A > "$W/rcop.txt" 2>&1; cat "$W/rcop.txt" >>"$LOG"
check "RECEIVE COPY OPERATING PARAMETERS (sg_copy_results -p): SNLID, 64 CSCDs, 0x02 + 0xE4" \
  bash -c "grep -qiE 'SNLID.*(1|yes)' $W/rcop.txt && grep -qiE 'target descriptor count: *64|CSCD descriptor count: *64' $W/rcop.txt && grep -qiE 'block.*block' $W/rcop.txt && grep -qi 'identification' $W/rcop.txt"

# ======================================================================================
note "block I/O (handled by the handler, through the token-aware write path)"
dd if=/dev/urandom of="$W/rand" bs=1M count=16 status=none
check "dd 16 MiB to odx0 (O_DIRECT) lands in the backing file" \
  bash -c "dd if=$W/rand of=$SDA bs=1M oflag=direct status=none && cmp -n $((16<<20)) $W/rand $FA"
check "dd read back (O_DIRECT) equals it" bash -c "cmp -n $((16<<20)) <(dd if=$SDA bs=1M count=16 iflag=direct status=none) $W/rand"
head -c 512 /dev/urandom > "$W/pattern"
sg_write_same --16 -i "$W/pattern" -l 40000 -n 64 $B >>"$LOG" 2>&1
check "WRITE SAME(16) replicates one block 64 times" bash -c "for i in 0 31 63; do cmp -n 512 -i 0:\$(((40000+i)*512)) $W/pattern $FB || exit 1; done"
sg_write_same --16 --ndob -l 40000 -n 32 $B >>"$LOG" 2>&1
check "WRITE SAME(16) NDOB writes zeros" zeros "$FB" 40000 32
check "SYNCHRONIZE CACHE(10)" sg_sync $A
check "SYNCHRONIZE CACHE(16)" sg_sync --16 $A

# ======================================================================================
note "token copy with hand-built parameter lists (ref 5.8-5.10, 6)"
pt $A 256 0 0 0 0:2048; expect_good "POPULATE TOKEN, 1 range of 2048 blocks"
rrti $A 256
if [ "$RR_SA" = 16 ] && [ "$RR_STATUS" = 01 ] && [ "$RR_UNITS" = f1 ] && [ "$RR_COUNT" = 2048 ] && [ "$RR_TOKLEN" = 514 ] && [ "$RR_LEN" = 550 ]; then
  ok "RRTI: PT done (0x01), 2048 blocks (units F1), 512-byte token, 550-byte response"
else nok "RRTI after PT: sa=$RR_SA status=$RR_STATUS units=$RR_UNITS count=$RR_COUNT toklen=$RR_TOKLEN len=$RR_LEN"; fi
cp "$W/token.bin" "$W/tok1.bin"
check "token: ROD type AUR, length 0x1F8, bytes represented = 1 MiB" \
  bash -c "[ \$(od -A n -t x1 -N 8 $W/tok1.bin | tr -d ' ') = 00010000000001f8 ] && [ $(field "$W/tok1.bin" 48 16) = 1048576 ]"
wut $B 257 0 0 "$W/tok1.bin" 1000:2048; expect_good "WRITE USING TOKEN to another LUN"
rrti $B 257
[ "$RR_SA" = 17 ] && [ "$RR_STATUS" = 01 ] && [ "$RR_COUNT" = 2048 ] && [ "$RR_TOKLEN" = 0 ] &&
  ok "RRTI after WUT: 0x01, 2048 blocks, no token" || nok "RRTI after WUT: sa=$RR_SA status=$RR_STATUS count=$RR_COUNT toklen=$RR_TOKLEN"
check "cross-LUN token copy moved exactly those bytes" same "$FA" 0 "$FB" 1000 2048
check "... and nothing next to them" bash -c "zeros $FB 999 1 && zeros $FB 3048 1"

pt $A 258 0 0 0 100:300 5000:200 9000:500; expect_good "PT with 3 ranges (1000 blocks)"
rrti $A 258; cp "$W/token.bin" "$W/tok3.bin"
wut $B 259 0 0 "$W/tok3.bin" 20000:600 30000:400; expect_good "WUT with 2 destination ranges"
check "3 source ranges -> 2 destination ranges, in order" bash -c \
  "same $FA 100 $FB 20000 300 && same $FA 5000 $FB 20300 200 && same $FA 9000 $FB 20500 100 && same $FA 9100 $FB 30000 400"
wut $B 260 0 0 "$W/tok3.bin" 40000:300; expect_good "WUT of the first 300 blocks of the ROD"
wut $B 261 2 300 "$W/tok3.bin" 50000:700; expect_good "WUT with OFFSET INTO ROD 300 and DEL_TKN"
rrti $B 261
check "offset into ROD: the rest of the ROD (700 blocks), in order" bash -c \
  "[ '$RR_COUNT' = 700 ] && same $FA 100 $FB 40000 300 && same $FA 5000 $FB 50000 200 && same $FA 9000 $FB 50200 500"
wut $B 262 0 0 "$W/tok3.bin" 60000:10; expect_sense "the token deleted by DEL_TKN" 5/23/09

pt $A 263 0 0 0 0:1000; rrti $A 263; cp "$W/token.bin" "$W/tokS.bin"
wut $A 264 0 0 "$W/tokS.bin" 100000:1000; expect_good "WUT on the LUN that made the token"
check "same-LUN token copy" same "$FA" 0 "$FA" 100000 1000
wut $B 265 0 2000 "$W/tokS.bin" 0:10; expect_sense "OFFSET INTO ROD past the end of the ROD" 5/26/00
wut $B 266 0 900 "$W/tokS.bin" 70000:400
rrti $B 266
[ "$RR_COUNT" = 100 ] && [ "$RR_STATUS" = 04 ] && ok "destination longer than the ROD left: 100 blocks, status 0x04 (residual)" ||
  nok "WUT past the ROD: count=$RR_COUNT status=$RR_STATUS"

echo "ffff0001000001f8$(printf '0%.0s' $(seq 1 1008))" | bin "$W/zero.bin"
wut $B 267 0 0 "$W/zero.bin" 1000:2048; expect_good "WUT with the block device zero token"
check "zero token wrote zeros" zeros "$FB" 1000 2048

wut $K 268 0 0 "$W/tokS.bin" 0:8; expect_sense "512-byte LUN's token on the 4096-byte LUN" 5/23/00
cp "$W/tokS.bin" "$W/bad.bin"; printf '\x5a' | dd of="$W/bad.bin" bs=1 seek=300 conv=notrunc status=none
wut $B 269 0 0 "$W/bad.bin" 0:8; expect_sense "a token with a changed byte (corrupt)" 5/23/05
cp "$W/tokS.bin" "$W/bad.bin"; printf '\x01\x00' | dd of="$W/bad.bin" bs=1 seek=6 conv=notrunc status=none
wut $B 269 0 0 "$W/bad.bin" 0:8; expect_sense "ROD TOKEN LENGTH not 0x1F8" 5/23/0a
cp "$W/tokS.bin" "$W/bad.bin"; printf '\x00\x00\x00\x00' | dd of="$W/bad.bin" bs=1 seek=0 conv=notrunc status=none
wut $B 269 0 0 "$W/bad.bin" 0:8; expect_sense "ROD type 0 (copy manager internal)" 5/23/01
# a well-formed token this copy manager never issued: a new id, checksum made to fit
node -e '
  const fs = require("fs"); const b = fs.readFileSync(process.argv[1]);
  b.writeBigUInt64BE(0x1234567812345678n, 8);
  let h = 0xcbf29ce484222325n; const M = (1n << 64n) - 1n;
  for (let i = 0; i < 504; i++) { h ^= BigInt(b[i]); h = (h * 0x100000001b3n) & M; }
  b.writeBigUInt64BE(h, 504); fs.writeFileSync(process.argv[2], b);' "$W/tokS.bin" "$W/unknown.bin"
wut $B 269 0 0 "$W/unknown.bin" 0:8; expect_sense "a well-formed token nobody issued" 5/23/04

pt $A 270 0 0 0 70000:100; rrti $A 270; cp "$W/token.bin" "$W/tokR.bin"
dd if=/dev/urandom of=$SDA bs=512 count=1 seek=70050 oflag=direct status=none
wut $B 271 0 0 "$W/tokR.bin" 0:100; expect_sense "AUR token after a write into its source range" 5/23/06
pt $A 272 0 0 0 80000:100; rrti $A 272; cp "$W/token.bin" "$W/tokN.bin"
dd if=/dev/urandom of=$SDA bs=512 count=1 seek=80100 oflag=direct status=none
wut $B 273 0 0 "$W/tokN.bin" 0:100; expect_good "a write next to (not into) the source range leaves the token valid"
# WRITE AND VERIFY is tcmu-runner's emulation; its data comes back through our write callout
pt $A 276 0 0 0 84000:100; rrti $A 276; cp "$W/token.bin" "$W/tokV.bin"
head -c 512 /dev/urandom > "$W/wv.bin"
sg_write_verify --lba=84010 --num=1 --in="$W/wv.bin" $A >>"$LOG" 2>&1
check "WRITE AND VERIFY (tcmu-runner's emulation) wrote through the handler" cmp -n 512 -i 0:$((84010*512)) "$W/wv.bin" "$FA"
wut $B 277 0 0 "$W/tokV.bin" 0:100; expect_sense "... and revoked the token over it" 5/23/06
pt $A 274 0 1 0 0:100; rrti $A 274; cp "$W/token.bin" "$W/tokE.bin"
sleep 2.5
wut $B 275 0 0 "$W/tokE.bin" 0:100; expect_sense "token past its 1 s inactivity timeout" 5/23/07

scsi $A "8408$(printf '0%.0s' $(seq 1 16))$(h32 4104)0000" -r 4104 "$W/rart.bin"
n=$(( ($(field "$W/rart.bin" 0 4) - 4) / 96 ))
[ "$ST" = good ] && [ $n -ge 2 ] && [ $(( ($(field "$W/rart.bin" 0 4) - 4) % 96 )) = 0 ] &&
  ok "REPORT ALL ROD TOKENS: $n management tokens of 96 bytes" || nok "REPORT ALL ROD TOKENS: $ST n=$n"
scsi $B "$(cdb_in 5 257 64)" -r 64 "$W/rcs.bin"
[ "$ST" = good ] && [ "$(field "$W/rcs.bin" 5 1)" = 1 ] && [ "$(field "$W/rcs.bin" 16 8)" = 2048 ] &&
  ok "RECEIVE COPY STATUS(LID4) of a WUT" || nok "RCS(LID4): $ST $(sense)"

note "parameter checking (ref 2.6, 5.8, 5.9)"
pt $A 280 0 0 0 $((L_odx0_bytes/512 - 10)):20; expect_sense "PT range past the end" 5/21/00
[ "${SBYTES[0]}" = f0 ] && [ $((16#${SBYTES[3]}${SBYTES[4]}${SBYTES[5]}${SBYTES[6]})) = $((L_odx0_bytes/512)) ] &&
  ok "... with the first LBA past the end in INFORMATION (VALID set)" || nok "21/00 INFORMATION: ${SBYTES[*]}"
pt $A 280 0 0 0 0:100 50:100; expect_sense "PT overlapping ranges" 5/26/00
rs=(); for i in $(seq 0 64); do rs+=("$((i*10)):1"); done
pt $A 280 0 0 0 "${rs[@]}"; expect_sense "PT with 65 ranges (MAXIMUM RANGE DESCRIPTORS 64)" 5/26/08
pt $A 280 0 601 0 0:10; expect_sense "PT inactivity timeout 601 > 600" 5/26/00
[ "${SBYTES[15]}${SBYTES[16]}${SBYTES[17]}" = 800004 ] && ok "... SKS points at parameter byte 4" || nok "SKS ${SBYTES[15]:-}${SBYTES[16]:-}${SBYTES[17]:-}"
pt $A 280 2 0 $((0x800000)) 0:10; expect_sense "PT asking for a point-in-time ROD on an AUR-only LUN" 5/26/00
# header says 2 ranges (32 bytes of descriptors), 1 is sent
echo "001e000000000000000000000000$(h16 32)$(h64 0)$(h32 8)00000000" | bin "$W/short.bin"
scsi $A "$(cdb_out 16 280 32)" -i "$W/short.bin"; expect_sense "PT whose range list claims more than was sent" 5/1a/00
head -c 8 "$W/short.bin" > "$W/short8.bin"
scsi $A "$(cdb_out 16 280 8)" -i "$W/short8.bin"; expect_sense "PT with an 8-byte parameter list" 5/24/00
head -c 100 /dev/zero > "$W/z100.bin"
scsi $B "$(cdb_out 17 280 100)" -i "$W/z100.bin"; expect_sense "WUT with a 100-byte parameter list" 5/24/00
rrti $A 4242; expect_sense "RRTI of an unknown list id" 5/24/00
scsi $A "831c$(h32 4242)00000000000000000000"; expect_sense "COPY OPERATION ABORT of an unknown list id" 5/24/00
scsi $A "8301$(printf '0%.0s' $(seq 1 16))$(h32 0)0000"; expect_sense "EXTENDED COPY(LID4) (not offered)" 5/24/00
scsi $A "8401$(printf '0%.0s' $(seq 1 16))$(h32 64)0000" -r 64 "$W/x.bin"; expect_sense "RECEIVE COPY DATA (not offered)" 5/24/00

note "random parameter lists: the handler must answer, not crash"
bad=0
for i in $(seq 1 60); do
  len=$(( (RANDOM % 700) + 1 )); head -c $len /dev/urandom > "$W/fz.bin"
  case $((i % 3)) in
    0) sa=16 ;; 1) sa=17 ;; 2) sa=0 ;;
  esac
  if [ $sa = 0 ]; then cdb="8300$(printf '0%.0s' $(seq 1 16))$(h32 $len)0000"; else cdb=$(cdb_out $sa $((500+i)) $len); fi
  scsi $A "$cdb" -i "$W/fz.bin"
  [ "$ST" = good ] || [ "$ST" = check ] || bad=$((bad+1))
done
alive && [ $bad = 0 ] && ok "60 random parameter lists answered (GOOD or CHECK CONDITION), tcmu-runner alive" ||
  nok "random parameter lists: $bad odd answers, tcmu-runner $(alive && echo alive || echo DEAD)"
pt $A 290 0 0 0 0:8; rrti $A 290
[ "$RR_STATUS" = 01 ] && ok "and the LUN still makes tokens afterwards" || nok "PT after fuzzing: $RR_STATUS"

# ======================================================================================
note "IMMED and slow arrays"
if [ -n "$TPGDIR" ] && KS=$(mklun kslow c0ffee08 32 "latency_ms=1000&latency_ms_per_mib=300"); then
  tur $A $B $K ${S:-}
  FKS=$W/kslow.img
  dd if="$W/rand" of="$FKS" bs=1M count=16 conv=notrunc status=none
  pt $KS 300 1 0 0 0:32768; expect_good "PT with IMMED returns at once (LUN with 1 s per command)"
  rrti $KS 300
  [ "$RR_STATUS" = 12 ] && [ "$RR_TOKLEN" = 0 ] && ok "RRTI right after: 0x12 in progress (background), no token yet" ||
    nok "RRTI right after an IMMED PT: status=$RR_STATUS toklen=$RR_TOKLEN"
  poll $KS 300
  [ "$RR_STATUS" = 01 ] && [ "$RR_TOKLEN" = 514 ] && ok "RRTI polled: done after $POLLS more polls, token delivered" ||
    nok "polled RRTI: status=$RR_STATUS toklen=$RR_TOKLEN polls=$POLLS"
  cp "$W/token.bin" "$W/tokslow.bin"
  wut $B 301 1 0 "$W/tokslow.bin" 0:32768; expect_good "WUT with IMMED on odx1 with the slow LUN's token"
  poll $B 301
  [ "$RR_STATUS" = 01 ] && [ "$RR_COUNT" = 32768 ] && ok "polled to completion: 16 MiB" || nok "WUT IMMED: $RR_STATUS $RR_COUNT"
  check "IMMED WUT data" same "$FKS" 0 "$FB" 0 32768
  wut $KS 302 1 0 "$W/tokslow.bin" 32768:32768; expect_good "a slow IMMED WUT (about 6 s)"
  rrti $KS 302; first=$RR_STATUS
  pt $KS 302 0 0 0 0:8; expect_sense "a new command with the list id still in use" 5/00/16
  scsi $KS "831c$(h32 302)00000000000000000000"; expect_good "COPY OPERATION ABORT of the running WUT"
  poll $KS 302
  [ "$first" = 12 ] && [ "$RR_STATUS" = 60 ] && [ "$RR_COUNT" -lt 32768 ] &&
    ok "aborted: status 0x60 after $RR_COUNT of 32768 blocks" || nok "abort: first=$first status=$RR_STATUS count=$RR_COUNT"
else
  nok "slow LUN for the IMMED tests did not come up"
fi
if [ -n "$S" ]; then
  dd if="$W/rand" of=${L_odxslow_sd} bs=1M count=8 oflag=direct status=none
  t0=$(date +%s%N); pt $S 310 0 0 0 0:16384; t1=$(date +%s%N)
  [ "$ST" = good ] && [ $(( (t1-t0)/1000000 )) -ge 100 ] && ok "odxslow: a PT takes its 100 ms ($(( (t1-t0)/1000000 )) ms)" || nok "odxslow PT: $ST"
  rrti $S 310; cp "$W/token.bin" "$W/tokos.bin"
  t0=$(date +%s%N); wut $S 311 0 0 "$W/tokos.bin" 20000:16384; t1=$(date +%s%N)
  [ "$ST" = good ] && [ $(( (t1-t0)/1000000 )) -ge 420 ] && ok "odxslow: an 8 MiB WUT takes >= 100 + 8*40 ms ($(( (t1-t0)/1000000 )) ms)" || nok "odxslow WUT: $ST"
  check "odxslow copy data" same "$FS" 0 "$FS" 20000 16384
else
  nok "odxslow is not in the lab topology (lab-luns.txt)"
fi

# ======================================================================================
note "knobs, on LUNs made here (serials with distinct hex digits)"
if [ -n "$TPGDIR" ]; then
  KT=$(mklun ktrunc c0ffee01 16 "max_token_bytes=1m&max_wut_bytes=256k&trunc_status=3&trunc_every=3") || KT=
  KF=$(mklun kfail c0ffee02 16 "fail_pt=2:5/26/00&fail_wut=1:A/0D/01&fail_after_bytes=64k&fail_rrti=2&tc_units=bytes") || KF=
  KP=$(mklun kpit c0ffee03 16 "token_mode=pit") || KP=
  KB=$(mklun kbusy c0ffee04 16 "lid_busy=2600&latency_ms=1500") || KB=
  KI=$(mklun kimm c0ffee05 16 "immed=reject") || KI=
  KG=$(mklun kign c0ffee06 16 "immed=0&latency_ms=300") || KG=
  KX=$(mklun knox c0ffee07 16 "xcopy=0&odx=0") || KX=

  for v in KT KF KP KB KI KG KX; do [ -n "${!v}" ] && ok "LUN with knobs up: $v=${!v}" || nok "LUN $v did not come up"; done
  tur $A $B $K ${S:-}
  for k in "bogus=1" "fail_pt=zz" "inactivity_default=700" "tc_units=furlongs"; do
    if mklun kbad$RANDOM c0ffee0f 4 "$k" >/dev/null; then nok "bad knob '$k' accepted"; else ok "bad knob '$k' refused: the backstore does not enable"; fi
  done
  grep -q "unknown knob 'bogus'" ${LAB_OUT:-/nonexistent}/tcmu/tcmu-runner.log 2>/dev/null &&
    ok "... and tcmu-runner's log says why (unknown knob 'bogus')" || nok "no 'unknown knob' line in the tcmu-runner log"
  FKT=$W/ktrunc.img FKF=$W/kfail.img FKP=$W/kpit.img

  if [ -n "$KT" ]; then
    dd if="$W/rand" of="$FKT" bs=1M count=4 conv=notrunc status=none
    pt $KT 1 0 0 0 0:4096; rrti $KT 1; cp "$W/token.bin" "$W/tokT.bin"
    [ "$RR_COUNT" = 2048 ] && [ "$RR_STATUS" = 03 ] && ok "max_token_bytes=1m: PT of 2 MiB captures 2048 blocks, status 0x03 (trunc_status=3)" ||
      nok "PT truncation: count=$RR_COUNT status=$RR_STATUS"
    wut $KT 2 0 0 "$W/tokT.bin" 8192:4096; rrti $KT 2
    [ "$RR_COUNT" = 512 ] && [ "$RR_STATUS" = 03 ] && ok "max_wut_bytes=256k: WUT writes 512 blocks, status 0x03" || nok "WUT cap: $RR_COUNT $RR_STATUS"
    wut $KT 3 0 512 "$W/tokT.bin" 8704:3584; rrti $KT 3
    wut $KT 4 0 1024 "$W/tokT.bin" 9216:3072; rrti $KT 4
    [ "$RR_COUNT" = 256 ] && ok "trunc_every=3: the 3rd WUT does half (256 blocks)" || nok "trunc_every: $RR_COUNT"
    check "the truncated copies still moved exactly the right bytes" bash -c "same $FKT 0 $FKT 8192 1280 && zeros $FKT 9472 16"
  fi
  if [ -n "$KF" ]; then
    pt $KF 1 0 0 0 0:4096; expect_good "fail_pt=2: the 1st PT works"
    pt $KF 2 0 0 0 0:4096; expect_sense "fail_pt=2:5/26/00: the 2nd PT fails as told" 5/26/00
    rrti $KF 2
    [ "$RR_STATUS" = 02 ] && [ "$(field "$W/rrti.bin" 14 1)" = 18 ] && [ "$(field "$W/rrti.bin" 44 1)" = 38 ] &&
      ok "... and RRTI reports it: status 0x02 with the sense data" || nok "RRTI of the failed PT: $RR_STATUS"
    rrti $KF 1; expect_sense "fail_rrti=2: the 2nd RRTI fails (default HARDWARE ERROR 44/00)" 4/44/00
    rrti $KF 1; cp "$W/token.bin" "$W/tokF.bin"
    [ "$RR_UNITS" = 00 ] && [ "$RR_COUNT" = $((4096*512)) ] && ok "tc_units=bytes: RRTI counts 2097152 bytes (units 0x00)" || nok "units: $RR_UNITS $RR_COUNT"
    wut $KF 3 0 0 "$W/tokF.bin" 8192:4096; expect_sense "fail_wut=1:A/0D/01 with fail_after_bytes=64k" a/0d/01
    rrti $KF 3
    [ "$RR_STATUS" = 02 ] && [ "$RR_COUNT" = 65536 ] && ok "... after writing exactly 64 KiB (RRTI: 0x02, 65536 bytes)" || nok "failed WUT: $RR_STATUS $RR_COUNT"
  fi
  if [ -n "$KP" ]; then
    dd if="$W/rand" of="$FKP" bs=1M count=2 conv=notrunc status=none
    pt $KP 1 0 0 0 0:2048; rrti $KP 1; cp "$W/token.bin" "$W/tokP.bin"
    [ "$(od -A n -t x1 -N 4 "$W/tokP.bin" | tr -d ' ')" = 00800000 ] && ok "token_mode=pit: a point-in-time ROD (type 0x00800000)" || nok "PIT type"
    head -c 51200 /dev/urandom > "$W/new100"
    sg_dd if="$W/new100" of=$KP bs=512 seek=10 count=100 >>"$LOG" 2>&1
    wut $KP 2 0 0 "$W/tokP.bin" 8192:2048; expect_good "WUT of the PIT token after its source was overwritten"
    check "the copy is the data as it was at POPULATE TOKEN time" same "$W/rand" 0 "$FKP" 8192 2048
    pt $KP 3 2 0 $((0x10000)) 0:10; rrti $KP 3
    [ "$(od -A n -t x1 -N 4 "$W/token.bin" | tr -d ' ')" = 00010000 ] && ok "RTV with ROD type AUR is honoured on a PIT LUN" || nok "RTV AUR"
  fi
  if [ -n "$KB" ]; then
    pt $KB 7 1 0 0 0:10; pt $KB 7 0 0 0 0:10; expect_sense "lid_busy=2600: list id in use" 5/26/00
  fi
  if [ -n "$KI" ]; then
    pt $KI 1 1 0 0 0:10; expect_sense "immed=reject: PT with IMMED" 5/26/00
    [ "${SBYTES[15]}${SBYTES[16]}${SBYTES[17]}" = 880002 ] && ok "... SKS: parameter byte 2 bit 0" || nok "SKS ${SBYTES[15]:-}${SBYTES[16]:-}${SBYTES[17]:-}"
  fi
  if [ -n "$KG" ]; then
    t0=$(date +%s%N); pt $KG 1 1 0 0 0:10; t1=$(date +%s%N); rrti $KG 1
    [ "$RR_STATUS" = 01 ] && [ $(( (t1-t0)/1000000 )) -ge 280 ] && ok "immed=0: IMMED ignored, PT returns when done ($(( (t1-t0)/1000000 )) ms)" ||
      nok "immed=0: status=$RR_STATUS ms=$(( (t1-t0)/1000000 ))"
  fi
  # max_tokens counts the whole process: set it just above what lives now, then fill it
  scsi $A "8408$(printf '0%.0s' $(seq 1 16))$(h32 65536)0000" -r 65536 "$W/rart2.bin"
  live=$(( ($(field "$W/rart2.bin" 0 4) - 4) / 96 ))
  if KM=$(mklun kmax c0ffee09 4 "max_tokens=$((live+2))"); then
    tur $A $B $K ${S:-}
    pt $KM 1 0 0 0 0:8; expect_good "max_tokens=$((live+2)) with $live live tokens: one more fits"
    i=2; while [ $i -lt 20 ]; do pt $KM $i 0 0 0 0:8; [ "$ST" = good ] || break; i=$((i+1)); done
    expect_sense "... POPULATE TOKEN $i (tokens only die by expiry meanwhile)" 5/55/0d
    rrti $KM 1; wut $KM 99 2 0 "$W/token.bin" 100:8
    pt $KM 100 0 0 0 0:8; expect_good "... room again after a WUT with DEL_TKN"
  else nok "LUN with max_tokens did not come up"; fi
  if [ -n "$KX" ]; then
    check "xcopy=0&odx=0: 3PC=0" bash -c "sg_inq $KX | grep -q '3PC=0'"
    check "... and no VPD 0x8F" bash -c "! sg_vpd -p sv $KX | grep -q 'Third party copy'"
    pt $KX 1 0 0 0 0:10; expect_sense "... and POPULATE TOKEN is an invalid opcode, as on LIO" 5/20/00
  fi
else
  nok "could not find odx0's TPG in configfs: knob LUNs not made"
fi

# ======================================================================================
note "EXTENDED COPY(LID1) between odx LUNs (ref 5.2-5.6)"
check "sg_xcopy odx0 -> odx1 (16 MiB, sent to the destination)" \
  bash -c "sg_xcopy if=$A of=$B bs=512 count=32768 seek=65536 && same $FA 0 $FB 65536 32768"
check "sg_xcopy --on_src odx1 -> odx0, offsets" \
  bash -c "sg_xcopy --on_src if=$B of=$A bs=512 skip=65536 seek=90000 count=4096 && same $FB 65536 $FA 90000 4096"
check "sg_xcopy id_usage=disable list_id=0 (LIST ID USAGE 11b)" \
  bash -c "sg_xcopy if=$A of=$B bs=512 count=2048 seek=110000 id_usage=disable list_id=0 && same $FA 0 $FB 110000 2048"
# identification CSCD (ref 5.3): E4, LU id type 0, PDT 0, designator (code set/assoc/type/len + 16), block length
cscd() { local d; d=$(sg_vpd -p di -r "$1" | xxd -p | tr -d '\n'); echo "e4000000${d:8:40}00000000$(printf '00%06x' "$2")"; }
seg02() { echo "0200$(h16 24)$(h16 $1)$(h16 $2)0000$(h16 $3)$(h64 $4)$(h64 $5)"; }     # src dst nblocks slba dlba
xcopy_list() { # xcopy_list FILE LISTID FLAGS CSCDHEX SEGHEX
  echo "$(h8 $2)$(h8 $3)$(h16 $(( ${#4} / 2 )))00000000$(h32 $(( ${#5} / 2 )))00000000$4$5" | bin "$1"
}
cdb_x() { echo "8300$(printf '0%.0s' $(seq 1 16))$(h32 $(stat -c %s "$1"))0000"; }
C_A=$(cscd $A 512); C_K=$(cscd $K 4096); C_F=$(cscd ${L_fio0_sg:-$A} 512)
xcopy_list "$W/x.bin" 66 0 "$C_A$C_K" "$(seg02 0 1 800 0 10)"
scsi $K "$(cdb_x "$W/x.bin")" -i "$W/x.bin"; expect_good "hand-built XCOPY from 512-byte odx0 to 4096-byte odx4k"
check "... 800 blocks of 512 became 100 blocks of 4096" cmp -n $((800*512)) -i 0:$((10*4096)) "$FA" "$FK"
sg_copy_results -s -l 66 $K >"$W/rcs1.txt" 2>&1
check "RECEIVE COPY STATUS(LID1) via sg_copy_results: completed, 409600 bytes" \
  bash -c "grep -qi 'completed without errors\|Operation completed' $W/rcs1.txt && grep -q '409600' $W/rcs1.txt"
xcopy_list "$W/x.bin" 67 0 "$C_A$C_K" "$(seg02 0 1 801 0 10)"
scsi $K "$(cdb_x "$W/x.bin")" -i "$W/x.bin"; expect_sense "801 blocks of 512 into 4096-byte blocks (inexact)" a/26/0a
xcopy_list "$W/x.bin" 68 0 "${C_A/#e4/e5}$C_K" "$(seg02 0 1 8 0 10)"
scsi $K "$(cdb_x "$W/x.bin")" -i "$W/x.bin"; expect_sense "CSCD type 0xE5" 5/26/07
xcopy_list "$W/x.bin" 68 0 "$C_A$C_K" "0a00$(h16 24)$(seg02 0 1 8 0 10 | cut -c9-)"
scsi $K "$(cdb_x "$W/x.bin")" -i "$W/x.bin"; expect_sense "segment type 0x0A" 5/26/09
many=""; for i in $(seq 1 65); do many+=$C_A; done
xcopy_list "$W/x.bin" 68 0 "$many" "$(seg02 0 1 8 0 10)"
scsi $K "$(cdb_x "$W/x.bin")" -i "$W/x.bin"; expect_sense "65 CSCD descriptors" 5/26/06
if [ -n "${L_fio0_sg:-}" ]; then
  xcopy_list "$W/x.bin" 69 0 "$C_F$C_A" "$(seg02 0 1 8 0 10)"
  scsi $A "$(cdb_x "$W/x.bin")" -i "$W/x.bin"; expect_sense "a LIO fileio LUN as copy source (not ours)" a/0d/02
  check "LIO's kernel copy engine writes into odx1 (XCOPY to fileio fio0, destination odx1)" \
    bash -c "sg_xcopy --on_src if=${L_fio0_sg} of=$B bs=512 count=4096 seek=120000 && same ${L_fio0_file} 0 $FB 120000 4096"
  check "LIO's kernel copy engine reads from odx0 (XCOPY to fileio fio1, source odx0)" \
    bash -c "sg_xcopy if=$A of=${L_fio1_sg} bs=512 count=4096 seek=1000 && same $FA 0 ${L_fio1_file} 1000 4096"
else
  nok "fileio LUN fio0 is not in the lab topology"
fi

# ======================================================================================
note "thin provisioning (knob thin=1): sg_readcap, sg_vpd, sg_get_lba_status, sg_unmap, sg_write_same; the file's holes"
# The backing file lives on the lab's tmpfs (/lab): holes and SEEK_DATA as the lab LUNs have.
# Its allocated size (stat %b, 512-byte units) is the kernel's own account of what is mapped.
# lbs DEV: GET LBA STATUS from 0 as "LBA:BLOCKS:STATUS;..." (decimal), decoded by sg3_utils
# (-b prints a few header lines, then "LBA BLOCKS STATUS ADDITIONAL" per descriptor, in hex)
# (a second argument: SBC-4's REPORT TYPE)
lbs() { sg_get_lba_status --maxlen=4096 -b ${2:+--report-type=$2} "$1" 2>>"$LOG" | grep -E '^0x[0-9a-f]+ +0x' | while read -r l n st _; do printf '%d:%d:%d;' "$l" "$n" "$st"; done; }
allocated() { echo $(( $(stat -c %b "$1") * 512 )); }
want_lbs() { local got; got=$(lbs "$1" "${4:-}"); echo "lbs $1 ${4:-}: $got" >>"$LOG"; [ "$got" = "$2" ] && ok "$3: GET LBA STATUS${4:+ REPORT TYPE $4} $2" || nok "$3: GET LBA STATUS${4:+ REPORT TYPE $4} $got, want $2"; }
want_alloc() { local got; got=$(allocated "$1"); [ "$got" = "$2" ] && ok "$3: the backing file holds $2 bytes" || nok "$3: the backing file holds $got bytes, want $2"; }
if [ -n "$TPGDIR" ] && KTH=$(MKLUN_DIR=/lab mklun kthin c0ffee0a 32 "thin=1&max_unmap_descs=16&max_unmap_blocks=32768"); then
  FTH=/lab/kthin.img
  check "sg_readcap -l: lbpme=1, lbprz=1" bash -c "sg_readcap -l $KTH | grep -q 'lbpme=1, lbprz=1'"
  tur $A $B $K ${S:-}    # the new LUN's unit attention (REPORTED LUNS DATA HAS CHANGED)
  check "sg_readcap -l on odx0 (thin off by default): lbpme=0, lbprz=0" bash -c "sg_readcap -l $A | grep -q 'lbpme=0, lbprz=0'"
  out=$(sg_vpd -p lbpv $KTH 2>&1); echo "$out" >>"$LOG"
  miss=; for h in 'LBPU): 1' '(LBPWS): 1' 'LBPWS10): 1' 'LBPRZ): 1' 'ANC_SUP): 0' 'Provisioning type: 2'; do grep -qF "$h" <<<"$out" || miss+="[$h]"; done
  [ -z "$miss" ] && ok "sg_vpd -p lbpv: LBPU, LBPWS, LBPWS10, LBPRZ, no ANC_SUP, thin provisioned" || nok "sg_vpd -p lbpv: missing $miss"
  out=$(sg_vpd -p bl $KTH 2>&1); echo "$out" >>"$LOG"
  miss=; for h in 'Maximum unmap LBA count: 32768' 'Maximum unmap block descriptor count: 16' 'Optimal unmap granularity: 8 blocks' 'alignment valid: true'; do grep -qF "$h" <<<"$out" || miss+="[$h]"; done
  [ -z "$miss" ] && ok "sg_vpd -p bl: the unmap limits (32768 blocks, 16 descriptors, granularity 8 = a tmpfs page)" || nok "sg_vpd -p bl: missing $miss"
  check "sg_vpd -p lbpv on odx0 (thin off): no such page" bash -c "! sg_vpd -p lbpv $A"
  want_lbs $KTH "0:65536:1;" "a fresh LUN"
  want_alloc $FTH 0 "a fresh LUN"
  head -c 1M /dev/urandom > "$W/r1m"
  scsi $KTH "8a00$(h64 2048)$(h32 2048)0000" -i "$W/r1m"; expect_good "WRITE(16) of 1 MiB at block 2048"
  want_lbs $KTH "0:2048:1;2048:2048:0;4096:61440:1;" "1 MiB written"
  want_alloc $FTH 1048576 "1 MiB written"
  check "the file holds the data" cmp -n 1048576 -i 0:$((2048*512)) "$W/r1m" $FTH
  check "sg_unmap --lba=2048 --num=1024" sg_unmap --lba=2048 --num=1024 $KTH
  want_lbs $KTH "0:3072:1;3072:1024:0;4096:61440:1;" "UNMAP of the first half"
  want_alloc $FTH 524288 "UNMAP of the first half"
  check "the unmapped blocks read zeros (file)" zeros $FTH 2048 1024
  check "the unmapped blocks read zeros (through the LUN, sg_dd)" bash -c "sg_dd if=$KTH bs=512 skip=2048 count=1024 of=$W/back 2>/dev/null && cmp -n 524288 $W/back /dev/zero"
  check "the other half is untouched" cmp -n 524288 -i 524288:$((3072*512)) "$W/r1m" $FTH
  check "sg_write_same --16 --unmap (a zero block) --lba=3072 --num=512" sg_write_same --16 --unmap --lba=3072 --num=512 $KTH
  check "sg_write_same --10 --unmap --lba=3584 --num=256" sg_write_same --10 --unmap --lba=3584 --num=256 $KTH
  want_lbs $KTH "0:3840:1;3840:256:0;4096:61440:1;" "WRITE SAME(16/10) with UNMAP"
  want_alloc $FTH 131072 "WRITE SAME(16/10) with UNMAP"
  head -c 512 /dev/zero | tr '\0' '\132' > "$W/z512"
  head -c 8192 /dev/urandom > "$W/r8k"; scsi $KTH "8a00$(h64 8192)$(h32 16)0000" -i "$W/r8k"; expect_good "WRITE(16) of 16 blocks at 8192"
  check "sg_write_same --16 --unmap with a non-zero block deallocates too (the data-out is not looked at)" bash -c "sg_write_same --16 --unmap --in=$W/z512 --lba=8192 --num=8 $KTH && zeros $FTH 8192 8 && same $W/r8k 8 $FTH 8200 8"
  want_lbs $KTH "0:3840:1;3840:256:0;4096:4104:1;8200:8:0;8208:57328:1;" "WRITE SAME UNMAP of a non-zero block"
  # refusals: nothing deallocated
  ul() { local r rs="" n=0; for r in "$@"; do rs+=$(h64 "${r%%:*}")$(h32 "${r##*:}")00000000; n=$((n+1)); done
         echo "$(h16 $((6+16*n)))$(h16 $((16*n)))00000000$rs" | bin "$W/ul.bin"; }
  ul $(for i in $(seq 0 16); do echo $((20000+i*10)):1; done)
  scsi $KTH "42000000000000$(h16 $(stat -c %s $W/ul.bin))00" -i "$W/ul.bin"; expect_sense "UNMAP with 17 descriptors, limit 16" 5/26/00
  ul 3840:8 65530:8
  scsi $KTH "42000000000000$(h16 $(stat -c %s $W/ul.bin))00" -i "$W/ul.bin"; expect_sense "UNMAP with a descriptor past the end" 5/21/00
  ul 0:30000 40000:2769
  scsi $KTH "42000000000000$(h16 $(stat -c %s $W/ul.bin))00" -i "$W/ul.bin"; expect_sense "UNMAP of 32769 blocks, limit 32768" 5/26/00
  ul 3840:8
  scsi $KTH "42010000000000$(h16 $(stat -c %s $W/ul.bin))00" -i "$W/ul.bin"; expect_sense "UNMAP with ANCHOR (ANC_SUP 0)" 5/24/00
  echo 00060000 | bin "$W/ul4.bin"
  scsi $KTH "42000000000000000400" -i "$W/ul4.bin"; expect_sense "UNMAP with a 4-byte parameter list" 5/1a/00
  want_lbs $KTH "0:3840:1;3840:256:0;4096:4104:1;8200:8:0;8208:57328:1;" "after the refused UNMAPs: nothing deallocated"
  want_lbs $KTH "3840:256:0;8200:8:0;" "mapped runs only" 2
  want_lbs $KTH "0:3840:1;4096:4104:1;8208:57328:1;" "deallocated runs only" 3
  scsi $KTH "9e12$(h64 0)$(h32 4096)0400" -r 4096 "$W/gls.bin"; expect_good "GET LBA STATUS REPORT TYPE 4 (raw)"
  [ "$(xxd -l 4 -p "$W/gls.bin")" = 00000004 ] && ok "REPORT TYPE 4: no anchored run, no descriptor" || nok "REPORT TYPE 4: PARAMETER DATA LENGTH $(xxd -l 4 -p "$W/gls.bin"), want 00000004"
  scsi $KTH "9e12$(h64 0)$(h32 4096)0200" -r 4096 "$W/gls.bin"; expect_good "GET LBA STATUS REPORT TYPE 2 (raw)"
  [ "$(xxd -s 7 -l 1 -p "$W/gls.bin")" = 07 ] && ok "GET LBA STATUS: RTP 1, completion condition 3 (the end of the LU)" || nok "GET LBA STATUS byte 7: $(xxd -s 7 -l 1 -p "$W/gls.bin"), want 07"
  scsi $KTH "9e12$(h64 0)$(h32 24)0500" -r 24 "$W/gls.bin"; expect_sense "GET LBA STATUS REPORT TYPE 5 (reserved)" 5/24/00
  scsi $KTH "9e12$(h64 65536)$(h32 24)0000" -r 24 "$W/gls.bin"; expect_sense "GET LBA STATUS from the block past the end" 5/21/00
  scsi $A "9e12$(h64 0)$(h32 24)0000" -r 24 "$W/gls.bin"; expect_sense "GET LBA STATUS on odx0 (thin off)" 5/20/00
  scsi $A "93080000000000000000000000010000" -i "$W/z512"; expect_sense "WRITE SAME(16) UNMAP on odx0 (thin off)" 5/24/00
  # a deallocation revokes an access-upon-reference token over its blocks, as a write does
  pt $KTH 700 0 0 0 3840:256; rrti $KTH 700
  [ "$RR_TOKLEN" = 514 ] && ok "POPULATE TOKEN over mapped blocks of the thin LUN" || nok "POPULATE TOKEN on the thin LUN: $ST $(sense) len=$RR_TOKLEN"
  check "sg_unmap under the token" sg_unmap --lba=3900 --num=8 $KTH
  wut $KTH 701 0 0 "$W/token.bin" 30000:256; expect_sense "WRITE USING TOKEN with it" 5/23/06
  alive && ok "tcmu-runner alive after the thin checks" || nok "tcmu-runner died"
  rmluns 2>/dev/null; MADE=(); rm -f "$FTH"
  tur $A $B $K ${S:-}    # and the unit attentions of its removal
else
  nok "thin LUN (thin=1): could not be made"
fi

# ======================================================================================
note "ddptctl (ddpt 0.97) against the handler: what works, what does not"
cd "$W"
out=$(ddptctl --info $A 2>&1); echo "$out" >>"$LOG"
grep -q "Block Device ROD Token Limits" <<<"$out" && grep -q "Supported ROD Token and ROD Types" <<<"$out" &&
  ok "ddptctl --info decodes the 0x8F page" || nok "ddptctl --info"
pt $A 400 0 0 0 0:2048
out=$(ddptctl --receive --list_id=400 --rtf="$W/dtok.bin" $A 2>&1); echo "$out" >>"$LOG"
grep -q "transfer count of 2048" <<<"$out" && ok "ddptctl --receive (RRTI) after a sg_raw PT: 2048 blocks, token saved" || nok "ddptctl --receive: $out"
out=$(ddptctl --info --rtf="$W/dtok.bin" 2>&1); echo "$out" >>"$LOG"
grep -q "access upon reference" <<<"$out" && grep -q "Number of bytes represented: 1048576" <<<"$out" && grep -q "block size: 512" <<<"$out" &&
  ok "ddptctl --info --rtf decodes our token (type, creator LU, 1048576 bytes, block size)" || nok "ddptctl token decode"
out=$(ddptctl --all_toks $A 2>&1); echo "$out" >>"$LOG"
grep -q "managed ROD Token headers returned" <<<"$out" && ok "ddptctl --all_toks (REPORT ALL ROD TOKENS)" || nok "ddptctl --all_toks: $out"
out=$(ddptctl --pt=0,8 --list_id=401 --rtf="$W/p8.bin" $A 2>&1); echo "$out" >>"$LOG"
if grep -q "transfer count of 2048" <<<"$out"; then
  ok "ddptctl --pt=0,8 makes a 2048-block token: ddpt writes range descriptors one byte early (ref 8.3); we decode the wire exactly"
elif grep -q "transfer count of 8 " <<<"$out"; then ok "ddptctl --pt=0,8: 8 blocks (this ddpt has the range offset fixed)"
else nok "ddptctl --pt=0,8: $out"; fi
out=$(ddptctl --pt=0,2048 --list_id=402 --rtf="$W/p2.bin" $A 2>&1); rc=$?; echo "$out" >>"$LOG"
[ $rc = 22 ] && ok "ddptctl --pt=0,2048: LBA out of range (2048 << 8 blocks asked, after the same shift)" || nok "ddptctl --pt=0,2048 rc=$rc"
out=$(ddptctl --wut=130000,1 --list_id=403 --rtf="$W/dtok.bin" $B 2>&1); rc=$?; echo "$out" >>"$LOG"
[ $rc = 22 ] && ok "ddptctl --wut=130000,1 with a good token: LBA out of range (130000 << 8 after the same shift)" ||
  nok "ddptctl --wut=130000,1 rc=$rc ($(tail -n1 <<<"$out"))"
out=$(ddptctl --immed --pt=0,1 --list_id=404 --rtf="$W/i.bin" $A 2>&1; ddptctl --poll --list_id=404 --rtf="$W/i.bin" $A 2>&1); echo "$out" >>"$LOG"
grep -q "transfer count of 256" <<<"$out" && ok "ddptctl --immed --pt then --poll (RRTI) completes (256 blocks: the shift again)" || nok "ddptctl immed/poll: $out"
out=$(ddptctl --abort --list_id=404 $A 2>&1); rc=$?; echo "$out" >>"$LOG"
[ $rc = 0 ] && ok "ddptctl --abort (COPY OPERATION ABORT of a completed list: GOOD)" || nok "ddptctl --abort rc=$rc"
out=$(ddptctl --wut=0,0 --del_tkn --list_id=405 --rtf="$W/dtok.bin" $B 2>&1); echo "$out" >>"$LOG"
wut $B 406 0 0 "$W/dtok.bin" 0:8
[ "$(sense)" = 5/23/09 ] && ok "ddptctl --wut=0,0 --del_tkn deletes the token (a later WUT gets 23/09)" || nok "ddptctl del_tkn: $(sense) $out"
out=$(timeout 120 ddpt if=$A of=$B bs=512 count=8192 seek=100000 --odx 2>&1); rc=$?; echo "$out" >>"$LOG"
[ $rc != 0 ] && grep -q 'not equal' <<<"$out" &&
  ok "ddpt --odx count=8192 seek=100000 refuses: count= not equal to the sum of gather nums (ddpt's option handling)" ||
  nok "ddpt --odx count=8192 seek=100000: rc=$rc: $(grep -m1 -iE 'not equal|error|fail' <<<"$out")"
out=$(set -o pipefail; timeout 20 ddpt -vvv if=$A skip=0 of=$B seek=0 bs=512 --odx 2>&1 | tail -n 200); rc=$?; echo "$out" >>"$LOG"
[ $rc = 124 ] && ok "ddpt --odx (whole LUN) loops on 0-block POPULATE TOKENs until killed (ddpt's empty gather list)" ||
  nok "ddpt --odx (whole LUN): rc=$rc: $(tail -n2 <<<"$out" | tr '\n' ' ')"
alive && ok "tcmu-runner still alive after the ddpt/ddptctl runs" || nok "tcmu-runner died"

# ======================================================================================
rmluns 2>/dev/null; trap - EXIT
alive && ok "tcmu-runner alive at the end" || nok "tcmu-runner died"
# errors the bad-knob LUNs above provoke on purpose; any other is a finding
errs=$(grep -E '\[(ERROR|CRIT)\]' "${LAB_OUT:-/nonexistent}/tcmu/tcmu-runner.log" 2>/dev/null | grep -v 'Starting\|unknown knob\|bad value\|inactivity_default\|handler open failed\|check_config failed\|could not find handler')
[ -f "${LAB_OUT:-/nonexistent}/tcmu/tcmu-runner.log" ] && [ -z "$errs" ] && ok "tcmu-runner's log: no ERROR or CRIT lines beyond the bad knobs'" ||
  { nok "tcmu-runner's log has unexpected ERROR/CRIT lines (or is missing)"; head -5 <<<"$errs" | sed 's/^/# tcmu-runner: /'; }
echo "$PASS passed, $FAILN failed"
[ $FAILN = 0 ]
