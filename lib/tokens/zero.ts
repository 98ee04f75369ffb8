// Zeroing a range of a LUN, cheapest method first:
// - unmap:      deallocate, on a thin LUN whose deallocated blocks read as zeros (LBPME and
//               LBPRZ): WRITE SAME(16) with UNMAP and a zero block when LBPWS (the target
//               deallocates or writes the zeros, either way the blocks read as zeros), else
//               UNMAP when LBPU, checked with GET LBA STATUS (UNMAP may leave blocks mapped,
//               e.g. outside its granularity; those go on to the next method).
// - token:      WRITE USING TOKEN with the block device zero ROD token (0xFFFF0001, reference
//               6.2): no POPULATE TOKEN, no data; used when VPD 0x8F lists that ROD type as
//               TOKEN_IN, or when asked for.
// - write-same: WRITE SAME(16) with one zero block as data-out, in chunks of VPD 0xB0 MAXIMUM
//               WRITE SAME LENGTH. (NDOB would save the block but its support is not
//               advertised anywhere cheap to read, so the zero block is the portable form.)
// - write:      WRITE(16) of zeros within the transfer limits.
// `auto` moves to the next method when a target refuses one (ILLEGAL REQUEST, INVALID
// OPERATION CODE, COPY ABORTED) and continues from the exact block where it stopped: zeroing is
// idempotent, so re-writing a block the failed command may have written is harmless.
import { ScsiDevice } from '../device/device';
import { writeThenFlush } from '../engine/flush';
import { invalidFieldInCdb, refusedForZeroing, UnmapIncompleteError } from '../engine/reactions';
import * as cmds from '../scsi/commands';
import { AbortedError, OdxcpError, UsageError } from '../errors';
import { ROD_TYPE, ZERO_ROD_TOKEN } from '../scsi/rod-token';
import { blockRange, tokenLimits, TokenWriteError, writeUsingTokenLoop, type TokenTarget } from './token-ops';

export type ZeroMethod = 'unmap' | 'token' | 'write-same' | 'write';
export const ZERO_METHODS: readonly ZeroMethod[] = ['unmap', 'token', 'write-same', 'write'];

export interface ZeroOptions {
  /** The LUN: a path (opened exclusively: refused when mounted or in use) or an open device. */
  device: string | TokenTarget;
  /** Byte offset; a multiple of the block size. */
  offset: bigint | number;
  /** Bytes; a multiple of the block size. */
  length: bigint | number;
  method?: 'auto' | ZeroMethod;
  /** SYNCHRONIZE CACHE over the range afterwards (default true). */
  sync?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?(p: ZeroProgress): void;
}

export interface ZeroProgress {
  bytesDone: bigint;
  totalBytes: bigint;
  method: ZeroMethod;
  elapsedMs: number;
}

export interface ZeroFallback {
  /** Byte offset, relative to the start of the range, where the next method took over. */
  offset: bigint;
  from: ZeroMethod;
  to: ZeroMethod;
  reason: string;
}

export interface ZeroResult {
  device: string;
  offset: bigint;
  length: bigint;
  /** Bytes now zero, from `offset` on (equals length on success). */
  bytes: bigint;
  method: ZeroMethod | 'mixed';
  byMethod: Record<ZeroMethod, bigint>;
  /** The methods auto would try on this LUN, in order (or the one asked for). */
  candidates: ZeroMethod[];
  fallbacks: ZeroFallback[];
  /** SCSI commands that zeroed (WRITE USING TOKEN, WRITE SAME(16), WRITE(16)). */
  commands: number;
  /** True when the LUN accepted SYNCHRONIZE CACHE for the range after the last write. */
  synced: boolean;
  elapsedMs: number;
}

