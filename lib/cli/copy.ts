// `odxcp copy SRC DST [options]` and the sg_xcopy form `odxcp if=SRC of=DST ...`: turn the
// arguments into CopyOptions (bytes, checked against the LUNs' block sizes), run the engine
// with progress and SIGINT wired, and print the account.
import { Command } from 'commander';
import type { CopyMode, CopyOptions, CopyResult } from '../engine/types';
import { UsageError } from '../errors';
import { cliExitCode, errorLine, jsonErrorMember, printJsonError, reportError, reportLeaving, signalExitCode, withSignals, type CliContext, type Geometry, type Stopped } from './context';
import { ddListIdUsage, ddRange, parseDdArgs, SG_XCOPY_HELP, type DdOperands } from './dd-operands';
import { toJson } from './json';
import { checkDevicePath, refuseRepeats } from './options';
import { chooseProgress, makeProgress, PROGRESS_KINDS, type ProgressKind } from './progress';
import { DRY_RUN_OPTION } from './common';
import { dryRunCopy } from './dry-run';
import { startTrace } from './verbose';
import { formatBytes, parseCount, parseSeconds, parseSize, resolveSize, type SizeSpec } from './sizes';

export const COPY_MODES: readonly CopyMode[] = ['auto', 'odx', 'xcopy', 'host'];

/** The copy options as commander hands them over (strings, unchecked). */
export interface CopyCliOptions {
  srcOffset?: string;
  dstOffset?: string;
  length?: string;
  mode?: string;
  fallback?: boolean;
  verify?: boolean;
  sync?: boolean;
  json?: boolean;
  progress?: string;
  maxInFlight?: string;
  tokenSize?: string;
  timeout?: string;
  dryRun?: boolean;
  journal?: string;
  sparse?: string;
}

/** The copy options after syntax checks; sizes still need the LUNs' block sizes. */
export interface CopyRequest {
  srcOffset?: SizeSpec;
  dstOffset?: SizeSpec;
  length?: SizeSpec;
  tokenSize?: SizeSpec;
  mode: CopyMode;
  fallback: boolean;
  verify: boolean;
  /** SYNCHRONIZE CACHE of the destination range after the copy (--no-sync turns it off). */
  sync: boolean;
  json: boolean;
  progress: ProgressKind;
  maxInFlight?: number;
  timeoutMs?: number;
  /** A journal file that makes the copy resumable (`odxcp resume FILE`). */
  journal?: string;
  sparse: 'auto' | 'never';
}

export const SPARSE_MODES: readonly CopyRequest['sparse'][] = ['auto', 'never'];

/** Declare the copy options on a command (shared by `copy`, the sg_xcopy form and `info`). */
export function addCopyOptions(cmd: Command, which: 'all' | 'plan' = 'all'): Command {
  cmd
    .option('--src-offset <size>', 'byte offset in SRC (K/M/G/T = powers of 1024; Nb = N logical blocks of SRC; default 0)')
    .option('--dst-offset <size>', 'byte offset in DST (Nb = N logical blocks of DST; default 0)')
    .option('--length <size>', 'bytes to copy, more than 0 (Nb = N logical blocks of SRC; default: the rest of SRC)')
    .option('--mode <mode>', `copy method: ${COPY_MODES.join('|')} (default auto: the best the pair supports)`);
  if (which === 'plan') return cmd;
  return cmd
    .option('--no-fallback', 'fail instead of continuing on the host when an offload fails')
    .option('--verify', 're-read both ranges after the copy and compare them')
    .option('--no-sync', 'skip SYNCHRONIZE CACHE of the destination range after the copy (default: flush it; a failing flush fails the copy)')
    .option('--journal <file>', 'record every confirmed extent in FILE (created), so `odxcp resume FILE` can finish the copy after a crash; with several destinations, one journal each (FILE.1, FILE.2...) and FILE listing them')
    .option('--json', 'print the result as one JSON object on stdout (on any failure too: complete false and an error member)')
    .option('--progress <kind>', `progress: ${PROGRESS_KINDS.join('|')} (json: NDJSON on stderr, always ending with a done record; default auto: a bar on a terminal)`)
    .option('--max-in-flight <n>', 'offload commands in flight at once, 1..64 (default 4)')
    .option('--token-size <size>', 'bytes one ROD token represents, more than 0 (Nb = logical blocks of SRC)')
    .option('--timeout <seconds>', 'SG_IO timeout for each command')
    .option('--sparse <mode>', 'auto|never (default auto: on a thin source, copy only mapped ranges and make deallocated ones read as zeros on DST the cheapest way)')
    .option(...DRY_RUN_OPTION);
}

