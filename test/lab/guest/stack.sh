#!/bin/bash
# The block stack SAN users have, in the lab guest (issue #11), set up on demand by the spec
# that needs it (test/integration/stack.test.ts), so the other specs' boot does not pay for it:
#   LIO iSCSI target with two portals on the loopback (TPG 1 = 127.0.0.1:3260 active/optimized,
#   TPG 2 = 127.0.0.2:3261 active/non-optimized: a second ALUA target port group), open-iscsi
#   logged in to both, dm-multipath maps over the two sessions (built with the kernel's dm
#   interface: there is no udev and no multipathd in the guest), GPT partitions (sfdisk) on a
#   single-path LUN and on a map (kpartx), an LVM VG over two maps with multi-segment linear
#   LVs, and a dm-crypt (plain) volume for the refusal case.
#   stack.sh up              set it up; adds a "stack" array to $ODXCP_LAB_TOPOLOGY
#   stack.sh down            tear it down (boot.sh calls it before the LIO teardown)
#   stack.sh fail TPGT       a port failure: the portal disabled in LIO (its sessions drop), every
#                            sd device behind it set offline, its dm paths failed (what
#                            multipathd's checker would do)
#   stack.sh restore TPGT    the portal back, sessions logged in again, devices and paths back
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
IQN=iqn.2026-11.org.odxcp.lab:stack
PORTALS=(127.0.0.1:3260 127.0.0.2:3261)
D=/lab-stack                  # backing files (a tmpfs of their own)
R=/run/lab-stack              # state: lvm config, key file, path table
# libdevmapper creates the /dev/mapper nodes itself without udev; LVM gets a config of its own.
export DM_DISABLE_UDEV=1 LVM_SYSTEM_DIR=$R/lvm
die() { log "stack: $*"; exit 2; }
dmnum() { echo "dm-$(dmsetup info -c --noheadings -o minor "$1" | tr -d ' ')"; }   # mpfio0 -> dm-3 (the nodes are not links without udev)
majmin() { cat "/sys/class/block/$(basename "$1")/dev"; }

# name backstore size_mb lun portals(1|12)
LUNS=(
  "sfio0 fileio 64 0 12"
  "sfio1 fileio 64 1 12"
  "sodx0 odx 288 2 12"
  "sodx1 odx 288 3 12"
  "spv0 fileio 64 4 12"
  "spv1 fileio 64 5 12"
  "spart0 fileio 64 6 12"
  "splain0 fileio 64 7 1"
)
mapname() { case $1 in sfio*) echo mpfio${1#sfio} ;; sodx*) echo mpodx${1#sodx} ;; spv*) echo mppv${1#spv} ;; spart0) echo mppart0 ;; esac; }

# ---------------------------------------------------------------------------------------------
backstores() {
  local n=0 line name bs mb lun pt file ser
  mkdir -p $D && mount -t tmpfs -o size=1100m tmpfs $D || return 1
  for line in "${LUNS[@]}"; do
    set -- $line; name=$1 bs=$2 mb=$3; n=$((n+1))
    file=$D/$name.img; truncate -s $((mb<<20)) "$file"
    # hex digits of their own: LIO builds the NAA designator from them
    ser=$(printf 'odxstack%s-c%02x' "$name" $n)
    case $bs in
      fileio) lio_fileio "$name" "$file" $((mb<<20)) "$ser" || return 1 ;;
      odx) lio_user "$name" "odx/$file?block_size=512" $((mb<<20)) "$ser" 512 || return 1 ;;
    esac
    echo "$name $ser" >> $R/serials
  done
}

bsdir() { case $2 in fileio) echo $CFG/core/fileio_0/$1 ;; odx) echo $CFG/core/user_0/$1 ;; esac; }

