// POPULATE TOKEN and WRITE USING TOKEN as complete operations (reference 5.8-5.10, 6.3, 7.3,
// 7.4, 7.6): list identifiers, the RECEIVE ROD TOKEN INFORMATION poll, transfer counts in their
// units, and a WRITE USING TOKEN loop that re-drives truncated transfers until every block is
// written or says exactly how many were.
import * as cmds from '../scsi/commands';
import { AbortedError, OdxcpError, ScsiError, TransportError, categoryForSense, UsageError } from '../scsi/errors';
import { COPY_OPERATION_STATUS, type CopyOperationStatusInfo, type RodTokenInformation } from '../scsi/tpc';
import type { ScsiTransport } from '../scsi/transport';
import type { BlockRange } from '../native';
import type { Capabilities } from '../device/capabilities';
import type { QueueLimits } from '../device/sysfs';

/** What the token operations need from a LUN; ScsiDevice has all of it (tests pass fakes). */
export interface TokenTarget extends ScsiTransport {
  capacity(): Promise<{ blockSize: number; blocks: bigint; bytes: bigint }>;
  capabilities(): Promise<Pick<Capabilities, 'tokenCopy' | 'blockLimits'>>;
  queueLimits?(): QueueLimits | undefined;
}

export const SA_POPULATE_TOKEN = 0x10;
export const SA_WRITE_USING_TOKEN = 0x11;
/** NUMBER OF LOGICAL BLOCKS in a block device range descriptor is 32 bits (reference 5.8). */
export const MAX_RANGE_BLOCKS = 0xffffffffn;
/** Range descriptors per command when the device does not say (FreeBSD's limit, reference 5.8). */
export const DEFAULT_MAX_RANGES = 64;
const POLL_DEFAULT_MS = 500;
const POLL_MAX_MS = 2000;

// 4-byte list identifiers above the LID1 range (ddpt's reasoning, reference 7.4), started at a
// random point so two odxcp processes on one nexus rarely meet.
let nextId = 0x10000 + Math.floor(Math.random() * 0x7fff0000);

/** A fresh LID4 list identifier. */
export function allocateListId(): number {
  const id = nextId;
  nextId = nextId >= 0xfffffff0 ? 0x10000 : nextId + 1;
  return id >>> 0;
}

/**
 * A token operation stopped part-way. `bytesWritten` is what is on the destination: exact when
 * `exact`, else a lower bound (the target could not say how much the failing command wrote).
 */
export class TokenWriteError extends OdxcpError {
  readonly bytesWritten: bigint;
  readonly exact: boolean;
  constructor(message: string, bytesWritten: bigint, exact: boolean, cause?: unknown) {
    super(message, cause instanceof OdxcpError ? cause.code : 'TOKEN_WRITE', { cause });
    this.bytesWritten = bytesWritten;
    this.exact = exact;
  }
}
Object.defineProperty(TokenWriteError.prototype, 'name', { value: 'TokenWriteError' });

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

const isOperationInProgress = (e: unknown) => e instanceof ScsiError && e.asc === 0x00 && e.ascq === 0x16;

/**
 * Send a 0x83 command, moving to the next list id when the target says the id is still in use
 * (ILLEGAL REQUEST 00/16, as ddpt does, up to 10 times; reference 7.4). Returns the id used.
 */
export async function withListId(send: (listId: number) => Promise<unknown>): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const id = allocateListId();
    try {
      await send(id);
      return id;
    } catch (e) {
      if (!isOperationInProgress(e) || attempt >= 9) throw e;
    }
  }
}

/** The error a completed-with-errors (or terminated) status stands for; undefined when it succeeded. */
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
}

/**
 * Status of list `listId` once it is no longer in progress (reference 7.3: poll at ESTIMATED
 * STATUS UPDATE DELAY when it is sane, else every 500 ms).
 */
export async function awaitCompletion(t: ScsiTransport, listId: number, serviceAction: number, command: string, o: AwaitOptions = {}): Promise<RodTokenInformation | CopyOperationStatusInfo> {
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
  let useLid4 = false;
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
    if (!info.inProgress) return info;
    if (o.signal?.aborted) {
      await cmds.copyOperationAbort(t, listId).catch(() => undefined);
      throw new AbortedError(`${command}: aborted while the target was still working`, { signal: 'SIGINT' });
    }
    if (Date.now() > deadline) {
      throw new TransportError({ command, code: 'ETIMEDOUT', message: `${command}: list ${listId} still in progress after ${Math.round((o.timeoutMs ?? 600_000) / 1000)} s` });
    }
    const d = info.estimatedStatusUpdateDelay;
    await sleep(d > 0 && d < 0xfffffffe ? Math.min(d, POLL_MAX_MS) : POLL_DEFAULT_MS);
  }
}

