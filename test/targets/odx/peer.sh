#!/usr/bin/env bash
# The odx handler under a conformance suite nobody here wrote: libiscsi's iscsi-test-cu
# (Debian libiscsi-bin), run INSIDE the lab VM against two LUNs exported through LIO's
# iSCSI target on the guest's loopback: a fresh odx LUN (SCSI -> LIO TCMU -> tcmu-runner ->
# handler_odx.so) and a LIO fileio LUN of the same size as the baseline.
#
#   npm run lab -- 'bash test/targets/odx/peer.sh'          (part of npm test)
#   PEER_TESTS=SCSI.Inquiry npm run lab -- 'bash test/targets/odx/peer.sh'   (a subset)
#   PEER_ODX_KNOBS='' ...      the odx LUN without thin=1 (its default is thin provisioned)
#
# Verdict per test (iscsi-test-cu's own CUnit result lines, kept in $LAB_OUT/peer-*.log):
#   pass       the handler passes (a test the suite skipped on it counts as skipped, not pass)
#   REGRESSION the handler fails, or the suite skips on it, a test LIO passes: counted
#              failed, the run fails (a failure where LIO skipped is counted failed too)
#   expected   listed in peer-expected.txt with the verdict the standard leads to (README
#              "Peer suite"): a listed fail is counted passed, a listed skip skipped, only
#              while the handler's verdict is exactly that; any other is counted failed
#   both-fail  the handler and LIO fail it: reported, counted skipped (not a pass)
# Last line: "N passed, N failed, N skipped"; exit 1 on any failure, 2 if the set-up fails.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
[ -n "${ODXCP_IN_LAB:-}" ] || { echo "peer.sh: run me inside the lab (npm run lab -- 'bash test/targets/odx/peer.sh')" >&2; exit 2; }
. "$REPO/test/lab/guest/lib.sh"
OUTD=${LAB_OUT:-$(mktemp -d /tmp/peer.XXXXXX)}
W=$(mktemp -d /lab/peer.XXXXXX 2>/dev/null || mktemp -d /tmp/peer.XXXXXX)
die() { echo "peer.sh: $*" >&2; exit 2; }
command -v iscsi-test-cu >/dev/null || die "iscsi-test-cu missing (Debian libiscsi-bin; test/lab/setup.sh installs it)"

# The SPC/SBC families the handler implements or routes through its read/write callouts.
TESTS=${PEER_TESTS:-SCSI.Inquiry,SCSI.ReadCapacity10,SCSI.ReadCapacity16,SCSI.Read6,SCSI.Read10,SCSI.Read12,SCSI.Read16,SCSI.Write10,SCSI.Write12,SCSI.Write16,SCSI.WriteVerify10,SCSI.WriteVerify12,SCSI.WriteVerify16,SCSI.CompareAndWrite,SCSI.Verify10,SCSI.Verify12,SCSI.Verify16,SCSI.WriteSame10,SCSI.WriteSame16,SCSI.TestUnitReady,SCSI.ReportSupportedOpcodes,SCSI.ModeSense6,SCSI.Unmap,SCSI.GetLBAStatus,SCSI.ExtendedCopy,SCSI.ReceiveCopyResults}
MB=32
PORTAL=127.0.0.1:3260
IQN_ODX=iqn.2003-01.org.odxcp.lab:peer-odx
IQN_FIO=iqn.2003-01.org.odxcp.lab:peer-fio

