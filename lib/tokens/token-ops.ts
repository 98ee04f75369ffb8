// The one layer of token operations (reference 5.8-5.11, 6.3, 7.1-7.6), used by the copy
// engine, token files and zeroing alike: POPULATE TOKEN with its RECEIVE ROD TOKEN INFORMATION,
// the status poll, and one WRITE USING TOKEN step with its transfer count in its units. Callers
// keep only their policy (chunking, ceilings, expiry, fallback).
//
// Abort means stopped: when the caller's signal fires (or a poll gives up) while a list is
// running, COPY OPERATION ABORT is sent and awaited, and the list's status is polled until the
// target says it is no longer in progress (bounded), before anything returns. Only then may a
// caller rewrite the range or close the device.
import * as cmds from '../scsi/commands';
import { ScsiError, TransportError, categoryForSense } from '../scsi/errors';
import { AbortedError, OdxcpError, UsageError } from '../errors';
import { COPY_OPERATION_STATUS, type CopyOperationStatusInfo, type RodTokenInformation } from '../scsi/tpc';
import type { ScsiTransport } from '../scsi/transport';
import type { BlockRange } from '../native';
import type { Capabilities } from '../device/capabilities';
import type { QueueLimits } from '../device/sysfs';
import { listFateUnknown, refusesImmed } from '../engine/reactions';
import { guardList, withListId } from './lists';
import { settleTokenList } from './settle';

/** What the token operations need from a LUN; ScsiDevice has all of it (tests pass fakes). */
export interface TokenTarget extends ScsiTransport {
  capacity(): Promise<{ blockSize: number; blocks: bigint; bytes: bigint }>;
  capabilities(): Promise<Pick<Capabilities, 'tokenCopy' | 'blockLimits' | 'provisioning'>>;
  queueLimits?(): QueueLimits | undefined;
}

export const SA_POPULATE_TOKEN = 0x10;
export const SA_WRITE_USING_TOKEN = 0x11;
/** NUMBER OF LOGICAL BLOCKS in a block device range descriptor is 32 bits (reference 5.8). */
export const MAX_RANGE_BLOCKS = 0xffffffffn;
/** Range descriptors per command when the device does not say (FreeBSD's limit, reference 5.8). */
export const DEFAULT_MAX_RANGES = 64;
/** Poll interval without a usable estimate: quick at first, then ddpt's 500 ms (reference 7.3). */
const POLL_FIRST_MS = 20;
const POLL_DEFAULT_MS = 500;
/** A target's estimate is honoured up to this. */
const POLL_MAX_MS = 2000;
/** How long a list may take to stop after COPY OPERATION ABORT before we call it still running. */
export const ABORT_CONFIRM_MS = 30_000;

/**
 * A token write stopped part-way. `bytesWritten` is what is on the destination: exact when
 * `exact`, else a lower bound (the target could not say how much the failing command wrote).
 */
export class TokenWriteError extends OdxcpError {
  readonly bytesWritten: bigint;
  readonly exact: boolean;
  /** What went wrong, without the count (the message adds it). */
  readonly reason: string;
  constructor(message: string, bytesWritten: bigint, exact: boolean, cause?: unknown, reason = message) {
    super(message, cause instanceof OdxcpError ? cause.code : 'TOKEN_WRITE', { cause });
    this.bytesWritten = bytesWritten;
    this.exact = exact;
    this.reason = reason;
  }
}
Object.defineProperty(TokenWriteError.prototype, 'name', { value: 'TokenWriteError' });

/**
 * A list the target still reports in progress after COPY OPERATION ABORT and the confirmation
 * bound: the array may still be writing its range, so nothing may rewrite it.
 */
export class StillInProgressError extends OdxcpError {
  constructor(
    readonly command: string,
    readonly listId: number,
    readonly device: string,
  ) {
    super(`${command}: list ${listId} on ${device} is still in progress after COPY OPERATION ABORT; the array may still be writing its range`, 'STILL_IN_PROGRESS');
  }
}
Object.defineProperty(StillInProgressError.prototype, 'name', { value: 'StillInProgressError' });

