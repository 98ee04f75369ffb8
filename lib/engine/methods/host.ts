// The buffered path: READ(16) from the source, WRITE(16) to the destination, several
// transfers in flight so reads and writes overlap. Between two block nodes the pairs run in
// the addon (native copyLane: no JS between commands, one page-aligned buffer per lane);
// otherwise, and for what the lane leaves after a failure the retry policy would retry, in JS
// on pooled page-aligned buffers. Each completed write is reported at once, so a failure
// leaves an exact account.
import { loadNative, type CopyLaneFailure, type CopyLaneOptions, type NativeHandle } from '../../native';
import * as cmds from '../../scsi/commands';
import { ParseError } from '../../scsi/bytes';
import { scsiErrorFromResult, transportErrorFromSystemError } from '../../scsi/errors';
import { wouldRetry, withAdvice } from '../../scsi/transport';
import { hostBuffers, type BufferPool } from '../buffers';
import { MethodError, StopRequested, type CopyMethodImpl, type MethodContext, type Range } from './context';

export interface HostMethodOptions {
  /** Bytes per READ/WRITE pair; a multiple of both block sizes. */
  transferBytes: number;
  /** Transfers in flight. */
  depth: number;
  /** Where each JS lane borrows its one page-aligned buffer (default: the process's pool). */
  buffers?: BufferPool;
  /** Use the native data lane when both data paths are block nodes (default true). */
  nativeLane?: boolean;
  /** How often the lane's finished pieces go into the account while it runs, ms. */
  laneProgressMs?: number;
  /** Unit suite only: passed to copyLane (pread/pwrite on adopted files, an injected failure). */
  laneTest?: Pick<CopyLaneOptions, 'testFileIo' | 'testFailWriteAt' | 'testWriteDelayMs'>;
}

type Piece = [bigint, bigint];

export class HostMethod implements CopyMethodImpl {
  readonly name = 'host' as const;
  constructor(private readonly o: HostMethodOptions) {}

  async run(range: Range, ctx: MethodContext): Promise<void> {
    const done: Piece[] = [];
    let todo: Piece[] = [[range.offset, range.length]];
    const src = ctx.srcData.lane;
    const dst = ctx.dstData.lane;
    if (this.o.nativeLane !== false && src && dst && dst.writable) {
      const failure = await this.runLane(range, ctx, src.handle, dst.handle, done);
      if (failure !== undefined) {
        if (failure instanceof StopRequested) throw failure; // as the JS path: the loop knows it
        if (!wouldRetry(failure, true)) throw new MethodError('host', prefixOf(range, done), failure);
        // What runCommand would have retried: the rest goes through JS, under that policy.
        todo = gaps(range, done);
      } else {
        return;
      }
    }
    await this.runJs(range, ctx, todo, done);
  }

  /** The native lane over the whole range; the error it stopped on, or undefined when complete. */
  private async runLane(range: Range, ctx: MethodContext, src: NativeHandle, dst: NativeHandle, done: Piece[]): Promise<unknown> {
    if (ctx.signal.aborted) return new StopRequested();
    const lane = loadNative().copyLane(src, dst, {
      srcBase: ctx.srcBase,
      dstBase: ctx.dstBase,
      srcBlockSize: ctx.srcBlockSize,
      dstBlockSize: ctx.dstBlockSize,
      offset: range.offset,
      length: range.length,
      transferBytes: this.o.transferBytes,
      lanes: Math.min(8, Math.max(1, this.o.depth)),
      ...(ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {}),
      ...this.o.laneTest,
    });
    const drain = () => {
      const a = lane.take();
      for (let i = 0; i < a.length; i += 2) {
        const off = BigInt(a[i]!);
        const len = BigInt(a[i + 1]!);
        ctx.account.record(off, len, 'host');
        // What CountingTransport would have counted for the pair.
        ctx.account.command('READ(16)');
        ctx.account.command('WRITE(16)');
        ctx.account.hostDataBytes += 2n * len;
        done.push([off, len]);
      }
    };
    const onAbort = () => lane.abort();
    ctx.signal.addEventListener('abort', onAbort);
    const timer = setInterval(drain, this.o.laneProgressMs ?? 200);
    let r: Awaited<typeof lane.done>;
    try {
      r = await lane.done;
    } finally {
      clearInterval(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      drain();
    }
    if (r.failure) {
      ctx.account.command(r.failure.command);
      return laneError(r.failure, ctx);
    }
    if (r.aborted || ctx.signal.aborted) return new StopRequested();
    return undefined;
  }

  /** The JS path over `todo`, in transfers, `depth` at a time. */
  private async runJs(range: Range, ctx: MethodContext, todo: Piece[], done: Piece[]): Promise<void> {
    const t = BigInt(this.o.transferBytes);
    const queue: Piece[] = [];
    for (const [o, l] of todo) for (let off = o; off < o + l; off += t) queue.push([off, o + l - off < t ? o + l - off : t]);
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
      while (failure === undefined && queue.length > 0) {
        if (ctx.signal.aborted) {
          failure ??= new StopRequested();
          return;
        }
        const [off, len] = queue.shift()!;
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
      throw new MethodError('host', prefixOf(range, done), failure);
    }
  }
}

/** The completed prefix of the range (later pieces are in the account already). */
function prefixOf(range: Range, done: Piece[]): bigint {
  const sorted = [...done].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let prefix = range.offset;
  for (const [o, l] of sorted) if (o === prefix) prefix += l;
  return prefix - range.offset;
}

/** The parts of the range no done piece covers, in order. */
function gaps(range: Range, done: Piece[]): Piece[] {
  const sorted = [...done].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Piece[] = [];
  let at = range.offset;
  for (const [o, l] of sorted) {
    if (o > at) out.push([at, o - at]);
    if (o + l > at) at = o + l;
  }
  const end = range.offset + range.length;
  if (at < end) out.push([at, end - at]);
  return out;
}

/** The lane's failure as the error runCommand would have thrown for the same outcome. */
function laneError(f: CopyLaneFailure, ctx: MethodContext): unknown {
  const path = f.command === 'READ(16)' ? ctx.srcData.path : ctx.dstData.path;
  if (f.result) {
    const err = scsiErrorFromResult(f.command, f.cdb, f.result);
    if (err) return err;
    // GOOD with a residual: a short transfer, as read16/write16 report it.
    const len = f.cdb.readUInt32BE(10) * (f.command === 'READ(16)' ? ctx.srcBlockSize : ctx.dstBlockSize);
    return new ParseError(f.command, 'residual', len - f.result.resid, len, `${f.result.resid} of ${len} bytes not transferred`);
  }
  return withAdvice(transportErrorFromSystemError(f.command, f.cdb, { code: f.code, errno: f.errno, syscall: 'ioctl SG_IO', message: '' } as NodeJS.ErrnoException), path);
}
