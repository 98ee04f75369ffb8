// Everything a CLI command touches outside its arguments: the engine, the device probes, the
// token and zero library functions, output streams, environment and signals. main() takes
// overrides, so unit tests run commands against stubs and assert what reached the library.
import { ScsiDevice } from '../device/device';
import type * as Engine from '../engine';
import type { CopyOptions, CopyPlan, CopyResult } from '../engine/types';
import { AbortedError, OdxcpError } from '../errors';
import { exitCodeFor } from './exit-status';
import { populateTokenFile, readTokenFile, writeTokenFile } from '../tokens/token-file';
import { TokenWriteError } from '../tokens/token-ops';
import { zeroRange, ZeroError } from '../tokens/zero';
import type { OutStream, ProgressEvent, ProgressReporter } from './progress';
import { RunState } from './output';
import { toJson } from './json';
import { describeDevice, type DeviceInfo } from './describe';
import { constants as osConstants } from 'node:os';
import { scanLuns, scanMultipath, type ScannedLun, type ScannedMultipath } from '../device/scan';

// The engine loads when a command first needs it: --help, usage errors and `info` do without.
let loaded: typeof Engine | undefined;
function engine(): typeof Engine {
  return (loaded ??= require('../engine') as typeof Engine);
}

/** The name first, so that an error's exit status does not load the engine. */
const isCopyError = (e: unknown): boolean => e instanceof OdxcpError && e.name === 'CopyError' && e instanceof engine().CopyError;

export interface Geometry {
  blockSize: number;
  bytes: bigint;
}

export interface CliContext {
  stdout: OutStream;
  stderr: OutStream;
  env: Readonly<Record<string, string | undefined>>;
  copy(o: CopyOptions): Promise<CopyResult>;
  copyMany: typeof Engine.copyMany;
  runBatch: typeof Engine.runBatch;
  resume: typeof Engine.resume;
  planCopy(o: CopyOptions): Promise<CopyPlan>;
  /** Block size and capacity of a LUN (to turn `Nb` sizes and sg_xcopy blocks into bytes). */
  geometry(path: string): Promise<Geometry>;
  describeDevice(path: string): Promise<DeviceInfo>;
  /** The host's SCSI LUNs and multipath maps, from sysfs (`odxcp list`). */
  scan(): { luns: ScannedLun[]; multipath: ScannedMultipath[] };
  populateTokenFile: typeof populateTokenFile;
  writeTokenFile: typeof writeTokenFile;
  readTokenFile: typeof readTokenFile;
  zeroRange: typeof zeroRange;
  /** Install a signal handler; returns its remover. */
  onSignal(signal: NodeJS.Signals, handler: () => void): () => void;
  /** Leave now (a second Ctrl-C while a command is in flight). */
  exit(code: number): void;
  now(): Date;
  /** What happened to stdout/stderr during this run (main() makes a fresh one). */
  run: RunState;
}

async function geometry(p: string): Promise<Geometry> {
  const d = await ScsiDevice.open(p, { layered: true });
  try {
    const c = await d.capacity();
    return { blockSize: c.blockSize, bytes: d.layout?.bytes ?? c.bytes };
  } finally {
    await d.close();
  }
}

export function defaultContext(): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    copy: (o) => engine().copy(o),
    copyMany: (o) => engine().copyMany(o),
    runBatch: (jobs, o) => engine().runBatch(jobs, o),
    resume: (file, o) => engine().resume(file, o),
    planCopy: (o) => engine().planCopy(o),
    geometry,
    describeDevice,
    scan: () => ({ luns: scanLuns(), multipath: scanMultipath() }),
    populateTokenFile,
    writeTokenFile,
    readTokenFile,
    zeroRange,
    onSignal: (sig, fn) => {
      process.on(sig, fn);
      return () => process.off(sig, fn);
    },
    exit: (code) => process.exit(code),
    now: () => new Date(),
    run: new RunState(),
  };
}

/** 128 + signal number, the shell's convention (130 for SIGINT, 143 for SIGTERM). */
export function signalExitCode(sig: NodeJS.Signals): number {
  return 128 + ((osConstants.signals as Record<string, number | undefined>)[sig] ?? osConstants.signals.SIGINT);
}

/**
 * The exit status for an error. Errors that only wrap a cause to carry an account of what was
 * done (CopyError, ZeroError, TokenWriteError) exit with their cause's status: a copy that
 * stopped on COPY ABORTED exits 10, as sg_xcopy would.
 */
export function cliExitCode(e: unknown): number {
  let cur = e;
  for (let i = 0; i < 8; i++) {
    const wrapper = isCopyError(cur) || cur instanceof ZeroError || cur instanceof TokenWriteError;
    if (!wrapper) break;
    const cause = (cur as Error).cause;
    if (cause === undefined) return exitCodeFor(new OdxcpError('', 'OTHER'));
    cur = cause;
  }
  return exitCodeFor(cur);
}

