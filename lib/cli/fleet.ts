// Fleet-scale commands: `odxcp copy SRC DST1 DST2...` (one source, many destinations),
// `odxcp batch JOBFILE` (pairs, N at a time, one NDJSON result each) and `odxcp resume FILE`
// (finish a journalled copy). The engine does the work (engine/fanout.ts, batch.ts,
// resume.ts); these print what it did and choose the exit status: the worst of the parts.
import * as fs from 'node:fs';
import type { BatchEntry, BatchJob, CopyManyResult, ResumeResult } from '../engine';
import type { CopyMode, CopyOptions, CopyResult } from '../engine/types';
import { DeviceError, UsageError } from '../errors';
import { copyResultJson, copySummaryLines, parseCopyArgs, resolveCopyOptions, COPY_MODES, SPARSE_MODES, type CopyCliOptions } from './copy';
import type { SparseMode } from '../engine/sparse';
import { dryRunCopies } from './dry-run';
import { cliExitCode, errorLine, reportError, signalExitCode, withSignals, type CliContext, type Stopped } from './context';
import { toJson, toJsonLine } from './json';
import { checkDevicePath } from './options';
import { chooseProgress, makeProgress, PROGRESS_KINDS, type ProgressKind } from './progress';
import { formatBytes, parseCount, parseSize, resolveSize } from './sizes';

/** The exit status of several parts: 0 when all succeeded, else the highest status. */
const worst = (codes: number[]) => codes.reduce((a, b) => Math.max(a, b), 0);

export interface FanOutCliOptions extends CopyCliOptions {
  failFast?: boolean;
}

/** `odxcp copy SRC DST1 DST2... [options]`: one source range to every destination. */
export async function copyManyCommand(ctx: CliContext, src: string, dsts: string[], o: FanOutCliOptions): Promise<number> {
  checkDevicePath(src, 'SRC');
  dsts.forEach((d, i) => checkDevicePath(d, `DST${i + 1}`));
  const req = parseCopyArgs(o);
  const sg = await ctx.geometry(src);
  // Each destination's range is checked as a copy of its own would be (offsets, fit, blocks).
  const resolved: CopyOptions[] = [];
  for (const d of dsts) resolved.push(resolveCopyOptions(src, d, req, sg, await ctx.geometry(d)));
  if (o.dryRun) return dryRunCopies(ctx, resolved, req.json);
  const first = resolved[0]!;
  const reporter = makeProgress(chooseProgress(req.progress, req.json, ctx.stderr), ctx.stderr, ctx.run);
  const stopped: Stopped = {};
  let r: CopyManyResult;
  try {
    r = await withSignals(ctx, async (s) => {
      const { dst: _dst, dstOffset: _off, ...common } = first;
      return await ctx.copyMany({
        ...common,
        dsts: resolved.map((x) => ({ dst: x.dst, dstOffset: x.dstOffset })),
        failFast: o.failFast === true,
        signal: s.signal,
        onProgress: (p) => reporter.onProgress({ bytesDone: p.bytesDone, totalBytes: p.totalBytes, elapsedMs: p.elapsedMs }),
      });
    }, undefined, stopped);
  } catch (e) {
    reporter.finish({ ok: false, exitCode: cliExitCode(e), error: errorLine(e) });
    return reportError(ctx, e);
  }
  const codes = r.results.map((x) => (x.error === undefined ? 0 : stopped.by ? signalExitCode(stopped.by) : cliExitCode(x.error)));
  const code = worst(codes);
  reporter.finish({ ok: code === 0, bytes: r.results.reduce((n, x) => n + (x.result?.bytes ?? 0n), 0n), destinations: r.summary.destinations, complete: r.summary.complete });
  if (req.json) {
    const destinations = r.results.map((x, i) => (x.result ? copyResultJson(x.result, x.error, x.error === undefined ? undefined : codes[i]) : { dst: x.dst, dstOffset: x.dstOffset, complete: false, error: { message: errorLine(x.error), exitCode: codes[i] } }));
    ctx.stdout.write(`${toJson({ src: r.src, length: r.length, destinations, summary: r.summary })}\n`);
  } else {
    const lines: string[] = [];
    for (const [i, x] of r.results.entries()) {
      lines.push(`${x.dst}: ${x.error === undefined ? 'complete' : `FAILED (exit ${codes[i]}): ${errorLine(x.error)}`}`);
      if (x.result) lines.push(...copySummaryLines(x.result).map((l) => `  ${l}`));
    }
    lines.push(`${r.summary.complete} of ${r.summary.destinations} destinations complete; ${r.summary.populateTokens} POPULATE TOKEN${r.summary.populateTokens === 1 ? '' : 's'} for all of them; ${(r.summary.elapsedMs / 1000).toFixed(2)} s`);
    ctx.stdout.write(`${lines.join('\n')}\n`);
  }
  if (stopped.by) ctx.stderr.write(`odxcp: aborted by ${stopped.by}: ${r.summary.complete} of ${r.summary.destinations} destinations complete\n`);
  return code;
}

