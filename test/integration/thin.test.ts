// Thin-provisioning aware copies against scsi_debug's provisioning (lbpu, lbpws, lbprz; two
// hosts with separate stores, test/lab/guest/boot.sh): a 256 MiB thin source with a few
// written extents and the rest deallocated, copied to a destination that held random data.
// Witnesses: both devices read back in full (scsi_debug has no backing file), the kernel's
// map of the source's store (/sys/bus/pseudo/drivers/scsi_debug/map, store 0 = sdebug0), and
// for the LIO destination its backing file.
// The same scenario again on the second, independent target: two odx handler LUNs with thin=1
// (test/targets/odx), whose provisioning is their backing files' holes. Witnesses there: the
// files byte for byte, their allocated size (the kernel's tmpfs account), sg_get_lba_status's
// decoding of the destination, and the kernel's record of the commands dispatched to it.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copy, clearPairCache, type CopyResult } from '../../lib/engine';
import { ScsiDevice } from '../../lib/device/device';
import * as cmds from '../../lib/scsi/commands';
import { lbaStatusMap } from '../../lib/engine/sparse';
import { CommandTrace, lun, RuntimeOdxTarget, tool, writeBacking, type Dispatched, type LabLun } from './lab';

const KiB = 1024;
const MiB = 1024 * 1024;
const BS = 512;
const MAP = '/sys/bus/pseudo/drivers/scsi_debug/map';
const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');

/** The source's written extents: [offset, length] in bytes, in order, not touching. */
const EXTENTS: Array<[number, number]> = [
  [MiB, 3 * MiB],
  [100 * MiB, MiB + 512],
  [200 * MiB + 4 * KiB, 8 * MiB],
  [256 * MiB - 64 * KiB, 64 * KiB],
];
const MAPPED = EXTENTS.reduce((n, [, l]) => n + l, 0);
/** A range of the destination deallocated before the copy (inside a source hole): skipped. */
const DST_HOLE: [number, number] = [150 * MiB, 20 * MiB];

async function withDev<T>(p: string, fn: (d: ScsiDevice) => Promise<T>): Promise<T> {
  const d = await ScsiDevice.open(p, { exclusive: true });
  try {
    return await fn(d);
  } finally {
    d.close();
  }
}

async function writeAt(d: ScsiDevice, offset: number, data: Buffer, pieceBytes = MiB): Promise<void> {
  for (let p = 0; p < data.length; p += pieceBytes) {
    const piece = data.subarray(p, Math.min(data.length, p + pieceBytes));
    await cmds.write16(d.data, { lba: (offset + p) / BS, data: piece, blockSize: BS });
  }
}

async function readAll(p: string, offset: number, length: number): Promise<Buffer> {
  const d = await ScsiDevice.open(p);
  try {
    const out = Buffer.alloc(length);
    for (let o = 0; o < length; o += MiB) {
      const n = Math.min(MiB, length - o);
      await cmds.read16(d.data, { lba: (offset + o) / BS, blocks: n / BS, blockSize: BS, into: out.subarray(o, o + n) });
    }
    return out;
  } finally {
    d.close();
  }
}

/** Deallocate [offset, offset + length) with UNMAP (one descriptor per 64 MiB). */
async function unmapRange(d: ScsiDevice, offset: number, length: number): Promise<void> {
  const ranges = [];
  for (let o = 0; o < length; o += 64 * MiB) ranges.push({ lba: (offset + o) / BS, blocks: Math.min(64 * MiB, length - o) / BS });
  await cmds.unmap(d, { ranges });
}

/** The kernel's map of scsi_debug store 0 (sdebug0) as [first, last] block pairs. */
function kernelMap(): Array<[number, number]> {
  const text = fs.readFileSync(MAP, 'utf8').trim();
  if (text === '') return [];
  return text.split(',').map((r) => {
    const [a, b] = r.split('-').map(Number) as [number, number?];
    return [a, b ?? a];
  });
}

