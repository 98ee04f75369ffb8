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