/** Sizes in a job file: a whole number of bytes, or a size with K/M/G/T (no `b`: no device to ask). */
function jobSize(v: unknown, where: string): bigint | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new UsageError(`${where}: ${v} is not a whole number of bytes`);
    return BigInt(v);
  }
  if (typeof v === 'string') {
    if (/b$/i.test(v.trim())) throw new UsageError(`${where}: '${v}': give bytes (K/M/G/T allowed), not blocks`);
    return resolveSize(parseSize(v, where), 512, where, true, 'the job');
  }
  throw new UsageError(`${where}: must be a number of bytes or a size string`);
}

/** A job file: a JSON array, or NDJSON (one object per line); `-` reads stdin. */
export function parseJobFile(text: string, name: string): BatchJob[] {
  const t = text.trim();
  let raw: unknown[];
  if (t.startsWith('[')) {
    try {
      raw = JSON.parse(t) as unknown[];
    } catch (e) {
      throw new UsageError(`${name}: not valid JSON: ${(e as Error).message}`);
    }
  } else {
    raw = t
      .split('\n')
      .map((l, i) => [l.trim(), i + 1] as const)
      .filter(([l]) => l !== '')
      .map(([l, n]) => {
        try {
          return JSON.parse(l) as unknown;
        } catch (e) {
          throw new UsageError(`${name}: line ${n}: not valid JSON: ${(e as Error).message}`);
        }
      });
  }
  return raw.map((j, i) => {
    const where = `${name}: pair ${i + 1}`;
    if (!j || typeof j !== 'object' || Array.isArray(j)) throw new UsageError(`${where}: must be an object {src, dst, srcOffset?, dstOffset?, length?, mode?, sparse?}`);
    const o = j as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['src', 'dst', 'srcOffset', 'dstOffset', 'length', 'mode', 'sparse'].includes(k)) throw new UsageError(`${where}: unknown field '${k}'`);
    if (typeof o.src !== 'string' || o.src === '') throw new UsageError(`${where}: "src" must be a device path`);
    if (typeof o.dst !== 'string' || o.dst === '') throw new UsageError(`${where}: "dst" must be a device path`);
    if (o.mode !== undefined && !COPY_MODES.includes(o.mode as CopyMode)) throw new UsageError(`${where}: mode '${String(o.mode)}' is not one of ${COPY_MODES.join(', ')}`);
    if (o.sparse !== undefined && !SPARSE_MODES.includes(o.sparse as SparseMode)) throw new UsageError(`${where}: sparse '${String(o.sparse)}' is not one of ${SPARSE_MODES.join(', ')}`);
    return {
      src: o.src,
      dst: o.dst,
      srcOffset: jobSize(o.srcOffset, `${where}: srcOffset`),
      dstOffset: jobSize(o.dstOffset, `${where}: dstOffset`),
      length: jobSize(o.length, `${where}: length`),
      mode: o.mode as CopyMode | undefined,
      ...(o.sparse !== undefined ? { sparse: o.sparse as SparseMode } : {}),
    };
  });
}

export interface BatchCliOptions {
  jobs?: string;
  dryRun?: boolean;
  progress?: string;
  fallback?: boolean;
  sync?: boolean;
  timeout?: string;
  journal?: string;
  sparse?: string;
}