const expectedMap = (): Array<[number, number]> => EXTENTS.map(([o, l]) => [o / BS, (o + l) / BS - 1]);

describe('thin-provisioning aware copies (scsi_debug: LBPME, LBPRZ, UNMAP, GET LBA STATUS)', function () {
  this.timeout(900_000);
  const src = lun('sdebug0');
  const dst = lun('sdebug1');
  let source: Buffer;
  const times: Record<string, number> = {};

  before(async () => {
    clearPairCache();
    assert.equal(src.bytes, 256 * MiB);
    // The source: everything deallocated, then a few extents written.
    await withDev(src.sg, async (d) => {
      const p = (await d.capabilities()).provisioning;
      assert.deepEqual([p?.lbpme, p?.lbprz, p?.lbpu, p?.lbpws], [true, true, true, true], JSON.stringify(p));
      await unmapRange(d, 0, src.bytes);
      assert.deepEqual(kernelMap(), [], 'the kernel says nothing of sdebug0 is mapped');
      for (const [o, l] of EXTENTS) await writeAt(d, o, randomBytes(l));
    });
    assert.deepEqual(kernelMap(), expectedMap(), 'the kernel maps exactly the written extents');
    source = await readAll(src.sg, 0, src.bytes);
  });

  /** The destination: random data everywhere, then DST_HOLE deallocated. */
  async function prepareDestination(): Promise<void> {
    await withDev(dst.sg, async (d) => {
      for (let o = 0; o < dst.bytes; o += 16 * MiB) await writeAt(d, o, randomBytes(16 * MiB));
      await unmapRange(d, DST_HOLE[0], DST_HOLE[1]);
    });
  }

  async function assertSame(): Promise<void> {
    const got = await readAll(dst.sg, 0, dst.bytes);
    if (!got.equals(source)) {
      let i = 0;
      while (got[i] === source[i]) i++;
      assert.fail(`destination differs from the source at byte ${i}`);
    }
  }

  it('sparse auto: only the mapped extents are copied, the rest reads as zeros; the destination equals the source', async () => {
    await prepareDestination();
    const t0 = Date.now();
    const r: CopyResult = await copy({ src: src.sg, dst: dst.sg });
    times.auto = Date.now() - t0;
    assert.equal(r.bytes, BigInt(src.bytes));
    assert.equal(r.sparse.used, true, r.sparse.reason);
    assert.equal(r.copiedBytes, BigInt(MAPPED), 'copied bytes are the mapped bytes');
    assert.equal(r.skippedBytes, BigInt(DST_HOLE[1]), 'the range already deallocated on the destination is left alone');
    assert.equal(r.zeroedBytes, BigInt(src.bytes - MAPPED - DST_HOLE[1]));
    assert.equal(r.hostDataBytes, BigInt(2 * MAPPED), 'only the mapped bytes crossed the host');
    assert.ok((r.commands['WRITE SAME(16)'] ?? 0) > 0, JSON.stringify(r.commands));
    assert.ok((r.commands['GET LBA STATUS'] ?? 0) > 0);
    assert.equal(r.synced, true);
    // Extents: contiguous, each kind where it belongs.
    let end = 0n;
    for (const e of r.extents) {
      assert.equal(e.offset, end);
      end += e.length;
    }
    assert.equal(end, BigInt(src.bytes));
    assert.deepEqual(
      r.extents.filter((e) => e.method === 'host').map((e) => [Number(e.offset), Number(e.length)]),
      EXTENTS,
    );
    await assertSame();
    // The destination's own answer: mapped exactly where the source is (the holes were deallocated).
    await withDev(dst.sg, async (d) => {
      const runs = await lbaStatusMap(d, 0n, BigInt(dst.bytes / BS));
      assert.deepEqual(
        runs.filter((x) => x.state === 'mapped').map((x) => [Number(x.lba), Number(x.lba + x.blocks) - 1]),
        expectedMap(),
      );
    });
    assert.deepEqual(kernelMap(), expectedMap(), 'reading the source mapped nothing');
  });

  it('sparse never: every byte copied, same destination, and slower (the ratio is printed)', async () => {
    await prepareDestination();
    const t0 = Date.now();
    const r = await copy({ src: src.sg, dst: dst.sg, sparse: 'never' });
    times.never = Date.now() - t0;
    assert.equal(r.sparse.used, false);
    assert.equal(r.copiedBytes, BigInt(src.bytes));
    assert.equal(r.zeroedBytes + r.skippedBytes, 0n);
    assert.equal(r.hostDataBytes, BigInt(2 * src.bytes));
    assert.equal(r.commands['GET LBA STATUS'] ?? 0, 0);
    await assertSame();
    const ratio = times.never! / Math.max(1, times.auto!);
    // eslint-disable-next-line no-console
    console.log(`      256 MiB thin copy: sparse auto ${times.auto} ms, never ${times.never} ms, ratio ${ratio.toFixed(1)}x`);
  });

  it('to a LUN without provisioning (LIO fileio): the holes are written as zeros (WRITE SAME), nothing outside the range changes', async () => {
    const f = lun('fio2');
    const length = 16 * MiB;
    const at = 96 * MiB; // source range [96, 112) MiB holds the extent at 100 MiB
    const dstOffset = 4 * MiB;
    writeBacking(f, 0, randomBytes(f.bytes));
    const before = fs.readFileSync(f.file!);
    const r = await copy({ src: src.sg, dst: f.sg, srcOffset: at, dstOffset, length });
    const after = fs.readFileSync(f.file!);
    assert.ok(after.subarray(dstOffset, dstOffset + length).equals(source.subarray(at, at + length)), 'destination range equals the source');
    assert.ok(after.subarray(0, dstOffset).equals(before.subarray(0, dstOffset)));
    assert.ok(after.subarray(dstOffset + length).equals(before.subarray(dstOffset + length)));
    assert.equal(r.copiedBytes, BigInt(EXTENTS[1]![1]));
    assert.equal(r.zeroedBytes, BigInt(length - EXTENTS[1]![1]));
    assert.equal(r.skippedBytes, 0n);
    assert.ok((r.commands['WRITE SAME(16)'] ?? 0) > 0, JSON.stringify(r.commands));
    assert.equal(r.commands['UNMAP'] ?? 0, 0);
  });

  it('the CLI: --sparse never and auto, the account in --json', () => {
    const f = lun('fio2');
    const run = (...a: string[]) => spawnSync(process.execPath, [BIN, 'copy', src.sg, f.sg, '--src-offset', '96M', '--length', '8M', '--json', ...a], { encoding: 'utf8' });
    const auto = run();
    assert.equal(auto.status, 0, auto.stderr);
    const j = JSON.parse(auto.stdout);
    assert.equal(BigInt(j.copiedBytes), BigInt(EXTENTS[1]![1]), 'the extent at 100 MiB');
    assert.equal(BigInt(j.copiedBytes) + BigInt(j.zeroedBytes), BigInt(8 * MiB));
    assert.ok(BigInt(j.zeroedBytes) > 0n);
    const never = run('--sparse', 'never');
    assert.equal(never.status, 0, never.stderr);
    assert.equal(BigInt(JSON.parse(never.stdout).copiedBytes), BigInt(8 * MiB));
    const bad = run('--sparse', 'sometimes');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^odxcp: --sparse: 'sometimes' is not one of auto, never\n$/);
  });
});

