// Thin-aware copies on the in-process model: the sparse planner (GET LBA STATUS of both sides)
// and the engine (only mapped ranges copied; deallocated ones made to read as zeros on the
// destination the cheapest way it offers). The lab spec (test/integration/thin.test.ts) is the
// proof against scsi_debug; this is the fast check of the decisions.
import { strict as assert } from 'node:assert';
import { runPlanned } from '../../lib/engine/copy';
import { clearPairCache } from '../../lib/engine/pair-cache';
import { lbaStatusMap, planSparse, type SparseInput } from '../../lib/engine/sparse';
import { HostMethod } from '../../lib/engine/methods/host';
import { TokenMethod } from '../../lib/engine/methods/token';
import type { OpenedPair, PlanDetails } from '../../lib/engine/plan';
import type { CopyMethod, CopyOptions, CopyProgress } from '../../lib/engine/types';
import { zeroRange } from '../../lib/tokens/zero';
import { FakeLun, fillPattern, type FakeKnobs } from './helpers/fake-lun';

const BS = 512;
const BLOCKS = 8192;
const KiB = 1024n;

/** Source holes (blocks) used throughout: [lba, blocks]. */
const HOLES: Array<[number, number]> = [
  [0, 100],
  [1000, 3000],
  [6000, 2192],
];
const HOLE_BLOCKS = HOLES.reduce((n, [, b]) => n + b, 0);

function thinSource(knobs: FakeKnobs['thin'] = {}): FakeLun {
  const src = new FakeLun({ blocks: BLOCKS, thin: knobs });
  fillPattern(src.mem, 7);
  for (const [lba, n] of HOLES) src.deallocate(lba, n);
  return src;
}

async function details(src: FakeLun, dst: FakeLun, method: CopyMethod, chunk = 256n * KiB): Promise<PlanDetails> {
  const dev = { path: '/dev/fake', vendor: 'V', product: 'P', blockSize: BS, bytes: BigInt(BLOCKS * BS) };
  return {
    plan: { src: dev, dst: dev, srcOffset: 0n, dstOffset: 0n, length: BigInt(BLOCKS * BS), method, verdicts: { odx: { usable: true, reason: '' }, xcopy: { usable: false, reason: '' } }, chunkBytes: chunk, hostTransferBytes: 64 * 1024, maxInFlight: 2 },
    srcCaps: (await src.capabilities()) as never,
    dstCaps: (await dst.capabilities()) as never,
    srcKey: 'naa.thin-src',
    dstKey: 'naa.thin-dst',
    tokenBytes: chunk,
    inactivityTimeout: 60,
    tokenLifetime: 0,
    hostDepth: 2,
  };
}

const pairOf = (src: FakeLun, dst: FakeLun) => ({ src, dst, close() {} }) as unknown as OpenedPair;
const host = () => new HostMethod({ transferBytes: 16384, depth: 2 });

async function copyThin(src: FakeLun, dst: FakeLun, o: Partial<CopyOptions> = {}, method: CopyMethod = 'host') {
  const d = await details(src, dst, method);
  const offload = method === 'odx' ? new TokenMethod({ tokenBytes: 256n * KiB, inactivityTimeout: 0, effectiveInactivitySeconds: 60 }) : undefined;
  return runPlanned(pairOf(src, dst), d, o as CopyOptions, { methods: { offload, host: host() } });
}

/** Source blocks [lba, lba + n) touched by any logged data command on `dst`. */
function touched(dst: FakeLun, ops: string[], lba: number, n: number): boolean {
  return dst.ops(...ops).some((e) => e.lba !== undefined && Number(e.lba) < lba + n && Number(e.lba) + (e.blocks ?? 1) > lba);
}