# ---- two LUNs, two targets on one loopback portal -----------------------------------
truncate -s $((MB<<20)) "$W/peerodx.img" "$W/peerfio.img"
# serials with hex digits of their own (the NAA-6 designators must differ from the lab's)
# thin=1 by default: the thin-provisioning tests (Unmap, GetLBAStatus, WRITE SAME with UNMAP)
# run instead of being skipped; PEER_ODX_KNOBS= (empty) runs a fully provisioned LU instead
lio_user peerodx "odx/$W/peerodx.img?block_size=512${PEER_ODX_KNOBS-&thin=1}" $((MB<<20)) peer7e0d1 512 || die "odx backstore"
lio_fileio peerfio "$W/peerfio.img" $((MB<<20)) peer7f1 || die "fileio backstore"
lio_iscsi_export $IQN_ODX $CFG/core/user_0/peerodx $PORTAL || die "iSCSI export of the odx LUN"
lio_iscsi_export $IQN_FIO $CFG/core/fileio_0/peerfio $PORTAL || die "iSCSI export of the fileio LUN"
IQN_MP=iqn.2003-01.org.odxcp.lab:peer-mp
cleanup() {
  lio_iscsi_remove $IQN_ODX; lio_iscsi_remove $IQN_FIO; lio_iscsi_remove $IQN_MP
  rmdir $CFG/core/user_0/peerodx $CFG/core/fileio_0/peerfio 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

# ---- the lab's iSCSI helpers themselves: two portals, one switched off and on -------
: > "$W/lab-checks"
lab_check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then echo "ok $d"; else echo "not ok $d"; fi >> "$W/lab-checks"; }
inq() { timeout 30 iscsi-inq "iscsi://$1/$IQN_MP/0"; }
if lio_iscsi_export $IQN_MP $CFG/core/fileio_0/peerfio $PORTAL 127.0.0.1:3261; then
  lab_check "lab iSCSI: LUN reachable on portal 1 ($PORTAL)" inq $PORTAL
  lab_check "lab iSCSI: LUN reachable on portal 2 (127.0.0.1:3261)" inq 127.0.0.1:3261
  lio_iscsi_portal $IQN_MP 2 off
  lab_check "lab iSCSI: portal 2 off: no login there" bash -c "! timeout 30 iscsi-inq iscsi://127.0.0.1:3261/$IQN_MP/0"
  lab_check "lab iSCSI: portal 2 off: portal 1 still answers" inq $PORTAL
  lio_iscsi_portal $IQN_MP 2 on
  lab_check "lab iSCSI: portal 2 on again" inq 127.0.0.1:3261
else
  echo "not ok lab iSCSI: export with two portals" >> "$W/lab-checks"
fi
lio_iscsi_remove $IQN_MP

# ---- run the suite on each LUN ------------------------------------------------------
# CUnit's verbose run: "Suite: S", then "  Test: T ...passed|FAILED" with the suite's own
# log lines (among them "[SKIPPED] ...") in between.
run_suite() {
  local name=$1 iqn=$2 t0=$SECONDS
  echo "# iscsi-test-cu on $name ($iqn) ..."
  (cd "$W" && timeout 400 iscsi-test-cu --dataloss --verbose --test="$TESTS" "iscsi://$PORTAL/$iqn/0") \
    > "$OUTD/peer-$name.log" 2>&1
  echo "# $name: exit $?, $((SECONDS-t0)) s"
}
run_suite lio $IQN_FIO
run_suite odx $IQN_ODX

