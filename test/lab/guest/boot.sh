#!/bin/bash
# PID 1 of the lab guest. Brings up the standard topology (see test/lab/README.md), writes
# it as JSON, runs the command the host left in $OUT/cmd from the directory in $OUT/cwd,
# stores its exit code in $OUT/rc, tears the targets down in order and powers off.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
REPO=$(cd "$HERE/../../.." && pwd)
OUT=$(karg lab.out)
lab_basic_mounts
exec > >(tee "$OUT/guest.log") 2>&1
T0=$(up)
# The iSCSI/multipath/LVM stack a spec may have set up (guest/stack.sh): its sessions must
# log out while their target still answers.
stack_down() { [ -e /run/lab-stack/up ] && bash "$HERE/stack.sh" down; }
fail() { log "SETUP FAILED: $*"; echo 125 > "$OUT/rc"; stack_down; lio_teardown; [ -n "${TPID:-}" ] && kill $TPID; lab_poweroff; }

MB=$(cat "$OUT/lun-mb")          # size of the 512-byte fileio and odx LUNs
SMALL=64                          # size of every other LUN
lab_load_modules scsi_mod sd_mod sg configfs target_core_mod target_core_file \
  target_core_iblock uio target_core_user tcm_loop loop || fail "modules"
lab_mount_configfs

# Backing files live in guest RAM: the topology's, plus room for the LUNs specs make at run
# time (test/integration/knobs.test.ts: two of 260 MiB and about 25 small ones).
TOTAL=$(( 4*MB + 6*SMALL + 64 + 896 ))
ODX_LINES=()
if [ -e "$OUT/targets/handler_odx.so" ] && [ -f "$REPO/test/targets/odx/lab-luns.txt" ]; then
  while read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    ODX_LINES+=("$line"); TOTAL=$(( TOTAL + MB ))
  done < "$REPO/test/targets/odx/lab-luns.txt"
fi
mkdir -p /lab && mount -t tmpfs -o size=$((TOTAL))m tmpfs /lab || fail "tmpfs"

# --- topology JSON, built as the LUNs come up
TOPO="$OUT/topology.json"
ENTRIES=()
# Unit serials: LIO and tcmu-runner build the NAA-6 designator from the serial's HEX DIGITS
# only, so "odxlab" + name alone can collide (odx0 / odxslow). A per-LUN hex suffix keeps
# every designator distinct.
declare -A SERIAL
NSERIAL=0
set_serial() { NSERIAL=$((NSERIAL+1)); SERIAL[$1]=$(printf 'odxlab%s-%02x' "$1" $NSERIAL); }
for n in fio0 fio1 fio2 fio4k iblk0 tcmu0 xnex0; do set_serial $n; done
# topo_add NAME KIND ADDR FILE BLOCKSIZE BYTES TPG [OPTIONS_JSON]
topo_add() {
  local sg sd
  sg=$(node_of "$3" scsi_generic) || fail "no sg node for $1 ($3)"
  sd=$(node_of "$3" block) || fail "no sd node for $1 ($3)"
  local file=null; [ -n "$4" ] && file="\"$4\""
  local tpg=null; [ -n "$7" ] && tpg="\"$7\""
  local ser=null; [ -n "${SERIAL[$1]:-}" ] && ser="\"${SERIAL[$1]}\""
  ENTRIES+=("{\"name\":\"$1\",\"kind\":\"$2\",\"sg\":\"$sg\",\"sd\":\"$sd\",\"file\":$file,\"blockSize\":$5,\"bytes\":$6,\"tpg\":$tpg,\"address\":\"$3\",\"serial\":$ser,\"options\":${8:-{\}}}")
  log "LUN $1 ($2) $3 $sg $sd"
}