target() {
  local line name bs mb lun pt tpg i alua
  lio_iscsi_target $IQN "${PORTALS[@]}" || return 1
  for line in "${LUNS[@]}"; do
    set -- $line; name=$1 bs=$2 lun=$4 pt=$5
    for i in 1 2; do
      [[ $pt == *$i* ]] || continue
      tpg=$CFG/iscsi/$IQN/tpgt_$i
      mkdir -p $tpg/lun/lun_$lun && ln -s "$(bsdir $name $bs)" $tpg/lun/lun_$lun/$name || return 1
    done
    # ALUA: portal 2's port in a target port group of its own, active/non-optimized. Best
    # effort: without it both ports stay in LIO's default group (active/optimized).
    alua=$(bsdir $name $bs)/alua/nonopt
    if [[ $pt == *2* ]] && mkdir -p $alua 2>/dev/null; then
      { echo 2 > $alua/tg_pt_gp_id && echo 1 > $alua/alua_access_type && echo 1 > $alua/alua_access_state &&
        echo nonopt > $CFG/iscsi/$IQN/tpgt_2/lun/lun_$lun/alua_tg_pt_gp; } 2>/dev/null ||
        log "stack: ALUA group for $name not set (both ports active/optimized)"
    fi
  done
  for i in 1 2; do echo 1 > $CFG/iscsi/$IQN/tpgt_$i/enable || return 1; done
}

initiator() {
  mkdir -p /run/lock/iscsi /etc/iscsi
  [ -s /etc/iscsi/initiatorname.iscsi ] || echo "InitiatorName=iqn.2026-11.org.odxcp.lab:guest" > /etc/iscsi/initiatorname.iscsi
  # a session of its own: iscsid's SIGTERM handler signals its whole process group
  setsid iscsid -f > $R/iscsid.log 2>&1 &
  echo $! > $R/iscsid.pid
  local i p
  for i in $(seq 1 50); do iscsiadm -m session >/dev/null 2>&1; [ $? -ne 20 ] && break; sleep 0.1; done
  for p in "${PORTALS[@]}"; do
    iscsiadm -m node -o new -T $IQN -p $p >/dev/null || return 1
    # a failed path must fail fast (the default is 120 s of queueing), and come back by itself
    iscsiadm -m node -T $IQN -p $p -o update -n node.session.timeo.replacement_timeout -v 5 || return 1
    iscsiadm -m node -T $IQN -p $p -o update -n node.conn[0].timeo.noop_out_interval -v 2 || return 1
    iscsiadm -m node -T $IQN -p $p -o update -n node.conn[0].timeo.noop_out_timeout -v 2 || return 1
    iscsiadm -m node -T $IQN -p $p --login >/dev/null || return 1
  done
}