# ---- verdicts -----------------------------------------------------------------------
node - "$OUTD/peer-lio.log" "$OUTD/peer-odx.log" "$HERE/peer-expected.txt" "$W/lab-checks" <<'EOF'
const fs = require('fs');
const [lioLog, odxLog, expFile, labChecks] = process.argv.slice(2);
// Per test: 'pass' | 'skip' | 'fail', and the first lines the suite logged for it.
function parse(file) {
  const text = fs.readFileSync(file, 'utf8');
  const res = new Map();
  let suite = null, cur = null;
  const close = () => {
    if (!cur) return;
    const body = cur.body.join('\n');
    let v = /(^|\.\.\.|\n)FAILED/.test(body) ? 'fail' : /(^|\.\.\.|\n)passed/.test(body) ? 'pass' : 'fail';
    if (v === 'pass' && /\[SKIPPED\]/.test(body)) v = 'skip';
    const why = cur.body.filter(l => /\[(FAILED|FAILURE|SKIPPED)\]|^\s+\d+\. /.test(l)).slice(0, 4).map(l => l.trim());
    // where CUnit saw the assertions fail ("1. test_x.c:71  - ...")
    const at = cur.body.map(l => /^\s+\d+\. (\S+:\d+)\s+-/.exec(l)).filter(Boolean).map(m => m[1]).sort().join(',');
    res.set(`SCSI.${suite}.${cur.name}`, { v, why, at });
    cur = null;
  };
  for (const line of text.split('\n')) {
    let m;
    if ((m = /^Suite: (\S+)/.exec(line))) { close(); suite = m[1]; continue; }
    if ((m = /^  Test: (\S+) \.\.\.(.*)$/.exec(line))) { close(); cur = { name: m[1], body: [m[2]] }; continue; }
    if (/^Run Summary:/.test(line)) { close(); continue; }
    if (cur) cur.body.push(line);
  }
  close();
  // CUnit's own summary must agree with what was parsed: nothing dropped on the floor.
  const s = /^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(text);
  const failed = [...res.values()].filter(r => r.v === 'fail').length;
  if (!s || +s[2] !== res.size || +s[4] !== failed)
    return { res, bad: `summary ${s ? s[0].trim() : 'missing'} vs parsed ${res.size} run, ${failed} failed` };
  return { res };
}
const lio = parse(lioLog), odx = parse(odxLog);
const expected = new Map();
for (const l of fs.readFileSync(expFile, 'utf8').split('\n')) {
  const m = /^(SCSI\.\S+)\s+(fail|skip)(?:\s+at=(\S+))?\s+(.*)$/.exec(l.trim());
  if (m) expected.set(m[1], { v: m[2], at: (m[3] || '').split(',').filter(Boolean).sort().join(','), why: m[4] });
  else if (l.trim() && !l.startsWith('#')) { console.log(`not ok peer-expected.txt - bad line: ${l}`); process.exitCode = 1; }
}
let pass = 0, fail = 0, skip = 0;
const out = (tag, name, extra) => console.log(`${tag} ${name}${extra ? ' - ' + extra : ''}`);
for (const l of fs.readFileSync(labChecks, 'utf8').split('\n').filter(Boolean)) {
  console.log(l);
  if (l.startsWith('ok ')) pass++; else fail++;
}
for (const p of [['lio', lio], ['odx', odx]]) if (p[1].bad) { fail++; out('not ok', `${p[0]} results`, p[1].bad); }
if (odx.res.size === 0) { fail++; out('not ok', 'odx', 'no test ran'); }
if (lio.res.size === 0) { fail++; out('not ok', 'lio', 'no test ran'); }
for (const [name, o] of odx.res) {
  const l = lio.res.get(name) || { v: 'missing', why: [] };
  const both = `odx ${o.v}, lio ${l.v}`;
  const why = o.why.join(' | ');
  if (expected.has(name)) {
    const e = expected.get(name);
    if (o.v !== e.v) { fail++; out('not ok', name, `peer-expected.txt says ${e.v}, but ${both}: update the list`); }
    else if (e.v === 'fail' && e.at !== o.at) { fail++; out('not ok', name, `peer-expected.txt says it fails at ${e.at || '?'}, it fails at ${o.at}: ${why}`); }
    else if (e.v === 'fail') { pass++; out('ok', name, `expected difference: ${e.why}; ${both}`); }
    else { skip++; out('ok', name, `# SKIP expected difference: ${e.why}; ${both}: ${why}`); }
  } else if (o.v === 'pass') { pass++; out('ok', name, both); }
  else if (o.v === 'skip' && l.v === 'pass') { fail++; out('not ok', name, `REGRESSION (not done here, LIO passes) ${both}: ${why}`); }
  else if (o.v === 'skip') { skip++; out('ok', name, `# SKIP ${both}: ${why}`); }
  else if (l.v === 'fail') { skip++; out('ok', name, `# SKIP both fail: ${why}`); }
  else { fail++; out('not ok', name, `${l.v === 'pass' ? 'REGRESSION ' : ''}${both}: ${why}`); }
}
for (const name of lio.res.keys()) if (!odx.res.has(name)) { fail++; out('not ok', name, 'ran on lio, not on odx'); }
for (const name of expected.keys()) if (!process.env.PEER_TESTS && !odx.res.has(name)) { fail++; out('not ok', name, 'in peer-expected.txt but not run'); }
console.log(`${pass} passed, ${fail} failed, ${skip} skipped`);
process.exit(fail || process.exitCode ? 1 : 0);
EOF