describe('sparse planner', () => {
  it('lbaStatusMap joins the runs of several GET LBA STATUS replies', async () => {
    const src = thinSource({ descriptorsPerReply: 1 });
    const runs = await lbaStatusMap(src, 0n, BigInt(BLOCKS));
    assert.deepEqual(
      runs.map((r) => [Number(r.lba), Number(r.blocks), r.state]),
      src.runs().map(([l, b, m]) => [l, b, m ? 'mapped' : 'deallocated']),
    );
    assert.equal(src.ops('GLS').length, runs.length, 'one reply per run with one descriptor each');
    // A window in the middle of runs is cut to the window.
    const mid = await lbaStatusMap(src, 50n, 100n);
    assert.deepEqual(mid.map((r) => [Number(r.lba), Number(r.blocks), r.state]), [[50, 50, 'deallocated'], [100, 50, 'mapped']]);
  });

  const input = async (src: FakeLun, dst: FakeLun, extra: Partial<SparseInput> = {}): Promise<SparseInput> => ({
    mode: 'auto',
    src,
    dst,
    srcProvisioning: (await src.capabilities()).provisioning,
    dstProvisioning: (await dst.capabilities()).provisioning,
    srcOffset: 0n,
    dstOffset: 0n,
    length: BigInt(BLOCKS * BS),
    srcBlockSize: BS,
    dstBlockSize: BS,
    ...extra,
  });

  it('mapped -> copy, deallocated -> zero, or skip where the destination is deallocated too', async () => {
    const src = thinSource();
    const dst = new FakeLun({ blocks: BLOCKS, thin: {} });
    dst.deallocate(1500, 500);
    const p = await planSparse(await input(src, dst));
    assert.equal(p.used, true, p.reason);
    const b = (x: bigint) => Number(x) / BS;
    assert.deepEqual(
      p.pieces.map((x) => [b(x.offset), b(x.length), x.action]),
      [
        [0, 100, 'zero'],
        [100, 900, 'copy'],
        [1000, 500, 'zero'],
        [1500, 500, 'skip'],
        [2000, 2000, 'zero'],
        [4000, 2000, 'copy'],
        [6000, 2192, 'zero'],
      ],
    );
  });

  it('holes are cut inward to whole destination blocks (512 -> 4096): the edges are copied', async () => {
    const src = new FakeLun({ blocks: BLOCKS, thin: {} });
    src.deallocate(3, 30); // bytes 1536..16896: only 4096..16384 is whole 4 KiB blocks
    const dst = new FakeLun({ blocks: BLOCKS / 8, blockSize: 4096 });
    const p = await planSparse(await input(src, dst, { length: 64n * KiB, dstBlockSize: 4096 }));
    assert.deepEqual(
      p.pieces.map((x) => [Number(x.offset), Number(x.length), x.action]),
      [
        [0, 4096, 'copy'],
        [4096, 12288, 'zero'],
        [16384, 65536 - 16384, 'copy'],
      ],
    );
  });

  it('no plan when it cannot be right or is not wanted: sparse never, LBPME=0, LBPRZ=0, GET LBA STATUS refused', async () => {
    const dst = new FakeLun({ blocks: BLOCKS });
    const cases: Array<[FakeLun, Partial<SparseInput>, RegExp]> = [
      [thinSource(), { mode: 'never' }, /never/],
      [new FakeLun({ blocks: BLOCKS }), {}, /LBPME=0/],
      [thinSource({ lbprz: false }), {}, /LBPRZ=0/],
      [thinSource({ refuseGetLbaStatus: true }), {}, /GET LBA STATUS unusable/],
    ];
    for (const [src, extra, why] of cases) {
      const p = await planSparse(await input(src, dst, extra));
      assert.equal(p.used, false);
      assert.match(p.reason, why);
      assert.deepEqual(p.pieces, [{ offset: 0n, length: BigInt(BLOCKS * BS), action: 'copy' }]);
    }
  });
});