/** Syntax checks of every option, and every check that needs no device. */
export function parseCopyArgs(o: CopyCliOptions): CopyRequest {
  const mode = (o.mode ?? 'auto') as CopyMode;
  if (!COPY_MODES.includes(mode)) throw new UsageError(`--mode: '${o.mode}' is not one of ${COPY_MODES.join(', ')}`);
  const progress = (o.progress ?? 'auto') as ProgressKind;
  if (!PROGRESS_KINDS.includes(progress)) throw new UsageError(`--progress: '${o.progress}' is not one of ${PROGRESS_KINDS.join(', ')}`);
  const sparse = (o.sparse ?? 'auto') as CopyRequest['sparse'];
  if (!SPARSE_MODES.includes(sparse)) throw new UsageError(`--sparse: '${o.sparse}' is not one of ${SPARSE_MODES.join(', ')}`);
  const req: CopyRequest = { mode, progress, fallback: o.fallback !== false, verify: o.verify === true, sync: o.sync !== false, json: o.json === true, sparse };
  if (o.srcOffset !== undefined) req.srcOffset = parseSize(o.srcOffset, '--src-offset');
  if (o.dstOffset !== undefined) req.dstOffset = parseSize(o.dstOffset, '--dst-offset');
  if (o.length !== undefined) req.length = parseSize(o.length, '--length');
  if (o.tokenSize !== undefined) req.tokenSize = parseSize(o.tokenSize, '--token-size');
  if (o.maxInFlight !== undefined) req.maxInFlight = parseCount(o.maxInFlight, '--max-in-flight', 1, 64);
  if (o.timeout !== undefined) req.timeoutMs = parseSeconds(o.timeout, '--timeout');
  if (o.journal !== undefined) {
    if (o.journal.trim() === '') throw new UsageError('--journal: empty file name');
    req.journal = o.journal;
  }
  if (mode === 'host' && req.tokenSize) throw new UsageError('--token-size: not used with --mode host');
  // Zero is zero in bytes and in blocks: say so before any device is opened.
  if (req.length?.value === 0n) throw new UsageError('--length: must be more than 0');
  if (req.tokenSize?.value === 0n) throw new UsageError('--token-size: must be more than 0');
  return req;
}

/** The sg_xcopy form takes its range from skip=/seek=/count=, never from the options. */
export function checkDdRequest(req: CopyRequest, dd: DdOperands): void {
  if (req.srcOffset || req.dstOffset || req.length) {
    const [opt, operand] = req.srcOffset ? ['--src-offset', 'skip='] : req.dstOffset ? ['--dst-offset', 'seek='] : ['--length', 'count='];
    throw new UsageError(`${opt}: not with if=/of=; use ${operand} (in blocks) instead`);
  }
  if (dd.count === 0n) throw new UsageError('count=0: nothing to copy (count= is in blocks and must be more than 0)');
}

/**
 * CopyOptions for the engine: every size in bytes, aligned and inside the LUNs. `dd` (the
 * sg_xcopy form) supplies the range and the EXTENDED COPY list settings instead.
 */
export function resolveCopyOptions(src: string, dst: string, req: CopyRequest, sg: Geometry, dg: Geometry, dd?: DdOperands): CopyOptions {
  const opts: CopyOptions = { src, dst, mode: req.mode, fallback: req.fallback };
  if (req.verify) opts.verify = true;
  if (!req.sync) opts.sync = false;
  if (req.journal !== undefined) opts.journal = req.journal;
  if (req.sparse === 'never') opts.sparse = 'never';
  if (req.maxInFlight !== undefined) opts.maxInFlight = req.maxInFlight;
  if (req.timeoutMs !== undefined) opts.timeoutMs = req.timeoutMs;
  if (req.tokenSize) {
    const t = resolveSize(req.tokenSize, sg.blockSize, '--token-size', true, `SRC ${src}`);
    if (t === 0n) throw new UsageError('--token-size: must be more than 0');
    opts.tokenSize = t;
  }
  if (dd) {
    checkDdRequest(req, dd);
    const r = ddRange(dd, sg, dg);
    opts.srcOffset = r.srcOffset;
    opts.dstOffset = r.dstOffset;
    opts.length = r.length;
    if (dd.listId !== undefined) opts.xcopyListId = dd.listId;
    const usage = ddListIdUsage(dd.idUsage);
    if (usage !== undefined) opts.xcopyListIdUsage = usage;
    if (dd.on !== undefined) opts.xcopyOn = dd.on;
    if (opts.length === 0n) throw new UsageError('count=: nothing to copy (count=0)');
  } else {
    const srcOffset = req.srcOffset ? resolveSize(req.srcOffset, sg.blockSize, '--src-offset', true, `SRC ${src}`) : 0n;
    const dstOffset = req.dstOffset ? resolveSize(req.dstOffset, dg.blockSize, '--dst-offset', true, `DST ${dst}`) : 0n;
    if (srcOffset > sg.bytes) throw new UsageError(`--src-offset: ${srcOffset} is past the end of ${src} (${sg.bytes} bytes)`);
    if (dstOffset > dg.bytes) throw new UsageError(`--dst-offset: ${dstOffset} is past the end of ${dst} (${dg.bytes} bytes)`);
    if (req.srcOffset) opts.srcOffset = srcOffset;
    if (req.dstOffset) opts.dstOffset = dstOffset;
    if (req.length) {
      const length = resolveSize(req.length, sg.blockSize, '--length', true, `SRC ${src}`);
      if (length === 0n) throw new UsageError('--length: must be more than 0');
      if (length % BigInt(dg.blockSize) !== 0n) throw new UsageError(`--length: ${length} bytes is not a multiple of the ${dg.blockSize}-byte logical block of DST ${dst}`);
      if (srcOffset + length > sg.bytes) throw new UsageError(`--length: ${srcOffset}+${length} runs past the end of ${src} (${sg.bytes} bytes)`);
      if (dstOffset + length > dg.bytes) throw new UsageError(`--length: ${dstOffset}+${length} runs past the end of ${dst} (${dg.bytes} bytes)`);
      opts.length = length;
    } else if (srcOffset === sg.bytes) {
      throw new UsageError(`--src-offset: nothing to copy from the end of ${src}`);
    } else if (dstOffset + (sg.bytes - srcOffset) > dg.bytes) {
      // The engine's default (the rest of SRC) would not fit: say which option to give.
      throw new UsageError(`--length: the rest of ${src} (${sg.bytes - srcOffset} bytes) does not fit in ${dst} after offset ${dstOffset} (${dg.bytes} bytes); give --length`);
    }
  }
  return opts;
}

