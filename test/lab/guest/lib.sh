# Helpers for the guest side of the lab (sourced by guest/boot.sh, which runs as PID 1).
# LIO is configured through configfs directly: targetcli needs a system dbus and costs
# seconds per call; a configfs write costs milliseconds.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CFG=/sys/kernel/config/target
BB=busybox

up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "[$(up)] lab: $*"; }
el() { awk -v a="$1" -v b="$(up)" 'BEGIN{printf "%.2f", b-a}'; }
karg() { local a; for a in $(cat /proc/cmdline); do case $a in "$1"=*) echo "${a#*=}";; esac; done; }

lab_basic_mounts() {
  mkdir -p /dev/pts /dev/shm
  ln -sf /proc/self/fd /dev/fd   # bash process substitution needs /dev/fd
  mount -t devpts devpts /dev/pts 2>/dev/null
  mount -t tmpfs tmpfs /dev/shm 2>/dev/null
  mount -t tmpfs tmpfs /run 2>/dev/null; mkdir -p /run/lock
  # No tmpfs on /tmp: the root is already a writable overlay (tmpfs upper), and a checkout
  # under /tmp (CI clones there) and its lab-out share must stay visible.
  hostname labvm
}

lab_load_modules() { local m; for m in "$@"; do $BB modprobe "$m" || { log "modprobe $m FAILED"; return 1; }; done; }

lab_mount_configfs() {
  grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs configfs /sys/kernel/config
  # LIO keeps PR/ALUA metadata under dbroot; point it at tmpfs (the host fs is read-only).
  [ -e $CFG/dbroot ] && mkdir -p /run/target && echo /run/target > $CFG/dbroot 2>/dev/null
  return 0
}

# lio_fileio NAME FILE BYTES SERIAL [BLOCK_SIZE]
lio_fileio() {
  local d=$CFG/core/fileio_0/$1
  mkdir -p "$d" || return 1
  echo "fd_dev_name=$2,fd_dev_size=$3" > "$d/control" || return 1
  # The unit serial is what LIO derives the NAA-6 designator from (EXTENDED COPY needs it).
  echo "$4" > "$d/wwn/vpd_unit_serial" || return 1
  echo 1 > "$d/enable" || return 1
  # Block size can change only while the device is not exported yet.
  [ -z "${5:-}" ] || echo "$5" > "$d/attrib/block_size" || return 1
}

# lio_iblock NAME BLOCKDEV SERIAL
lio_iblock() {
  local d=$CFG/core/iblock_0/$1
  mkdir -p "$d" || return 1
  echo "udev_path=$2" > "$d/control" || return 1
  echo "$3" > "$d/wwn/vpd_unit_serial" || return 1
  echo 1 > "$d/enable" || return 1
}

# lio_user NAME CONFIG BYTES SERIAL [BLOCK_SIZE]  (TCMU backstore; CONFIG is "subtype/handler config")
lio_user() {
  local d=$CFG/core/user_0/$1
  mkdir -p "$d" || return 1
  echo -n "dev_config=$2" > "$d/control" || return 1
  echo -n "dev_size=$3" > "$d/control" || return 1
  [ -z "${5:-}" ] || echo -n "hw_block_size=$5" > "$d/control" || return 1
  # 1 MiB per command, as arrays allow (TCMU's default is 128 blocks: 64 KiB commands make a
  # host copy from these LUNs crawl).
  echo -n "hw_max_sectors=$(( 1048576 / ${5:-512} ))" > "$d/control" || return 1
  echo "$4" > "$d/wwn/vpd_unit_serial" || return 1
  # EAGAIN while tcmu-runner is starting: it blocks the kernel's netlink interface until its
  # handlers are set up, and a device enabled meanwhile is refused (seen at boot, 1 in ~40).
  local i
  for i in $(seq 1 50); do echo 1 > "$d/enable" 2>/dev/null && return 0; sleep 0.2; done
  echo 1 > "$d/enable" || return 1
}

