// The host copy's native data lane (native/lane.cc) between real block nodes: the copy is
// right, every WRITE the kernel dispatched lies inside the range, and a failure injected
// mid-copy (scsi_debug's medium error on the source's READs) leaves an account equal to the
// kernel's record of the WRITEs that reached the destination.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { copy, CopyError, type CopyResult } from '../../lib/engine';
import { loadNative } from '../../lib/native';
import { CommandTrace, copyChecked, lun, pattern, writeBacking, type Dispatched } from './lab';

const MiB = 1024 * 1024;
const isWrite16 = (c: Buffer) => c[0] === 0x8a;
const extent = (c: Buffer): [number, number] => [Number(c.readBigUInt64BE(2)), c.readUInt32BE(10)];

/** Count copyLane calls while `fn` runs (the binding object is the one lib/ uses). */
async function countingLanes<T>(fn: () => Promise<T>): Promise<{ value: T; lanes: number }> {
  const native = loadNative() as unknown as { copyLane: (...a: unknown[]) => unknown };
  const orig = native.copyLane;
  let lanes = 0;
  native.copyLane = (...a: unknown[]) => {
    lanes++;
    return orig(...a);
  };
  try {
    return { value: await fn(), lanes };
  } finally {
    native.copyLane = orig;
  }
}

