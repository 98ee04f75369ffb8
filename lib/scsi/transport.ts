// Running one encoded command: execute it, turn a non-GOOD outcome into a typed error, and
// retry what the target says was not executed (UNIT ATTENTION, BUSY, TASK SET FULL, becoming
// ready) within a bound. Everything above this file sees either data or a typed error.
import type { EncodedCommand, NativeExecuteRequest, NativeExecuteResult, NativeHandle } from '../native';
import { ScsiError, TransportError, scsiErrorFromResult, transportErrorFromSystemError } from './errors';
import { commandName } from './opcodes';
import { traceCommand, tracing } from './trace';

/** Something that can run one SG_IO request: the addon on an open fd, or a test fake. */
export interface Executor {
  readonly path: string;
  execute(request: NativeExecuteRequest): Promise<NativeExecuteResult>;
}

export interface CommandOptions {
  /** Data-out buffer (overrides cmd.data) or data-in buffer to fill (overrides cmd.allocationLength). */
  data?: Buffer;
  timeoutMs?: number;
  /**
   * True when running the command twice is harmless (reads, INQUIRY, a WRITE of the same
   * bytes). Only such commands are retried after a transport-level failure, where the target
   * may or may not have executed them. Statuses that say "not executed" are always retried.
   */
  idempotent?: boolean;
}

export interface CommandResult {
  /** Data-in actually transferred (buffer trimmed by the residual); empty for other directions. */
  data: Buffer;
  resid: number;
  durationMs: number;
  /** The raw outcome, for callers that need sense on a GOOD status (rare) or the info field. */
  raw: NativeExecuteResult;
}

/** The interface the SCSI command functions and the copy engine talk to. */
export interface ScsiTransport {
  readonly path: string;
  command(cmd: EncodedCommand, options?: CommandOptions): Promise<CommandResult>;
  /**
   * The addon handle behind a block node's data transport, for the host copy's native data
   * lane (native copyLane); absent everywhere else (sg nodes, fakes).
   */
  readonly lane?: { handle: NativeHandle; writable: boolean };
  /**
   * Whether the device behind still carries commands (its sysfs state is running), read now;
   * absent where that cannot be told (fakes, wrappers of such).
   */
  pathRunning?(): boolean;
}

export interface RetryPolicy {
  /** UNIT ATTENTION: the command was not executed; the condition clears once reported. */
  unitAttention: number;
  /** BUSY / TASK SET FULL / ABORTED COMMAND (not executed or cleanly failed). */
  busy: number;
  busyDelayMs: number;
  /** NOT READY, "in process of becoming ready" and similar transient 04/xx. */
  notReady: number;
  notReadyDelayMs: number;
  /** Transport-level failures that may be retried (only for idempotent commands). */
  transport: number;
  transportDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  unitAttention: 8,
  busy: 10,
  busyDelayMs: 20,
  notReady: 20,
  notReadyDelayMs: 250,
  transport: 3,
  transportDelayMs: 100,
};

/** Default SG_IO timeouts (reference 1.6, 7.5): 0x83 copy-out commands may run for minutes. */
export function defaultTimeoutMs(cdb: Buffer): number {
  const op = cdb[0];
  if (op === 0x83) return 600_000;
  if (op === 0x93 || op === 0x91 || op === 0x35) return 300_000; // WRITE SAME / SYNCHRONIZE CACHE over a large range
  return 60_000;
}

export interface RetryEvents {
  /** Called for each UNIT ATTENTION seen (caches keyed on identity/capacity may be stale). */
  onUnitAttention?(err: ScsiError): void;
  onRetry?(reason: string, attempt: number): void;
}

