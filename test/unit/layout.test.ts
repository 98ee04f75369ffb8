// The copy engine on layered devices (lib/engine/layout.ts and the chunk loop): a copy between
// a 2-segment LV and a partition, in the in-process LUN model. Chunks are cut at the segment
// boundary; every command's LBA range stays inside the device's extents; the destination LUN
// holds the source's bytes where the extents say and nothing else changed. The lab proves the
// same against the kernel's dm and partition code.
import { strict as assert } from 'node:assert';
import { runPlanned } from '../../lib/engine/copy';
import { copyCuts, SideMap, splitAtCuts } from '../../lib/engine/layout';
import { HostMethod } from '../../lib/engine/methods/host';
import { TokenMethod } from '../../lib/engine/methods/token';
import { XcopyMethod } from '../../lib/engine/methods/xcopy';
import { clearPairCache } from '../../lib/engine/pair-cache';
import type { OpenedPair, PlanDetails } from '../../lib/engine/plan';
import type { CopyMethod, CopyOptions } from '../../lib/engine/types';
import type { DeviceLayout } from '../../lib/device/device';
import type { Extent, Stack } from '../../lib/device/stack';
import { FakeLun, fillPattern } from './helpers/fake-lun';

const KiB = 1024n;
const BS = 512;

function layoutOf(extents: Extent[]): DeviceLayout {
  const bytes = extents.reduce((a, e) => a + e.length, 0n);
  return { stack: { given: '/dev/vg0/lv1', extents, bytes } as unknown as Stack, extents, bytes };
}

// Source: vg0/lv1, 256 KiB at LUN byte 1024 KiB, then 256 KiB at LUN byte 256 KiB (placed before).
const LV: Extent[] = [
  { offset: 0n, length: 256n * KiB, lun: 0, lunOffset: 1024n * KiB },
  { offset: 256n * KiB, length: 256n * KiB, lun: 0, lunOffset: 256n * KiB },
];
// Destination: a partition of 1 MiB starting at LUN byte 2048 KiB.
const PART: Extent[] = [{ offset: 0n, length: 1024n * KiB, lun: 0, lunOffset: 2048n * KiB }];

function details(method: CopyMethod, srcOffset: bigint, dstOffset: bigint, length: bigint, chunk: bigint): PlanDetails {
  const dev = { path: '/dev/fake', vendor: 'V', product: 'P', blockSize: BS, bytes: 1024n * KiB };
  return {
    plan: { src: dev, dst: dev, srcOffset, dstOffset, length, method, verdicts: { odx: { usable: true, reason: '' }, xcopy: { usable: true, reason: '' } }, chunkBytes: chunk, hostTransferBytes: 64 * 1024, maxInFlight: 2 },
    srcCaps: {} as never,
    dstCaps: {} as never,
    srcKey: 'naa.fake-src',
    dstKey: 'naa.fake-dst',
    tokenBytes: chunk,
    inactivityTimeout: 60,
    tokenLifetime: 0,
    hostDepth: 2,
  };
}