describe('sparse copies on the model', () => {
  beforeEach(() => clearPairCache());

  for (const method of ['host', 'odx'] as const) {
    it(`${method}: copied bytes equal the mapped bytes; the holes read as zeros on a thin destination (WRITE SAME with UNMAP)`, async () => {
      const src = thinSource();
      const dst = new FakeLun({ blocks: BLOCKS, thin: {} });
      const r = await copyThin(src, dst, {}, method);
      assert.ok(dst.mem.equals(src.mem), 'the destination reads like the source');
      assert.equal(r.copiedBytes, BigInt((BLOCKS - HOLE_BLOCKS) * BS));
      assert.equal(r.zeroedBytes, BigInt(HOLE_BLOCKS * BS));
      assert.equal(r.skippedBytes, 0n);
      assert.equal(r.bytes, r.length);
      assert.deepEqual(dst.runs(), src.runs(), 'the destination is deallocated where the source is');
      assert.equal(dst.ops('W').filter((w) => HOLES.some(([l, n]) => Number(w.lba) < l + n && Number(w.lba) + w.blocks! > l)).length, 0, 'no data written into a hole');
      assert.ok(dst.ops('WS UNMAP').length > 0);
      assert.equal(r.sparse.used, true);
      assert.deepEqual(
        r.extents.filter((e) => e.method === 'zero').map((e) => [Number(e.offset) / BS, Number(e.length) / BS]),
        HOLES,
      );
    });
  }

  it('a destination range already deallocated (LBPRZ) gets nothing at all', async () => {
    const src = thinSource();
    const dst = new FakeLun({ blocks: BLOCKS, thin: {} });
    for (const [lba, n] of HOLES) dst.deallocate(lba, n);
    const r = await copyThin(src, dst);
    assert.ok(dst.mem.equals(src.mem));
    assert.equal(r.skippedBytes, BigInt(HOLE_BLOCKS * BS));
    assert.equal(r.zeroedBytes, 0n);
    for (const [lba, n] of HOLES) assert.equal(touched(dst, ['W', 'WS', 'WS UNMAP', 'UNMAP', 'WUT'], lba, n), false, `nothing sent to ${lba}+${n}`);
    assert.ok(dst.ops('SC16').length > 0, 'the flush still covers the range');
  });

  it('a destination without provisioning gets zeros written (WRITE SAME of a zero block)', async () => {
    const src = thinSource();
    const dst = new FakeLun({ blocks: BLOCKS });
    const r = await copyThin(src, dst);
    assert.ok(dst.mem.equals(src.mem));
    assert.equal(r.zeroedBytes, BigInt(HOLE_BLOCKS * BS));
    assert.ok(dst.ops('WS').length > 0);
    assert.equal(dst.ops('WS UNMAP', 'UNMAP', 'GLS').length, 0, 'no provisioning commands to a LUN without it');
  });

  it('a thin destination without LBPRZ is not trusted to read zeros: zeros written, no deallocation', async () => {
    const src = thinSource();
    const dst = new FakeLun({ blocks: BLOCKS, thin: { lbprz: false } });
    const r = await copyThin(src, dst);
    assert.ok(dst.mem.equals(src.mem));
    assert.equal(r.zeroedBytes, BigInt(HOLE_BLOCKS * BS));
    assert.equal(dst.ops('WS UNMAP', 'UNMAP').length, 0);
  });

  it('UNMAP only (no LBPWS), coarse granules: what UNMAP left mapped is found with GET LBA STATUS and zeroed by the next method', async () => {
    const src = thinSource();
    const dst = new FakeLun({ blocks: BLOCKS, thin: { lbpws: false, unmapGranularity: 64 } });
    const r = await copyThin(src, dst);
    assert.ok(dst.mem.equals(src.mem), 'every hole reads as zeros');
    assert.ok(dst.ops('UNMAP').length > 0);
    assert.ok(dst.ops('WS').length > 0, 'the unaligned ends went on down the ladder');
    assert.equal(r.zeroedBytes, BigInt(HOLE_BLOCKS * BS));
  });

  it("sparse 'never' copies everything and asks nothing", async () => {
    const src = thinSource();
    const dst = new FakeLun({ blocks: BLOCKS, thin: {} });
    const r = await copyThin(src, dst, { sparse: 'never' });
    assert.ok(dst.mem.equals(src.mem));
    assert.equal(r.copiedBytes, BigInt(BLOCKS * BS));
    assert.equal(r.zeroedBytes + r.skippedBytes, 0n);
    assert.equal(src.ops('GLS').length, 0);
  });

  it('a source refusing GET LBA STATUS is copied whole, as today', async () => {
    const src = thinSource({ refuseGetLbaStatus: true });
    const dst = new FakeLun({ blocks: BLOCKS, thin: {} });
    const r = await copyThin(src, dst);
    assert.ok(dst.mem.equals(src.mem));
    assert.equal(r.copiedBytes, BigInt(BLOCKS * BS));
    assert.equal(r.sparse.used, false);
    assert.match(r.sparse.reason, /GET LBA STATUS unusable/);
  });

  it('progress counts copied, zeroed and skipped bytes', async () => {
    const src = thinSource();
    const dst = new FakeLun({ blocks: BLOCKS, thin: {} });
    dst.deallocate(0, 100);
    let last: CopyProgress | undefined;
    await copyThin(src, dst, { progressIntervalMs: 0, onProgress: (p) => (last = p) });
    assert.ok(last);
    assert.equal(last.bytesDone, BigInt(BLOCKS * BS));
    assert.equal(last.bytesDone, last.copiedBytes! + last.zeroedBytes! + last.skippedBytes!);
    assert.equal(last.skippedBytes, 100n * 512n);
  });
});

describe('zeroing: the unmap rung', () => {
  it('auto on a thin LUN that reads deallocated blocks as zeros deallocates first', async () => {
    const l = new FakeLun({ blocks: BLOCKS, thin: {} });
    const r = await zeroRange({ device: l, offset: 512n, length: 1000n * 512n });
    assert.deepEqual(r.candidates, ['unmap', 'write-same', 'write']);
    assert.equal(r.byMethod.unmap, 1000n * 512n);
    assert.ok(l.mem.subarray(512, 512 + 1000 * 512).every((b) => b === 0));
    assert.deepEqual(l.runs(), [[0, 1, true], [1, 1000, false], [1001, BLOCKS - 1001, true]]);
  });

  it('not on a thin LUN without LBPRZ', async () => {
    const l = new FakeLun({ blocks: BLOCKS, thin: { lbprz: false } });
    const r = await zeroRange({ device: l, offset: 0n, length: 64n * 512n });
    assert.deepEqual(r.candidates, ['write-same', 'write']);
    assert.ok(l.mem.subarray(0, 64 * 512).every((b) => b === 0));
  });
});
