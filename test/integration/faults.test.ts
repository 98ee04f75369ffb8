// Nothing lost under faults, witnessed by the kernel rather than by odxcp's own account:
// the guest kernel's `scsi:scsi_dispatch_cmd_start` trace event records every command the
// SCSI midlayer dispatched to the destination. Each method must end with SYNCHRONIZE CACHE
// after its last write and write nothing outside the range; an interrupted token copy or
// EXTENDED COPY on a slow LUN must have stopped on the array when odxcp returns (the backing
// file no longer changes), with every reported extent holding the source's bytes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { copy, CopyError, type CopyResult } from '../../lib/engine';
import { backing, CommandTrace, copyChecked, lun, pattern, sleep, writeBacking, type Dispatched, type LabLun } from './lab';

const MiB = 1024 * 1024;
const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
const isSync = (c: Buffer) => c[0] === 0x91 || c[0] === 0x35;
const isWriteData = (c: Buffer) => c[0] === 0x8a || c[0] === 0x2a;
const isXcopy = (c: Buffer) => c[0] === 0x83 && (c[1]! & 0x1f) === 0x00;
const isWut = (c: Buffer) => c[0] === 0x83 && (c[1]! & 0x1f) === 0x11;
const isCoa = (c: Buffer) => c[0] === 0x83 && (c[1]! & 0x1f) === 0x1c;
/** Commands that put data on the destination. */
const isWrite = (c: Buffer) => isWriteData(c) || isXcopy(c) || isWut(c) || c[0] === 0x93;

/** [first LBA, blocks] of a WRITE(16)/(10). */
function writeExtent(c: Buffer): [bigint, bigint] {
  return c[0] === 0x8a ? [c.readBigUInt64BE(2), BigInt(c.readUInt32BE(10))] : [BigInt(c.readUInt32BE(2)), BigInt(c.readUInt16BE(7))];
}

/** The file no longer changes: two looks, `ms` apart, see the same bytes. */
async function settled(file: string, ms = 1500): Promise<Buffer> {
  const a = fs.readFileSync(file);
  await sleep(ms);
  const b = fs.readFileSync(file);
  assert.ok(a.equals(b), `${file} still changed ${ms} ms after odxcp returned`);
  return b;
}

/** Every extent the account reports holds the source's bytes; nothing past `length` changed. */
function assertExtents(r: Pick<CopyResult, 'extents' | 'bytes'>, src: LabLun, now: Buffer, length: number, zeroTail: boolean): void {
  let covered = 0n;
  for (const e of r.extents) {
    const o = Number(e.offset);
    const n = Number(e.length);
    assert.ok(now.subarray(o, o + n).equals(backing(src, o, n)), `extent ${o}+${n} holds the source bytes`);
    covered += e.length;
  }
  assert.equal(covered, BigInt(r.bytes));
  if (zeroTail) assert.ok(now.subarray(length).every((b) => b === 0), 'nothing past the range was written');
}

describe('nothing lost: the kernel\'s record of what reached the destination', function () {
  this.timeout(180_000);
  before(() => writeBacking(lun('odx0'), 0, pattern(32 * MiB, 0xfa17)));
  before(() => writeBacking(lun('fio0'), 0, pattern(32 * MiB, 0xfa18)));

  for (const [what, s, d, mode] of [
    ['the host path', 'fio0', 'fio1', 'host'],
    ['EXTENDED COPY', 'fio0', 'fio1', 'xcopy'],
    ['token copy', 'odx0', 'odx1', 'odx'],
  ] as const) {
    it(`${what}: SYNCHRONIZE CACHE to the destination after its last write, and no WRITE outside the range`, async () => {
      const src = lun(s);
      const dst = lun(d);
      const dstOffset = 3 * MiB + 7 * 512;
      const length = 12 * MiB;
      const trace = CommandTrace.start(dst);
      let r: CopyResult;
      let seen: Dispatched[];
      try {
        r = await copyChecked(src, dst, { srcOffset: MiB, dstOffset, length, mode, tokenSize: 4 * MiB });
      } finally {
        seen = trace.stop();
      }
      assert.equal(r.method, mode);
      assert.equal(r.synced, true);
      const cdbs = seen.map((x) => x.cdb);
      const lastWrite = cdbs.map(isWrite).lastIndexOf(true);
      const lastSync = cdbs.map(isSync).lastIndexOf(true);
      assert.ok(lastWrite >= 0, `the kernel saw writes to ${dst.name}: ${cdbs.map((c) => c.subarray(0, 2).toString('hex')).join(' ')}`);
      assert.ok(lastSync > lastWrite, `SYNCHRONIZE CACHE (at ${lastSync}) comes after the last write (at ${lastWrite})`);
      const sync = cdbs[lastSync]!;
      if (sync[0] === 0x91 && sync.readUInt32BE(10) !== 0) {
        assert.equal(sync.readBigUInt64BE(2), BigInt(dstOffset / dst.blockSize), 'the flush starts at the range');
        assert.equal(sync.readUInt32BE(10), length / dst.blockSize, 'and covers it');
      }
      // The methods' own commands, as the kernel counted them.
      if (mode === 'xcopy') assert.equal(cdbs.filter(isXcopy).length, r.commands['EXTENDED COPY(LID1)']);
      if (mode === 'odx') assert.equal(cdbs.filter(isWut).length, r.commands['WRITE USING TOKEN']);
      const lo = BigInt(dstOffset / dst.blockSize);
      const hi = lo + BigInt(length / dst.blockSize);
      for (const c of cdbs.filter(isWriteData)) {
        const [lba, n] = writeExtent(c);
        assert.ok(lba >= lo && lba + n <= hi, `WRITE at LBA ${lba} for ${n} blocks lies inside [${lo}, ${hi})`);
      }
      if (mode === 'host') assert.ok(cdbs.filter(isWriteData).length > 0, 'the host path wrote through WRITE commands');
    });
  }
});

