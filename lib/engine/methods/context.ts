// What every copy method gets: both LUNs (behind counting transports), where the copy sits on
// each, the account to report completed pieces to, and the abort state. A method copies one
// range of the copy (offsets relative to the copy's start) and either finishes it or throws a
// MethodError saying how many bytes from the range's start are known to be on the destination.
import type { EncodedCommand } from '../../native';
import type { CommandOptions, CommandResult, ScsiTransport } from '../../scsi/transport';
import { commandName } from '../../scsi/opcodes';
import type { Account } from '../account';
import type { CopyMethod } from '../types';

export interface Range {
  /** Relative to the start of the copy, bytes. */
  offset: bigint;
  length: bigint;
}

export interface MethodContext {
  /** Command paths (the sg nodes): offload commands and their status. */
  src: ScsiTransport;
  dst: ScsiTransport;
  /** Data paths for READ/WRITE (the block nodes where the devices have them). */
  srcData: ScsiTransport;
  dstData: ScsiTransport;
  srcBase: bigint;
  dstBase: bigint;
  srcBlockSize: number;
  dstBlockSize: number;
  account: Account;
  timeoutMs?: number;
  /**
   * Fires when the caller asks to stop. Methods check it between commands and hand it to the
   * token and list operations, which abort what the array is running and wait until it stopped.
   */
  signal: AbortSignal;
}

export interface CopyMethodImpl {
  readonly name: CopyMethod;
  run(range: Range, ctx: MethodContext): Promise<void>;
}

/** A method stopped part-way: `progress` bytes from the range's start are on the destination. */
export class MethodError extends Error {
  constructor(
    readonly method: CopyMethod,
    readonly progress: bigint,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}
Object.defineProperty(MethodError.prototype, 'name', { value: 'MethodError' });

/** The copy is stopping (the caller's abort, or another chunk's fatal error): stop between commands. */
export class StopRequested extends Error {
  constructor() {
    super('copy aborted');
  }
}

const DATA_OPCODES = new Set([0x28, 0x2a, 0x88, 0x8a]);

/**
 * Counts every command by T10 name and the READ/WRITE data that crosses the host, around
 * a device's transport (the account's "commands issued" and "host data bytes").
 */
export class CountingTransport implements ScsiTransport {
  constructor(
    private readonly inner: ScsiTransport,
    private readonly account: Account,
  ) {}
  get path(): string {
    return this.inner.path;
  }
  get lane(): ScsiTransport['lane'] {
    return this.inner.lane;
  }
  pathRunning(): boolean {
    return this.inner.pathRunning?.() === true;
  }
  async command(cmd: EncodedCommand, options?: CommandOptions): Promise<CommandResult> {
    this.account.command(commandName(cmd.cdb));
    const r = await this.inner.command(cmd, options);
    if (DATA_OPCODES.has(cmd.cdb[0] as number)) {
      const sent = cmd.direction === 'to-device' ? (options?.data ?? cmd.data)?.length ?? 0 : r.data.length;
      this.account.hostDataBytes += BigInt(Math.max(0, sent - (cmd.direction === 'to-device' ? r.resid : 0)));
    }
    return r;
  }
}

export const min = (a: bigint, b: bigint) => (a < b ? a : b);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