/** The --json result: the engine's account plus whether it is complete. */
export function copyResultJson(r: CopyResult, error?: unknown, exitCode?: number): Record<string, unknown> {
  const out: Record<string, unknown> = { ...r, complete: r.bytes === r.length };
  if (error !== undefined) out.error = jsonErrorMember(error, exitCode ?? cliExitCode(error));
  return out;
}

/** The text account of a copy; `rate: false` when time=1 prints the rate in sg_xcopy's form. */
export function copySummaryLines(r: CopyResult, o: { rate?: boolean } = {}): string[] {
  const secs = r.elapsedMs / 1000;
  const rate = secs > 0 && o.rate !== false ? `, ${formatBytes(Math.round(Number(r.bytes) / secs))}/s` : '';
  const lines = [
    `copied ${r.bytes} of ${r.length} bytes (${formatBytes(r.bytes)}) from ${r.src}+${r.srcOffset} to ${r.dst}+${r.dstOffset} in ${secs.toFixed(2)} s${rate}`,
    `  method ${r.method} (planned ${r.plannedMethod}): offloaded ${r.offloadedBytes} bytes, host ${r.hostBytes} bytes (odx ${r.byMethod.odx}, xcopy ${r.byMethod.xcopy}, host ${r.byMethod.host})`,
  ];
  if (r.sparse?.used || r.zeroedBytes > 0n || r.skippedBytes > 0n) {
    lines.push(`  sparse: copied ${r.copiedBytes} bytes, zeroed ${r.zeroedBytes}, skipped ${r.skippedBytes} (${r.sparse.reason})`);
  }
  if (r.fallbacks.length === 0) lines.push('  fallbacks: none');
  for (const f of r.fallbacks) {
    lines.push(`  fallback at +${f.offset}: ${f.from} -> host for ${f.length} bytes${f.wholeCopy ? ' (rest of the copy)' : ''}: ${f.reason}`);
  }
  for (const p of r.pathSwitches ?? []) lines.push(`  path switch at +${p.atOffset}: ${p.side} ${p.from} -> ${p.to}: ${p.reason}`);
  for (const u of r.unconfirmed ?? []) lines.push(`  unconfirmed: ${u.length} bytes at +${u.offset} (a list on ${u.node} may still write them; not rewritten, not counted; resume re-drives them)`);
  if (r.truncations > 0) lines.push(`  truncated transfers re-driven: ${r.truncations}`);
  lines.push(r.synced ? `  flushed: ${r.syncForm ?? 'SYNCHRONIZE CACHE'} over the destination range` : '  not flushed (--no-sync)');
  if (r.verified !== undefined) lines.push(`  verified: ${r.verified ? 'source and destination match' : 'no'}`);
  return lines;
}

function accountOf(e: unknown): CopyResult | undefined {
  const r = (e as { result?: unknown })?.result;
  return r && typeof r === 'object' && 'bytes' in r && 'length' in r ? (r as CopyResult) : undefined;
}