# lio_loop_tpg TARGET_WWN INITIATOR_WWN: a tcm_loop target port group with its I_T nexus
lio_loop_tpg() {
  local t=$CFG/loopback/$1/tpgt_1
  mkdir -p "$t" || return 1
  echo "$2" > "$t/nexus" || return 1
}

# lio_loop_lun TARGET_WWN LUN BACKSTORE_DIR
lio_loop_lun() {
  local l=$CFG/loopback/$1/tpgt_1/lun/lun_$2
  mkdir -p "$l" || return 1
  ln -s "$3" "$l/$(basename "$3")" || return 1
}

loop_addr() { echo "$(cat $CFG/loopback/$1/tpgt_1/address):$2"; }

# ---- LIO's iSCSI target on the guest's loopback --------------------------------------
# Any lab backstore (fileio, iblock, the tcmu "user" odx ones) can be exported through LIO's
# iSCSI target (iscsi_target_mod) and reached by a userspace initiator (libiscsi's tools) or
# open-iscsi. Each portal of a target gets a TPG of its own (tpgt_1 for the first portal,
# tpgt_2 for the second...), every TPG exports the same LUNs: for multipath, an initiator
# logs into both portals and sees one LU through two target ports, and one path fails by
# disabling its TPG (lio_iscsi_portal IQN 2 off: no login there any more; peer.sh checks
# that, and that portal 1 keeps answering) while the other keeps working. Several targets
# may share a portal (LIO shares network portals between TPGs).
#   lio_iscsi_up                                  modules + loopback interface (idempotent)
#   lio_iscsi_target IQN PORTAL [PORTAL...]       TPGs with their portals (IP:PORT), demo mode
#   lio_iscsi_lun IQN LUN BACKSTORE_DIR           export a backstore as LUN in every TPG
#   lio_iscsi_acl IQN INITIATOR_IQN               an explicit ACL (mapped LUNs) in every TPG;
#                                                 demo mode stays on for other initiators
#   lio_iscsi_portal IQN TPGT on|off              enable/disable one portal (path failure)
#   lio_iscsi_export IQN BACKSTORE_DIR PORTAL...  the three above for one LUN 0, then enable
#   lio_iscsi_remove IQN                          remove one target (its LUN links, not the backstores)
#   lio_iscsi_teardown                            remove every iSCSI target (before backstores)
# No authentication: the lab's portals listen on 127.0.0.1 only.
lio_iscsi_up() {
  [ -d $CFG/iscsi ] && return 0
  $BB modprobe iscsi_target_mod || { log "modprobe iscsi_target_mod FAILED"; return 1; }
  ip link set lo up 2>/dev/null || $BB ifconfig lo 127.0.0.1 up || return 1
  mkdir -p $CFG/iscsi || return 1
}

lio_iscsi_target() {
  local iqn=$1 t=$CFG/iscsi/$1 i=0 p tpg; shift
  [ $# -ge 1 ] || { log "lio_iscsi_target: no portal for $iqn"; return 1; }
  lio_iscsi_up || return 1
  mkdir -p "$t" || return 1
  for p in "$@"; do
    i=$((i+1)); tpg=$t/tpgt_$i
    mkdir -p "$tpg/np/$p" || { log "lio_iscsi_target: portal $p of $iqn refused"; return 1; }
    # demo mode: any initiator logs in and sees every LUN read-write, no CHAP
    echo 1 > "$tpg/attrib/generate_node_acls" || return 1
    echo 1 > "$tpg/attrib/cache_dynamic_acls" || return 1
    echo 0 > "$tpg/attrib/demo_mode_write_protect" || return 1
    echo 0 > "$tpg/attrib/authentication" || return 1
  done
}

lio_iscsi_lun() {
  local tpg
  for tpg in $CFG/iscsi/$1/tpgt_*; do
    [ -d "$tpg" ] || return 1
    mkdir -p "$tpg/lun/lun_$2" || return 1
    ln -s "$3" "$tpg/lun/lun_$2/$(basename "$3")" || return 1
  done
}

lio_iscsi_acl() {
  local tpg l n
  for tpg in $CFG/iscsi/$1/tpgt_*; do
    mkdir -p "$tpg/acls/$2" || return 1
    for l in "$tpg"/lun/lun_*; do
      n=${l##*/lun_}
      [ -e "$tpg/acls/$2/lun_$n" ] && continue
      mkdir "$tpg/acls/$2/lun_$n" && ln -s "$l" "$tpg/acls/$2/lun_$n/lun_$n" || return 1
    done
  done
}

lio_iscsi_portal() {
  local e=$CFG/iscsi/$1/tpgt_$2/enable
  [ -f "$e" ] || { log "lio_iscsi_portal: no TPG $2 on $1"; return 1; }
  case $3 in on) echo 1 > "$e" ;; off) echo 0 > "$e" ;; *) return 1 ;; esac
}

