// Copies where a side is a volume over several LUNs (lib/engine/span.ts), in the in-process LUN
// model: the copy is cut where a side moves to another LUN, each LUN pair gets the method the
// planner gives that pair, every command stays inside its own LUN's extents, every destination
// LUN is flushed, and the account and the journal speak device offsets. The lab spec
// (test/integration/span.test.ts) proves the same against the kernel's dm and iSCSI.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CopyError, runJournalled, runPlanned } from '../../lib/engine/copy';
import { journalHeader, JournalWriter, readJournal } from '../../lib/engine/journal';
import { sameLun } from '../../lib/engine/resume';
import { SideMap } from '../../lib/engine/layout';
import { clearPairCache, rememberFailure } from '../../lib/engine/pair-cache';
import { planPair, type OpenedPair } from '../../lib/engine/plan';
import { lunRuns } from '../../lib/engine/span';
import type { CopyOptions } from '../../lib/engine/types';
import type { DeviceLayout, ScsiDevice } from '../../lib/device/device';
import type { Extent, Stack } from '../../lib/device/stack';
import { UsageError } from '../../lib/errors';
import { TransportError } from '../../lib/scsi/errors';
import type { EncodedCommand } from '../../lib/native';
import type { CommandOptions } from '../../lib/scsi/transport';
import { FakeLun, fillPattern } from './helpers/fake-lun';

const KiB = 1024n;
const K = 1024;

let addr = 0;
/** A FakeLun dressed as what the planner probes (identity, copy manager limits, nodes). */
function device(k: ConstructorParameters<typeof FakeLun>[0] & { xcopy?: boolean } = {}): FakeLun & ScsiDevice {
  const f = new FakeLun({ blocks: 4096, ...k });
  const caps = f.capabilities.bind(f);
  const a = `9:0:${addr++}:0`;
  const sg = `/dev/sgfake${addr}`;
  Object.assign(f, {
    nodes: { address: a, sg },
    commandNode: sg,
    dataNode: sg,
    identity: async () => ({ vendor: 'FAKE', product: 'LUN', revision: '1', threePC: true, designators: [], copyDesignator: f.cscd.designator, naa: f.naa.toString('hex') }),
    capabilities: async () => ({
      ...(await caps()),
      probeErrors: [],
      xcopyLid1:
        k.xcopy === false
          ? { supported: false, reason: 'fake: no copy manager' }
          : { supported: true, reason: 'fake', limits: { maximumCscdDescriptorCount: 4, maximumSegmentDescriptorCount: 4, maximumDescriptorListLength: 1024, maximumSegmentLength: 65536, snlid: true, heldDataLimit: 0 } },
    }),
  });
  return f as FakeLun & ScsiDevice;
}

function stackOf(given: string, luns: number, extents: Extent[]): Stack {
  const bytes = extents.reduce((n, e) => n + e.length, 0n);
  const below = Array.from({ length: luns }, (_, i) => ({ kind: 'disk' as const, node: `sdf${i}`, lun: i, below: [] }));
  return {
    given,
    top: given,
    topName: 'dm-9',
    topKind: 'block',
    chain: { kind: 'lvm', node: 'dm-9', name: 'vg-span', segments: extents.length, below },
    luns: below.map((b) => ({ id: `fake.${b.node}`, paths: [], chosen: undefined, bytes: 2n << 20n, blockSize: 512 })),
    extents,
    bytes,
    blockSize: 512,
    plain: false,
  };
}

/** A volume over `parts` (LUN i of the stack is parts[i]), as ScsiDevice.open makes it: one device per LUN with its extents. */
function spanning(given: string, parts: Array<FakeLun & ScsiDevice>, extents: Extent[]): ScsiDevice {
  const stack = stackOf(given, parts.length, extents);
  const layout: DeviceLayout = { stack, extents, bytes: stack.bytes };
  parts.forEach((p, i) => Object.assign(p, { layout: { stack, extents: extents.filter((e) => e.lun === i), bytes: stack.bytes } }));
  const first = parts[extents[0]!.lun]!;
  return Object.assign(Object.create(first) as ScsiDevice, { path: given, layout, parts });
}

