// Batches of copies: a list of pairs, every one checked before any starts (the devices open,
// the ranges fit, no destination range overlaps another's or a source's), then run a few at a
// time, each result reported as it ends. A pair that fails does not stop the others.
import { ScsiDevice } from '../device/device';
import { UsageError } from '../errors';
import { runJournalled, runPlanned } from './copy';
import { createJournalSet, journalHeader } from './journal';
import type { SparseMode } from './sparse';
import { planPair, type OpenedPair, type PlanDetails } from './plan';
import type { CopyMode, CopyOptions, CopyPlan, CopyResult } from './types';

export interface BatchJob {
  src: string;
  dst: string;
  srcOffset?: bigint | number;
  dstOffset?: bigint | number;
  length?: bigint | number;
  mode?: CopyMode;
  /** This pair's --sparse (default: the batch's). */
  sparse?: SparseMode;
}

export interface BatchOptions extends Omit<CopyOptions, 'src' | 'dst' | 'srcOffset' | 'dstOffset' | 'length' | 'mode' | 'onProgress'> {
  /** Pairs run at once (default: 4, at most the number of pairs). */
  jobs?: number;
  /** Open, probe, check and plan every pair, then stop: nothing is written (entries carry `plan`). */
  dryRun?: boolean;
  /** Told as each pair ends, in the order they end. */
  onResult?(r: BatchEntry): void;
  onProgress?(p: BatchProgress): void;
}

export interface BatchEntry {
  /** Index of the pair in the job list. */
  index: number;
  job: BatchJob;
  /** How the pair would run (what a dry run reports). */
  plan?: CopyPlan;
  result?: CopyResult;
  error?: unknown;
}

export interface BatchProgress {
  bytesDone: bigint;
  totalBytes: bigint;
  pairs: number;
  pairsDone: number;
  elapsedMs: number;
}

export interface BatchResult {
  entries: BatchEntry[];
  summary: { pairs: number; complete: number; failed: number; bytes: bigint; totalBytes: bigint; elapsedMs: number };
}

/** A pair that was refused before anything started; `index` names it in the job list. */
export class BatchRefused extends UsageError {
  constructor(
    readonly index: number,
    message: string,
    cause?: unknown,
  ) {
    super(`pair ${index + 1}: ${message}`, { cause });
  }
}
Object.defineProperty(BatchRefused.prototype, 'name', { value: 'BatchRefused' });

const DEFAULT_JOBS = 4;

/** The LUN a device is (its NAA designator, else its SCSI address), for "the same LUN twice". */
async function lunId(d: ScsiDevice): Promise<string> {
  return (await d.identity()).naa ?? d.nodes.address;
}

/**
 * Run a batch. Every pair is opened and planned first; any refusal (a device that cannot be
 * used, a range that does not fit, two pairs writing the same bytes, a destination range that
 * another pair reads) throws BatchRefused before anything is written.
 */