/** Bytes a file really holds (allocated blocks): on tmpfs, whole 4 KiB pages. */
const allocated = (file: string): number => fs.statSync(file).blocks * 512;

/** EXTENTS as the handler maps them: a file-system page any byte of which was written is mapped. */
const PAGE = 4 * KiB;
const ODX_EXTENTS: Array<[number, number]> = EXTENTS.map(([o, l]) => {
  const a = Math.floor(o / PAGE) * PAGE;
  return [a, Math.ceil((o + l) / PAGE) * PAGE - a];
});
const ODX_MAPPED = ODX_EXTENTS.reduce((n, [, l]) => n + l, 0);

/** sg3_utils' decoding of GET LBA STATUS over the whole LUN, mapped runs as [offset, length] in bytes. */
function sgMapped(l: LabLun): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let lba = 0;
  const blocks = l.bytes / BS;
  while (lba < blocks) {
    const out = tool('sg_get_lba_status', ['--maxlen=16384', '-b', `--lba=${lba}`, l.sg]);
    const before = lba;
    // -b: one "LBA BLOCKS STATUS ADDITIONAL" line per descriptor, after a few header lines
    for (const line of out.split('\n').filter((l) => /^0x[0-9a-f]+\s+0x[0-9a-f]+\s+\d/i.test(l.trim()))) {
      const [a, n, st] = line.trim().split(/\s+/);
      const start = Number(BigInt(a!));
      const count = Number(BigInt(n!));
      if (start !== lba) throw new Error(`sg_get_lba_status: a run at ${start}, expected ${lba}`);
      if (st === '0') {
        const last = runs[runs.length - 1];
        if (last && last[0] + last[1] === start * BS) last[1] += count * BS;
        else runs.push([start * BS, count * BS]);
      }
      lba += count;
    }
    if (lba === before) throw new Error('sg_get_lba_status: no progress');
  }
  return runs;
}