export interface RetryStats {
  unitAttentions: number;
  busy: number;
  notReady: number;
  transport: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** NOT READY conditions that resolve by themselves (04/01 becoming ready, 04/07 ops in progress, 04/0A ALUA transition). */
function transientNotReady(e: ScsiError): boolean {
  return e.senseKey === 0x2 && e.asc === 0x04 && [0x01, 0x07, 0x0a, 0x13, 0x14].includes(e.ascq ?? -1);
}

/** What to do about an SG_IO errno (reference 1.3, 1.4), appended to the error's message. */
const ERRNO_ADVICE: Record<string, string> = {
  EPERM: 'the kernel refused this opcode on this node: use /dev/sgN opened read-write, or run with CAP_SYS_RAWIO (reference 1.3)',
  EACCES: 'no permission on the device node: give the user read-write access to /dev/sgN (e.g. group disk) or run as root',
  EDOM: 'too many commands queued on one /dev/sg file descriptor (the sg driver allows 16)',
  ECLOSED: 'the device was closed before this command was issued',
  EIO: 'transfer larger than the device accepts (max_hw_sectors_kb) or an I/O error below SCSI',
  ENODEV: 'the device went away (detached or being removed)',
  ENXIO: 'the device is in error recovery or gone',
  EINVAL: 'the kernel rejected the request (CDB length, direction or transfer length)',
  ENOMEM: 'the kernel could not allocate buffers for this transfer: use smaller transfers',
};

/**
 * Whether runCommand's policy would run a command again after this error (unit attention,
 * busy, a transient not-ready, a retryable transport failure of an idempotent command).
 * For callers that ran the command elsewhere (the native data lane) and must decide alike.
 */
export function wouldRetry(err: unknown, idempotent: boolean): boolean {
  if (err instanceof ScsiError) return err.isUnitAttention || err.category === 'BUSY' || err.category === 'TS_FULL' || transientNotReady(err);
  return err instanceof TransportError && idempotent && err.isRetryable;
}

export function withAdvice(err: TransportError, path: string): TransportError {
  const advice = ERRNO_ADVICE[err.code];
  if (advice) err.message = `${err.message} on ${path}: ${advice}`;
  else err.message = `${err.message} on ${path}`;
  return err;
}

/**
 * Execute with the retry policy. Non-GOOD results become ScsiError / TransportError.
 */
export async function runCommand(
  exec: Executor,
  cmd: EncodedCommand,
  options: CommandOptions = {},
  policy: RetryPolicy = DEFAULT_RETRY,
  events: RetryEvents = {},
  stats?: RetryStats,
): Promise<CommandResult> {
  let data: Buffer | undefined;
  if (cmd.direction === 'to-device') data = options.data ?? cmd.data;
  else if (cmd.direction === 'from-device') data = options.data ?? Buffer.alloc(cmd.allocationLength ?? 0);
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs(cmd.cdb);
  const counts = { ua: 0, busy: 0, nr: 0, tr: 0 };
  for (let attempt = 1; ; attempt++) {
    let raw: NativeExecuteResult;
    const t0 = tracing() ? performance.now() : 0;
    const witness = (more: { result?: NativeExecuteResult; errno?: string; dataIn?: Buffer }) =>
      traceCommand({ path: exec.path, name: commandName(cmd.cdb), cdb: cmd.cdb, direction: cmd.direction, ...(cmd.direction === 'to-device' ? { dataOut: data } : {}), ...more, wallMs: performance.now() - t0, attempt });
    try {
      raw = await exec.execute({ cdb: cmd.cdb, direction: cmd.direction, data, timeoutMs });
    } catch (e) {
      if (tracing()) witness({ errno: (e as NodeJS.ErrnoException).code ?? String(e) });
      // The ioctl itself failed (errno): nothing reached the target in a knowable state.
      const te = withAdvice(transportErrorFromSystemError(commandName(cmd.cdb), cmd.cdb, e as NodeJS.ErrnoException), exec.path);
      te.node = exec.path;
      throw te;
    }
    if (tracing()) witness({ result: raw, ...(cmd.direction === 'from-device' && data ? { dataIn: data.subarray(0, Math.max(0, data.length - raw.resid)) } : {}) });
    const err = scsiErrorFromResult(commandName(cmd.cdb), cmd.cdb, raw);
    if (!err) {
      const got = cmd.direction === 'from-device' && data ? data.subarray(0, Math.max(0, data.length - raw.resid)) : Buffer.alloc(0);
      return { data: got, resid: raw.resid, durationMs: raw.durationMs, raw };
    }
    if (err instanceof ScsiError) {
      if (err.isUnitAttention && counts.ua < policy.unitAttention) {
        counts.ua++;
        if (stats) stats.unitAttentions++;
        events.onUnitAttention?.(err);
        events.onRetry?.(`unit attention ${err.ascName}`, counts.ua);
        continue;
      }
      if ((err.category === 'BUSY' || err.category === 'TS_FULL') && counts.busy < policy.busy) {
        counts.busy++;
        if (stats) stats.busy++;
        events.onRetry?.(err.category, counts.busy);
        await sleep(policy.busyDelayMs * 2 ** Math.min(counts.busy - 1, 5));
        continue;
      }
      if (transientNotReady(err) && counts.nr < policy.notReady) {
        counts.nr++;
        if (stats) stats.notReady++;
        events.onRetry?.(`not ready ${err.ascName}`, counts.nr);
        await sleep(policy.notReadyDelayMs);
        continue;
      }
      throw err;
    }
    if (err instanceof TransportError && options.idempotent && err.isRetryable && counts.tr < policy.transport) {
      counts.tr++;
      if (stats) stats.transport++;
      events.onRetry?.(err.message, counts.tr);
      await sleep(policy.transportDelayMs);
      continue;
    }
    if (err instanceof TransportError) err.node = exec.path;
    throw err;
  }
}
