// Everything a CLI command touches outside its arguments: the engine, the device probes, the
// token and zero library functions, output streams, environment and signals. main() takes
// overrides, so unit tests run commands against stubs and assert what reached the library.
import { ScsiDevice } from '../device/device';
import * as engine from '../engine';
import type { CopyOptions, CopyPlan, CopyResult } from '../engine/types';
import { AbortedError, OdxcpError } from '../scsi/errors';
import { exitCodeFor } from '../scsi/exit-codes';
import { populateTokenFile, readTokenFile, writeTokenFile } from '../tokens/token-file';
import { TokenWriteError } from '../tokens/token-ops';
import { zeroRange, ZeroError } from '../tokens/zero';
import type { OutStream } from './progress';
import { describeDevice, type DeviceInfo } from './describe';
import { constants as osConstants } from 'node:os';

export interface Geometry {
  blockSize: number;
  bytes: bigint;
}

export interface CliContext {
  stdout: OutStream;
  stderr: OutStream;
  env: Readonly<Record<string, string | undefined>>;
  copy(o: CopyOptions): Promise<CopyResult>;
  planCopy(o: CopyOptions): Promise<CopyPlan>;
  /** Block size and capacity of a LUN (to turn `Nb` sizes and sg_xcopy blocks into bytes). */
  geometry(path: string): Promise<Geometry>;
  describeDevice(path: string): Promise<DeviceInfo>;
  populateTokenFile: typeof populateTokenFile;
  writeTokenFile: typeof writeTokenFile;
  readTokenFile: typeof readTokenFile;
  zeroRange: typeof zeroRange;
  /** Install a signal handler; returns its remover. */
  onSignal(signal: NodeJS.Signals, handler: () => void): () => void;
  /** Leave now (a second Ctrl-C while a command is in flight). */
  exit(code: number): void;
  now(): Date;
}

async function geometry(p: string): Promise<Geometry> {
  const d = await ScsiDevice.open(p);
  try {
    const c = await d.capacity();
    return { blockSize: c.blockSize, bytes: c.bytes };
  } finally {
    await d.close();
  }
}

export function defaultContext(): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    copy: (o) => engine.copy(o),
    planCopy: (o) => engine.planCopy(o),
    geometry,
    describeDevice,
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
    const wrapper = cur instanceof engine.CopyError || cur instanceof ZeroError || cur instanceof TokenWriteError;
    if (!wrapper) break;
    const cause = (cur as Error).cause;
    if (cause === undefined) return exitCodeFor(new OdxcpError('', 'OTHER'));
    cur = cause;
  }
  return exitCodeFor(cur);
}

/** One line for an error: the message's first line, with the class name for foreign errors. */
export function errorLine(e: unknown): string {
  const msg = e instanceof OdxcpError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return msg.split('\n')[0] ?? '';
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

/**
 * Run `fn` with an AbortSignal tied to SIGINT/SIGTERM: the first signal asks the operation to
 * stop cleanly (it then reports what it did), a second one leaves at once.
 */
export async function withSignals<T>(ctx: CliContext, fn: (s: AbortState) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let received: NodeJS.Signals | undefined;
  const state: AbortState = {
    signal: ac.signal,
    get received() {
      return received;
    },
  };
  const handler = (sig: NodeJS.Signals) => () => {
    if (received) ctx.exit(signalExitCode(received));
    received = sig;
    ac.abort(new AbortedError(`interrupted by ${sig}`, { signal: sig }));
  };
  const off = [ctx.onSignal('SIGINT', handler('SIGINT')), ctx.onSignal('SIGTERM', handler('SIGTERM'))];
  try {
    return await fn(state);
  } finally {
    for (const f of off) f();
  }
}
