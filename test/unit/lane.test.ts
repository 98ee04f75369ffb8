// The host copy's native data lane (native/lane.cc, lib/native.ts copyLane) without a device:
// handles from testing.adopt on regular files, with the unit-suite-only testFileIo (pread and
// pwrite instead of SG_IO) to drive the lanes, the cursor, the account, abort, an injected
// failure and teardown; SG_IO itself on such files fails ENOTTY, which is the errno path. The
// lab spec (test/integration/lane.test.ts) copies between real block nodes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadNative, type NativeHandle, type NativeSystemError } from '../../lib/native';
import { Account } from '../../lib/engine/account';
import { HostMethod } from '../../lib/engine/methods/host';
import { MethodError, StopRequested, type MethodContext } from '../../lib/engine/methods/context';
import { TransportError } from '../../lib/scsi/errors';
import { makeTempDir } from './helpers/host-nodes';

const native = loadNative();
const MiB = 1024 * 1024;
const KiB = 1024;
const nativeJs = path.resolve(__dirname, '..', '..', 'lib', 'native.js');

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, i);
  return b;
}

/** [offset, length] pairs from take()'s flat array. */
function pairs(a: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < a.length; i += 2) out.push([a[i]!, a[i + 1]!]);
  return out;
}

describe('native data lane (adopted files)', () => {
  let dir: string;
  let srcFile: string;
  let dstFile: string;
  let src: NativeHandle;
  let dst: NativeHandle;
  const SIZE = 8 * MiB;
  beforeEach(() => {
    dir = makeTempDir('odxcp-lane-');
    srcFile = path.join(dir, 'src');
    dstFile = path.join(dir, 'dst');
    fs.writeFileSync(srcFile, pattern(SIZE, 0x1234));
    fs.writeFileSync(dstFile, Buffer.alloc(SIZE));
    src = native.testing.adopt(srcFile, { kind: 'block' });
    dst = native.testing.adopt(dstFile, { kind: 'block', write: true });
  });
  afterEach(async () => {
    for (const h of [src, dst]) if (h.state === 'open') await native.close(h);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const base = { srcBlockSize: 512, dstBlockSize: 512, testFileIo: true } as const;

  it('copies the range in transfers over several lanes; every piece done once; the handles count it in flight until done', async () => {
    const lane = native.copyLane(src, dst, { ...base, srcBase: 512n, dstBase: 3 * 4096, offset: 64 * KiB, length: 5 * MiB + 512, transferBytes: 256 * KiB, lanes: 4 });
    assert.deepEqual([src.inFlight, dst.inFlight], [1, 1]);
    const closing = native.close(dst); // waits for the lane
    assert.equal(dst.state, 'closing');
    const r = await lane.done;
    assert.deepEqual(r, { aborted: false });
    const got = pairs(lane.take()).sort((a, b) => a[0] - b[0]);
    let at = 64 * KiB;
    for (const [o, l] of got) {
      assert.equal(o, at, 'contiguous, no piece twice');
      at += l;
    }
    assert.equal(at, 64 * KiB + 5 * MiB + 512);
    assert.equal(lane.bytes, 5 * MiB + 512);
    assert.deepEqual(lane.take(), [], 'taken once');
    await closing;
    const s = fs.readFileSync(srcFile);
    const d = fs.readFileSync(dstFile);
    const [so, dof, len] = [512 + 64 * KiB, 3 * 4096 + 64 * KiB, 5 * MiB + 512];
    assert.ok(d.subarray(dof, dof + len).equals(s.subarray(so, so + len)), 'destination range holds the source range');
    assert.ok(d.subarray(0, dof).every((x) => x === 0) && d.subarray(dof + len).every((x) => x === 0), 'nothing outside the range');
  });

  it('the first failure stops every lane and is handed back; exactly the pieces reported done are on the destination', async () => {
    const failAt = 3 * MiB;
    const lane = native.copyLane(src, dst, { ...base, srcBase: 0, dstBase: 0, offset: 0, length: SIZE, transferBytes: 128 * KiB, lanes: 3, testFailWriteAt: failAt });
    const r = await lane.done;
    assert.ok(r.failure);
    assert.equal(r.failure.command, 'WRITE(16)');
    assert.equal(r.failure.offset, failAt);
    assert.equal(r.failure.code, 'EIO');
    assert.equal(r.failure.cdb[0], 0x8a);
    assert.equal(r.failure.cdb.readBigUInt64BE(2), BigInt(failAt / 512));
    const got = pairs(lane.take());
    assert.ok(!got.some(([o]) => o === failAt), 'the failed piece is not done');
    assert.ok(got.length < SIZE / (128 * KiB) - 1, 'the lanes stopped');
    const s = fs.readFileSync(srcFile);
    const d = fs.readFileSync(dstFile);
    const mark = Buffer.alloc(SIZE);
    for (const [o, l] of got) {
      assert.ok(d.subarray(o, o + l).equals(s.subarray(o, o + l)), `piece ${o} holds the source`);
      mark.fill(1, o, o + l);
    }
    for (let i = 0; i < SIZE; i += 512) if (!mark[i]) assert.ok(d.subarray(i, i + 512).every((x) => x === 0), `block at ${i}, not reported, was not written`);
  });

  it('abort(): the lanes stop after their current command; the account is exact', async () => {
    // 2048 pieces at 2 ms a write, 2 lanes: 2 s of copy however loaded the machine, so the
    // abort lands mid-range (page-cache speed finished 8 MiB before it on a busy machine).
    const lane = native.copyLane(src, dst, { ...base, srcBase: 0, dstBase: 0, offset: 0, length: SIZE, transferBytes: 4 * KiB, lanes: 2, testWriteDelayMs: 2 });
    // Let the lanes get going (they need no JS), then stop them mid-range.
    for (const t = Date.now(); Date.now() - t < 20 && lane.bytes === 0; );
    lane.abort();
    const r = await lane.done;
    assert.equal(r.aborted, true);
    assert.equal(r.failure, undefined);
    const got = pairs(lane.take());
    const total = got.reduce((a, [, l]) => a + l, 0);
    assert.ok(total < SIZE, `stopped early (${total} of ${SIZE})`);
    const d = fs.readFileSync(dstFile);
    const s = fs.readFileSync(srcFile);
    const mark = Buffer.alloc(SIZE);
    for (const [o, l] of got) {
      assert.ok(d.subarray(o, o + l).equals(s.subarray(o, o + l)));
      mark.fill(1, o, o + l);
    }
    for (let i = 0; i < SIZE; i += 512) if (!mark[i]) assert.ok(d.subarray(i, i + 512).every((x) => x === 0), `block at ${i} was written but not reported`);
  });

  it('SG_IO on a non-SCSI fd: the errno comes back as the failing READ(16), nothing done', async () => {
    const lane = native.copyLane(src, dst, { srcBlockSize: 512, dstBlockSize: 512, srcBase: 0, dstBase: 0, offset: 0, length: MiB, transferBytes: 64 * KiB, lanes: 2 });
    const r = await lane.done;
    assert.equal(r.failure?.command, 'READ(16)');
    assert.equal(r.failure?.code, 'ENOTTY');
    assert.deepEqual(lane.take(), []);
  });

  it('refuses what it cannot copy: sg handles, a read-only destination, misaligned ranges, a closed handle', async () => {
    const sg = native.testing.adopt(srcFile, { kind: 'sg' });
    const ro = native.testing.adopt(dstFile, { kind: 'block' });
    const o = { srcBlockSize: 512, dstBlockSize: 512, srcBase: 0, dstBase: 0, offset: 0, length: MiB, transferBytes: 64 * KiB, lanes: 2 };
    assert.throws(() => native.copyLane(sg, dst, o), (e: Error) => e instanceof TypeError && /both handles must be block nodes/.test(e.message));
    assert.throws(() => native.copyLane(src, ro, o), (e: Error) => e instanceof TypeError && /not open for writing/.test(e.message));
    assert.throws(() => native.copyLane(src, dst, { ...o, offset: 100 }), (e: Error) => e instanceof TypeError && /whole blocks/.test(e.message));
    assert.throws(() => native.copyLane(src, dst, { ...o, lanes: 9 }), RangeError);
    assert.throws(() => native.copyLane({} as NativeHandle, dst, o), TypeError);
    await native.close(sg);
    await native.close(ro);
    const closed = native.testing.adopt(srcFile, { kind: 'block' });
    await native.close(closed);
    await assert.rejects(native.copyLane(closed, dst, o).done, (e: NativeSystemError) => e.code === 'ECLOSED');
    assert.equal(dst.inFlight, 0, 'nothing left pinned');
  });

  it('the host method runs through the lane between block handles: the account holds every piece, a non-retryable failure is a MethodError with the exact prefix', async () => {
    const ctxOf = (account: Account): MethodContext => ({
      src: undefined as never,
      dst: undefined as never,
      srcData: { path: srcFile, command: () => Promise.reject(new Error('no JS path expected')), lane: { handle: src, writable: false } },
      dstData: { path: dstFile, command: () => Promise.reject(new Error('no JS path expected')), lane: { handle: dst, writable: true } },
      srcBase: 0n,
      dstBase: 0n,
      srcBlockSize: 512,
      dstBlockSize: 512,
      account,
      signal: new AbortController().signal,
    });
    const a = new Account();
    await new HostMethod({ transferBytes: 64 * KiB, depth: 3, laneTest: { testFileIo: true }, laneProgressMs: 1 }).run({ offset: 0n, length: 2n * BigInt(MiB) }, ctxOf(a));
    assert.equal(a.byMethod.host, 2n * BigInt(MiB));
    assert.ok(fs.readFileSync(dstFile).subarray(0, 2 * MiB).equals(fs.readFileSync(srcFile).subarray(0, 2 * MiB)));
    const b = new Account();
    await assert.rejects(
      new HostMethod({ transferBytes: 64 * KiB, depth: 1, laneTest: { testFileIo: true, testFailWriteAt: 5 * 64 * KiB } }).run({ offset: 0n, length: 2n * BigInt(MiB) }, ctxOf(b)),
      (e: unknown) => e instanceof MethodError && e.progress === 5n * 64n * 1024n && e.cause instanceof TransportError,
    );
    assert.equal(b.byMethod.host, 5n * 64n * 1024n, 'one lane: exactly the five pieces before the failure');
  });

  it('the host method\'s AbortSignal stops the lane: StopRequested, and the account holds exactly what is on the destination', async () => {
    const ac = new AbortController();
    const account = new Account();
    const ctx: MethodContext = {
      src: undefined as never,
      dst: undefined as never,
      srcData: { path: srcFile, command: () => Promise.reject(new Error('no JS path expected')), lane: { handle: src, writable: false } },
      dstData: { path: dstFile, command: () => Promise.reject(new Error('no JS path expected')), lane: { handle: dst, writable: true } },
      srcBase: 0n,
      dstBase: 0n,
      srcBlockSize: 512,
      dstBlockSize: 512,
      account,
      signal: ac.signal,
    };
    const run = new HostMethod({ transferBytes: 4 * KiB, depth: 2, laneTest: { testFileIo: true, testWriteDelayMs: 1 } }).run({ offset: 0n, length: BigInt(SIZE) }, ctx);
    ac.abort();
    await assert.rejects(run, StopRequested);
    const s = fs.readFileSync(srcFile);
    const d = fs.readFileSync(dstFile);
    const mark = Buffer.alloc(SIZE);
    for (const e of account.extents()) {
      const [o, l] = [Number(e.offset), Number(e.length)];
      assert.ok(d.subarray(o, o + l).equals(s.subarray(o, o + l)));
      mark.fill(1, o, o + l);
    }
    assert.ok(account.byMethod.host < BigInt(SIZE), 'stopped part-way');
    for (let i = 0; i < SIZE; i += 512) if (!mark[i]) assert.ok(d.subarray(i, i + 512).every((x) => x === 0), `block at ${i} was written but is not in the account`);
  });
});

describe('native data lane: teardown', () => {
  it('a Worker terminated while its lanes copy exits cleanly (the lanes stop after their command), the main thread unaffected', function () {
    this.timeout(60000);
    const dir = makeTempDir('odxcp-lane-td-');
    const f = path.join(dir, 'f');
    fs.writeFileSync(f, Buffer.alloc(64 * MiB));
    const script = `
      const { Worker } = require('worker_threads');
      const nativeJs = ${JSON.stringify(nativeJs)};
      const code = \`
        const { parentPort, workerData } = require('worker_threads');
        const b = require(workerData.nativeJs).loadNative();
        const s = b.testing.adopt(workerData.f, { kind: 'block' });
        const d = b.testing.adopt(workerData.f, { kind: 'block', write: true });
        const lane = b.copyLane(s, d, { srcBlockSize: 512, dstBlockSize: 512, srcBase: 0, dstBase: 32 << 20, offset: 0, length: 32 << 20, transferBytes: 4096, lanes: 4, testFileIo: true });
        b.close(d).catch(() => {});
        parentPort.postMessage(d.state);
        setInterval(() => {}, 1000);
      \`;
      (async () => {
        for (let i = 0; i < 4; i++) {
          const w = new Worker(code, { eval: true, workerData: { nativeJs, f: ${JSON.stringify(f)} } });
          const m = await new Promise((r, j) => { w.once('message', r); w.once('error', j); });
          if (m !== 'closing') throw new Error('state ' + m);
          await w.terminate();
        }
        process.stdout.write('ok\\n');
      })().catch((e) => { console.error(e); process.exit(3); });
    `;
    try {
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 50000 });
      assert.equal(r.status, 0, `child: status ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr}`);
      assert.equal(r.stdout.trim(), 'ok');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