lio_iscsi_export() {
  local iqn=$1 bs=$2 tpg; shift 2
  lio_iscsi_target "$iqn" "$@" || return 1
  lio_iscsi_lun "$iqn" 0 "$bs" || return 1
  for tpg in $CFG/iscsi/$iqn/tpgt_*; do echo 1 > "$tpg/enable" || return 1; done
}

lio_iscsi_remove() {
  local t=$CFG/iscsi/$1 tpg x
  [ -d "$t" ] || return 0
  for tpg in "$t"/tpgt_*; do
    [ -d "$tpg" ] || continue
    echo 0 > "$tpg/enable" 2>/dev/null
    for x in "$tpg"/acls/*/lun_*; do [ -d "$x" ] && { find "$x" -maxdepth 1 -type l -delete; rmdir "$x"; }; done
    for x in "$tpg"/acls/*; do [ -d "$x" ] && rmdir "$x"; done
    for x in "$tpg"/lun/lun_*; do [ -d "$x" ] && { find "$x" -maxdepth 1 -type l -delete; rmdir "$x"; }; done
    for x in "$tpg"/np/*; do [ -d "$x" ] && rmdir "$x"; done
    rmdir "$tpg"
  done
  rmdir "$t"
}

lio_iscsi_teardown() {
  local t
  [ -d $CFG/iscsi ] || return 0
  for t in $CFG/iscsi/*/; do
    t=${t%/}; t=${t##*/}
    [ "$t" != discovery_auth ] && lio_iscsi_remove "$t"
  done
  return 0
}

# node_of ADDR scsi_generic|block: wait for the /dev node of a SCSI address (udev-less: devtmpfs)
node_of() {
  local i s
  for i in $(seq 1 150); do
    for s in /sys/bus/scsi/devices/$1/$2/*; do
      [ -e "$s" ] && [ -e "/dev/$(basename "$s")" ] && { echo "/dev/$(basename "$s")"; return 0; }
    done
    sleep 0.1
  done
  return 1
}

# Remove every tcm_loop LUN and target, then the backstores. Must run BEFORE tcmu-runner
# stops: sd's SYNCHRONIZE CACHE at power-off otherwise hangs for minutes on orphaned LUNs.
lio_teardown() {
  local l t hba dev
  lio_iscsi_teardown
  for l in $CFG/loopback/*/tpgt_*/lun/lun_*; do
    [ -d "$l" ] || continue
    find "$l" -maxdepth 1 -type l -exec rm -f {} \;
    rmdir "$l"
  done
  for t in $CFG/loopback/*/tpgt_*; do
    [ -d "$t" ] || continue
    echo NULL > "$t/nexus" 2>/dev/null; rmdir "$t"; rmdir "$(dirname "$t")"
  done
  for hba in $CFG/core/*_*; do
    for dev in "$hba"/*/; do [ -f "$dev/enable" ] && rmdir "$dev"; done
    rmdir "$hba" 2>/dev/null
  done
  return 0
}

lab_poweroff() { sync; $BB poweroff -f; }
