// The host copy's buffers (lib/engine/buffers.ts, native alignedBuffer): page-aligned, pooled,
// one per lane, reused across ranges and copies; the lab's host-path specs prove the copies.
import { strict as assert } from 'node:assert';
import { loadNative } from '../../lib/native';
import { BufferPool } from '../../lib/engine/buffers';
import { Account } from '../../lib/engine/account';
import { HostMethod } from '../../lib/engine/methods/host';
import type { MethodContext } from '../../lib/engine/methods/context';
import type { ScsiTransport } from '../../lib/scsi/transport';
import { FakeLun, fillPattern } from './helpers/fake-lun';

const native = loadNative();
const KiB = 1024;

/** A transport that records the alignment and identity of every data buffer it is handed. */
function recording(inner: FakeLun, seen: Array<{ op: number; buffer: ArrayBufferLike; offset: number; alignment: number }>): ScsiTransport {
  return {
    path: inner.path,
    command(cmd, o) {
      if (o?.data) seen.push({ op: cmd.cdb[0]!, buffer: o.data.buffer, offset: o.data.byteOffset, alignment: native.testing.alignment(o.data) });
      return inner.command(cmd, o);
    },
  };
}

describe('host copy buffers', () => {
  it('alignedBuffer: page-aligned, zeroed, exact length; bad lengths are one-line errors', () => {
    for (const n of [1, 512, 4096, 1024 * KiB, 1024 * KiB + 512]) {
      const b = native.alignedBuffer(n);
      assert.equal(b.length, n);
      assert.equal(native.testing.alignment(b), 0, `${n} bytes start on a page`);
      assert.ok(b.every((x) => x === 0));
    }
    assert.throws(() => native.alignedBuffer('1' as unknown as number), (e: Error) => e instanceof TypeError && /^alignedBuffer: length must be a number/.test(e.message));
    for (const n of [0, -1, 1.5, 2 ** 31, NaN]) assert.throws(() => native.alignedBuffer(n), RangeError, String(n));
  });

  it('the host method runs every READ and WRITE on page-aligned pooled buffers: one per lane, the same ones for the next range and the next copy', async () => {
    const pool = new BufferPool();
    const src = new FakeLun({ blocks: 4096 });
    const dst = new FakeLun({ blocks: 4096 });
    fillPattern(src.mem, 7);
    const seen: Array<{ op: number; buffer: ArrayBufferLike; offset: number; alignment: number }> = [];
    const ctx: MethodContext = { src, dst, srcData: recording(src, seen), dstData: recording(dst, seen), srcBase: 0n, dstBase: 0n, srcBlockSize: 512, dstBlockSize: 512, account: new Account(), signal: new AbortController().signal };
    const m = new HostMethod({ transferBytes: 64 * KiB, depth: 3, buffers: pool });
    await m.run({ offset: 0n, length: 1024n * 1024n }, ctx);
    await m.run({ offset: 1024n * 1024n, length: 640n * 1024n }, ctx);
    await new HostMethod({ transferBytes: 64 * KiB, depth: 3, buffers: pool }).run({ offset: 1664n * 1024n, length: 384n * 1024n }, ctx);
    assert.ok(dst.mem.equals(src.mem), 'the destination holds the source');
    assert.equal(seen.length, 2 * 32, 'one READ and one WRITE per 64 KiB');
    assert.ok(seen.every((s) => s.alignment === 0 && s.offset === 0), 'every transfer on a page-aligned buffer');
    assert.equal(new Set(seen.map((s) => s.buffer)).size, 3, 'three lanes, three buffers, for all three ranges');
    assert.equal(pool.allocated, 3);
    assert.equal(pool.lent, 0, 'all given back');
  });

  it('a failing transfer gives its lane\'s buffer back too', async () => {
    const pool = new BufferPool();
    const src = new FakeLun({ blocks: 1024 });
    const dst = new FakeLun({ blocks: 1024, invalidOps: [0x8a] });
    const ctx: MethodContext = { src, dst, srcData: src, dstData: dst, srcBase: 0n, dstBase: 0n, srcBlockSize: 512, dstBlockSize: 512, account: new Account(), signal: new AbortController().signal };
    await assert.rejects(new HostMethod({ transferBytes: 16 * KiB, depth: 2, buffers: pool }).run({ offset: 0n, length: 256n * 1024n }, ctx));
    assert.equal(pool.lent, 0);
  });
});