# TPG 1: every LUN that must be able to copy to the others (LIO resolves copy targets
# only among LUNs the same I_T nexus sees).
T1=naa.5001405000000a01; I1=naa.5001405000000b01
T2=naa.5001405000000a02; I2=naa.5001405000000b02
BYTES=$((MB*1024*1024)); SBYTES=$((SMALL*1024*1024))
log "modules and tmpfs ready"
head -c $BYTES /dev/urandom > /lab/fio0.img
log "random fill of fio0 done"
truncate -s $BYTES /lab/fio1.img /lab/fio2.img
truncate -s $SBYTES /lab/fio4k.img /lab/iblk0.img /lab/tcmu0.img /lab/xnex0.img
lio_fileio fio0 /lab/fio0.img $BYTES "${SERIAL[fio0]}" || fail "fio0"
lio_fileio fio1 /lab/fio1.img $BYTES "${SERIAL[fio1]}" || fail "fio1"
lio_fileio fio2 /lab/fio2.img $BYTES "${SERIAL[fio2]}" || fail "fio2"
lio_fileio fio4k /lab/fio4k.img $SBYTES "${SERIAL[fio4k]}" 4096 || fail "fio4k"
LOOPDEV=$(losetup -f --show /lab/iblk0.img) || fail "losetup"
lio_iblock iblk0 "$LOOPDEV" "${SERIAL[iblk0]}" || fail "iblk0"
lio_fileio xnex0 /lab/xnex0.img $SBYTES "${SERIAL[xnex0]}" || fail "xnex0"

HANDLERS=
TARGETS=$OUT/targets            # the runner's snapshot of build/targets
[ -e "$TARGETS/handler_qcow.so" ] && HANDLERS="--handler-path $TARGETS"
mkdir -p "$OUT/tcmu"
tcmu-runner --tcmu-log-dir "$OUT/tcmu" $HANDLERS > "$OUT/tcmu/stdout.log" 2>&1 &
TPID=$!
for i in $(seq 1 50); do [ -d $CFG/core ] && grep -q . "$OUT/tcmu/tcmu-runner.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
lio_user tcmu0 "qcow//lab/tcmu0.img" $SBYTES "${SERIAL[tcmu0]}" || fail "tcmu0"

log "backstores ready"
lio_loop_tpg $T1 $I1 || fail "tpg1"
lio_loop_lun $T1 0 $CFG/core/fileio_0/fio0
lio_loop_lun $T1 1 $CFG/core/fileio_0/fio1
lio_loop_lun $T1 2 $CFG/core/fileio_0/fio2
lio_loop_lun $T1 3 $CFG/core/fileio_0/fio4k
lio_loop_lun $T1 4 $CFG/core/iblock_0/iblk0
lio_loop_lun $T1 5 $CFG/core/user_0/tcmu0
topo_add fio0 lio-fileio "$(loop_addr $T1 0)" /lab/fio0.img 512 $BYTES tpg1
topo_add fio1 lio-fileio "$(loop_addr $T1 1)" /lab/fio1.img 512 $BYTES tpg1
topo_add fio2 lio-fileio "$(loop_addr $T1 2)" /lab/fio2.img 512 $BYTES tpg1
topo_add fio4k lio-fileio "$(loop_addr $T1 3)" /lab/fio4k.img 4096 $SBYTES tpg1
topo_add iblk0 lio-iblock "$(loop_addr $T1 4)" /lab/iblk0.img 512 $SBYTES tpg1
topo_add tcmu0 tcmu-qcow "$(loop_addr $T1 5)" /lab/tcmu0.img 512 $SBYTES tpg1