// vg-span: 256 KiB on LUN 0 at 512 KiB, 512 KiB on LUN 1 at 1024 KiB, 256 KiB on LUN 0 at 1536 KiB.
const SPAN: Extent[] = [
  { offset: 0n, length: 256n * KiB, lun: 0, lunOffset: 512n * KiB },
  { offset: 256n * KiB, length: 512n * KiB, lun: 1, lunOffset: 1024n * KiB },
  { offset: 768n * KiB, length: 256n * KiB, lun: 0, lunOffset: 1536n * KiB },
];

/** The bytes of a volume's device range [off, off+len) from its LUNs' memory. */
function volumeBytes(parts: FakeLun[], extents: Extent[], off: bigint, len: bigint): Buffer {
  const m = new SideMap({ extents } as unknown as DeviceLayout, off);
  let pos = 0n;
  const out: Buffer[] = [];
  while (pos < len) {
    const { lunOffset, room, lun } = m.at(pos);
    const n = room < len - pos ? room : len - pos;
    out.push(Buffer.from(parts[lun]!.mem.subarray(Number(lunOffset), Number(lunOffset + n))));
    pos += n;
  }
  return Buffer.concat(out);
}

/** Every command of these names on `lun` lies inside one of its extents. */
function assertInside(lun: FakeLun, extents: Extent[], names: string[]): number {
  const cmds = lun.ops(...names);
  for (const c of cmds) {
    const a = c.lba! * 512n;
    const b = a + BigInt(c.blocks!) * 512n;
    assert.ok(extents.some((e) => a >= e.lunOffset && b <= e.lunOffset + e.length), `${c.op} ${c.lba}+${c.blocks} inside an extent of its LUN`);
  }
  return cmds.length;
}

const pairOf = (src: ScsiDevice, dst: ScsiDevice): OpenedPair => ({ src, dst, close: async () => undefined });