/** A zero stopped part-way; `result.bytes` says how much of the range is zero. */
export class ZeroError extends OdxcpError {
  readonly result: ZeroResult;
  constructor(message: string, result: ZeroResult, cause: unknown) {
    super(message, cause instanceof OdxcpError ? cause.code : 'ZERO_FAILED', { cause });
    this.result = result;
  }
}
Object.defineProperty(ZeroError.prototype, 'name', { value: 'ZeroError' });

/**
 * WRITE SAME chunk when VPD 0xB0 reports no limit (LIO's basic 0xB0 page stops before the
 * field, yet LIO refuses more than its max_write_same_len with 24/00): start at 0xFFFF blocks
 * (at most 32 MiB) and halve on INVALID FIELD IN CDB.
 */
const DEFAULT_WRITE_SAME_BLOCKS = 0xffff;
const DEFAULT_WRITE_SAME_BYTES = 32 * 1024 * 1024;
const DEFAULT_WRITE_BYTES = 1024 * 1024;

/** Whether a target's refusal means "try the next method" rather than "stop". */
function refused(e: unknown): boolean {
  return refusedForZeroing(e instanceof TokenWriteError ? e.cause : e);
}

/** True when deallocating a block makes it read as zeros, and the LUN has a command for it. */
export async function unmapZeroes(t: TokenTarget): Promise<boolean> {
  const p = (await t.capabilities()).provisioning;
  return !!p && p.lbpme && p.lbprz && (p.lbpws || p.lbpu);
}

/** The methods `auto` tries on this LUN, best first. */
export async function zeroCandidates(t: TokenTarget): Promise<ZeroMethod[]> {
  const caps = await t.capabilities();
  const zeroIn = caps.tokenCopy.supported && (caps.tokenCopy.limits?.rodTypesIn ?? []).includes(ROD_TYPE.BLOCK_DEVICE_ZERO);
  const rest: ZeroMethod[] = zeroIn ? ['token', 'write-same', 'write'] : ['write-same', 'write'];
  return (await unmapZeroes(t)) ? ['unmap', ...rest] : rest;
}

export async function zeroRange(o: ZeroOptions): Promise<ZeroResult> {
  if (typeof o.device === 'string') {
    const dev = await ScsiDevice.open(o.device, { exclusive: true });
    try {
      return await zeroOn(dev, o.device, o);
    } finally {
      await dev.close();
    }
  }
  return zeroOn(o.device, o.device.path, o);
}