describe('native data lane between real block nodes', function () {
  this.timeout(180_000);

  it('a host copy runs through the lane: destination == source, every WRITE(16) the kernel dispatched inside the range, as many as the account counts', async () => {
    const src = lun('fio0');
    const dst = lun('fio1');
    const dstOffset = 5 * MiB + 3 * 512;
    const length = 12 * MiB + 512 * 7;
    const trace = CommandTrace.start(dst);
    let seen: Dispatched[];
    let out: { value: CopyResult; lanes: number };
    try {
      out = await countingLanes(() => copyChecked(src, dst, { srcOffset: 2 * MiB, dstOffset, length, mode: 'host' }));
    } finally {
      seen = trace.stop();
    }
    assert.ok(out.lanes >= 1, 'the host method used copyLane');
    assert.equal(out.value.method, 'host');
    const writes = seen.map((d) => d.cdb).filter(isWrite16);
    const lo = dstOffset / 512;
    const hi = lo + length / 512;
    let blocks = 0;
    for (const c of writes) {
      const [lba, n] = extent(c);
      assert.ok(lba >= lo && lba + n <= hi, `WRITE(16) at ${lba}+${n} inside [${lo}, ${hi})`);
      blocks += n;
    }
    assert.equal(blocks, length / 512, 'the WRITEs cover the range once');
    assert.equal(writes.length, out.value.commands['WRITE(16)'], 'the account counts the WRITEs the kernel saw');
  });

  it('an AbortSignal mid-copy stops the lane: ABORTED, and every block the kernel saw written is in the account and holds the source', async () => {
    // From the slow LUN (READs at 200 ms per MiB, one at a time on its command thread) in 64 KiB
    // reads: 384 of them, about 5 s, so the abort lands mid-copy however fast the machine is.
    const src = lun('odxslow');
    const dst = lun('fio1');
    const length = 24 * MiB;
    writeBacking(src, 0, pattern(length, 0x1a7e5));
    fs.writeFileSync(dst.file!, Buffer.alloc(dst.bytes));
    const ac = new AbortController();
    const trace = CommandTrace.start(dst);
    let seen: Dispatched[];
    let err: unknown;
    try {
      // Stop at the lane's first reported piece, or 150 ms in, whichever comes first.
      const timer = setTimeout(() => ac.abort(), 150);
      const onProgress = (p: { bytesDone: bigint }) => {
        if (p.bytesDone > 0n) ac.abort();
      };
      await copy({ src: src.sg, dst: dst.sg, srcOffset: 0, dstOffset: 0, length, mode: 'host', hostTransferSize: 64 * 1024, signal: ac.signal, onProgress, progressIntervalMs: 10 })
        .then(() => undefined, (e) => void (err = e))
        .finally(() => clearTimeout(timer));
    } finally {
      seen = trace.stop();
    }
    assert.ok(err instanceof CopyError, String(err));
    assert.equal(err.code, 'ABORTED');
    const r = err.result;
    assert.ok(r.bytes < BigInt(length), `stopped part-way: ${r.bytes}`);
    const accounted = new Set<number>();
    for (const e of r.extents) for (let b = Number(e.offset) / 512; b < Number(e.offset + e.length) / 512; b++) accounted.add(b);
    for (const c of seen.map((d) => d.cdb).filter(isWrite16)) {
      const [lba, n] = extent(c);
      for (let b = lba; b < lba + n; b++) assert.ok(accounted.has(b), `block ${b} was written and is in the account`);
    }
    const now = fs.readFileSync(dst.file!);
    const want = fs.readFileSync(src.file!);
    for (const e of r.extents) {
      const [o, l] = [Number(e.offset), Number(e.length)];
      assert.ok(now.subarray(o, o + l).equals(want.subarray(o, o + l)), `extent ${o}+${l} holds the source`);
    }
  });

  it('a medium error on the source mid-copy: the copy fails, and its account is exactly the WRITEs the kernel dispatched to the destination', async () => {
    const src = lun('sdebug0');
    const dst = lun('sdebug1');
    const length = 8 * MiB;
    const data = pattern(length, 0x1a7e);
    // Source pattern and a zeroed destination, through the block nodes.
    for (const [node, bytes] of [[src.sd, data], [dst.sd, Buffer.alloc(length)]] as const) {
      const fd = fs.openSync(node, 'r+');
      try {
        fs.writeSync(fd, bytes, 0, bytes.length, 0);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    const params = '/sys/module/scsi_debug/parameters';
    const optsFile = '/sys/bus/pseudo/drivers/scsi_debug/opts';
    const before = { opts: fs.readFileSync(optsFile, 'utf8').trim(), start: fs.readFileSync(`${params}/medium_error_start`, 'utf8').trim(), count: fs.readFileSync(`${params}/medium_error_count`, 'utf8').trim() };
    const badLba = 9000; // ~4.4 MiB in
    fs.writeFileSync(`${params}/medium_error_start`, String(badLba));
    fs.writeFileSync(`${params}/medium_error_count`, '4');
    fs.writeFileSync(optsFile, String(Number(before.opts) | 0x2)); // SDEBUG_OPT_MEDIUM_ERR
    const trace = CommandTrace.start(dst);
    let seen: Dispatched[];
    let err: unknown;
    let lanes = 0;
    try {
      ({ lanes } = await countingLanes(() => copy({ src: src.sg, dst: dst.sg, srcOffset: 0, dstOffset: 0, length, mode: 'host' }).then(() => undefined, (e) => void (err = e))));
    } finally {
      seen = trace.stop();
      fs.writeFileSync(optsFile, before.opts);
      fs.writeFileSync(`${params}/medium_error_start`, before.start);
      fs.writeFileSync(`${params}/medium_error_count`, before.count);
    }
    assert.ok(lanes >= 1, 'the host method used copyLane');
    assert.ok(err instanceof CopyError, `the copy failed: ${String(err)}`);
    const r = err.result;
    assert.ok(r.bytes > 0n && r.bytes < BigInt(length), `part-way: ${r.bytes}`);
    // The kernel's record: blocks the destination was sent WRITE(16)s for.
    const written = new Set<number>();
    for (const c of seen.map((d) => d.cdb).filter(isWrite16)) {
      const [lba, n] = extent(c);
      for (let b = lba; b < lba + n; b++) written.add(b); // a retried range may be written again
    }
    const accounted = new Set<number>();
    for (const e of r.extents) for (let b = Number(e.offset) / 512; b < Number(e.offset + e.length) / 512; b++) accounted.add(b);
    assert.deepEqual([...accounted].sort((a, b) => a - b), [...written].sort((a, b) => a - b), 'the account is the set of blocks the kernel saw written');
    assert.ok(![...written].some((b) => b >= badLba && b < badLba + 4), 'nothing written for the unreadable blocks');
    // And those blocks hold the source's bytes (read back through the sg node).
    const native = loadNative();
    const { handle } = await native.open(dst.sg, { write: false, exclusive: false });
    try {
      for (const e of r.extents) {
        for (let off = Number(e.offset); off < Number(e.offset + e.length); off += 256 * 1024) {
          const len = Math.min(256 * 1024, Number(e.offset + e.length) - off);
          const buf = Buffer.alloc(len);
          const cdb = Buffer.alloc(16);
          cdb[0] = 0x88;
          cdb.writeBigUInt64BE(BigInt(off / 512), 2);
          cdb.writeUInt32BE(len / 512, 10);
          const rr = await native.execute(handle, { cdb, direction: 'from-device', data: buf, timeoutMs: 30_000 });
          assert.equal(rr.status, 0);
          assert.ok(buf.equals(data.subarray(off, off + len)), `${off}+${len} holds the source`);
        }
      }
    } finally {
      await native.close(handle);
    }
  });
});
