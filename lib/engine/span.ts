// A copy where a side is a volume over several LUNs (issue #11). The copy is cut wherever either
// side's extent moves to another LUN; each run is one LUN pair and runs as a copy of its own on
// the sides' per-LUN devices (ScsiDevice.parts), so the method is chosen per LUN pair by the
// planner, and flush, journal, fallback and failover are those of any copy. The runs' accounts
// merge into one over the device offsets.
import type { ScsiDevice } from '../device/device';
import { MiscompareError, OdxcpError, UsageError } from '../errors';
import type { RunOptions } from './copy';
import { lunRuns, SideMap } from './layout';
export { lunRuns, spans, type LunRun } from './layout';
import type { OpenedPair, PlanDetails, PlannedRun } from './plan';
import { PathUnconfirmedError, type UnconfirmedRange } from './failover';
import { CopyError, methodOf, stopLine } from './result';
import type { CopiedExtent, CopyMethod, CopyOptions, CopyProgress, CopyResult } from './types';

/** The device that carries LUN `lun` of a side (the side itself when it has one LUN). */
function partOf(dev: ScsiDevice, lun: number): ScsiDevice {
  if (!dev.parts) return dev;
  const p = dev.parts[lun];
  if (!p) throw new OdxcpError(`${dev.path}: no device for LUN ${lun} of its stack`, 'INTERNAL');
  return p;
}

type RunPair = (pair: OpenedPair, details: PlanDetails, o: CopyOptions, run: RunOptions) => Promise<CopyResult>;

interface Done {
  offset: bigint;
  result: CopyResult;
}

const sum = (done: Done[], f: (r: CopyResult) => bigint) => done.reduce((n, d) => n + f(d.result), 0n);

/** Extents sorted and joined where adjacent with the same method. */
function joined(extents: CopiedExtent[]): CopiedExtent[] {
  const out: CopiedExtent[] = [];
  for (const e of [...extents].sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))) {
    const last = out[out.length - 1];
    if (last && last.method === e.method && last.offset + last.length === e.offset) last.length += e.length;
    else out.push({ ...e });
  }
  return out;
}

/** The runs' unconfirmed ranges at the copy's offsets (docs/path-failover.md), when there are any. */
function unconfirmedOf(done: Done[]): Pick<CopyResult, 'unconfirmed'> {
  const u = done.flatMap((d) => (d.result.unconfirmed ?? []).map((x) => ({ ...x, offset: x.offset + d.offset })));
  return u.length ? { unconfirmed: u } : {};
}

/** One account over the whole copy from the runs' (their offsets moved to the copy's). */

export function mergeRuns(details: PlanDetails, done: Done[], started: number, verify: boolean): CopyResult {
  const plan = details.plan;
  const byMethod: Record<CopyMethod, bigint> = { odx: 0n, xcopy: 0n, host: 0n };
  const commands: Record<string, number> = {};
  for (const { result } of done) {
    for (const m of ['odx', 'xcopy', 'host'] as const) byMethod[m] += result.byMethod[m];
    for (const [k, n] of Object.entries(result.commands)) commands[k] = (commands[k] ?? 0) + n;
  }
  const extents = joined(done.flatMap((d) => d.result.extents.map((e) => ({ ...e, offset: e.offset + d.offset }))));
  let contiguous = 0n;
  for (const e of extents) {
    if (e.offset > contiguous) break;
    contiguous = e.offset + e.length;
  }
  const warnings = done.flatMap((d) => d.result.warnings ?? []);
  const syncForm = done.find((d) => d.result.syncForm)?.result.syncForm;
  const first = done[0]?.result;
  return {
    src: plan.src.path,
    dst: plan.dst.path,
    srcOffset: plan.srcOffset,
    dstOffset: plan.dstOffset,
    bytes: sum(done, (r) => r.bytes),
    length: plan.length,
    copiedBytes: sum(done, (r) => r.copiedBytes),
    zeroedBytes: sum(done, (r) => r.zeroedBytes),
    skippedBytes: sum(done, (r) => r.skippedBytes),
    sparse: first?.sparse ?? { mode: 'never', used: false, reason: 'a layered device (partition, dm volume or map): every byte is copied' },
    offloadedBytes: byMethod.odx + byMethod.xcopy,
    hostBytes: byMethod.host,
    byMethod,
    method: methodOf(byMethod, plan.method),
    plannedMethod: plan.method,
    fallbacks: done.flatMap((d) => d.result.fallbacks.map((f) => ({ ...f, offset: f.offset + d.offset }))),
    pathSwitches: done.flatMap((d) => d.result.pathSwitches.map((s) => ({ ...s, atOffset: s.atOffset + d.offset }))),
    ...unconfirmedOf(done),
    extents,
    commands,
    hostDataBytes: sum(done, (r) => r.hostDataBytes),
    elapsedMs: Date.now() - started,
    verified: verify ? done.length > 0 && done.every((d) => d.result.verified === true) : undefined,
    truncations: done.reduce((n, d) => n + d.result.truncations, 0),
    // Every LUN written was flushed: each run flushes its own destination LUN's ranges.
    synced: done.length > 0 && done.every((d) => d.result.synced),
    ...(syncForm ? { syncForm } : {}),
    ...(warnings.length ? { warnings } : {}),
    contiguousBytes: contiguous,
  };
}

