#!/usr/bin/env bash
# `npm test`: the unit suite and the ODX handler's host test on this machine, then the
# integration suite, the handler's conformance suite and the peer suite (libiscsi's
# iscsi-test-cu) inside the lab VM against real kernel SCSI targets. ODXCP_SKIP_LAB=1
# skips the lab, and says so loudly.
# The total counts only what this run executed (test/counts.sh); the last line is
# "total: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
. test/counts.sh
COUNTS=$(mktemp -d)
trap 'rm -rf "$COUNTS"' EXIT
counts_init "$COUNTS"

npm run --silent build:ts || { echo "typescript build failed"; exit 1; }
ODXCP_SUITE=unit ODXCP_COUNTS_FILE="$COUNTS/unit.json" npx mocha
counts_json unit "$COUNTS/unit.json" $?

# The ODX handler under ASan/UBSan on this machine, with stand-ins for tcmu-runner (seconds;
# the conformance suite below is its real-kernel proof). Its CHECKs are assertions, not tests.
bash test/targets/odx/host-test.sh | tee "$COUNTS/odx-host.log"
counts_line odx-host checks "$COUNTS/odx-host.log" "${PIPESTATUS[0]}"

if [ "${ODXCP_SKIP_LAB:-}" = 1 ]; then
  cat <<'MSG'

  ************************************************************************
  *  DEVICE TESTS DID NOT RUN: ODXCP_SKIP_LAB=1 skipped the lab suite.     *
  *  Nothing that touches a SCSI device was tested in this run.          *
  ************************************************************************

MSG
else
  # The guest writes the reporter's counts into the run directory the runner created. The
  # suite takes about 15 minutes under TCG: its VM gets 30 before it is called hung.
  ODXCP_LAB_TIMEOUT=${ODXCP_LAB_TIMEOUT:-1800} counts_lab lab json bash test/lab/run.sh --integration
  # The ODX handler's conformance suite (sg3_utils, ddpt, cmp against the backing files)
  # gets a VM of its own: it creates and removes LUNs of its own with other knobs. Its
  # "N passed, N failed" line is read from that run's guest log.
  counts_lab odx-conformance line bash test/lab/run.sh 'bash test/targets/odx/conformance.sh'
  # A peer's suite: libiscsi's iscsi-test-cu against an odx LUN and a LIO fileio LUN over
  # LIO's iSCSI target, failing when the handler fails a test LIO passes; its last line is
  # "N passed, N failed, N skipped" (~2 min, a VM of its own).
  counts_lab odx-peer line bash test/lab/run.sh 'bash test/targets/odx/peer.sh'
fi

counts_total