/**
 * One line for an error, with the class name for foreign errors. Control characters (a path
 * with a newline in it) are escaped rather than cutting the line, so the reason stays on it.
 */
export function errorLine(e: unknown): string {
  const msg = e instanceof OdxcpError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return oneLineText(msg);
}

/** `s` on one line: newlines and other control characters as \n, \r, \t or \xNN. */
export function oneLineText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** The `error` member of a --json result. */
export function jsonErrorMember(e: unknown, exitCode: number): { message: string; code: string | null; exitCode: number } {
  const code = (e as { code?: unknown })?.code;
  return { message: errorLine(e), code: typeof code === 'string' ? code : null, exitCode };
}

/**
 * With --json, a failure that has no account still prints one JSON object on stdout:
 * `{"complete":false,"error":{...}}` plus whatever `extra` the command learned. Once per run.
 */
export function printJsonError(ctx: CliContext, e: unknown, exitCode: number, extra: Record<string, unknown> = {}): void {
  if (ctx.run.stdoutWritten) return;
  ctx.stdout.write(`${toJson({ ...extra, complete: false, error: jsonErrorMember(e, exitCode) })}\n`);
}

/** Print `odxcp: <message>` (and, with ODXCP_DEBUG=1, the stacks) and return the exit status. */
export function reportError(ctx: CliContext, e: unknown, suffix = ''): number {
  ctx.stderr.write(`odxcp: ${errorLine(e)}${suffix}\n`);
  if (ctx.env.ODXCP_DEBUG === '1') {
    let cur: unknown = e;
    for (let i = 0; i < 8 && cur; i++) {
      ctx.stderr.write(`${cur instanceof Error ? (cur.stack ?? String(cur)) : String(cur)}\n`);
      cur = cur instanceof Error ? cur.cause : undefined;
      if (cur) ctx.stderr.write('caused by: ');
    }
  }
  return cliExitCode(e);
}

export interface AbortState {
  signal: AbortSignal;
  /** The signal that stopped us, once one did. */
  readonly received: NodeJS.Signals | undefined;
}

/** Which signal stopped a command, filled in by withSignals (also when the command then fails). */
export interface Stopped {
  by?: NodeJS.Signals;
}

/** Signals that stop a command cleanly (SIGHUP: the terminal or ssh session went away). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Run `fn` with an AbortSignal tied to SIGINT/SIGTERM/SIGHUP: the first signal asks the
 * operation to stop cleanly (it then reports what it did). A second one leaves at once without
 * waiting for the commands in flight; `leaving(sig)` prints what is known by then (the last
 * progress), since the account the operation would have returned will never come.
 */
export async function withSignals<T>(
  ctx: CliContext,
  fn: (s: AbortState) => Promise<T>,
  leaving?: (sig: NodeJS.Signals, first: NodeJS.Signals) => void,
  stopped?: Stopped,
): Promise<T> {
  const ac = new AbortController();
  let received: NodeJS.Signals | undefined;
  const state: AbortState = {
    signal: ac.signal,
    get received() {
      return received;
    },
  };
  const handler = (sig: NodeJS.Signals) => () => {
    if (received) {
      try {
        if (leaving) leaving(sig, received);
        else ctx.stderr.write(`odxcp: ${sig} again: leaving without waiting for the commands in flight\n`);
      } finally {
        ctx.exit(signalExitCode(received));
      }
      return;
    }
    received = sig;
    if (stopped) stopped.by = sig;
    ac.abort(new AbortedError(`interrupted by ${sig}`, { signal: sig }));
  };
  const off = STOP_SIGNALS.map((sig) => ctx.onSignal(sig, handler(sig)));
  try {
    return await fn(state);
  } finally {
    for (const f of off) f();
  }
}

/**
 * A command's progress, remembered as it goes to the reporter, and withSignals' `leaving` for it:
 * the `done` record, the --json object and one line saying how much was at least `verb`
 * (copied, zeroed, written) by the last report (all a second signal can report).
 */
export function reportLeaving(ctx: CliContext, reporter: ProgressReporter, verb: string, json: boolean, extra: Record<string, unknown> = {}) {
  let last: ProgressEvent | undefined;
  const onProgress = (p: ProgressEvent): void => {
    last = p;
    reporter.onProgress(p);
  };
  const leaving = (sig: NodeJS.Signals, first: NodeJS.Signals): void => {
    const code = signalExitCode(first);
    const account = { bytes: last?.bytesDone ?? null, length: last?.totalBytes ?? null, exact: false };
    reporter.finish({ ok: false, ...account, exitCode: code });
    if (json) printJsonError(ctx, new AbortedError(`${sig} again: left without waiting for the commands in flight`, { signal: first }), code, { ...extra, ...account });
    const done = last ? `at least ${last.bytesDone} of ${last.totalBytes} bytes were ${verb} (the last progress report)` : 'no progress was reported yet';
    ctx.stderr.write(`odxcp: ${sig} again: leaving without waiting for the commands in flight; ${done}\n`);
  };
  return { onProgress, leaving };
}