/** The runs' error, said of the whole copy (offsets and counts of the copy, not of the run). */
function wholeCopyError(e: unknown, at: bigint, r: CopyResult): unknown {
  const cause = e instanceof CopyError ? e.cause : e;
  const code = e instanceof OdxcpError ? e.code : 'COPY_FAILED';
  if (code === 'ABORTED') return new CopyError(stopLine('copy aborted', r), code, r, cause);
  if (cause instanceof MiscompareError && cause.offset !== undefined) {
    return new CopyError(`verify: destination differs from source at byte ${at + cause.offset} of the copy`, code, r, cause);
  }
  if (code === 'SYNC_FAILED' || (e instanceof CopyError && e.message.startsWith('copy written but not flushed'))) return new CopyError((e as Error).message, code, r, cause);
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new CopyError(`${stopLine('copy failed', r)}: ${msg}`, code, r, cause);
}

/**
 * Refuse a copy whose source and destination bytes meet on some LUN, across all runs (a run's
 * own plan sees only its pair: one run could write what a later one reads).
 */
function refuseOverlap(planned: PlannedRun[]): void {
  const on = (side: 'src' | 'dst') =>
    planned.flatMap((p) => {
      const lun = side === 'src' ? p.details.srcKey : p.details.dstKey;
      const map = new SideMap(p.pair[side].layout, side === 'src' ? p.details.plan.srcOffset : p.details.plan.dstOffset);
      return map.ranges(0n, p.details.plan.length).map((r) => ({ lun, ...r }));
    });
  const dst = on('dst');
  for (const x of on('src')) {
    for (const y of dst) {
      if (x.lun === y.lun && x.lunOffset < y.lunOffset + y.length && y.lunOffset < x.lunOffset + x.length) {
        throw new UsageError(`source and destination ranges overlap on LUN ${x.lun} (bytes ${x.lunOffset}+${x.length} and ${y.lunOffset}+${y.length} of the LUN)`);
      }
    }
  }
}

type PlanOne = (pair: OpenedPair, o: CopyOptions) => Promise<PlanDetails>;

/**
 * Plan every run of a copy with a side over several LUNs (the planner's own `planPair` on each
 * LUN pair: probed, range and overlap checked, method chosen for that pair), and refuse a
 * source and destination that meet on a LUN across runs; nothing is written.
 */
export async function planRuns(pair: OpenedPair, details: PlanDetails, o: CopyOptions, planOne: PlanOne): Promise<PlannedRun[]> {
  const plan = details.plan;
  const out: PlannedRun[] = [];
  for (const r of lunRuns(plan.length, new SideMap(pair.src.layout, plan.srcOffset), new SideMap(pair.dst.layout, plan.dstOffset))) {
    const sub: OpenedPair = { src: partOf(pair.src, r.srcLun), dst: partOf(pair.dst, r.dstLun), close: async () => undefined };
    const so: CopyOptions = { ...o, src: sub.src, dst: sub.dst, srcOffset: plan.srcOffset + r.offset, dstOffset: plan.dstOffset + r.offset, length: r.length };
    out.push({ at: r.offset, pair: sub, details: await planOne(sub, so) });
  }
  refuseOverlap(out);
  return out;
}

