#!/usr/bin/env bash
# Run a command inside the lab VM, against real kernel SCSI targets.
#   usage: test/lab/run.sh [--integration [MOCHA ARGS...]] | [--] 'shell command'
#   npm run lab -- 'sg_inq $(jq -r .luns[0].sg $ODXCP_LAB_TOPOLOGY)'
#   npm run test:lab            (the integration suite)
# The guest sees this machine's root file system read-only (tmpfs overlay), runs the
# command in the current directory with ODXCP_LAB_TOPOLOGY and LAB_OUT set, and the
# runner exits with the command's exit code. LAB_OUT (lab-out/<run>/ in the repo) comes
# back to the host with the guest log, the console log and the topology file.
# env: ODXCP_LAB_DIR (cache), ODXCP_LAB_LUN_MB (size of the 512-byte fileio and odx LUNs,
#      default 64), ODXCP_LAB_TIMEOUT (s, default 900), ODXCP_LAB_MEM (MiB), ODXCP_LAB_SMP,
#      ODXCP_LAB_RUN_FILE (a file that receives the path of the run directory this run
#      creates, as soon as it exists: a caller reads results from there and nowhere else).
set -euo pipefail
. "$(dirname "$0")/common.sh"

if [ "${1:-}" = --integration ]; then
  shift
  CMD="ODXCP_SUITE=lab ODXCP_COUNTS_FILE=\"\$LAB_OUT/counts.json\" node_modules/.bin/mocha --config test/integration/mocharc.json"
  # Spec files (or other mocha arguments) may be given; the default is the whole suite.
  if [ $# -eq 0 ]; then CMD="$CMD 'dist/test/integration/**/*.test.js'"; else CMD="$CMD$(printf ' %q' "$@")"; fi
else
  [ "${1:-}" = -- ] && shift
  [ $# -ge 1 ] || lab_die "usage: run.sh [--integration [mocha args]] | 'shell command'"
  CMD="$*"
fi

"$LAB_HERE/setup.sh" --quiet

MB=${ODXCP_LAB_LUN_MB:-64}
[[ "$MB" =~ ^[0-9]+$ ]] && [ "$MB" -ge 16 ] || lab_die "ODXCP_LAB_LUN_MB must be a whole number of MiB >= 16"
# Backing files live in guest RAM: about 8 large-ish LUNs, the knob spec's two 260 MiB LUNs
# (test/integration/knobs.test.ts) and headroom for node.
MEM=${ODXCP_LAB_MEM:-$(( 3072 + 9*MB ))}
SMP=${ODXCP_LAB_SMP:-2}
TIMEOUT=${ODXCP_LAB_TIMEOUT:-900}

mkdir -p "$LAB_REPO/lab-out"
# keep the last few runs only
{ ls -1dt "$LAB_REPO"/lab-out/run-* 2>/dev/null || true; } | tail -n +6 | xargs -r rm -rf
OUT=$(mktemp -d "$LAB_REPO/lab-out/run-$(date +%Y%m%d-%H%M%S)-XXXX")
[ -z "${ODXCP_LAB_RUN_FILE:-}" ] || printf '%s\n' "$OUT" > "$ODXCP_LAB_RUN_FILE"
printf '%s\n' "$CMD" > "$OUT/cmd"
pwd > "$OUT/cwd"
echo "$MB" > "$OUT/lun-mb"
: > "$OUT/guest.log"

# A snapshot of the handlers for this run: `node-gyp rebuild` (npm install) empties build/,
# and must not take the ODX handler away from a VM that is about to start.
if [ -e "$LAB_REPO/build/targets/handler_odx.so" ]; then
  mkdir -p "$OUT/targets"
  cp -a "$LAB_REPO/build/targets/." "$OUT/targets/"
fi

KROOT="$ODXCP_LAB_DIR/kroot"
KERNEL=$(ls "$KROOT"/boot/vmlinuz-* | head -n1)
exec 9>"$LAB_LOCK"
if ! flock -n 9; then
  echo "lab: waiting for another lab VM on this machine to finish" >&2
  flock 9
fi
# Stream the guest's output while it runs.
# (fd 9 closed for it: an orphaned tail must never hold the VM lock)
tail -n +1 -F "$OUT/guest.log" 2>/dev/null 9>&- &
TAILPID=$!
trap 'kill $TAILPID 2>/dev/null || true' EXIT
START=$(date +%s.%N)
set +e
# TCG only: /dev/kvm on these machines is a PVM flavour that aborts or hangs under -accel kvm.
timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 \
  -nodefaults -no-user-config -nographic -no-reboot \
  -machine q35 -accel tcg,thread=multi,tb-size=512 -cpu max -smp "$SMP" -m "$MEM" \
  -kernel "$KERNEL" -initrd "$ODXCP_LAB_DIR/initramfs.cpio.gz" \
  -append "console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off lab.script=$LAB_HERE/guest/boot.sh lab.kroot=$KROOT lab.out=$OUT" \
  -serial file:"$OUT/console.log" -monitor none \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$OUT",mount_tag=labout,security_model=none \
  -device virtio-rng-pci </dev/null >"$OUT/qemu.log" 2>&1
QRC=$?
set -e
sleep 0.3; kill $TAILPID 2>/dev/null; wait $TAILPID 2>/dev/null || true
flock -u 9
WALL=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
if [ -s "$OUT/rc" ]; then
  RC=$(cat "$OUT/rc")
  echo "lab: VM ran ${WALL}s, command exit $RC (logs: ${OUT#$LAB_REPO/})" >&2
  exit "$RC"
fi
if [ $QRC = 124 ]; then WHY="timed out after ${TIMEOUT}s (ODXCP_LAB_TIMEOUT)"; else WHY="qemu exit $QRC after ${WALL}s"; fi
echo "lab: the guest did not finish ($WHY; logs: ${OUT#$LAB_REPO/}); console tail:" >&2
tail -n 40 "$OUT/console.log" >&2
cat "$OUT/qemu.log" >&2
exit 125