async function zeroOn(t: TokenTarget, name: string, o: ZeroOptions): Promise<ZeroResult> {
  const start = Date.now();
  const method = o.method ?? 'auto';
  if (method !== 'auto' && !ZERO_METHODS.includes(method)) throw new UsageError(`--method: '${String(method)}' is not auto, token, write-same or write`);
  const offset = BigInt(o.offset);
  const length = BigInt(o.length);
  const cap = await t.capacity();
  const bs = BigInt(cap.blockSize);
  const { lba, blocks } = blockRange(offset, length, cap.blockSize, cap.bytes, { offset: '--offset', length: '--length', device: name });
  const candidates = method === 'auto' ? await zeroCandidates(t) : [method];
  const result: ZeroResult = {
    device: name,
    offset,
    length,
    bytes: 0n,
    method: candidates[0] as ZeroMethod,
    byMethod: { unmap: 0n, token: 0n, 'write-same': 0n, write: 0n },
    candidates,
    fallbacks: [],
    commands: 0,
    synced: false,
    elapsedMs: 0,
  };
  let done = 0n; // blocks zeroed from lba on
  const progress = (m: ZeroMethod) => o.onProgress?.({ bytesDone: done * bs, totalBytes: length, method: m, elapsedMs: Date.now() - start });
  const finish = () => {
    result.bytes = done * bs;
    result.elapsedMs = Date.now() - start;
    const used = ZERO_METHODS.filter((m) => result.byMethod[m] > 0n);
    result.method = used.length > 1 ? 'mixed' : (used[0] ?? (candidates[0] as ZeroMethod));
    return result;
  };

  const zeroAll = async (): Promise<ZeroResult> => {
    for (let i = 0; i < candidates.length; i++) {
      const m = candidates[i] as ZeroMethod;
      const before = done;
      const credit = (blocksNow: bigint) => {
        result.byMethod[m] += (blocksNow - done) * bs;
        done = blocksNow;
        progress(m);
      };
      try {
        if (m === 'unmap') await zeroByUnmap(t, lba, blocks, done, cap.blockSize, o, credit, () => result.commands++);
        else if (m === 'token') await zeroByToken(t, lba, blocks, done, cap.blockSize, o, credit, () => result.commands++);
        else if (m === 'write-same') await zeroByWriteSame(t, lba, blocks, done, cap.blockSize, o, credit, () => result.commands++);
        else await zeroByWrite(t, lba, blocks, done, cap.blockSize, o, credit, () => result.commands++);
        return finish();
      } catch (e) {
        // A token write that failed part-way may know how many more blocks it zeroed.
        if (e instanceof TokenWriteError) {
          const known = before + e.bytesWritten / bs;
          if (known > done) credit(known);
        }
        const next = candidates[i + 1];
        if (method === 'auto' && next && refused(e) && !o.signal?.aborted) {
          result.fallbacks.push({ offset: done * bs, from: m, to: next, reason: e instanceof Error ? e.message : String(e) });
          continue;
        }
        finish();
        // The token loop's own "bytes written" note would repeat what this message says.
        const inner = e instanceof TokenWriteError && e.cause instanceof Error ? e.cause : e;
        throw new ZeroError(`${inner instanceof Error ? inner.message : String(inner)} (${result.bytes} of ${length} bytes zeroed)`, result, e);
      }
    }
    return finish(); // unreachable: the last candidate either returns or throws
  };
  const { value, synced } = await writeThenFlush(t, lba, blocks, { sync: o.sync, timeoutMs: o.timeoutMs }, zeroAll);
  value.synced = synced;
  return value;
}

type Credit = (blocksDone: bigint) => void;

function checkAbort(o: ZeroOptions): void {
  if (o.signal?.aborted) throw new AbortedError('aborted', { signal: 'SIGINT' });
}

async function zeroByToken(t: TokenTarget, lba: bigint, blocks: bigint, from: bigint, blockSize: number, o: ZeroOptions, credit: Credit, count: () => void): Promise<void> {
  const lim = await tokenLimits(t);
  const whole = BigInt(lim.maxRanges) * 0xffffffffn;
  await writeUsingTokenLoop(t, {
    token: ZERO_ROD_TOKEN as Buffer,
    lba: lba + from,
    blocks: blocks - from,
    blockSize,
    advanceRodOffset: false,
    maxChunkBlocks: lim.maxTokenBlocks > 0n && lim.maxTokenBlocks < whole ? lim.maxTokenBlocks : whole,
    maxRanges: lim.maxRanges,
    timeoutMs: o.timeoutMs,
    signal: o.signal,
    onWritten: (b) => credit(from + b),
    onCommand: count,
  });
}

async function zeroByUnmap(t: TokenTarget, lba: bigint, blocks: bigint, from: bigint, blockSize: number, o: ZeroOptions, credit: Credit, count: () => void): Promise<void> {
  const caps = await t.capabilities();
  if (caps.provisioning?.lbpws) {
    await zeroByWriteSame(t, lba, blocks, from, blockSize, o, credit, count, true);
    return;
  }
  // UNMAP: at most MAXIMUM UNMAP LBA COUNT blocks per command (0 or absent: no limit said,
  // so a conservative 0xFFFF), one descriptor per command keeps the check simple.
  const said = caps.blockLimits?.maximumUnmapLbaCount ?? 0;
  const chunk = BigInt(said > 0 && said !== 0xffffffff ? said : 0xffff);
  for (let done = from; done < blocks; ) {
    checkAbort(o);
    const n = blocks - done < chunk ? blocks - done : chunk;
    count();
    await cmds.unmap(t, { ranges: [{ lba: lba + done, blocks: Number(n) }], timeoutMs: o.timeoutMs });
    // UNMAP is a request, not a promise: only blocks GET LBA STATUS calls deallocated count.
    const freed = await deallocatedPrefix(t, lba + done, n, o.timeoutMs);
    if (freed > 0n) {
      done += freed;
      credit(done);
    }
    if (freed < n) throw new UnmapIncompleteError(lba + done);
  }
}

