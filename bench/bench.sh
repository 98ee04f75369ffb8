#!/usr/bin/env bash
# `npm run bench [-- --quick | --fast] [-- run.js options]`: boot the lab with LUNs large enough for
# 1 GiB copies, run bench/run.ts inside it, bring the results back to bench/results/ and
# put the table into the README's Benchmarks section (full runs only).
# env: ODXCP_LAB_LUN_MB (default 1100; --quick: 64), ODXCP_LAB_TIMEOUT (default 3600 s),
#      ODXCP_BENCH_WAIT (seconds to wait for an idle machine first; default 1200, 0: don't).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
for a in "$@"; do [ "$a" = --quick ] && QUICK=1; done
if [ $QUICK = 1 ]; then DEF_MB=64; else DEF_MB=1100; fi
export ODXCP_LAB_LUN_MB=${ODXCP_LAB_LUN_MB:-$DEF_MB}
export ODXCP_LAB_TIMEOUT=${ODXCP_LAB_TIMEOUT:-3600}
WAIT=${ODXCP_BENCH_WAIT:-1200}

# Numbers measured while another VM or a build runs are meaningless: wait for a quiet machine.
load1() { cut -d' ' -f1 /proc/loadavg; }
busy() { [ "$(pgrep -c qemu-system || true)" != 0 ] || awk -v l="$(load1)" 'BEGIN{exit !(l >= 1.5)}'; }
waited=0
while [ "$WAIT" -gt 0 ] && busy; do
  if [ $waited -ge "$WAIT" ]; then
    echo "bench: the machine is still busy after ${WAIT}s (load $(load1), $(pgrep -c qemu-system || true) VMs); measuring anyway, the load is recorded" >&2
    break
  fi
  [ $waited = 0 ] && echo "bench: waiting for an idle machine (load $(load1), $(pgrep -c qemu-system || true) VMs running)" >&2
  sleep 30; waited=$((waited + 30))
done

ID="b$(date +%s)-$$"
CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
MEMG=$(awk '/^MemTotal/{printf "%d", $2/1048576 + 0.5}' /proc/meminfo)
# Start-up on the host itself (median of 5, after a warm-up run), to set the guest's figures against.
med5() { "$@" >/dev/null 2>&1 || true; for _ in 1 2 3 4 5; do s=$(date +%s%N); "$@" >/dev/null 2>&1; echo $(( ($(date +%s%N) - s) / 1000000 )); done | sort -n | sed -n 3p; }
HOSTINFO="$(nproc)|$CPU|$(cut -d' ' -f1-3 /proc/loadavg)|$MEMG|$(med5 node -e 0)|$(med5 node bin/odxcp --version)|$(med5 node bin/odxcp --help)"
CMD="node dist/bench/run.js --id $ID --host-info $(printf '%q' "$HOSTINFO")$(printf ' %q' "$@")"

# While the guest runs, note other lab VMs and the host's load: they go into the results.
MON=$(mktemp)
( while sleep 10; do echo "$(pgrep -c qemu-system || true) $(load1)"; done > "$MON" ) &
MONPID=$!
set +e
bash test/lab/run.sh "$CMD"
RC=$?
set -e
kill $MONPID 2>/dev/null; wait $MONPID 2>/dev/null || true
# Our own VM is one qemu; only samples taken while it ran (count >= 1) say anything.
DURING=$(awk '$1 >= 1 { n++; if ($1 - 1 > v) v = $1 - 1; if ($2 > l) l = $2 } END { printf "%d|%s|%d", v, (l == "" ? 0 : l), n }' "$MON")
rm -f "$MON"

# The run directory is the one whose command carries this run's id (other engineers' runs
# share lab-out/).
RUN=
for d in lab-out/run-*; do
  grep -q -- "--id $ID " "$d/cmd" 2>/dev/null && RUN=$d
done
if [ -z "$RUN" ] || [ ! -s "$RUN/bench/latest.json" ]; then
  echo "bench: no results (lab exit $RC${RUN:+, logs in $RUN})" >&2
  exit $(( RC == 0 ? 1 : RC ))
fi
mkdir -p bench/results
node dist/bench/report.js "$RUN/bench/latest.json" --during "$DURING" --md "$RUN/bench/latest.md"
if node -e 'process.exit(require(process.argv[1]).partial ? 0 : 1)' "$PWD/$RUN/bench/latest.json"; then
  # Stopped part-way (lab exit $RC): keep what it measured, but not as the latest full run.
  cp "$RUN/bench/latest.json" bench/results/partial.json
  cp "$RUN/bench/latest.md" bench/results/partial.md
  echo "bench: the run stopped part-way (lab exit $RC); what it measured: bench/results/partial.md" >&2
  exit $(( RC == 0 ? 1 : RC ))
fi
if [ $QUICK = 1 ]; then
  cp "$RUN/bench/latest.json" bench/results/quick.json
  cp "$RUN/bench/latest.md" bench/results/quick.md
  echo "bench: quick run: bench/results/quick.md (not committed; the README keeps the last full run)"
else
  cp "$RUN/bench/latest.json" bench/results/latest.json
  cp "$RUN/bench/latest.md" bench/results/latest.md
  node dist/bench/readme.js README.md bench/results/latest.md
  echo "bench: bench/results/latest.{json,md} and the README's Benchmarks section updated"
fi
[ -d "$RUN/bench/profiles" ] && echo "bench: CPU profiles in $RUN/bench/profiles"
exit $RC