describe('nothing lost: an interrupted offload has stopped on the array when odxcp returns', function () {
  this.timeout(180_000);
  before(() => writeBacking(lun('odx0'), 0, pattern(32 * MiB, 0xab07)));

  for (const mode of ['odx', 'xcopy'] as const) {
    it(`${mode === 'odx' ? 'token copy' : 'EXTENDED COPY'} on the slow LUN, AbortSignal: the destination no longer changes, and every reported extent is the source's`, async () => {
      const src = lun('odx0');
      const dst = lun('odxslow');
      fs.writeFileSync(dst.file!, Buffer.alloc(dst.bytes)); // zeros, behind the target
      const length = 24 * MiB;
      const trace = CommandTrace.start(dst);
      const ac = new AbortController();
      const offload = mode === 'odx' ? isWut : isXcopy;
      const p = copy({ src: src.sg, dst: dst.sg, length, mode, maxInFlight: 2, tokenSize: 2 * MiB, xcopySize: 2 * MiB, signal: ac.signal });
      // Abort while the array works: once the kernel has dispatched the first offload command.
      for (let i = 0; i < 2000 && !trace.read().some((c) => offload(c.cdb)); i++) await sleep(5);
      ac.abort();
      let err: unknown;
      try {
        await p;
      } catch (e) {
        err = e;
      }
      const now = await settled(dst.file!);
      const seen = trace.stop().map((x) => x.cdb);
      assert.ok(err instanceof CopyError, String(err));
      assert.equal(err.code, 'ABORTED');
      assert.deepEqual(err.result.fallbacks, [], 'our own abort is not the target\'s failure');
      assert.equal(err.result.byMethod.host, 0n, 'the host rewrote nothing');
      assert.ok(err.result.bytes < BigInt(length), `stopped part-way: ${err.result.bytes}`);
      assert.match(err.message, /^copy aborted: the first \d+ bytes are copied; \d+ of 25165824 bytes in all/);
      assertExtents(err.result, src, now, length, true);
      // A WRITE USING TOKEN was running on the array (IMMED, 100 ms + 40 ms/MiB) when the abort
      // came: it was told to stop, and odxcp returned only after that.
      if (mode === 'odx') assert.ok(seen.filter(isCoa).length >= 1, `COPY OPERATION ABORT reached the destination: ${seen.map((c) => c.subarray(0, 2).toString('hex')).join(' ')}`);
    });
  }

  for (const mode of ['odx', 'xcopy'] as const) {
    it(`SIGINT during ${mode === 'odx' ? 'a token copy' : 'an EXTENDED COPY'} on the slow LUN: exit 130 once the array has stopped; the account matches the destination`, async () => {
      const src = lun('odx0');
      const dst = lun('odxslow');
      fs.writeFileSync(dst.file!, Buffer.alloc(dst.bytes));
      const trace = CommandTrace.start(dst);
      const child = spawn(process.execPath, [BIN, 'copy', src.sg, dst.sg, '--length', '24M', '--mode', mode, '--max-in-flight', '2', '--token-size', '2M', '--json', '--progress=none'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      // SIGINT once the kernel has dispatched the first offload command to the destination.
      const offload = mode === 'odx' ? isWut : isXcopy;
      let sent = false;
      for (let i = 0; i < 600 && !sent; i++) {
        if (trace.read().some((c) => offload(c.cdb))) {
          child.kill('SIGINT');
          sent = true;
        } else await sleep(25);
      }
      const code = await exited;
      const now = await settled(dst.file!);
      trace.stop();
      assert.ok(sent, `the offload command was dispatched: ${err}`);
      assert.equal(code, 130, err);
      assert.match(err.trim().split('\n').pop() ?? '', /^odxcp: aborted by SIGINT/);
      const j = JSON.parse(out) as { bytes: number; complete: boolean; fallbacks: unknown[]; extents: { offset: number; length: number; method: string }[] };
      assert.deepEqual(j.fallbacks, []);
      assertExtents({ bytes: BigInt(j.bytes), extents: j.extents.map((e) => ({ offset: BigInt(e.offset), length: BigInt(e.length), method: e.method as 'odx' })) }, src, now, 24 * MiB, true);
    });
  }
});