/** Dispatched CDBs by kind: deallocation (UNMAP, WRITE SAME with UNMAP), data written block by block, WRITE USING TOKEN. */
const isUnmap = (c: Buffer) => c[0] === 0x42 || ((c[0] === 0x93 || c[0] === 0x41) && (c[1]! & 0x08) !== 0);
const isDataWrite = (c: Buffer) => [0x0a, 0x2a, 0xaa, 0x8a].includes(c[0]!) || ((c[0] === 0x93 || c[0] === 0x41) && (c[1]! & 0x08) === 0);
const isWut = (c: Buffer) => c[0] === 0x83 && (c[1]! & 0x1f) === 0x11;

describe('thin-provisioning aware copies, second target: odx handler LUNs (thin=1, holes of the backing file)', function () {
  this.timeout(900_000);
  let target: RuntimeOdxTarget;
  let src: LabLun;
  let dst: LabLun;
  const times: Record<string, number> = {};

  before(async () => {
    clearPairCache();
    target = new RuntimeOdxTarget('naa.5001405000000a05', 'naa.5001405000000b05');
    src = await target.add('thsrc', { sizeMb: 256, knobs: 'thin=1' });
    dst = await target.add('thdst', { sizeMb: 256, knobs: 'thin=1' });
    await withDev(src.sg, async (d) => {
      const p = (await d.capabilities()).provisioning;
      assert.deepEqual([p?.lbpme, p?.lbprz, p?.lbpu, p?.lbpws], [true, true, true, true], JSON.stringify(p));
      assert.equal(allocated(src.file!), 0, 'a fresh thin LUN holds nothing');
      // 64 KiB a command: the handler's MAXIMUM TRANSFER LENGTH (VPD 0xB0) is 128 blocks
      for (const [o, l] of EXTENTS) await writeAt(d, o, randomBytes(l), 64 * KiB);
    });
    assert.equal(allocated(src.file!), ODX_MAPPED, 'the source file holds exactly the written pages');
    assert.deepEqual(sgMapped(src), ODX_EXTENTS, 'sg_get_lba_status: the source is mapped exactly there');
  });
  after(() => target?.remove());

  /** The destination: random data everywhere (in its file), then DST_HOLE deallocated by UNMAP. */
  async function prepareDestination(): Promise<void> {
    for (let o = 0; o < dst.bytes; o += 16 * MiB) writeBacking(dst, o, randomBytes(16 * MiB));
    await withDev(dst.sg, (d) => unmapRange(d, DST_HOLE[0], DST_HOLE[1]));
    assert.equal(allocated(dst.file!), dst.bytes - DST_HOLE[1]);
  }

  function assertFilesSame(): void {
    const a = fs.readFileSync(src.file!);
    const b = fs.readFileSync(dst.file!);
    if (!a.equals(b)) {
      let i = 0;
      while (a[i] === b[i]) i++;
      assert.fail(`destination file differs from the source file at byte ${i}`);
    }
  }

  it('sparse auto: only the mapped pages are copied (by token), the rest deallocated; files equal, holes where the source has them', async () => {
    await prepareDestination();
    const trace = CommandTrace.start(dst);
    let seen: Dispatched[] = [];
    let r: CopyResult;
    const t0 = Date.now();
    try {
      r = await copy({ src: src.sg, dst: dst.sg });
    } finally {
      seen = trace.stop();
    }
    times.auto = Date.now() - t0;
    assert.equal(r.bytes, BigInt(src.bytes));
    assert.equal(r.sparse.used, true, r.sparse.reason);
    assert.equal(r.copiedBytes, BigInt(ODX_MAPPED), 'copied bytes are the mapped bytes');
    assert.equal(r.copiedBytes, BigInt(allocated(src.file!)), '... which are what the source file holds');
    assert.equal(r.skippedBytes, BigInt(DST_HOLE[1]), 'the range already deallocated on the destination is left alone');
    assert.equal(r.zeroedBytes, BigInt(src.bytes - ODX_MAPPED - DST_HOLE[1]));
    assert.equal(r.offloadedBytes, BigInt(ODX_MAPPED), 'odx LUN to odx LUN: by token');
    assert.equal(r.hostDataBytes, 0n);
    assert.ok((r.commands['GET LBA STATUS'] ?? 0) > 0);
    assert.deepEqual(
      r.extents.filter((e) => e.method !== 'zero' && e.method !== 'skip').map((e) => [Number(e.offset), Number(e.length)]),
      ODX_EXTENTS,
    );
    assertFilesSame();
    assert.equal(allocated(dst.file!), ODX_MAPPED, 'the destination file now holds only the pages the source holds');
    assert.deepEqual(sgMapped(dst), ODX_EXTENTS, 'sg_get_lba_status: the destination is mapped exactly where the source is');
    // The kernel's record: the destination was written by token and deallocated, never written block by block.
    assert.ok(seen.filter((c) => isWut(c.cdb)).length > 0, 'WRITE USING TOKEN dispatched to the destination');
    assert.ok(seen.filter((c) => isUnmap(c.cdb)).length > 0, 'UNMAP / WRITE SAME with UNMAP dispatched to the destination');
    assert.equal(seen.filter((c) => isDataWrite(c.cdb)).length, 0, 'no WRITE or WRITE SAME of data');
  });

  it('sparse never: every byte copied, same files, the destination fully allocated, and slower (the ratio is printed)', async () => {
    await prepareDestination();
    const t0 = Date.now();
    const r = await copy({ src: src.sg, dst: dst.sg, sparse: 'never' });
    times.never = Date.now() - t0;
    assert.equal(r.sparse.used, false);
    assert.equal(r.copiedBytes, BigInt(src.bytes));
    assert.equal(r.zeroedBytes + r.skippedBytes, 0n);
    assert.equal(r.commands['GET LBA STATUS'] ?? 0, 0);
    assertFilesSame();
    assert.equal(allocated(dst.file!), dst.bytes, 'every block written, zeros included');
    const ratio = times.never! / Math.max(1, times.auto!);
    // eslint-disable-next-line no-console
    console.log(`      256 MiB thin copy (odx handler LUNs): sparse auto ${times.auto} ms, never ${times.never} ms, ratio ${ratio.toFixed(1)}x`);
  });
});