log "TPG 1 LIO/tcmu LUNs ready"
# ODX handler LUNs (test/targets/odx/lab-luns.txt: NAME block_size=N [size_mb=N] [knobs=a=1&b=2])
lun=6
for line in "${ODX_LINES[@]}"; do
  set -- $line; name=$1; shift
  bs=512; smb=$MB; knobs=
  for kv in "$@"; do
    case "$kv" in block_size=*) bs=${kv#*=} ;; size_mb=*) smb=${kv#*=} ;; knobs=*) knobs=${kv#knobs=} ;; esac
  done
  b=$((smb*1024*1024)); truncate -s $b /lab/$name.img
  cfg="odx//lab/$name.img?block_size=$bs"; [ -n "$knobs" ] && cfg="$cfg&$knobs"
  set_serial "$name"
  lio_user "$name" "$cfg" $b "${SERIAL[$name]}" $bs || fail "odx LUN $name ($cfg)"
  lio_loop_lun $T1 $lun $CFG/core/user_0/$name || fail "odx LUN $name link"
  opts=$(printf '%s' "block_size=$bs${knobs:+&$knobs}" | awk -F'&' '{o="{";for(i=1;i<=NF;i++){split($i,kv,"=");v=kv[2];if(v!~/^[0-9]+$/)v="\""v"\"";o=o (i>1?",":"") "\""kv[1]"\":" v};print o "}"}')
  topo_add "$name" odx "$(loop_addr $T1 $lun)" "/lab/$name.img" $bs $b tpg1 "$opts"
  lun=$((lun+1))
done

log "odx LUNs ready"
# TPG 2: a LUN the first nexus cannot reach (the cross-nexus copy case).
lio_loop_tpg $T2 $I2 || fail "tpg2"
lio_loop_lun $T2 0 $CFG/core/fileio_0/xnex0
topo_add xnex0 lio-fileio "$(loop_addr $T2 0)" /lab/xnex0.img 512 $SBYTES tpg2

# scsi_debug: a plain disk with no copy offload at all (3PC=0), thin provisioned (LBPME,
# LBPRZ; UNMAP and WRITE SAME(16) with UNMAP; GET LBA STATUS). Two hosts, each with its own
# store (per_host_store), so one can be copied to the other: sdebug0 and sdebug1.
SDMB=256
$BB modprobe scsi_debug dev_size_mb=$SDMB sector_size=512 lbpu=1 lbpws=1 lbprz=1 \
  per_host_store=1 add_host=2 || fail "scsi_debug"
SDADDRS=()
for i in $(seq 1 100); do
  SDADDRS=()
  for d in /sys/bus/scsi/devices/*:*:*:*; do
    [ "$(tr -d ' ' < "$d/model" 2>/dev/null)" = scsi_debug ] && SDADDRS+=("$(basename "$d")")
  done
  [ ${#SDADDRS[@]} -ge 2 ] && break
  sleep 0.1
done
[ ${#SDADDRS[@]} -ge 2 ] || fail "scsi_debug devices did not appear (${#SDADDRS[@]} of 2)"
mapfile -t SDADDRS < <(printf '%s\n' "${SDADDRS[@]}" | sort -t: -k1,1n)
topo_add sdebug0 scsi-debug "${SDADDRS[0]}" "" 512 $(( SDMB * 1024 * 1024 )) ""
topo_add sdebug1 scsi-debug "${SDADDRS[1]}" "" 512 $(( SDMB * 1024 * 1024 )) ""

( IFS=,; echo "{\"luns\":[${ENTRIES[*]}]}" ) > "$TOPO"
log "topology up in $(el $T0)s: ${#ENTRIES[@]} LUNs -> $TOPO"

export ODXCP_LAB_TOPOLOGY="$TOPO" LAB_OUT="$OUT" ODXCP_IN_LAB=1
export PATH="$REPO/bin:$REPO/node_modules/.bin:$PATH"
cd "$(cat "$OUT/cwd")" || fail "cwd"
T1S=$(up)
bash "$OUT/cmd"
RC=$?
log "command exit $RC after $(el $T1S)s"
echo $RC > "$OUT/rc"
stack_down
lio_teardown
kill $TPID 2>/dev/null; wait $TPID 2>/dev/null
[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV"
log "guest done in $(el $T0)s"
lab_poweroff