describe('copies over a volume that spans several LUNs', () => {
  beforeEach(() => clearPairCache());

  it('lunRuns: one run per LUN pair, cut where either side moves to another LUN, neighbours on the same pair joined', () => {
    const layout = { extents: SPAN } as unknown as DeviceLayout;
    assert.deepEqual(lunRuns(1024n * KiB, new SideMap(layout, 0n), new SideMap(undefined, 0n)), [
      { offset: 0n, length: 256n * KiB, srcLun: 0, dstLun: 0 },
      { offset: 256n * KiB, length: 512n * KiB, srcLun: 1, dstLun: 0 },
      { offset: 768n * KiB, length: 256n * KiB, srcLun: 0, dstLun: 0 },
    ]);
    // Both sides spanning, cut apart: the destination's LUN change at 512 KiB splits the source's run on LUN 1.
    const dst = { extents: [
      { offset: 0n, length: 512n * KiB, lun: 0, lunOffset: 0n },
      { offset: 512n * KiB, length: 512n * KiB, lun: 1, lunOffset: 0n },
    ] } as unknown as DeviceLayout;
    assert.deepEqual(lunRuns(768n * KiB, new SideMap(layout, 128n * KiB), new SideMap(dst, 0n)), [
      { offset: 0n, length: 128n * KiB, srcLun: 0, dstLun: 0 },
      { offset: 128n * KiB, length: 384n * KiB, srcLun: 1, dstLun: 0 },
      { offset: 512n * KiB, length: 128n * KiB, srcLun: 1, dstLun: 1 },
      { offset: 640n * KiB, length: 128n * KiB, srcLun: 0, dstLun: 1 },
    ]);
    // Two extents on the same LUN pair in a row are one run (the run's own plan cuts at the extent).
    const seg = { extents: [
      { offset: 0n, length: 256n * KiB, lun: 0, lunOffset: 1024n * KiB },
      { offset: 256n * KiB, length: 256n * KiB, lun: 0, lunOffset: 0n },
    ] } as unknown as DeviceLayout;
    assert.deepEqual(lunRuns(512n * KiB, new SideMap(seg, 0n), new SideMap(undefined, 0n)), [{ offset: 0n, length: 512n * KiB, srcLun: 0, dstLun: 0 }]);
  });

  it('volume over two LUNs → LUN: the method is chosen per LUN pair (token copy on LUN 0, EXTENDED COPY on LUN 1), bytes land, nothing else changes, every command inside its LUN\'s extents', async () => {
    const a0 = device();
    const a1 = device({ tokenCopy: false });
    const b = device();
    fillPattern(a0.mem, 3);
    fillPattern(a1.mem, 4);
    fillPattern(b.mem, 9);
    const before = Buffer.from(b.mem);
    const src = spanning('/dev/vg/span', [a0, a1], SPAN);
    const pair = pairOf(src, b);
    const o = { src, dst: b, srcOffset: 128n * KiB, dstOffset: 256n * KiB, length: 768n * KiB, tokenSize: 64n * KiB, verify: true } as CopyOptions;
    const details = await planPair(pair, o);
    const [k0, k1, kb] = [a0, a1, b].map((x) => `naa.${x.naa.toString('hex')}`);
    assert.deepEqual(details.plan.runs, [
      { offset: 0n, length: 128n * KiB, src: k0, dst: kb, method: 'odx' },
      { offset: 128n * KiB, length: 512n * KiB, src: k1, dst: kb, method: 'xcopy' },
      { offset: 640n * KiB, length: 128n * KiB, src: k0, dst: kb, method: 'odx' },
    ], 'the plan says each LUN pair\'s method');
    const seen: Array<[bigint, bigint]> = [];
    const r = await runPlanned(pair, details, { ...o, onProgress: (p) => seen.push([p.bytesDone, p.totalBytes]) });
    assert.equal(r.bytes, 768n * KiB);
    // Progress counts the whole copy through its runs: never back, ending at its length.
    assert.ok(seen.length >= 3, 'each run reported');
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0], `progress went back at ${i}: ${seen.map((x) => x[0]).join(',')}`);
    assert.deepEqual(seen[seen.length - 1], [768n * KiB, 768n * KiB]);
    assert.equal(r.verified, true);
    assert.equal(r.synced, true);
    assert.deepEqual(r.extents, [
      { offset: 0n, length: 128n * KiB, method: 'odx' },
      { offset: 128n * KiB, length: 512n * KiB, method: 'xcopy' },
      { offset: 640n * KiB, length: 128n * KiB, method: 'odx' },
    ]);
    assert.deepEqual(r.byMethod, { odx: 256n * KiB, xcopy: 512n * KiB, host: 0n });
    assert.equal(r.method, 'odx');
    assert.equal(r.contiguousBytes, 768n * KiB);
    assert.equal(r.srcOffset, 128n * KiB);
    assert.equal(r.dstOffset, 256n * KiB);
    const want = volumeBytes([a0, a1], SPAN, 128n * KiB, 768n * KiB);
    assert.ok(b.mem.subarray(256 * K, 1024 * K).equals(want), 'the LUN holds the volume\'s bytes in order');
    assert.ok(b.mem.subarray(0, 256 * K).equals(before.subarray(0, 256 * K)), 'nothing before changed');
    assert.ok(b.mem.subarray(1024 * K).equals(before.subarray(1024 * K)), 'nothing after changed');
    assert.ok(assertInside(a0, SPAN.filter((e) => e.lun === 0), ['PT', 'R']) >= 4, 'LUN 0 was read by tokens and verify');
    assert.ok(assertInside(a1, SPAN.filter((e) => e.lun === 1), ['R']) >= 1, 'LUN 1 was read by verify');
    assert.equal(a1.ops('PT').length, 0, 'no token asked of the LUN without token copy');
    assert.ok(b.ops('XCOPY').length >= 1, 'EXTENDED COPY went to the destination for the LUN 1 run');
    assert.ok(b.ops('SC16', 'SC10').length >= 1, 'the destination was flushed');
  });

  it('the pair cache speaks of LUN pairs: an offload remembered as failing for LUN 1 → B only sends that run to the next method', async () => {
    const a0 = device();
    const a1 = device();
    const b = device({ xcopy: false });
    fillPattern(a0.mem, 5);
    fillPattern(a1.mem, 6);
    rememberFailure(`naa.${a1.naa.toString('hex')}`, `naa.${b.naa.toString('hex')}`, 'odx', 'invalid token (test)');
    const src = spanning('/dev/vg/span', [a0, a1], SPAN);
    const pair = pairOf(src, b);
    const o = { src, dst: b, length: 1024n * KiB } as CopyOptions;
    const r = await runPlanned(pair, await planPair(pair, o), o);
    assert.deepEqual(r.extents.map((e) => [e.offset / KiB, e.length / KiB, e.method]), [[0n, 256n, 'odx'], [256n, 512n, 'host'], [768n, 256n, 'odx']]);
    assert.equal(r.method, 'mixed');
    assert.ok(b.mem.subarray(0, 1024 * K).equals(volumeBytes([a0, a1], SPAN, 0n, 1024n * KiB)));
  });

  it('LUN → volume over two LUNs, journalled: every destination LUN is flushed over its own ranges, the journal holds device offsets', async () => {
    const a = device();
    const b0 = device();
    const b1 = device();
    fillPattern(a.mem, 7);
    fillPattern(b0.mem, 1);
    fillPattern(b1.mem, 2);
    const b0Before = Buffer.from(b0.mem);
    const b1Before = Buffer.from(b1.mem);
    const dst = spanning('/dev/vg/span', [b0, b1], SPAN);
    const pair = pairOf(a, dst);
    const o = { src: a, dst, srcOffset: 64n * KiB, dstOffset: 192n * KiB, length: 640n * KiB } as CopyOptions;
    const details = await planPair(pair, o);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'span-'));
    try {
      const file = path.join(dir, 'j');
      const header = { odxcp: 'journal' as const, version: 1, createdAt: new Date().toISOString(), src: { path: a.path, blockSize: 512 }, dst: { path: dst.path, blockSize: 512 }, srcOffset: 64n * KiB, dstOffset: 192n * KiB, length: 640n * KiB, mode: 'auto' as const, sparse: 'auto' as const, sync: true };
      const r = await runJournalled(pair, details, o, JournalWriter.create(file, header));
      assert.equal(r.bytes, 640n * KiB);
      assert.equal(r.synced, true);
      const j = readJournal(file);
      assert.equal(j.done, true);
      assert.deepEqual(j.extents, r.extents);
      assert.deepEqual(j.extents.map((e) => [e.offset, e.length]), [[0n, 640n * KiB]]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // Volume bytes [192, 832) KiB: LUN 0 [704, 768) KiB, LUN 1 [1024, 1536) KiB, LUN 0 [1536, 1600) KiB.
    assert.ok(volumeBytes([b0, b1], SPAN, 192n * KiB, 640n * KiB).equals(a.mem.subarray(64 * K, 704 * K)));
    /** `m` equals `was` outside the KiB ranges [from, to). */
    const keep = (m: Buffer, was: Buffer, ranges: Array<[number, number]>) => {
      let at = 0;
      for (const [from, to] of [...ranges, [m.length / K, m.length / K] as [number, number]]) {
        assert.ok(m.subarray(at, from * K).equals(was.subarray(at, from * K)), `nothing changed in [${at / K}, ${from}) KiB`);
        assert.ok(!m.subarray(from * K, to * K).equals(was.subarray(from * K, to * K)) || from === to, `[${from}, ${to}) KiB was written`);
        at = to * K;
      }
    };
    keep(b0.mem, b0Before, [[704, 768], [1536, 1600]]);
    keep(b1.mem, b1Before, [[1024, 1536]]);
    // SYNCHRONIZE CACHE on each destination LUN, each inside that LUN's extents.
    assert.ok(assertInside(b0, SPAN.filter((e) => e.lun === 0), ['SC16', 'SC10', 'WUT']) >= 2, 'LUN 0 written and flushed');
    assert.ok(assertInside(b1, SPAN.filter((e) => e.lun === 1), ['SC16', 'SC10', 'WUT']) >= 2, 'LUN 1 written and flushed');
    assert.ok(b0.ops('SC16', 'SC10').length >= 1 && b1.ops('SC16', 'SC10').length >= 1);
  });

  it('the journal names a volume\'s LUNs in order, and resume refuses a volume on other LUNs (or in another order) at the same path', async () => {
    const a = device();
    const [b0, b1, c] = [device(), device(), device()];
    const dst = spanning('/dev/vg/span', [b0, b1], SPAN);
    const pair = pairOf(a, dst);
    const o = { src: a, dst, length: 640n * KiB } as CopyOptions;
    const header = await journalHeader(pair, await planPair(pair, o), o);
    assert.deepEqual(header.dst.luns, dst.layout!.stack.luns.map((l) => l.id));
    assert.equal(header.dst.luns?.length, 2);
    assert.equal(header.src.luns, undefined, 'a plain LUN has its NAA only');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'span-'));
    try {
      const file = path.join(dir, 'j');
      await JournalWriter.create(file, header).close(async () => undefined);
      const j = readJournal(file);
      assert.deepEqual(j.header.dst.luns, header.dst.luns, 'the LUN list survives the file');
      await sameLun(dst, j.header.dst, 'destination', file);
      await sameLun(a, j.header.src, 'source', file);
      // The same path now a volume over B0 and C: refused, naming both lists.
      const other = spanning('/dev/vg/span', [b0, c], SPAN);
      Object.assign(other.layout!.stack.luns[1]!, { id: 'fake.other' });
      await assert.rejects(sameLun(other, j.header.dst, 'destination', file), (e: unknown) => e instanceof UsageError && /destination \/dev\/vg\/span is not the volume the journal was written for \(on LUNs fake\.sdf0, fake\.other; the journal says fake\.sdf0, fake\.sdf1\)/.test(e.message));
      const swapped = { ...j.header.dst, luns: [...header.dst.luns!].reverse() };
      await assert.rejects(sameLun(dst, swapped, 'destination', file), /is not the volume the journal was written for/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a run that fails stops the copy with one account over the device offsets (the runs before it, and its own prefix)', async () => {
    const a0 = device();
    const a1 = device({ tokenCopy: false });
    const b = device({ failXcopyAfterSegments: 2 });
    fillPattern(a0.mem, 3);
    fillPattern(a1.mem, 4);
    const src = spanning('/dev/vg/span', [a0, a1], SPAN);
    const pair = pairOf(src, b);
    const o = { src, dst: b, length: 1024n * KiB, fallback: false, maxInFlight: 1 } as CopyOptions;
    const details = await planPair(pair, o);
    const e = await runPlanned(pair, details, o).then(
      () => assert.fail('the copy should stop'),
      (x: unknown) => x,
    );
    assert.ok(e instanceof CopyError, String(e));
    const r = e.result;
    assert.equal(r.length, 1024n * KiB);
    assert.equal(r.extents[0]?.method, 'odx');
    assert.equal(r.extents[0]?.offset, 0n);
    assert.ok(r.contiguousBytes >= 256n * KiB && r.contiguousBytes < 768n * KiB, `stopped in the second run (${r.contiguousBytes})`);
    assert.equal(r.bytes, r.contiguousBytes, 'nothing after the failed run');
    assert.match(e.message, new RegExp(`^copy failed: the first ${r.contiguousBytes} bytes are copied; ${r.bytes} of 1048576 bytes in all: `));
    assert.ok(b.mem.subarray(0, Number(r.bytes)).equals(volumeBytes([a0, a1], SPAN, 0n, r.bytes)));
  });

  it('a run that ends PATH_UNCONFIRMED does not stop the later runs: they complete, and the copy ends PATH_UNCONFIRMED naming the range at the copy\'s offsets', async () => {
    const a0 = device();
    const a1 = device({ tokenCopy: false });
    const b = device();
    fillPattern(a0.mem, 3);
    fillPattern(a1.mem, 4);
    fillPattern(b.mem, 9);
    const before = Buffer.from(b.mem);
    // The first WRITE USING TOKEN on B reaches it and is lost (DID_ERROR); asking about its list
    // then fails on a dead path: its fate is unknown, so its 64 KiB are left alone.
    const inner = b.command.bind(b);
    let lostId: number | undefined;
    const lost = (cdb: Buffer, hostStatus: number) => new TransportError({ command: `op 0x${cdb[0]!.toString(16)}`, opcode: cdb[0], serviceAction: cdb[1]! & 0x1f, hostStatus, code: `host 0x${hostStatus.toString(16)}`, message: `transport error (host status 0x${hostStatus.toString(16)})` });
    Object.assign(b, {
      command: async (cmd: EncodedCommand, co?: CommandOptions) => {
        const [op, sa] = [cmd.cdb[0], cmd.cdb[1]! & 0x1f];
        if (op === 0x83 && sa === 0x11 && lostId === undefined) {
          lostId = cmd.cdb.readUInt32BE(6);
          await inner(cmd, co);
          throw lost(cmd.cdb, 0x07);
        }
        if (op === 0x84 && lostId !== undefined && cmd.cdb.readUInt32BE(2) === lostId) throw lost(cmd.cdb, 0x01);
        return inner(cmd, co);
      },
    });
    const src = spanning('/dev/vg/span', [a0, a1], SPAN);
    const pair = pairOf(src, b);
    const o = { src, dst: b, length: 1024n * KiB, tokenSize: 64n * KiB, maxInFlight: 1 } as CopyOptions;
    const e = await runPlanned(pair, await planPair(pair, o), o).then(
      () => assert.fail('the copy should end PATH_UNCONFIRMED'),
      (x: unknown) => x,
    );
    assert.ok(e instanceof CopyError, String(e));
    assert.equal(e.code, 'PATH_UNCONFIRMED');
    assert.match(e.message, /^copy incomplete: the first 0 bytes are copied; 983040 of 1048576 bytes in all .*WRITE USING TOKEN list \d+ on .* was lost .*; 65536 bytes from \+0 are unconfirmed and were not rewritten$/);
    const r = e.result;
    assert.deepEqual(r.unconfirmed, [{ offset: 0n, length: 64n * KiB, node: b.path }]);
    assert.equal(r.bytes, 960n * KiB);
    assert.deepEqual(r.extents.map((x) => [x.offset, x.length, x.method]), [
      [64n * KiB, 192n * KiB, 'odx'],
      [256n * KiB, 512n * KiB, 'xcopy'],
      [768n * KiB, 256n * KiB, 'odx'],
    ], 'the later runs ran');
    assert.ok(b.mem.subarray(64 * K, 1024 * K).equals(volumeBytes([a0, a1], SPAN, 64n * KiB, 960n * KiB)), 'the later runs\' bytes landed');
    const want = volumeBytes([a0, a1], SPAN, 0n, 64n * KiB);
    assert.ok(b.mem.subarray(0, 64 * K).equals(want), 'the lost list did write its range (the model ran it), and nothing rewrote it');
    assert.equal(b.ops('W').filter((w) => w.lba! < 128n).length, 0, 'no host WRITE into the unconfirmed range');
    assert.ok(b.mem.subarray(1024 * K).equals(before.subarray(1024 * K)), 'nothing after changed');
  });

  it('the plan refuses a copy whose destination meets the source on a LUN in another run (nothing written)', async () => {
    const a0 = device();
    const a1 = device();
    fillPattern(a0.mem, 3);
    const before = Buffer.from(a0.mem);
    const src = spanning('/dev/vg/span', [a0, a1], SPAN);
    // Destination: LUN 0 itself from byte 0. The run on LUN 1 would write LUN 0 [256, 768) KiB,
    // where the first run reads [512, 768) KiB; no single run's pair meets itself.
    const lun0 = Object.assign(Object.create(a0) as ScsiDevice, { layout: undefined }); // LUN 0 opened by its own node
    const pair = pairOf(src, lun0);
    const o = { src, dst: lun0, length: 1024n * KiB } as CopyOptions;
    await assert.rejects(
      async () => planPair(pair, o),
      (x: unknown) => x instanceof UsageError && /source and destination ranges overlap on LUN naa\.[0-9a-f]+ \(bytes 524288\+262144 and 262144\+524288 of the LUN\)/.test(x.message),
    );
    assert.ok(a0.mem.equals(before), 'nothing written');
    assert.equal(a0.ops('W', 'WUT', 'XCOPY').length, 0);
  });
});