/** Blocks from `lba` (at most `blocks`) that GET LBA STATUS reports deallocated, in a row. */
async function deallocatedPrefix(t: TokenTarget, lba: bigint, blocks: bigint, timeoutMs?: number): Promise<bigint> {
  let at = lba;
  const end = lba + blocks;
  while (at < end) {
    const r = await cmds.getLbaStatus(t, { lba: at, timeoutMs });
    const d = r.descriptors.find((x) => x.lba <= at && at < x.lba + BigInt(x.blocks));
    if (!d || d.state !== 'deallocated' || d.blocks === 0) break;
    at = d.lba + BigInt(d.blocks);
  }
  return (at < end ? at : end) - lba;
}

async function zeroByWriteSame(t: TokenTarget, lba: bigint, blocks: bigint, from: bigint, blockSize: number, o: ZeroOptions, credit: Credit, count: () => void, unmap = false): Promise<void> {
  const caps = await t.capabilities();
  const reported = caps.blockLimits?.maximumWriteSameLength ?? 0n;
  let chunk = reported > 0n ? reported : BigInt(Math.max(1, Math.min(DEFAULT_WRITE_SAME_BLOCKS, Math.floor(DEFAULT_WRITE_SAME_BYTES / blockSize))));
  if (chunk > 0xffffffffn) chunk = 0xffffffffn; // NUMBER OF LOGICAL BLOCKS is 32 bits
  const zeroBlock = Buffer.alloc(blockSize);
  for (let done = from; done < blocks; ) {
    checkAbort(o);
    const n = blocks - done < chunk ? blocks - done : chunk;
    count();
    try {
      await cmds.writeSame16(t, { lba: lba + done, blocks: Number(n), block: zeroBlock, unmap, timeoutMs: o.timeoutMs });
    } catch (e) {
      // A limit the target does not advertise (LIO fileio takes 0x1000 blocks, iblock
      // 0xFFFF, with a basic 0xB0 page that has no such field): halve and try again.
      if (reported === 0n && n > 1n && invalidFieldInCdb(e)) {
        chunk = n / 2n;
        continue;
      }
      throw e;
    }
    done += n;
    credit(done);
  }
}

async function zeroByWrite(t: TokenTarget, lba: bigint, blocks: bigint, from: bigint, blockSize: number, o: ZeroOptions, credit: Credit, count: () => void): Promise<void> {
  const caps = await t.capabilities();
  let bytes = DEFAULT_WRITE_BYTES;
  const q = t.queueLimits?.();
  if (q?.maxSectorsBytes) bytes = Math.min(bytes, q.maxSectorsBytes);
  const mtl = caps.blockLimits?.maximumTransferLength ?? 0;
  if (mtl > 0) bytes = Math.min(bytes, mtl * blockSize);
  const chunk = BigInt(Math.max(1, Math.floor(bytes / blockSize)));
  const zeros = Buffer.alloc(Number(chunk) * blockSize);
  for (let done = from; done < blocks; ) {
    checkAbort(o);
    const n = blocks - done < chunk ? blocks - done : chunk;
    count();
    await cmds.write16(t, { lba: lba + done, data: n === chunk ? zeros : zeros.subarray(0, Number(n) * blockSize), blockSize, timeoutMs: o.timeoutMs });
    done += n;
    credit(done);
  }
}
