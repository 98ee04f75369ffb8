// Making written blocks durable: SYNCHRONIZE CACHE over the range a copy (or a zero, or a
// token write) wrote, after its last write. A copy manager may leave offloaded data in its write
// cache too, so every method ends with this. Targets differ in what they accept: the ranged
// 16-byte form first, then the 10-byte form (SBC-3 5.22; some older arrays have only that),
// then each form over the whole medium (NUMBER OF LOGICAL BLOCKS 0) when a target refuses a
// ranged flush. Only a refusal (ILLEGAL REQUEST: opcode or field) moves down the ladder;
// anything else is an error of the operation that wrote the data.
import * as cmds from '../scsi/commands';
import { OdxcpError } from '../errors';
import { refused } from './reactions';
import type { ScsiTransport } from '../scsi/transport';

export type FlushForm = 'SYNCHRONIZE CACHE(16)' | 'SYNCHRONIZE CACHE(10)' | 'SYNCHRONIZE CACHE(16) whole medium' | 'SYNCHRONIZE CACHE(10) whole medium';

export interface FlushResult {
  /** The form the target accepted. */
  form: FlushForm;
  /** Commands sent, refused ones included. */
  commands: number;
}

const MAX_U32 = 0xffffffffn;

/**
 * Flush `blocks` blocks from `lba` on `t` (the LUN's command path). Rejects with the last
 * error when no form was accepted, or with the first error that is not a refusal.
 */
export async function flushRange(t: ScsiTransport, lba: bigint, blocks: bigint, o: { timeoutMs?: number } = {}): Promise<FlushResult> {
  const steps: Array<[FlushForm, () => Promise<void>]> = [];
  // A range the 32-bit count cannot carry in one command is flushed whole (one command, not many).
  if (blocks > 0n && blocks <= MAX_U32) {
    steps.push(['SYNCHRONIZE CACHE(16)', () => cmds.synchronizeCache16(t, { lba, blocks: Number(blocks), timeoutMs: o.timeoutMs })]);
  }
  if (blocks > 0n && blocks <= 0xffffn && lba + blocks - 1n <= MAX_U32) {
    steps.push(['SYNCHRONIZE CACHE(10)', () => cmds.synchronizeCache10(t, { lba: Number(lba), blocks: Number(blocks), timeoutMs: o.timeoutMs })]);
  }
  steps.push(['SYNCHRONIZE CACHE(16) whole medium', () => cmds.synchronizeCache16(t, { lba: 0, blocks: 0, timeoutMs: o.timeoutMs })]);
  steps.push(['SYNCHRONIZE CACHE(10) whole medium', () => cmds.synchronizeCache10(t, { lba: 0, blocks: 0, timeoutMs: o.timeoutMs })]);
  let last: unknown;
  let commands = 0;
  for (const [form, send] of steps) {
    commands++;
    try {
      await send();
      return { form, commands };
    } catch (e) {
      if (!refused(e)) throw e;
      last = e;
    }
  }
  throw last;
}

/**
 * Run `write` (which writes within `blocks` blocks from `lba`), then flush that range unless
 * `sync` is false. A write that fails part-way still gets a best-effort flush of what it did,
 * and its own error is the one thrown. A flush that fails after a good write is the error.
 */
export async function writeThenFlush<T>(t: ScsiTransport, lba: bigint, blocks: bigint, o: { sync?: boolean; timeoutMs?: number }, write: () => Promise<T>): Promise<{ value: T; synced: boolean }> {
  const sync = o.sync ?? true;
  let value: T;
  try {
    value = await write();
  } catch (e) {
    if (sync) await flushRange(t, lba, blocks, o).catch(() => undefined);
    throw e;
  }
  if (!sync) return { value, synced: false };
  try {
    await flushRange(t, lba, blocks, o);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new OdxcpError(`written but not flushed: SYNCHRONIZE CACHE failed on ${t.path}: ${msg}`, e instanceof OdxcpError ? e.code : 'SYNC_FAILED', { cause: e });
  }
  return { value, synced: true };
}