/** Run a copy whose options are resolved; prints the account. Returns the exit status. */
export async function runResolvedCopy(ctx: CliContext, opts: CopyOptions, req: CopyRequest, extra: { time?: boolean } = {}): Promise<number> {
  const kind = chooseProgress(req.progress, req.json, ctx.stderr);
  const reporter = makeProgress(kind, ctx.stderr, ctx.run);
  let result: CopyResult;
  const stopped: Stopped = {};
  const { onProgress, leaving } = reportLeaving(ctx, reporter, 'copied', req.json);
  try {
    result = await withSignals(
      ctx,
      async (s) => {
        return await ctx.copy({
          ...opts,
          signal: s.signal,
          onProgress,
        });
      },
      leaving,
      stopped,
    );
  } catch (e) {
    const account = accountOf(e);
    const code = stopped.by ? signalExitCode(stopped.by) : cliExitCode(e);
    reporter.finish(account ? { ok: false, bytes: account.bytes, length: account.length, exitCode: code } : { ok: false, exitCode: code, error: errorLine(e) });
    if (req.json && account) ctx.stdout.write(`${toJson(copyResultJson(account, e, code))}\n`);
    else if (req.json) printJsonError(ctx, e, code);
    const copied = account ? `: ${account.bytes} of ${account.length} bytes copied (${formatBytes(account.bytes)}; offloaded ${account.offloadedBytes}, host ${account.hostBytes})` : '';
    if (stopped.by) {
      ctx.stderr.write(`odxcp: aborted by ${stopped.by}${copied || `: ${errorLine(e)}`}\n`);
      return code;
    }
    reportError(ctx, e, copied);
    return code;
  }
  reporter.finish({ ok: true, bytes: result.bytes, length: result.length, offloadedBytes: result.offloadedBytes, hostBytes: result.hostBytes, method: result.method });
  if (req.json) ctx.stdout.write(`${toJson(copyResultJson(result))}\n`);
  else ctx.stdout.write(`${copySummaryLines(result, { rate: !extra.time }).join('\n')}\n`);
  if (extra.time) {
    const secs = result.elapsedMs / 1000;
    ctx.stderr.write(`time to transfer data: ${secs.toFixed(6)} secs${secs > 0 ? ` at ${(Number(result.bytes) / secs / 1e6).toFixed(2)} MB/sec` : ''}\n`);
  }
  return 0;
}

async function geometries(ctx: CliContext, src: string, dst: string): Promise<[Geometry, Geometry]> {
  const sg = await ctx.geometry(src);
  const dg = await ctx.geometry(dst);
  return [sg, dg];
}

/** `odxcp copy SRC DST [options]`. */
export async function copyCommand(ctx: CliContext, src: string, dst: string, o: CopyCliOptions): Promise<number> {
  checkDevicePath(src, 'SRC');
  checkDevicePath(dst, 'DST');
  const req = parseCopyArgs(o);
  const [sg, dg] = await geometries(ctx, src, dst);
  const opts = resolveCopyOptions(src, dst, req, sg, dg);
  return o.dryRun ? dryRunCopy(ctx, opts, req.json) : runResolvedCopy(ctx, opts, req);
}

/** The sg_xcopy form: operands, then the odxcp copy options among the rest. */
export async function ddCommand(ctx: CliContext, args: readonly string[], version?: string): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    ctx.stdout.write(`${SG_XCOPY_HELP.trimStart()}\n`);
    return 0;
  }
  // sg_xcopy takes -V/--version among its operands and prints only the version.
  if (version !== undefined && (args.includes('-V') || args.includes('--version'))) {
    ctx.stdout.write(`${version}\n`);
    return 0;
  }
  const dd = parseDdArgs(args, ctx.env);
  const cmd = refuseRepeats(addCopyOptions(new Command('odxcp')))
    .exitOverride()
    .allowExcessArguments(true)
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  let o: CopyCliOptions;
  try {
    cmd.parse(dd.options, { from: 'user' });
    o = cmd.opts<CopyCliOptions>();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const m = e instanceof Error ? e.message.replace(/^error: /, '').split('\n').join(' ') : String(e);
    throw new UsageError(m);
  }
  if (cmd.args.length > 0) {
    const words = cmd.args.map((w) => `'${w}'`).join(', ');
    throw new UsageError(`${words} not understood: not an sg_xcopy operand (if=, of=, bs=, count=, skip=, seek=, ...) nor an option (options start with --)`);
  }
  const req = parseCopyArgs(o);
  checkDdRequest(req, dd);
  const stopTrace = startTrace(dd.verbose, ctx.stderr); // -v, -vv, verbose=N: sg_xcopy's switches
  try {
    const [sg, dg] = await geometries(ctx, dd.if, dd.of);
    const opts = resolveCopyOptions(dd.if, dd.of, req, sg, dg, dd);
    return o.dryRun ? await dryRunCopy(ctx, opts, req.json) : await runResolvedCopy(ctx, opts, req, { time: dd.time });
  } finally {
    stopTrace();
  }
}