/** `odxcp batch JOBFILE`: one NDJSON line per pair as it ends, a summary line, the worst status. */
export async function batchCommand(ctx: CliContext, file: string, o: BatchCliOptions): Promise<number> {
  const progress = (o.progress ?? 'auto') as ProgressKind;
  if (!PROGRESS_KINDS.includes(progress)) throw new UsageError(`--progress: '${o.progress}' is not one of ${PROGRESS_KINDS.join(', ')}`);
  const jobs = o.jobs !== undefined ? parseCount(o.jobs, '--jobs', 1, 64) : undefined;
  if (o.sparse !== undefined && !SPARSE_MODES.includes(o.sparse as SparseMode)) throw new UsageError(`--sparse: '${o.sparse}' is not one of ${SPARSE_MODES.join(', ')}`);
  if (o.journal !== undefined && o.journal.trim() === '') throw new UsageError('--journal: empty file name');
  let text: string;
  try {
    text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DeviceError({ path: file, code: (e as NodeJS.ErrnoException).code ?? 'EIO', message: `${file}: cannot read the job file: ${(e as Error).message}`, cause: e });
  }
  const list = parseJobFile(text, file === '-' ? 'stdin' : file);
  // The NDJSON results own stdout; progress goes to stderr as for any copy.
  const reporter = makeProgress(chooseProgress(progress, true, ctx.stderr), ctx.stderr, ctx.run);
  const codes: number[] = [];
  const stopped: Stopped = {};
  const line = (e: BatchEntry) => {
    const code = e.error === undefined ? 0 : stopped.by ? signalExitCode(stopped.by) : cliExitCode(e.error);
    codes.push(code);
    const base = { pair: e.index + 1, src: e.job.src, dst: e.job.dst };
    if (o.dryRun) {
      ctx.stdout.write(`${toJsonLine({ ...base, dryRun: true, plan: e.plan })}\n`);
      return;
    }
    ctx.stdout.write(`${toJsonLine(e.result ? { ...base, ...copyResultJson(e.result as CopyResult, e.error, e.error === undefined ? undefined : code) } : { ...base, complete: false, error: { message: errorLine(e.error), exitCode: code } })}\n`);
  };
  try {
    const r = await withSignals(ctx, async (s) => {
      return await ctx.runBatch(list, {
        jobs,
        dryRun: o.dryRun === true,
        fallback: o.fallback !== false,
        sync: o.sync !== false,
        timeoutMs: o.timeout !== undefined ? Number(o.timeout) * 1000 : undefined,
        ...(o.sparse !== undefined ? { sparse: o.sparse as SparseMode } : {}),
        ...(o.journal !== undefined && !o.dryRun ? { journal: o.journal } : {}),
        signal: s.signal,
        onResult: line,
        onProgress: (p) => reporter.onProgress({ bytesDone: p.bytesDone, totalBytes: p.totalBytes, elapsedMs: p.elapsedMs, method: `${p.pairsDone}/${p.pairs} pairs` }),
      });
    }, undefined, stopped);
    const code = worst(codes);
    reporter.finish({ ok: code === 0, pairs: r.summary.pairs, complete: r.summary.complete });
    ctx.stdout.write(`${toJsonLine({ summary: { ...r.summary, ...(o.dryRun ? { dryRun: true } : {}), exitCode: code } })}\n`);
    if (stopped.by) ctx.stderr.write(`odxcp: aborted by ${stopped.by}: ${r.summary.complete} of ${r.summary.pairs} pairs complete\n`);
    return code;
  } catch (e) {
    reporter.finish({ ok: false, exitCode: cliExitCode(e), error: errorLine(e) });
    return reportError(ctx, e);
  }
}

/** `odxcp resume FILE`: copy what the journal does not confirm. */
export async function resumeCommand(ctx: CliContext, file: string, o: { json?: boolean; progress?: string }): Promise<number> {
  const progress = (o.progress ?? 'auto') as ProgressKind;
  if (!PROGRESS_KINDS.includes(progress)) throw new UsageError(`--progress: '${o.progress}' is not one of ${PROGRESS_KINDS.join(', ')}`);
  const reporter = makeProgress(chooseProgress(progress, o.json === true, ctx.stderr), ctx.stderr, ctx.run);
  const stopped: Stopped = {};
  let r: ResumeResult;
  try {
    r = await withSignals(ctx, async (s) => {
      return await ctx.resume(file, { signal: s.signal, onProgress: (p) => reporter.onProgress(p) });
    }, undefined, stopped);
  } catch (e) {
    const code = stopped.by ? signalExitCode(stopped.by) : cliExitCode(e);
    reporter.finish({ ok: false, exitCode: code, error: errorLine(e) });
    if (stopped.by) {
      ctx.stderr.write(`odxcp: aborted by ${stopped.by}: ${errorLine(e)} (resume ${file} again to go on)\n`);
      return code;
    }
    reportError(ctx, e);
    return code;
  }
  reporter.finish({ ok: r.complete, bytes: r.bytes });
  const one = (x: ResumeResult) => ({ ...x, runs: x.runs.map((y) => ({ offset: y.offset, ...copyResultJson(y.result) })) });
  if (o.json) {
    const members = r.members?.map((m) => ('error' in m ? { file: m.file, complete: false, error: { message: errorLine(m.error), exitCode: cliExitCode(m.error) } } : one(m)));
    ctx.stdout.write(`${toJson({ ...one(r), ...(members ? { members } : {}) })}\n`);
  } else {
    const line = (x: ResumeResult) =>
      `resumed ${x.file}: ${x.confirmedBytes} bytes were confirmed by the journal, completed the other ${x.bytes} (${formatBytes(x.bytes)}: copied ${x.copiedBytes}, zeroed ${x.zeroedBytes}, skipped ${x.skippedBytes}); ${x.complete ? 'complete' : 'NOT complete'}, ${x.synced ? 'flushed' : 'not flushed'}`;
    const lines = r.members ? r.members.map((m) => ('error' in m ? `resume ${m.file}: FAILED: ${errorLine(m.error)}` : line(m))) : [];
    if (r.members) lines.push(`${r.kind} journal set ${r.file}: ${r.members.filter((m) => !('error' in m) && m.complete).length} of ${r.members.length} pairs complete`);
    else lines.push(line(r));
    ctx.stdout.write(`${lines.join('\n')}\n`);
  }
  if (r.members?.some((m) => 'error' in m)) return worst(r.members.map((m) => ('error' in m ? cliExitCode(m.error) : m.complete ? 0 : 1)));
  return r.complete ? 0 : 1;
}
