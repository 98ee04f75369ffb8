// npm test's counting (test/counts.sh, test/reporter.js) against fake suites on this host:
// the total holds only what this run executed, and a suite that crashed, timed out or
// reported nothing fails the run with a line naming it. The fake lab runners keep
// test/lab/run.sh's contract: they create lab-out/run-* and name it in ODXCP_LAB_RUN_FILE.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..', '..');
const COUNTS_SH = path.join(REPO, 'test', 'counts.sh');
const MOCHA = path.join(REPO, 'node_modules', '.bin', 'mocha');

// A fake lab runner: makes a new run directory, names it, writes FILE with CONTENT there
// (when given) and exits RC. Usage in a script: fake_lab RC [FILE CONTENT]
const FAKE_LAB = `fake_lab() {
  local d; d=$(mktemp -d "$T/lab-out/run-new-XXXX"); echo "$d" > "$ODXCP_LAB_RUN_FILE"
  [ $# -lt 3 ] || printf '%s\\n' "$3" > "$d/$2"
  return "$1"
}`;

interface Run { status: number | null; lines: string[]; out: string }

describe('npm test counting (test/counts.sh)', function () {
  let tmp: string;

  beforeEach(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-counts-'));
    // an older lab run lying around, with counts that must never be read
    fs.mkdirSync(path.join(tmp, 'lab-out', 'run-old'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'lab-out', 'run-old', 'counts.json'), JSON.stringify({ suite: 'lab', passed: 999, failed: 0, skipped: 0 }));
    fs.writeFileSync(path.join(tmp, 'lab-out', 'run-old', 'guest.log'), '888 passed, 0 failed\n');
  });
  afterEach(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function run(script: string): Run {
    const r = spawnSync('bash', ['-c', `. "$COUNTS_SH"; ${FAKE_LAB}\ncounts_init "$T/c"\n${script}\ncounts_total`], {
      encoding: 'utf8',
      env: { ...process.env, T: tmp, COUNTS_SH },
    });
    const out = r.stdout + r.stderr;
    return { status: r.status, out, lines: r.stdout.trimEnd().split('\n') };
  }
  const json = (c: object) => `'${JSON.stringify(c)}'`;
  const unitOk = `echo ${json({ suite: 'unit', passed: 3, failed: 0, skipped: 1 })} > "$T/unit.json"; counts_json unit "$T/unit.json" 0`;
  const hostOk = `echo '95 passed, 0 failed' > "$T/host.log"; counts_line odx-host checks "$T/host.log" 0`;

  it('a clean run: unit + lab + conformance, the host checks on a line of their own, exit 0', function () {
    const r = run(`${unitOk}; ${hostOk}
      counts_lab lab json fake_lab 0 counts.json ${json({ suite: 'lab', passed: 5, failed: 0, skipped: 0 })}
      counts_lab odx-conformance line fake_lab 0 guest.log '# note
7 passed, 0 failed'`);
    assert.equal(r.status, 0, r.out);
    assert.ok(r.lines.includes('odx-host: 95 checks passed, 0 failed (assertions, not in the test total)'), r.out);
    assert.equal(r.lines.at(-1), 'total: 15 passed, 0 failed, 1 skipped', r.out);
    assert.ok(!r.out.includes('FAILED'), r.out);
  });

  it('a suite line with ", N skipped" (the peer suite) adds its skips; a failure in it fails the run', function () {
    let r = run(`${unitOk}; ${hostOk}
      counts_lab odx-peer line fake_lab 0 guest.log '104 passed, 0 failed, 15 skipped'`);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.lines.at(-1), 'total: 107 passed, 0 failed, 16 skipped', r.out);
    r = run(`${unitOk}; ${hostOk}
      counts_lab odx-peer line fake_lab 1 guest.log '103 passed, 1 failed, 15 skipped'`);
    assert.notEqual(r.status, 0, r.out);
    assert.ok(r.lines.includes('  odx-peer: 1 failed'), r.out);
    assert.equal(r.lines.at(-1), 'total: 106 passed, 1 failed, 16 skipped', r.out);
  });

  it('a lab runner whose guest crashed: no counts, an old run directory is not read, the run fails', function () {
    const r = run(`${unitOk}; ${hostOk}
      counts_lab lab json fake_lab 125 guest.log 'kernel panic'`);
    assert.notEqual(r.status, 0, r.out);
    assert.ok(r.lines.includes('  lab: wrote no counts (exit 125): it crashed or did not run'), r.out);
    assert.equal(r.lines.at(-1), 'total: 3 passed, 0 failed, 1 skipped', r.out);
  });

  it('a lab runner that died before making a run directory: named, not filled from an old one', function () {
    const r = run(`${unitOk}
      counts_lab lab json bash -c 'echo "lab: ODXCP_LAB_LUN_MB must be ..." >&2; exit 2'`);
    assert.notEqual(r.status, 0, r.out);
    assert.ok(r.lines.includes('  lab: the lab runner created no run directory (exit 2)'), r.out);
    assert.equal(r.lines.at(-1), 'total: 3 passed, 0 failed, 1 skipped', r.out);
  });

  it('a suite that reported nothing, though it exited 0, fails the run', function () {
    const r = run(`${unitOk}
      counts_lab odx-conformance line fake_lab 0 guest.log 'ok 1 - something'`);
    assert.notEqual(r.status, 0, r.out);
    assert.ok(r.lines.includes('  odx-conformance: reported no counts (exit 0): it crashed or did not finish'), r.out);
    assert.equal(r.lines.at(-1), 'total: 3 passed, 0 failed, 1 skipped', r.out);
  });

  it('a unit suite that crashed before writing counts fails the run', function () {
    const r = run(`counts_json unit "$T/missing.json" 134; ${hostOk}`);
    assert.notEqual(r.status, 0, r.out);
    assert.ok(r.lines.includes('  unit: wrote no counts (exit 134): it crashed or did not run'), r.out);
    assert.equal(r.lines.at(-1), 'total: 0 passed, 0 failed, 0 skipped', r.out);
  });

  it('failed host checks fail the run without entering the test total', function () {
    const r = run(`${unitOk}; echo '94 passed, 1 failed' > "$T/h.log"; counts_line odx-host checks "$T/h.log" 1`);
    assert.notEqual(r.status, 0, r.out);
    assert.ok(r.lines.includes('odx-host: 94 checks passed, 1 failed (assertions, not in the test total)'), r.out);
    assert.ok(r.lines.includes('  odx-host: 1 failed'), r.out);
    assert.equal(r.lines.at(-1), 'total: 3 passed, 0 failed, 1 skipped', r.out);
  });

  it('a non-zero exit with no failure counted, tests that did not run, and an empty suite each fail the run', function () {
    const r = run(`echo ${json({ passed: 2, failed: 0, skipped: 0 })} > "$T/a.json"; counts_json a "$T/a.json" 1
      echo ${json({ passed: 1, failed: 1, skipped: 0, notRun: 4 })} > "$T/b.json"; counts_json b "$T/b.json" 2
      echo '0 passed, 0 failed' > "$T/c.log"; counts_line c tests "$T/c.log" 0
      echo '{"passed":"lots"}' > "$T/d.json"; counts_json d "$T/d.json" 0`);
    assert.notEqual(r.status, 0, r.out);
    for (const l of ['  a: exited 1 with no failure counted', '  b: 1 failed', '  b: 4 tests did not run', '  c: ran nothing (0 passed, 0 failed)', '  d: wrote no counts (exit 0): it crashed or did not run']) {
      assert.ok(r.lines.includes(l), `${l}\n${r.out}`);
    }
    assert.equal(r.lines.at(-1), 'total: 3 passed, 1 failed, 0 skipped', r.out);
  });

  it('each failure the reporter recorded is named in the summary, so the tail of a CI log says what failed', function () {
    const r = run(`echo ${json({ passed: 5, failed: 1, skipped: 0, failures: ['copy ends: expected 1 to equal 2'] })} > "$T/e.json"; counts_json lab "$T/e.json" 1`);
    assert.notEqual(r.status, 0, r.out);
    assert.ok(r.lines.includes('  lab: 1 failed'), r.out);
    assert.ok(r.lines.includes('  lab: failed: copy ends: expected 1 to equal 2'), r.out);
    assert.equal(r.lines.at(-1), 'total: 5 passed, 1 failed, 0 skipped', r.out);
  });

  it('the mocha reporter counts only tests that ran: a failed hook leaves its tests out, as not run', function () {
    const spec = path.join(tmp, 'fake.test.js');
    fs.writeFileSync(spec, `
      describe('hook fails', function () { before(function () { throw new Error('no LUN'); }); it('a', function () {}); it('b', function () {}); });
      describe('fine', function () { it('c', function () {}); it('d', function () { this.skip(); }); });
      describe('each fails', function () { beforeEach(function () { if (this.currentTest.title === 'f') throw new Error('x'); }); it('e', function () {}); it('f', function () {}); it('g', function () {}); });`);
    const file = path.join(tmp, 'counts.json');
    const r = spawnSync(MOCHA, ['--no-config', '--reporter', path.join(REPO, 'test', 'reporter.js'), spec], {
      encoding: 'utf8',
      env: { ...process.env, ODXCP_SUITE: 'fake', ODXCP_COUNTS_FILE: file },
    });
    assert.notEqual(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {
      suite: 'fake',
      passed: 2,
      failed: 2,
      skipped: 1,
      notRun: 4,
      failures: ['hook fails "before all" hook for "a": no LUN', 'each fails "before each" hook for "f": x'],
    });
    assert.match(r.stdout, /^fake: 2 passed, 2 failed, 1 skipped$/m);
    assert.match(r.stdout, /^fake: 4 tests did not run \(a hook failed or the run stopped\)$/m);
  });
});