export async function runBatch(jobs: readonly BatchJob[], o: BatchOptions = {}): Promise<BatchResult> {
  const started = Date.now();
  if (jobs.length === 0) throw new UsageError('the batch has no pairs');
  const width = o.jobs ?? Math.min(DEFAULT_JOBS, jobs.length);
  if (!Number.isSafeInteger(width) || width < 1 || width > 64) throw new UsageError(`--jobs must be 1..64 (got ${width})`);
  const devices = new Map<string, ScsiDevice>();
  const owned: ScsiDevice[] = [];
  // A path opened as a destination is held exclusively; a source only reads. One device per
  // path, so a LUN that is a destination in one pair and a source in another is refused below.
  const open = async (path: string, exclusive: boolean, index: number): Promise<ScsiDevice> => {
    const key = `${exclusive ? 'w' : 'r'}:${path}`;
    const have = devices.get(key);
    if (have) return have;
    try {
      const d = await ScsiDevice.open(path, { exclusive, layered: true });
      owned.push(d);
      devices.set(key, d);
      return d;
    } catch (e) {
      throw new BatchRefused(index, e instanceof Error ? e.message : String(e), e);
    }
  };
  try {
    const planned: Array<{ pair: OpenedPair; details: PlanDetails; entry: BatchEntry; src: string; dst: string }> = [];
    for (const [index, job] of jobs.entries()) {
      if (typeof job?.src !== 'string' || typeof job.dst !== 'string') throw new BatchRefused(index, 'needs "src" and "dst" device paths');
      const src = await open(job.src, false, index);
      const dst = await open(job.dst, true, index);
      const pair: OpenedPair = { src, dst, close: async () => undefined };
      let details: PlanDetails;
      try {
        details = await planPair(pair, { ...o, onProgress: undefined, src, dst, srcOffset: job.srcOffset, dstOffset: job.dstOffset, length: job.length, mode: job.mode, sparse: job.sparse ?? o.sparse });
      } catch (e) {
        throw new BatchRefused(index, e instanceof Error ? e.message : String(e), e);
      }
      planned.push({ pair, details, entry: { index, job, plan: details.plan }, src: await lunId(src), dst: await lunId(dst) });
    }
    // Two pairs must not write the same bytes, and no pair may read what another writes (the
    // order they run in is not fixed).
    const overlap = (a0: bigint, a1: bigint, b0: bigint, b1: bigint) => a0 < b1 && b0 < a1;
    for (const [i, a] of planned.entries()) {
      const ap = a.details.plan;
      for (const b of planned.slice(i + 1)) {
        const bp = b.details.plan;
        if (a.dst === b.dst && overlap(ap.dstOffset, ap.dstOffset + ap.length, bp.dstOffset, bp.dstOffset + bp.length)) {
          throw new BatchRefused(b.entry.index, `its destination range overlaps pair ${a.entry.index + 1}'s on the same LUN (${b.entry.job.dst})`);
        }
        for (const [w, r] of [
          [a, b],
          [b, a],
        ] as const) {
          const wp = w.details.plan;
          const rp = r.details.plan;
          if (w.dst === r.src && overlap(wp.dstOffset, wp.dstOffset + wp.length, rp.srcOffset, rp.srcOffset + rp.length)) {
            throw new BatchRefused(Math.max(w.entry.index, r.entry.index), `pair ${w.entry.index + 1} writes the range pair ${r.entry.index + 1} reads (${w.entry.job.dst})`);
          }
        }
      }
    }

    const total = planned.reduce((n, p) => n + p.details.plan.length, 0n);
    if (o.dryRun) {
      const entries = planned.map((p) => p.entry);
      for (const e of entries) o.onResult?.(e);
      return { entries, summary: { pairs: entries.length, complete: 0, failed: 0, bytes: 0n, totalBytes: total, elapsedMs: Date.now() - started } };
    }
    const pairOptions = (p: (typeof planned)[number]): CopyOptions => ({ ...o, onProgress: undefined, src: p.pair.src, dst: p.pair.dst, mode: p.entry.job.mode, sparse: p.entry.job.sparse ?? o.sparse });
    // --journal: every pair's journal (with its header) exists before any pair starts.
    const writers = o.journal
      ? createJournalSet(o.journal, 'batch', await Promise.all(planned.map((p) => journalHeader(p.pair, p.details, pairOptions(p)))))
      : undefined;
    const done = new Map<number, bigint>();
    let pairsDone = 0;
    const report = () =>
      o.onProgress?.({ bytesDone: [...done.values()].reduce((a, b) => a + b, 0n), totalBytes: total, pairs: planned.length, pairsDone, elapsedMs: Date.now() - started });
    let next = 0;
    const lane = async () => {
      while (next < planned.length && !o.signal?.aborted) {
        const p = planned[next++]!;
        try {
          const opts: CopyOptions = {
            ...pairOptions(p),
            onProgress: (x) => {
              done.set(p.entry.index, x.bytesDone);
              report();
            },
          };
          const writer = writers?.[planned.indexOf(p)];
          p.entry.result = writer ? await runJournalled(p.pair, p.details, opts, writer) : await runPlanned(p.pair, p.details, opts);
        } catch (e) {
          p.entry.error = e;
          p.entry.result = (e as { result?: CopyResult }).result;
        }
        pairsDone++;
        if (p.entry.result) done.set(p.entry.index, p.entry.result.bytes);
        report();
        o.onResult?.(p.entry);
      }
    };
    await Promise.all(Array.from({ length: Math.min(width, planned.length) }, lane));
    const entries = planned.map((p) => p.entry);
    const complete = entries.filter((e) => !e.error && e.result && e.result.bytes === e.result.length).length;
    return {
      entries,
      summary: { pairs: entries.length, complete, failed: entries.length - complete, bytes: entries.reduce((n, e) => n + (e.result?.bytes ?? 0n), 0n), totalBytes: total, elapsedMs: Date.now() - started },
    };
  } finally {
    await Promise.all(owned.map((d) => d.close()));
  }
}