describe('copies between layered devices (extent translation)', () => {
  beforeEach(() => clearPairCache());

  it('SideMap maps copy offsets to LUN offsets and says where extents change', () => {
    const m = new SideMap(layoutOf(LV), 128n * KiB);
    assert.deepEqual(m.cuts(256n * KiB), [128n * KiB]);
    assert.deepEqual(m.at(0n), { lunOffset: 1152n * KiB, room: 128n * KiB, lun: 0 });
    assert.deepEqual(m.at(128n * KiB), { lunOffset: 256n * KiB, room: 256n * KiB, lun: 0 });
    assert.equal(m.baseAt(128n * KiB), 128n * KiB);
    assert.deepEqual(m.ranges(0n, 256n * KiB), [
      { lunOffset: 1152n * KiB, length: 128n * KiB },
      { lunOffset: 256n * KiB, length: 128n * KiB },
    ]);
    assert.throws(() => m.at(400n * KiB), /on no LUN extent/);
    const plain = new SideMap(undefined, 4096n);
    assert.deepEqual(plain.cuts(1n << 30n), []);
    assert.equal(plain.at(10n).lunOffset, 4106n);
    assert.deepEqual(copyCuts(256n * KiB, m, new SideMap(layoutOf(PART), 0n)), [128n * KiB]);
    assert.deepEqual(
      splitAtCuts([{ offset: 0n, length: 192n * KiB, action: 'copy' }, { offset: 192n * KiB, length: 64n * KiB, action: 'copy' }], [128n * KiB]),
      [
        { offset: 0n, length: 128n * KiB, action: 'copy' },
        { offset: 128n * KiB, length: 64n * KiB, action: 'copy' },
        { offset: 192n * KiB, length: 64n * KiB, action: 'copy' },
      ],
    );
  });

  for (const method of ['odx', 'xcopy', 'host'] as const) {
    it(`${method}: LV (across its segment boundary) → partition: bytes land where the extents say, nothing else changes, verify reads the same places`, async () => {
      const src = new FakeLun({ blocks: 8192 });
      const dst = new FakeLun({ blocks: 8192 });
      fillPattern(src.mem, 5);
      fillPattern(dst.mem, 9);
      const before = Buffer.from(dst.mem);
      Object.assign(src, { layout: layoutOf(LV) });
      Object.assign(dst, { layout: layoutOf(PART) });
      const pair = { src, dst, close() {} } as unknown as OpenedPair;
      // Device bytes [128 KiB, 384 KiB) of the LV → [64 KiB, 320 KiB) of the partition; chunks of 192 KiB would straddle the boundary.
      const d = details(method, 128n * KiB, 64n * KiB, 256n * KiB, 192n * KiB);
      const xo = { commandBytes: 192n * KiB, segmentBytes: 64n * KiB, segmentsPerCommand: 3, source: src.cscd, destination: dst.cscd, on: 'dst' as const, listIdUsage: 'none' as const, listId: 0 };
      const offload = method === 'odx' ? new TokenMethod({ tokenBytes: 192n * KiB, inactivityTimeout: 0, effectiveInactivitySeconds: 60 }) : method === 'xcopy' ? new XcopyMethod(xo) : undefined;
      const r = await runPlanned(pair, d, { verify: true } as CopyOptions, { methods: { offload, host: new HostMethod({ transferBytes: 16384, depth: 2 }) } });
      assert.equal(r.bytes, 256n * KiB);
      assert.equal(r.verified, true);
      assert.equal(r.byMethod[method], 256n * KiB, 'no fallback');
      // LV bytes 128..256 KiB are LUN 1152..1280 KiB; LV 256..384 KiB are LUN 256..384 KiB.
      const want = Buffer.concat([src.mem.subarray(1152 * 1024, 1280 * 1024), src.mem.subarray(256 * 1024, 384 * 1024)]);
      const at = 2048 * 1024 + 64 * 1024;
      assert.ok(dst.mem.subarray(at, at + 256 * 1024).equals(want), 'the partition holds the LV bytes in order');
      assert.ok(dst.mem.subarray(0, at).equals(before.subarray(0, at)), 'nothing before changed');
      assert.ok(dst.mem.subarray(at + 256 * 1024).equals(before.subarray(at + 256 * 1024)), 'nothing after changed');
      // Every source command stays inside one LV extent.
      const inside = (lba: bigint, blocks: number) => LV.some((e) => lba * 512n >= e.lunOffset && (lba + BigInt(blocks)) * 512n <= e.lunOffset + e.length);
      const srcCmds = method === 'odx' ? src.ops('PT') : method === 'host' ? src.ops('R') : [];
      assert.ok(method === 'xcopy' || srcCmds.length >= 2, 'the source was read in pieces');
      for (const c of srcCmds) assert.ok(inside(c.lba!, c.blocks!), `${c.op} ${c.lba}+${c.blocks} inside an extent`);
      // The account speaks device offsets of the copy, contiguous.
      assert.equal(r.contiguousBytes, 256n * KiB);
    });
  }
});
