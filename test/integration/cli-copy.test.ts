// odxcp copy and the sg_xcopy operand form on real targets: the account it prints (--json),
// the bytes in the backing files (in and out of the range), NDJSON progress, SIGINT, the
// same bytes as sg_xcopy for the same operands, and `odxcp info SRC DST` (the plan).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { backing, lun, pattern, toolStatus, writeBacking, type LabLun } from './lab';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
const MiB = 1024 * 1024;

function odxcp(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ODXCP_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(r: { status: number | null; stdout: string; stderr: string }): Record<string, any> {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, any>;
}

const whole = (l: LabLun) => fs.readFileSync(l.file as string);

/** dst[dstOff, +len) equals src[srcOff, +len) in the backing files, and nothing else in dst changed. */
function assertCopied(src: LabLun, srcOff: number, dst: LabLun, dstOff: number, len: number, before: Buffer): void {
  const after = whole(dst);
  assert.ok(after.subarray(dstOff, dstOff + len).equals(backing(src, srcOff, len)), 'destination range equals the source range');
  assert.ok(after.subarray(0, dstOff).equals(before.subarray(0, dstOff)), 'nothing before the range changed');
  assert.ok(after.subarray(dstOff + len).equals(before.subarray(dstOff + len)), 'nothing after the range changed');
}

describe('odxcp copy in the lab', () => {
  before(() => writeBacking(lun('odx0'), 0, pattern(24 * MiB, 0xc0c0)));

  it('odx0 -> odx1 by token copy: --json account, all offloaded, bytes in the backing file', () => {
    const before = whole(lun('odx1'));
    const j = json(odxcp('copy', lun('odx0').sg, lun('odx1').sg, '--src-offset', '2048b', '--dst-offset', '5M', '--length', '16M', '--json'));
    assert.equal(j.bytes, 16 * MiB);
    assert.equal(j.length, 16 * MiB);
    assert.equal(j.complete, true);
    assert.equal(j.method, 'odx');
    assert.equal(j.offloadedBytes, 16 * MiB);
    assert.equal(j.hostBytes, 0);
    assert.deepEqual(j.fallbacks, []);
    assertCopied(lun('odx0'), MiB, lun('odx1'), 5 * MiB, 16 * MiB, before);
  });

  it('fio0 -> fio1 by EXTENDED COPY with text output', () => {
    const before = whole(lun('fio1'));
    const r = odxcp('copy', lun('fio0').sd, lun('fio1').sd, '--src-offset', '1000b', '--dst-offset', '3000b', '--length', '4M');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^copied 4194304 of 4194304 bytes \(4 MiB\)/);
    assert.match(r.stdout, /method xcopy/);
    assert.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
    assertCopied(lun('fio0'), 1000 * 512, lun('fio1'), 3000 * 512, 4 * MiB, before);
  });

  it('--progress=json: NDJSON progress lines on stderr ending with a done record; stdout is the single result', () => {
    const r = odxcp('copy', lun('fio0').sg, lun('fio2').sg, '--length', '8M', '--mode', 'host', '--progress=json', '--json');
    const j = json(r);
    assert.equal(j.method, 'host');
    const lines = r.stderr.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
    assert.ok(lines.length >= 2, r.stderr);
    for (const p of lines.slice(0, -1)) {
      assert.equal(p.event, 'progress');
      assert.equal(p.totalBytes, 8 * MiB);
      assert.ok(p.bytesDone >= 0 && p.bytesDone <= 8 * MiB);
    }
    const done = lines[lines.length - 1] as Record<string, any>;
    assert.deepEqual([done.event, done.ok, done.bytes], ['done', true, 8 * MiB]);
  });

  it('SIGINT stops the copy cleanly: exit 130, and the account matches the destination', async function () {
    this.timeout(120_000);
    const src = lun('odxslow');
    const dst = lun('odx1');
    const before = whole(dst);
    // Host mode from the slow LUN (READs at 200 ms per MiB): the copy takes seconds; SIGINT goes out
    // once progress shows the copy is under way (before that, node's default would end it).
    const child = spawn(process.execPath, [BIN, 'copy', src.sg, dst.sg, '--mode', 'host', '--json', '--progress=json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      if (!sent && /"bytesDone":[1-9]/.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.ok(sent, `progress was reported before the end: ${err}`);
    assert.equal(code, 130, err);
    const lines = err.split('\n').filter((l) => l !== '');
    const last = lines.pop() as string;
    assert.match(last, /^odxcp: aborted by SIGINT: \d+ of 33554432 bytes copied/);
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `only NDJSON before the error line: ${l}`);
    assert.equal((JSON.parse(lines[lines.length - 1] as string) as { event: string; ok: boolean }).ok, false);
    const j = JSON.parse(out) as { bytes: number; complete: boolean; extents: { offset: number; length: number }[] };
    assert.equal(j.complete, false);
    assert.ok(j.bytes > 0 && j.bytes < 32 * MiB, `stopped part-way: ${j.bytes}`);
    // Every byte the account says is on the destination is there.
    const after = whole(dst);
    for (const e of j.extents) assert.ok(after.subarray(e.offset, e.offset + e.length).equals(backing(src, e.offset, e.length)), `extent ${e.offset}+${e.length}`);
    const covered = j.extents.reduce((n, e) => n + e.length, 0);
    assert.equal(covered, j.bytes);
    assert.ok(after.subarray(32 * MiB).equals(before.subarray(32 * MiB)), 'nothing past the copy range changed');
  });

  it('a misaligned offset and a range past the end are usage errors naming the option', () => {
    let r = odxcp('copy', lun('fio0').sg, lun('fio4k').sg, '--dst-offset', '512');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^odxcp: --dst-offset: 512 bytes .* 4096-byte logical block of DST/);
    r = odxcp('copy', lun('fio0').sg, lun('fio1').sg, '--src-offset', '60M', '--length', '8M');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^odxcp: --length: .* runs past the end of/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});

describe('odxcp if= of= (sg_xcopy operands) in the lab', () => {
  it('produces the same bytes as sg_xcopy with the same operands (fio0 -> fio2)', () => {
    const [s, t] = [lun('fio0'), lun('fio2')];
    const before = whole(t);
    const ours = odxcp(`if=${s.sg}`, `of=${t.sg}`, 'bs=512', 'count=4096', 'skip=30000', 'seek=16384', '--json');
    const j = json(ours);
    assert.equal(j.bytes, 4096 * 512);
    assertCopied(s, 30000 * 512, t, 16384 * 512, 4096 * 512, before);
    const theirs = toolStatus('sg_xcopy', [`if=${s.sg}`, `of=${t.sg}`, 'bs=512', 'count=4096', 'skip=30000', 'seek=24576']);
    assert.equal(theirs.status, 0, theirs.stderr);
    assert.ok(backing(t, 16384 * 512, 4096 * 512).equals(backing(t, 24576 * 512, 4096 * 512)), 'odxcp and sg_xcopy wrote the same bytes');
  });

  it('list_id=/id_usage=/--on_src reach EXTENDED COPY; count derived from the devices; time=1', () => {
    const [s, t] = [lun('fio0'), lun('fio1')];
    const before = whole(t);
    const skip = (s.bytes - MiB) / 512; // the last MiB of fio0
    const r = odxcp(`if=${s.sg}`, `of=${t.sg}`, `skip=${skip}`, 'seek=100', 'list_id=0', 'id_usage=disable', '--on_src', '--mode', 'xcopy', 'time=1', '--json');
    const j = json(r);
    assert.equal(j.method, 'xcopy');
    assert.equal(j.length, MiB, 'count: the rest of the source');
    assert.match(r.stderr, /^time to transfer data: [\d.]+ secs/);
    assertCopied(s, s.bytes - MiB, t, 100 * 512, MiB, before);
  });

  it('bs= that is not the LUN\'s block size is refused like sg_xcopy', () => {
    const r = odxcp(`if=${lun('fio0').sg}`, `of=${lun('fio1').sg}`, 'bs=4096', 'count=1');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^odxcp: bs=4096: must be the logical block size of if=/);
  });
});

describe('odxcp info SRC DST (the plan)', () => {
  it('odx0 odx1: token copy usable, chosen; limits printed', () => {
    const r = odxcp('info', lun('odx0').sg, lun('odx1').sg);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /max token transfer \d+ blocks/);
    assert.match(r.stdout, /ROD types in: .*0xffff0001 \(block device zero ROD token\)/);
    assert.match(r.stdout, /copy plan .* -> .*: 67108864 bytes/);
    assert.match(r.stdout, /token copy \(ODX\): usable - /);
    assert.match(r.stdout, /method: odx; \d+ bytes .* per token/);
  });

  it('fio1 sdebug0 --json: neither offload usable (scsi_debug has no copy manager), host chosen, with reasons', () => {
    const j = json(odxcp('info', '--json', lun('fio1').sg, lun('sdebug0').sg));
    assert.equal(j.plan.method, 'host');
    assert.equal(j.plan.verdicts.odx.usable, false);
    assert.match(j.plan.verdicts.odx.reason, /^source: /);
    assert.equal(j.plan.verdicts.xcopy.usable, false);
    assert.match(j.plan.verdicts.xcopy.reason, /^destination: no copy manager/);
    assert.deepEqual(j.src.methods, ['xcopy', 'host']);
    assert.deepEqual(j.dst.methods, ['host']);
    assert.deepEqual(j.src.zeroMethods, ['write-same', 'write']);
    const text = odxcp('info', lun('fio1').sg, lun('sdebug0').sg);
    assert.match(text.stdout, /EXTENDED COPY LID1: not usable - destination: no copy manager/);
    assert.match(text.stdout, /method: host; host transfers of \d+ bytes/);
  });
});