/** Run a copy with a side over several LUNs: its planned runs in order, one account at the end. */
export async function runSpanning(pair: OpenedPair, details: PlanDetails, o: CopyOptions, run: RunOptions, runPair: RunPair): Promise<CopyResult> {
  const plan = details.plan;
  const started = Date.now();
  const planned = details.runs;
  if (!planned) throw new OdxcpError(`${pair.src.path} -> ${pair.dst.path}: a copy over several LUNs was not planned run by run`, 'INTERNAL');
  const done: Done[] = [];
  const listener = o.onProgress;
  // A run that ends PATH_UNCONFIRMED did all it could: the later runs go on (their LUNs' lists
  // are not the unconfirmed one), and the whole copy ends PATH_UNCONFIRMED naming every range.
  const unconfirmed: UnconfirmedRange[] = [];
  let unconfirmedCause: unknown;
  try {
    for (const p of planned) {
      const before = { bytes: sum(done, (r) => r.bytes), copied: sum(done, (r) => r.copiedBytes), zeroed: sum(done, (r) => r.zeroedBytes), skipped: sum(done, (r) => r.skippedBytes) };
      const byBefore = (m: CopyMethod) => sum(done, (r) => r.byMethod[m]);
      const onProgress = listener
        ? (x: CopyProgress) =>
            listener({
              ...x,
              bytesDone: before.bytes + x.bytesDone,
              copiedBytes: before.copied + (x.copiedBytes ?? 0n),
              zeroedBytes: before.zeroed + (x.zeroedBytes ?? 0n),
              skippedBytes: before.skipped + (x.skippedBytes ?? 0n),
              totalBytes: plan.length,
              byMethod: { odx: byBefore('odx') + x.byMethod.odx, xcopy: byBefore('xcopy') + x.byMethod.xcopy, host: byBefore('host') + x.byMethod.host },
              elapsedMs: Date.now() - started,
            })
        : undefined;
      // Shared tokens (a fan-out) are keyed by source LBA of one LUN: a run makes its own. The
      // methods are each run's own too (an EXTENDED COPY names its LUN pair).
      const sub: RunOptions = { ...(run.journal ? { journal: { writer: run.journal.writer, base: run.journal.base + p.at } } : {}) };
      // The caller's options of this run (abort signal, verify, sync...), at the run's offsets.
      const ro: CopyOptions = { ...o, src: p.pair.src, dst: p.pair.dst, srcOffset: p.details.plan.srcOffset, dstOffset: p.details.plan.dstOffset, length: p.details.plan.length, onProgress };
      try {
        done.push({ offset: p.at, result: await runPair(p.pair, p.details, ro, sub) });
      } catch (e) {
        if (!(e instanceof CopyError && e.cause instanceof PathUnconfirmedError)) throw e;
        const u = e.cause;
        done.push({ offset: p.at, result: e.result });
        unconfirmed.push(...u.ranges.map((r) => ({ ...r, offset: r.offset + p.at })));
        unconfirmedCause ??= u.cause;
      }
    }
  } catch (e) {
    const partial = (e as { result?: CopyResult }).result;
    const at = planned[done.length]?.at ?? 0n;
    if (partial) done.push({ offset: at, result: partial });
    if (done.length === 0) throw e;
    throw wholeCopyError(e, at, mergeRuns(details, done, started, o.verify === true));
  }
  const r = mergeRuns(details, done, started, o.verify === true);
  if (unconfirmed.length > 0) {
    const u = new PathUnconfirmedError(unconfirmed, unconfirmedCause);
    throw new CopyError(`${stopLine('copy incomplete', r)}: ${u.message}`, u.code, r, u);
  }
  return r;
}