/** Block ranges covering [lba, lba + blocks), each within the 32-bit descriptor field. */
export function splitRanges(lba: bigint, blocks: bigint, maxRanges: number): BlockRange[] {
  const out: BlockRange[] = [];
  let at = lba;
  let left = blocks;
  while (left > 0n) {
    const n = left < MAX_RANGE_BLOCKS ? left : MAX_RANGE_BLOCKS;
    out.push({ lba: at, blocks: Number(n) });
    at += n;
    left -= n;
  }
  if (out.length > maxRanges) throw new RangeError(`splitRanges: ${out.length} range descriptors needed, at most ${maxRanges} allowed`);
  return out;
}

/** The error a finished status stands for (reference 7.1); undefined when it succeeded. */
export function completionError(info: CopyOperationStatusInfo, command: string, serviceAction: number): OdxcpError | undefined {
  const s = info.copyOperationStatus;
  if (s === COPY_OPERATION_STATUS.COMPLETED || s === COPY_OPERATION_STATUS.COMPLETED_PARTIAL_ROD_TOKEN_USAGE || s === COPY_OPERATION_STATUS.COMPLETED_RESIDUAL_DATA) {
    return undefined;
  }
  if (s === COPY_OPERATION_STATUS.COMPLETED_WITH_ERRORS) {
    if (info.sense) {
      return new ScsiError({
        command,
        opcode: 0x83,
        serviceAction,
        status: info.extendedCopyCompletionStatus || 0x02,
        category: categoryForSense(info.sense.senseKey, info.sense.asc, info.sense.ascq),
        sense: info.sense,
        rawSense: info.senseData,
      });
    }
    return new OdxcpError(`${command}: completed with errors, no sense data in the status${info.senseError ? ` (${info.senseError})` : ''}`, 'COPY_FAILED');
  }
  if (s === COPY_OPERATION_STATUS.TERMINATED) return new OdxcpError(`${command}: the operation was terminated on the target (COPY OPERATION ABORT)`, 'TERMINATED');
  return new OdxcpError(`${command}: unexpected COPY OPERATION STATUS 0x${s.toString(16).padStart(2, '0')} (${info.copyOperationStatusName})`, 'BAD_STATUS');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface AwaitOptions {
  /** Give up polling after this long (default 600 s, the 0x83 command timeout). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** After WRITE USING TOKEN, fall back to RECEIVE COPY STATUS(LID4) when RRTI is refused (ddpt, reference 5.10). */
  allowLid4?: boolean;
  /** Bound on the wait for a list to stop after COPY OPERATION ABORT (default ABORT_CONFIRM_MS). */
  abortConfirmMs?: number;
}

/** Why a poll stopped before the list finished: the caller's abort, or the poll's own deadline. */
export type Stopped = { by: 'abort' | 'deadline'; status: CopyOperationStatusInfo };

/**
 * Status of list `listId` once it is no longer in progress. Polls at ESTIMATED STATUS UPDATE
 * DELAY when it is sane, else quickly at first and then every 500 ms. When the signal fires or
 * the deadline passes, sends COPY OPERATION ABORT, waits (bounded) until the list has stopped and
 * throws AbortedError / TransportError ETIMEDOUT with `stopped` (the final status, for the
 * transfer count), or StillInProgressError when it did not stop.
 */
export async function awaitCompletion(t: ScsiTransport, listId: number, serviceAction: number, command: string, o: AwaitOptions = {}): Promise<RodTokenInformation | CopyOperationStatusInfo> {
  const timeoutMs = o.timeoutMs ?? 600_000;
  let deadline = Date.now() + timeoutMs;
  let useLid4 = false;
  let idle = POLL_FIRST_MS;
  let stopping: 'abort' | 'deadline' | undefined;
  for (;;) {
    let info: RodTokenInformation | CopyOperationStatusInfo;
    try {
      info = useLid4 ? await cmds.receiveCopyStatusLid4(t, listId) : await cmds.receiveRodTokenInformation(t, listId);
    } catch (e) {
      const refused = e instanceof ScsiError && (e.category === 'INVALID_OP' || e.category === 'ILLEGAL_REQ');
      if (!useLid4 && o.allowLid4 && refused) {
        useLid4 = true;
        continue;
      }
      throw e;
    }
    if (info.responseToServiceAction !== serviceAction) {
      throw new OdxcpError(
        `${command}: status for list ${listId} reports service action 0x${info.responseToServiceAction.toString(16)}, not 0x${serviceAction.toString(16)} (another operation reused the list identifier?)`,
        'LIST_ID_MISMATCH',
      );
    }
    if (!info.inProgress) {
      if (stopping === 'abort') throw Object.assign(new AbortedError(`${command}: aborted (list ${listId} stopped on the target)`), { stopped: { by: 'abort', status: info } satisfies Stopped });
      if (stopping === 'deadline') {
        throw Object.assign(new TransportError({ command, code: 'ETIMEDOUT', message: `${command}: list ${listId} was still in progress after ${Math.round(timeoutMs / 1000)} s; aborted it` }), {
          stopped: { by: 'deadline', status: info } satisfies Stopped,
        });
      }
      return info;
    }
    if (stopping === undefined && (o.signal?.aborted || Date.now() > deadline)) {
      stopping = o.signal?.aborted ? 'abort' : 'deadline';
      // Awaited: the list must be told to stop before we wait for it to have stopped.
      await cmds.copyOperationAbort(t, listId).catch(() => undefined);
      deadline = Date.now() + (o.abortConfirmMs ?? ABORT_CONFIRM_MS);
      idle = POLL_FIRST_MS;
      continue;
    }
    if (stopping !== undefined && Date.now() > deadline) throw new StillInProgressError(command, listId, t.path);
    const d = info.estimatedStatusUpdateDelay;
    let wait: number;
    if (d > 0 && d < 0xfffffffe) wait = Math.min(d, POLL_MAX_MS);
    else {
      wait = idle;
      idle = Math.min(idle * 2, POLL_DEFAULT_MS);
    }
    await sleep(stopping ? Math.min(wait, 100) : wait);
  }
}

/** The final status a stopped poll carried, if it did. */
export function stoppedStatus(e: unknown): CopyOperationStatusInfo | undefined {
  return (e as { stopped?: Stopped } | undefined)?.stopped?.status;
}

export interface PopulateOptions {
  /** Source block ranges (each within MAX_RANGE_BLOCKS), at most the target's MAXIMUM RANGE DESCRIPTORS. */
  ranges: BlockRange[];
  blockSize: number;
  /** Seconds; 0 = the device default. */
  inactivityTimeout?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Bound on asking the nexus about a list lost to a transport error (default SETTLE_MS). */
  settleMs?: number;
}

export interface PopulateResult {
  token: Buffer;
  /** Bytes the token represents (RRTI transfer count, in bytes): whole blocks, at most what was asked. */
  bytes: bigint;
  listId: number;
  status: RodTokenInformation;
}

/** POPULATE TOKEN, then the token and its size from RRTI (reference 7.6 steps 2-3). */
export async function populate(t: ScsiTransport, o: PopulateOptions): Promise<PopulateResult> {
  const asked = o.ranges.reduce((n, r) => n + BigInt(r.blocks), 0n) * BigInt(o.blockSize);
  let listId = 0;
  let info: RodTokenInformation;
  try {
    await withListId(async (id) => {
      listId = id;
      const guard = guardList(t, id, o.signal);
      try {
        await cmds.populateToken(t, { listId: id, ranges: o.ranges, inactivityTimeout: o.inactivityTimeout ?? 0, timeoutMs: o.timeoutMs });
      } finally {
        await guard.release();
      }
    });
    info = (await awaitCompletion(t, listId, SA_POPULATE_TOKEN, 'POPULATE TOKEN', { timeoutMs: o.timeoutMs, signal: o.signal })) as RodTokenInformation;
  } catch (e) {
    // Lost with the nexus alive: let the list end before anyone goes on (it only reads the
    // source, so the caller may fall back whatever it says).
    if (listId && listFateUnknown(e, t)) await settleTokenList(t, listId, SA_POPULATE_TOKEN, 'POPULATE TOKEN', e, { boundMs: o.settleMs, signal: o.signal }).catch(() => undefined);
    throw e;
  }
  const err = completionError(info, 'POPULATE TOKEN', SA_POPULATE_TOKEN);
  if (err) throw err;
  if (!info.token) throw new OdxcpError(`POPULATE TOKEN: the target completed list ${listId} but RECEIVE ROD TOKEN INFORMATION returned no ROD token`, 'NO_TOKEN');
  const bytes = info.transferredBytes(o.blockSize);
  if (bytes === 0n || bytes % BigInt(o.blockSize) !== 0n || bytes > asked) {
    throw new OdxcpError(`POPULATE TOKEN: the token represents ${bytes} bytes, not a whole number of blocks of the ${asked} asked for`, 'BAD_TRANSFER_COUNT');
  }
  return { token: info.token, bytes, listId, status: info };
}

export interface WriteStepOptions {
  token: Buffer;
  /** Destination ranges of this one command. */
  ranges: BlockRange[];
  blockSize: number;
  /** OFFSET INTO ROD, logical blocks (0 for the block device zero token). */
  offsetIntoRod: bigint;
  deleteToken: boolean;
  /** IMMED=1: status at once, the transfer count by polling (abortable while it runs). */
  immed: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Bound on asking the nexus about a list lost to a transport error (default SETTLE_MS). */
  settleMs?: number;
}

export interface WriteStepResult {
  /** Bytes the command wrote (its transfer count, whole blocks, at most what was asked). */
  bytes: bigint;
  /** False when the target refused IMMED and the command was sent again without it. */
  immed: boolean;
}

/**
 * One WRITE USING TOKEN and its transfer count (reference 5.9, 6.3). Resolves with what it
 * wrote (possibly less than asked: a truncation the caller re-drives). Rejects with a
 * TokenWriteError that says exactly (or at least) how many bytes it wrote before it failed,
 * with the target's error (or AbortedError, StillInProgressError) as its cause.
 */
export async function writeUsingTokenStep(t: ScsiTransport, o: WriteStepOptions): Promise<WriteStepResult> {
  const bs = BigInt(o.blockSize);
  const asked = o.ranges.reduce((n, r) => n + BigInt(r.blocks), 0n) * bs;
  let immed = o.immed;
  let listId = 0;
  function fail(msg: string, bytes: bigint, exact: boolean, cause?: unknown): never {
    throw new TokenWriteError(`${msg} (${exact ? '' : 'at least '}${bytes} of ${asked} bytes written)`, bytes, exact, cause, msg);
  }
  // Lost to a transport error that is not the path's: the nexus lives; ask it until the list
  // ended, and count what it wrote (docs/path-failover.md, case 2). Unconfirmed otherwise.
  const settled = async (lost: TransportError): Promise<never> => {
    let r: Awaited<ReturnType<typeof settleTokenList>>;
    try {
      r = await settleTokenList(t, listId, SA_WRITE_USING_TOKEN, 'WRITE USING TOKEN', lost, { boundMs: o.settleMs, signal: o.signal });
    } catch (u) {
      fail(u instanceof Error ? u.message : String(u), 0n, false, u);
    }
    const n = r.state === 'none' ? 0n : wholeBytes(r.status, o.blockSize, asked);
    fail(`WRITE USING TOKEN: ${lost.message}`, n ?? 0n, n !== undefined, lost);
  };
  const send = (id: number) =>
    cmds.writeUsingToken(t, { listId: id, token: o.token, ranges: o.ranges, offsetIntoRod: o.offsetIntoRod, deleteToken: o.deleteToken, immed, timeoutMs: o.timeoutMs });
  try {
    await withListId(async (id) => {
      listId = id;
      const guard = guardList(t, id, o.signal);
      try {
        try {
          await send(id);
        } catch (e) {
          if (!(immed && refusesImmed(e))) throw e;
          immed = false;
          await send(id);
        }
      } finally {
        await guard.release();
      }
    });
  } catch (e) {
    if (listId && listFateUnknown(e, t)) await settled(e);
    // The command may have written part of the range before failing: ask (reference 6.3).
    const partial = listId ? await transferredAfterFailure(t, listId, o.blockSize, asked).catch(() => undefined) : undefined;
    fail(e instanceof Error ? e.message : String(e), partial ?? 0n, partial !== undefined, e);
  }
  let info: CopyOperationStatusInfo;
  try {
    info = await awaitCompletion(t, listId, SA_WRITE_USING_TOKEN, 'WRITE USING TOKEN', { timeoutMs: o.timeoutMs, signal: o.signal, allowLid4: true });
  } catch (e) {
    if (listFateUnknown(e, t)) await settled(e);
    if (e instanceof StillInProgressError) fail(e.message, 0n, false, e);
    const last = stoppedStatus(e);
    const n = last ? wholeBytes(last, o.blockSize, asked) : undefined;
    fail(`WRITE USING TOKEN: ${e instanceof Error ? e.message : String(e)}`, n ?? 0n, n !== undefined, e);
  }
  const n = wholeBytes(info, o.blockSize, asked);
  if (n === undefined) {
    fail(`WRITE USING TOKEN: transfer count ${describeCount(info, o.blockSize)} is not a whole number of blocks within the ${asked} bytes asked for`, 0n, false);
  }
  const err = completionError(info, 'WRITE USING TOKEN', SA_WRITE_USING_TOKEN);
  if (err) fail(err.message, n, true, err);
  if (n === 0n) fail('WRITE USING TOKEN: the target wrote nothing (is the ROD shorter than the range, or expired?)', 0n, true);
  return { bytes: n, immed };
}

/** A status's transfer count in bytes when it is whole blocks within `max`; else undefined. */
function wholeBytes(info: CopyOperationStatusInfo, blockSize: number, max: bigint): bigint | undefined {
  let n: bigint;
  try {
    n = info.transferredBytes(blockSize);
  } catch {
    return undefined;
  }
  return n % BigInt(blockSize) === 0n && n <= max ? n : undefined;
}

function describeCount(info: CopyOperationStatusInfo, blockSize: number): string {
  try {
    return `${info.transferredBytes(blockSize)} bytes`;
  } catch {
    return `${info.transferCount} in units 0x${info.transferCountUnits.toString(16)}`;
  }
}

/** Bytes a failed WRITE USING TOKEN wrote, per its list's status; throws when it cannot say. */
async function transferredAfterFailure(t: ScsiTransport, listId: number, blockSize: number, max: bigint): Promise<bigint> {
  const info = await cmds.receiveRodTokenInformation(t, listId);
  if (info.responseToServiceAction !== SA_WRITE_USING_TOKEN || info.inProgress) throw new Error('no usable status');
  const n = wholeBytes(info, blockSize, max);
  if (n === undefined) throw new Error('no usable transfer count');
  return n;
}

export interface WutLoopOptions {
  token: Buffer;
  /** First destination LBA. */
  lba: bigint;
  /** Destination blocks to write. */
  blocks: bigint;
  blockSize: number;
  /** OFFSET INTO ROD (blocks) of the first block; advanced by what each command wrote. */
  rodOffsetBlocks?: bigint;
  /** False for the block device zero token, which has no offsets. */
  advanceRodOffset: boolean;
  /** Blocks per WRITE USING TOKEN (the device's MAXIMUM TOKEN TRANSFER SIZE, or the whole). */
  maxChunkBlocks: bigint;
  maxRanges: number;
  /** DEL_TKN on the command that writes the last block (reference 5.9). */
  deleteTokenAtEnd?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called after each command with the total blocks written so far. */
  onWritten?(blocks: bigint): void;
  /** Called as each WRITE USING TOKEN is sent. */
  onCommand?(): void;
}

export interface WutLoopResult {
  blocksWritten: bigint;
  commands: number;
  /** Commands that wrote less than asked (re-driven from where they stopped). */
  truncations: number;
}

/**
 * WRITE USING TOKEN steps until `blocks` are written, OFFSET INTO ROD advanced by what each
 * really wrote (not by what was asked, ddpt's bug, reference 6.3 and 8). A TokenWriteError
 * counts every block written before it.
 */
export async function writeUsingTokenLoop(t: ScsiTransport, o: WutLoopOptions): Promise<WutLoopResult> {
  const bs = BigInt(o.blockSize);
  const rod0 = o.rodOffsetBlocks ?? 0n;
  let done = 0n;
  let commands = 0;
  let truncations = 0;
  let immed = true;
  while (done < o.blocks) {
    if (o.signal?.aborted) throw new TokenWriteError(`WRITE USING TOKEN: aborted (${done * bs} of ${o.blocks * bs} bytes written)`, done * bs, true, new AbortedError('aborted'), 'WRITE USING TOKEN: aborted');
    const left = o.blocks - done;
    const chunk = left < o.maxChunkBlocks ? left : o.maxChunkBlocks;
    commands++;
    o.onCommand?.();
    let r: WriteStepResult;
    try {
      r = await writeUsingTokenStep(t, {
        token: o.token,
        ranges: splitRanges(o.lba + done, chunk, o.maxRanges),
        blockSize: o.blockSize,
        offsetIntoRod: o.advanceRodOffset ? rod0 + done : 0n,
        deleteToken: o.deleteTokenAtEnd === true && done + chunk === o.blocks,
        immed,
        timeoutMs: o.timeoutMs,
        signal: o.signal,
      });
    } catch (e) {
      if (!(e instanceof TokenWriteError)) throw e;
      const total = done * bs + e.bytesWritten;
      throw new TokenWriteError(`${e.reason} (${e.exact ? '' : 'at least '}${total} of ${o.blocks * bs} bytes written)`, total, e.exact, e.cause, e.reason);
    }
    immed = r.immed;
    done += r.bytes / bs;
    if (r.bytes < chunk * bs) truncations++;
    o.onWritten?.(done);
  }
  return { blocksWritten: done, commands, truncations };
}

/** Limits for token commands on a LUN: range descriptors and blocks per command (0 = none). */
export async function tokenLimits(t: TokenTarget): Promise<{ maxRanges: number; maxTokenBlocks: bigint; maxInactivity: number }> {
  const caps = await t.capabilities();
  const l = caps.tokenCopy.limits;
  return {
    maxRanges: l && l.maximumRangeDescriptors > 0 ? l.maximumRangeDescriptors : DEFAULT_MAX_RANGES,
    maxTokenBlocks: l?.maximumTokenTransferSize ?? 0n,
    maxInactivity: l?.maximumInactivityTimeout ?? 0,
  };
}

/** Check a byte offset/length against a LUN; returns them in blocks. */
export function blockRange(offset: bigint, length: bigint, blockSize: number, capacityBytes: bigint, names: { offset: string; length: string; device: string }): { lba: bigint; blocks: bigint } {
  const bs = BigInt(blockSize);
  if (offset < 0n) throw new UsageError(`${names.offset}: must not be negative`);
  if (length <= 0n) throw new UsageError(`${names.length}: must be more than 0`);
  if (offset % bs !== 0n) throw new UsageError(`${names.offset}: ${offset} is not a multiple of the ${blockSize}-byte logical block of ${names.device}`);
  if (length % bs !== 0n) throw new UsageError(`${names.length}: ${length} is not a multiple of the ${blockSize}-byte logical block of ${names.device}`);
  if (offset + length > capacityBytes) {
    throw new UsageError(`${names.offset}/${names.length}: ${offset}+${length} runs past the end of ${names.device} (${capacityBytes} bytes)`);
  }
  return { lba: offset / bs, blocks: length / bs };
}