export interface PopulateOptions {
  lba: bigint;
  blocks: bigint;
  blockSize: number;
  maxRanges: number;
  /** Seconds; 0 = the device default. */
  inactivityTimeout?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PopulateResult {
  token: Buffer;
  /** Bytes the token represents (RRTI transfer count, in bytes). */
  bytes: bigint;
  listId: number;
  status: RodTokenInformation;
}

/** POPULATE TOKEN for one range, then the token and its size from RRTI (reference 7.6 steps 2-3). */
export async function populate(t: ScsiTransport, o: PopulateOptions): Promise<PopulateResult> {
  const ranges = splitRanges(o.lba, o.blocks, o.maxRanges);
  const listId = await withListId((id) => cmds.populateToken(t, { listId: id, ranges, inactivityTimeout: o.inactivityTimeout ?? 0, timeoutMs: o.timeoutMs }));
  const info = (await awaitCompletion(t, listId, SA_POPULATE_TOKEN, 'POPULATE TOKEN', { timeoutMs: o.timeoutMs, signal: o.signal })) as RodTokenInformation;
  const err = completionError(info, 'POPULATE TOKEN', SA_POPULATE_TOKEN);
  if (err) throw err;
  if (!info.token) throw new OdxcpError(`POPULATE TOKEN: the target completed list ${listId} but RECEIVE ROD TOKEN INFORMATION returned no ROD token`, 'NO_TOKEN');
  const bytes = info.transferredBytes(o.blockSize);
  if (bytes === 0n || bytes % BigInt(o.blockSize) !== 0n || bytes > o.blocks * BigInt(o.blockSize)) {
    throw new OdxcpError(`POPULATE TOKEN: the token represents ${bytes} bytes, not a whole number of blocks of the ${o.blocks * BigInt(o.blockSize)} asked for`, 'BAD_TRANSFER_COUNT');
  }
  return { token: info.token, bytes, listId, status: info };
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
 * WRITE USING TOKEN until `blocks` are written: RRTI (or RCS LID4) after each command for the
 * transfer count, honouring TRANSFER COUNT UNITS, then the rest with OFFSET INTO ROD advanced
 * by what was really written (not by what was asked, ddpt's bug, reference 6.3 and 8).
 */
export async function writeUsingTokenLoop(t: ScsiTransport, o: WutLoopOptions): Promise<WutLoopResult> {
  const bs = BigInt(o.blockSize);
  const rod0 = o.rodOffsetBlocks ?? 0n;
  let done = 0n;
  let commands = 0;
  let truncations = 0;
  function fail(msg: string, exact: boolean, cause?: unknown): never {
    throw new TokenWriteError(`${msg} (${exact ? '' : 'at least '}${done * bs} of ${o.blocks * bs} bytes written)`, done * bs, exact, cause);
  }
  while (done < o.blocks) {
    if (o.signal?.aborted) fail('WRITE USING TOKEN: aborted', true, new AbortedError('aborted', { signal: 'SIGINT' }));
    const left = o.blocks - done;
    const chunk = left < o.maxChunkBlocks ? left : o.maxChunkBlocks;
    const ranges = splitRanges(o.lba + done, chunk, o.maxRanges);
    const last = done + chunk === o.blocks;
    let listId = 0;
    try {
      listId = await withListId(async (id) => {
        listId = id;
        commands++;
        o.onCommand?.();
        await cmds.writeUsingToken(t, {
          listId: id,
          token: o.token,
          ranges,
          offsetIntoRod: o.advanceRodOffset ? rod0 + done : 0n,
          deleteToken: o.deleteTokenAtEnd === true && last,
          timeoutMs: o.timeoutMs,
        });
      });
    } catch (e) {
      // The command may have written part of the range before failing: ask (reference 6.3).
      const partial = listId ? await transferredBlocks(t, listId, o.blockSize, chunk).catch(() => undefined) : undefined;
      if (partial !== undefined) done += partial;
      fail(`${e instanceof Error ? e.message : String(e)}`, partial !== undefined, e);
    }
    let info: CopyOperationStatusInfo;
    try {
      info = await awaitCompletion(t, listId, SA_WRITE_USING_TOKEN, 'WRITE USING TOKEN', { timeoutMs: o.timeoutMs, signal: o.signal, allowLid4: true });
    } catch (e) {
      fail(`WRITE USING TOKEN succeeded but its transfer count could not be read: ${e instanceof Error ? e.message : String(e)}`, false, e);
    }
    let n: bigint;
    try {
      n = info.transferredBytes(o.blockSize);
    } catch (e) {
      fail(`WRITE USING TOKEN: ${e instanceof Error ? e.message : String(e)}`, false, e);
    }
    if (n % bs !== 0n || n > chunk * bs) {
      fail(`WRITE USING TOKEN: transfer count ${n} bytes is not a whole number of blocks within the ${chunk * bs} asked for`, false);
    }
    done += n / bs;
    const err = completionError(info, 'WRITE USING TOKEN', SA_WRITE_USING_TOKEN);
    if (err) fail(err.message, true, err);
    if (n === 0n) fail('WRITE USING TOKEN: the target wrote nothing (is the ROD shorter than the range, or expired?)', true);
    if (n < chunk * bs) truncations++;
    o.onWritten?.(done);
  }
  return { blocksWritten: done, commands, truncations };
}

async function transferredBlocks(t: ScsiTransport, listId: number, blockSize: number, max: bigint): Promise<bigint> {
  const info = await cmds.receiveRodTokenInformation(t, listId);
  if (info.responseToServiceAction !== SA_WRITE_USING_TOKEN || info.inProgress) throw new Error('no usable status');
  const n = info.transferredBytes(blockSize) / BigInt(blockSize);
  return n > max ? max : n;
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