# session_of TPGT -> sessionN (the one whose connection goes to that portal)
session_of() {
  local want=${PORTALS[$(($1-1))]} c s
  for c in /sys/class/iscsi_connection/connection*; do
    [ "$(cat $c/persistent_address):$(cat $c/persistent_port)" = "$want" ] || continue
    s=${c##*/connection}; echo session${s%%:*}; return 0
  done
  return 1
}

# path_of TPGT LUN -> H:C:T:L of that LUN in that portal's session (waits for the scan)
path_of() {
  local s a i
  for i in $(seq 1 150); do
    s=$(session_of $1) && for a in /sys/class/iscsi_session/$s/device/target*/*:*:*:$2; do
      [ -e "$a" ] && { basename "$a"; return 0; }
    done
    sleep 0.1
  done
  return 1
}

# json_path TPGT ADDR -> one element of a multipath entry's "paths"
json_path() {
  local sd sg st
  sd=$(node_of $2 block) && sg=$(node_of $2 scsi_generic) || return 1
  st=$(cat /sys/bus/scsi/devices/$2/access_state 2>/dev/null || echo unknown)
  printf '{"sd":"%s","sg":"%s","transport":"iscsi","portal":"%s","tpgt":%d,"address":"%s","state":"%s","fail":"bash %s/stack.sh fail %d","restore":"bash %s/stack.sh restore %d"}' \
    "$sd" "$sg" "${PORTALS[$(($1-1))]}" $1 $2 "$st" "$HERE" $1 "$HERE" $1
}

# The ALUA handler may fail to attach at scan time (its first RTPG can meet the new LUNs' unit
# attentions); attach it by hand where it is missing.
ensure_alua() {
  local f=/sys/bus/scsi/devices/$1/dh_state
  [ "$(cat $f 2>/dev/null)" = alua ] || echo alua > $f 2>/dev/null || log "stack: no ALUA handler on $1"
}

maps() {
  local line name bs mb lun pt a1 a2 m1 m2 sect map
  for line in "${LUNS[@]}"; do
    set -- $line; name=$1 bs=$2 mb=$3 lun=$4 pt=$5
    a1=$(path_of 1 $lun) || { log "stack: no path to $name on portal 1"; return 1; }
    m1=$(majmin "$(node_of $a1 block)")
    if [ "$pt" = 1 ]; then
      ENTRIES+=("$(lun_json $name $bs $mb $lun $a1)")
      continue
    fi
    a2=$(path_of 2 $lun) || { log "stack: no path to $name on portal 2"; return 1; }
    m2=$(majmin "$(node_of $a2 block)")
    ensure_alua $a1; ensure_alua $a2
    map=$(mapname $name); sect=$((mb<<11))
    # two priority groups, portal 1 (optimized) first; no queueing when every path is down
    dmsetup create $map --uuid "mpath-$(wwid_of $a1)" \
      --table "0 $sect multipath 0 0 2 1 round-robin 0 1 1 $m1 1 round-robin 0 1 1 $m2 1" || return 1
    echo "1 $map $m1 $(node_of $a1 block)" >> $R/paths
    echo "2 $map $m2 $(node_of $a2 block)" >> $R/paths
    log "stack: map $map"
    ENTRIES+=("$(lun_json $name $bs $mb $lun $a1)")
    ENTRIES+=("{\"name\":\"$map\",\"kind\":\"multipath\",\"dev\":\"/dev/mapper/$map\",\"dm\":\"$(dmnum $map)\",\"wwid\":\"$(wwid_of $a1)\",\"paths\":[$(json_path 1 $a1),$(json_path 2 $a2)],\"over\":\"$name\",\"bytes\":$((mb<<20)),\"blockSize\":512}")
  done
}

# the LU's NAA designator as multipath names it ("3" + hex), from sysfs (VPD 0x83)
wwid_of() { local w; w=$(cat /sys/bus/scsi/devices/$1/wwid) || return 1; echo "3${w#naa.}"; }

lun_json() { # name backstore mb lun addr
  local ser; ser=$(awk -v n=$1 '$1==n{print $2}' $R/serials)
  printf '{"name":"%s","kind":"%s","sg":"%s","sd":"%s","file":"%s","blockSize":512,"bytes":%d,"tpg":"iscsi","address":"%s","serial":"%s","lun":%d,"options":{}}' \
    $1 "$([ $2 = odx ] && echo odx || echo lio-fileio)" "$(node_of $5 scsi_generic)" "$(node_of $5 block)" "$D/$1.img" $(($3<<20)) $5 "$ser" $4
}

# GPT: p1 = 20 MiB at 1 MiB, p2 = 20 MiB at 21 MiB (sectors of 512 bytes). first-lba given:
# sfdisk otherwise aligns to the LUN's optimal transfer size (LIO says 8 MiB).
PARTS='label: gpt
first-lba: 34
start=2048, size=40960, name=odxcp-a
start=43008, size=40960, name=odxcp-b'
partitions() {
  local plain map sd n
  plain=$(node_of "$(path_of 1 7)" block)
  log "stack: sfdisk $plain ($(blockdev --getsize64 $plain) bytes)"
  echo "$PARTS" | sfdisk --no-reread "$plain" || return 1
  blockdev --rereadpt "$plain" 2>/dev/null
  for n in 1 2; do
    for i in $(seq 1 50); do [ -e ${plain}$n ] && break; sleep 0.1; done
    [ -e ${plain}$n ] || { log "stack: no ${plain}$n"; return 1; }
    sd=$(basename $plain)
    ENTRIES+=("{\"name\":\"splain0p$n\",\"kind\":\"partition\",\"dev\":\"${plain}$n\",\"over\":\"splain0\",\"startBytes\":$(( $(cat /sys/class/block/$sd/$sd$n/start) * 512 )),\"bytes\":$(( $(cat /sys/class/block/$sd/$sd$n/size) * 512 )),\"blockSize\":512}")
  done
  map=mppart0
  log "stack: sfdisk $map ($(blockdev --getsize64 /dev/mapper/$map) bytes)"
  echo "$PARTS" | sfdisk --no-reread /dev/mapper/$map || return 1
  kpartx -a -p p /dev/mapper/$map || return 1
  for n in 1 2; do
    [ -e /dev/mapper/${map}p$n ] || { log "stack: kpartx made no ${map}p$n"; return 1; }
    set -- $(dmsetup table ${map}p$n)   # 0 LEN linear MAJ:MIN START
    ENTRIES+=("{\"name\":\"${map}p$n\",\"kind\":\"partition\",\"dev\":\"/dev/mapper/${map}p$n\",\"dm\":\"$(dmnum ${map}p$n)\",\"over\":\"$map\",\"startBytes\":$(($5*512)),\"bytes\":$(($2*512)),\"blockSize\":512}")
  done
}

lvm_conf() {
  mkdir -p $LVM_SYSTEM_DIR
  cat > $LVM_SYSTEM_DIR/lvm.conf <<'EOF'
devices {
  filter = [ "a|^/dev/mapper/mppv[0-9]+$|", "r|.*|" ]
  obtain_device_list_from_udev = 0
  external_device_info_source = "none"
  use_devicesfile = 0
  multipath_component_detection = 0
  md_component_detection = 0
}
activation { udev_sync = 0  udev_rules = 0  monitoring = 0 }
global { use_lvmpolld = 0  locking_dir = "/run/lock/lvm" }
backup { backup = 0  archive = 0 }
EOF
}

# an LV entry from its dm table: every linear segment mapped back to the map it sits on
lv_json() {
  local lv=$1 dm segs="" len start total=0 mm m over=""
  dm=labvg-$lv
  while read -r s l t dev off; do
    [ "$t" = linear ] || { log "stack: $dm has a $t segment"; return 1; }
    m=$(for x in /sys/class/block/dm-*; do [ "$(cat $x/dev)" = "$dev" ] && cat $x/dm/name; done)
    segs+="${segs:+,}{\"over\":\"$m\",\"startBytes\":$((off*512)),\"bytes\":$((l*512))}"
    total=$((total + l*512))
    [[ $over == *\"$m\"* ]] || over+="${over:+,}\"$m\""
  done < <(dmsetup table $dm)
  ENTRIES+=("{\"name\":\"$lv\",\"kind\":\"lvm\",\"dev\":\"/dev/labvg/$lv\",\"dm\":\"$(dmnum $dm)\",\"vg\":\"labvg\",\"over\":[$over],\"segments\":[$segs],\"bytes\":$total,\"blockSize\":512}")
}

volumes() {
  lvm_conf; mkdir -p /run/lock/lvm
  pvcreate -q /dev/mapper/mppv0 /dev/mapper/mppv1 >/dev/null || return 1
  vgcreate -q -s 4m labvg /dev/mapper/mppv0 /dev/mapper/mppv1 >/dev/null || return 1
  # lvseg: 2 segments on mppv0 (PEs 0-2 and 5-6, lvspan between them); lvdst: 2 on mppv1 (0-1,
  # 4-6, lvmnt between); lvspan: one segment on each map (an LV over two LUNs)
  local a=/dev/mapper/mppv0 b=/dev/mapper/mppv1
  lvcreate -q -y -n lvseg -L 12m labvg $a >/dev/null && lvcreate -q -y -n lvspan -L 8m labvg $a >/dev/null &&
    lvextend -q -L +8m labvg/lvseg $a >/dev/null && lvcreate -q -y -n lvdst -L 8m labvg $b >/dev/null &&
    lvcreate -q -y -n lvmnt -L 8m labvg $b >/dev/null && lvextend -q -L +12m labvg/lvdst $b >/dev/null &&
    lvextend -q -L +8m labvg/lvspan $b >/dev/null || return 1
  vgmknodes -q labvg >/dev/null 2>&1
  local lv; for lv in lvseg lvdst lvspan lvmnt; do
    [ -e /dev/labvg/$lv ] || ln -sf ../mapper/labvg-$lv /dev/labvg/$lv
    lv_json $lv || return 1
  done
  # dm-crypt over the plain LUN's second partition: the refusal case
  head -c 32 /dev/urandom > $R/key
  cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 256 --key-file $R/key \
    "$(node_of "$(path_of 1 7)" block)2" labcrypt || return 1
  ENTRIES+=("{\"name\":\"crypt0\",\"kind\":\"crypt\",\"dev\":\"/dev/mapper/labcrypt\",\"dm\":\"$(dmnum labcrypt)\",\"over\":\"splain0p2\",\"bytes\":$(( $(blockdev --getsize64 /dev/mapper/labcrypt) )),\"blockSize\":512}")
}

stack_up() {
  local T0; T0=$(cut -d' ' -f1 /proc/uptime)
  [ -e $R/up ] && die "already up"
  mkdir -p $R; : > $R/serials; : > $R/paths; touch $R/up
  lab_load_modules scsi_dh_alua iscsi_tcp dm_mod dm_multipath dm_round_robin dm_crypt || die "modules"
  ENTRIES=()
  backstores || die "backstores"; log "stack: backstores done"
  target || die "iSCSI target"; log "stack: target done"
  initiator || die "iSCSI login"; log "stack: initiator done"
  maps || die "multipath maps"; log "stack: maps done"
  partitions || die "partitions"; log "stack: partitions done"
  volumes || die "LVM / dm-crypt"
  local topo=${ODXCP_LAB_TOPOLOGY:?}
  ( IFS=,; echo "[${ENTRIES[*]}]" ) > $R/stack.json
  node -e 'const fs=require("fs");const t=JSON.parse(fs.readFileSync(process.argv[1]));t.stack=JSON.parse(fs.readFileSync(process.argv[2]));fs.writeFileSync(process.argv[1],JSON.stringify(t))' "$topo" $R/stack.json || die "topology"
  log "stack up in $(el $T0)s: ${#ENTRIES[@]} entries"
}

stack_down() {
  [ -e $R/up ] || return 0
  local m
  for m in $(awk '$1 ~ /^\/dev\/(mapper|labvg|dm-)/ {print $2}' /proc/mounts); do umount $m; done
  cryptsetup close labcrypt 2>/dev/null
  [ -d $LVM_SYSTEM_DIR ] && vgchange -q -an labvg >/dev/null 2>&1
  kpartx -d -p p /dev/mapper/mppart0 2>/dev/null
  for m in $(awk '{print $2}' $R/paths | sort -u); do dmsetup remove $m 2>/dev/null; done
  # every path back up first: logging out of a dead session waits for it
  for m in 1 2; do grep -q . $R/failed-$m 2>/dev/null && stack_restore $m; done
  iscsiadm -m node -T $IQN --logout >/dev/null 2>&1
  [ -s $R/iscsid.pid ] && kill "$(cat $R/iscsid.pid)" 2>/dev/null
  lio_iscsi_remove $IQN
  local line; for line in "${LUNS[@]}"; do set -- $line; rmdir "$(bsdir $1 $2)/alua/nonopt" 2>/dev/null; rmdir "$(bsdir $1 $2)"; done
  umount $D 2>/dev/null
  rm -f $R/up
}

stack_fail() {
  local tpgt=$1 t map mm sd
  # Devices offline first: the kernel lets sysfs set a device offline only while it is running,
  # and the session's failure would block them.
  while read -r t map mm sd; do
    [ "$t" = "$tpgt" ] || continue
    echo offline > /sys/block/$(basename $sd)/device/state || return 1
    dmsetup message $map 0 fail_path $mm || return 1
  done < $R/paths
  lio_iscsi_portal $IQN $tpgt off || return 1
  echo failed > $R/failed-$tpgt
}

stack_restore() {
  local tpgt=$1 t map mm sd s i st
  lio_iscsi_portal $IQN $tpgt on || return 1
  s=$(session_of $tpgt) || return 1
  for i in $(seq 1 300); do [ "$(cat /sys/class/iscsi_session/$s/state)" = LOGGED_IN ] && break; sleep 0.1; done
  [ "$(cat /sys/class/iscsi_session/$s/state)" = LOGGED_IN ] || { log "stack: $s not logged in again"; return 1; }
  while read -r t map mm sd; do
    [ "$t" = "$tpgt" ] || continue
    # offline (set by fail) needs sysfs; blocked / transport-offline come back with the session
    st=/sys/block/$(basename $sd)/device/state
    for i in $(seq 1 100); do
      [ "$(cat $st)" = running ] && break
      echo running > $st 2>/dev/null; sleep 0.1
    done
    [ "$(cat $st)" = running ] || { log "stack: $sd is $(cat $st)"; return 1; }
    dmsetup message $map 0 reinstate_path $mm || return 1
  done < $R/paths
  rm -f $R/failed-$tpgt
}

case ${1:-} in
  up) stack_up ;;
  down) stack_down ;;
  fail) stack_fail "${2:?TPGT}" ;;
  restore) stack_restore "${2:?TPGT}" ;;
  *) echo "usage: stack.sh up|down|fail TPGT|restore TPGT" >&2; exit 2 ;;
esac
