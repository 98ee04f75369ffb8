// The buffered path: READ(16) from the source, WRITE(16) to the destination, several
// transfers in flight so reads and writes overlap (SG_IO on addon threads, not the libuv
// pool). Each completed write is reported at once, so a failure leaves an exact account.
import * as cmds from '../../scsi/commands';
import { hostBuffers, type BufferPool } from '../buffers';
import { MethodError, StopRequested, type CopyMethodImpl, type MethodContext, type Range } from './context';

export interface HostMethodOptions {
  /** Bytes per READ/WRITE pair; a multiple of both block sizes. */
  transferBytes: number;
  /** Transfers in flight. */
  depth: number;
  /** Where each lane borrows its one page-aligned buffer (default: the process's pool). */
  buffers?: BufferPool;
}

export class HostMethod implements CopyMethodImpl {
  readonly name = 'host' as const;
  constructor(private readonly o: HostMethodOptions) {}

  async run(range: Range, ctx: MethodContext): Promise<void> {
    const t = BigInt(this.o.transferBytes);
    const end = range.offset + range.length;
    let next = range.offset;
    const done: Array<[bigint, bigint]> = [];
    let failure: unknown;
    const pool = this.o.buffers ?? hostBuffers;
    const worker = async () => {
      // One buffer per lane for the whole range, borrowed when the lane has work.
      let buf: Buffer | undefined;
      try {
        await lane((n) => (buf ??= pool.take(this.o.transferBytes)).subarray(0, n));
      } finally {
        if (buf) pool.give(buf);
      }
    };
    const lane = async (bufferOf: (n: number) => Buffer) => {
      while (failure === undefined && next < end) {
        if (ctx.signal.aborted) {
          failure ??= new StopRequested();
          return;
        }
        const off = next;
        const len = end - off < t ? end - off : t;
        next += len;
        const n = Number(len);
        const data = bufferOf(n);
        try {
          await cmds.read16(ctx.srcData, {
            lba: (ctx.srcBase + off) / BigInt(ctx.srcBlockSize),
            blocks: n / ctx.srcBlockSize,
            blockSize: ctx.srcBlockSize,
            into: data,
            timeoutMs: ctx.timeoutMs,
          });
          await cmds.write16(ctx.dstData, { lba: (ctx.dstBase + off) / BigInt(ctx.dstBlockSize), data, blockSize: ctx.dstBlockSize, timeoutMs: ctx.timeoutMs });
        } catch (e) {
          failure ??= e;
          return;
        }
        ctx.account.record(off, len, 'host');
        done.push([off, len]);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.o.depth) }, worker));
    if (failure !== undefined) {
      if (failure instanceof StopRequested) throw failure;
      // Progress = the completed prefix of the range; later pieces are in the account already.
      done.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      let prefix = range.offset;
      for (const [o, l] of done) if (o === prefix) prefix += l;
      throw new MethodError('host', prefix - range.offset, failure);
    }
  }
}
