// One source, many destinations (cloning a template onto new LUNs). Each destination is a copy
// of its own (its own plan, account, fallback and failure), run side by side with the others;
// what they share is the source's tokens: the token copies ask one cache for each source range,
// so the range is populated once and written to every destination within the token's life.
// A failure on one destination never stops the others unless `failFast`.
import { ScsiDevice } from '../device/device';
import { UsageError } from '../errors';
import type { PopulateResult } from '../tokens/token-ops';
import { runJournalled, runPlanned } from './copy';
import { createJournalSet, journalHeader } from './journal';
import type { SharedTokens } from './methods/token';
import { planPair, type OpenedPair, type PlanDetails } from './plan';
import type { CopyOptions, CopyProgress, CopyResult } from './types';

export interface FanOutDestination {
  dst: string | ScsiDevice;
  /** Byte offset in this destination (default: the `dstOffset` of the options, else 0). */
  dstOffset?: bigint | number;
}

export interface CopyManyOptions extends Omit<CopyOptions, 'dst' | 'onProgress'> {
  dsts: ReadonlyArray<string | ScsiDevice | FanOutDestination>;
  /** Stop every destination when one fails (default: the others go on). */
  failFast?: boolean;
  onProgress?: (p: FanOutProgress) => void;
}

export interface FanOutProgress {
  /** Bytes on all destinations together. */
  bytesDone: bigint;
  /** length x destinations. */
  totalBytes: bigint;
  destinations: number;
  /** Destinations finished (either way). */
  finished: number;
  elapsedMs: number;
}

export interface FanOutEntry {
  dst: string;
  dstOffset: bigint;
  /** The account; present also when the copy failed part-way (the error's result). */
  result?: CopyResult;
  error?: unknown;
}

export interface CopyManyResult {
  src: string;
  length: bigint;
  results: FanOutEntry[];
  summary: {
    destinations: number;
    complete: number;
    failed: number;
    /** POPULATE TOKEN commands sent for all destinations together. */
    populateTokens: number;
    elapsedMs: number;
  };
}

/**
 * The source's tokens, one per range asked for, shared by the destinations' token copies. An
 * entry serves each destination once and is dropped when all have taken it, when it fails, or
 * when a destination found it unusable (so a re-population never gets the dead token back).
 */
export class TokenCache implements SharedTokens {
  private readonly entries = new Map<string, { p: Promise<{ token: PopulateResult; made: number }>; left: number }>();

  constructor(private readonly users: number) {}

  get(srcLba: bigint, blocks: bigint, populate: () => Promise<PopulateResult>): Promise<{ token: PopulateResult; made: number }> {
    const key = `${srcLba}+${blocks}`;
    let e = this.entries.get(key);
    if (!e) {
      const p = populate().then((token) => ({ token, made: Date.now() }));
      const entry = { p, left: this.users };
      e = entry;
      this.entries.set(key, entry);
      p.catch(() => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      });
    }
    if (--e.left <= 0) this.entries.delete(key);
    return e.p;
  }

  forget(srcLba: bigint, blocks: bigint, token: PopulateResult): void {
    const key = `${srcLba}+${blocks}`;
    const e = this.entries.get(key);
    if (e) void e.p.then((x) => x.token === token && this.entries.get(key) === e && this.entries.delete(key), () => undefined);
  }
}

function destinationOf(d: CopyManyOptions['dsts'][number], dflt: bigint | number | undefined): FanOutDestination {
  if (typeof d === 'string' || d instanceof ScsiDevice) return { dst: d, dstOffset: dflt };
  return { dst: d.dst, dstOffset: d.dstOffset ?? dflt };
}

/**
 * Copy one source range to several destinations. Every destination is opened and planned
 * before any copies (a destination that cannot be used, or the same destination twice, refuses
 * the whole fan-out); then all run at once, each with its own account.
 */
export async function copyMany(o: CopyManyOptions): Promise<CopyManyResult> {
  const started = Date.now();
  if (o.dsts.length === 0) throw new UsageError('no destination to copy to');
  const dsts = o.dsts.map((d) => destinationOf(d, o.dstOffset));
  const owned: ScsiDevice[] = [];
  const open = async (d: string | ScsiDevice, exclusive: boolean) => {
    if (typeof d !== 'string') return d;
    const dev = await ScsiDevice.open(d, { exclusive, layered: true });
    owned.push(dev);
    return dev;
  };
  try {
    const src = await open(o.src, false);
    const pairs: Array<{ pair: OpenedPair; details: PlanDetails; entry: FanOutEntry }> = [];
    const seen = new Map<string, string>();
    for (const d of dsts) {
      const dst = await open(d.dst, true);
      const id = (await dst.identity()).naa ?? dst.nodes.address;
      const twice = seen.get(id);
      if (twice !== undefined) throw new UsageError(`${dst.path}: the same LUN as ${twice}; each destination may be given once`);
      seen.set(id, dst.path);
      const pair: OpenedPair = { src, dst, close: async () => undefined };
      const details = await planPair(pair, { ...o, onProgress: undefined, src, dst, dstOffset: d.dstOffset });
      pairs.push({ pair, details, entry: { dst: dst.path, dstOffset: details.plan.dstOffset } });
    }
    // Token copies share tokens only if they cut the source alike: the smallest token size of all.
    const odx = pairs.filter((p) => p.details.plan.method === 'odx');
    const tokenBytes = odx.reduce((m, p) => (p.details.tokenBytes < m ? p.details.tokenBytes : m), odx[0]?.details.tokenBytes ?? 0n);
    for (const p of odx) {
      p.details.tokenBytes = tokenBytes;
      p.details.plan.chunkBytes = tokenBytes;
    }
    const tokens = odx.length > 1 ? new TokenCache(odx.length) : undefined;

    // --journal: every destination's journal (with its header) exists before any copy starts.
    const writers = o.journal
      ? createJournalSet(o.journal, 'fanout', await Promise.all(pairs.map((p) => journalHeader(p.pair, p.details, { ...o, onProgress: undefined, src: p.pair.src, dst: p.pair.dst }))))
      : undefined;
    const stopAll = new AbortController();
    const onAbort = () => stopAll.abort();
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener('abort', onAbort);
    const done = new Map<FanOutEntry, bigint>();
    let finished = 0;
    const length = pairs[0]!.details.plan.length;
    const report = () =>
      o.onProgress?.({
        bytesDone: [...done.values()].reduce((a, b) => a + b, 0n),
        totalBytes: length * BigInt(pairs.length),
        destinations: pairs.length,
        finished,
        elapsedMs: Date.now() - started,
      });
    try {
      await Promise.all(
        pairs.map(async ({ pair, details, entry }) => {
          const onProgress = (p: CopyProgress) => {
            done.set(entry, p.bytesDone);
            report();
          };
          try {
            const opts: CopyOptions = { ...o, src: pair.src, dst: pair.dst, signal: stopAll.signal, onProgress };
            const run = { tokens: details.plan.method === 'odx' ? tokens : undefined };
            const writer = writers?.[pairs.findIndex((p) => p.entry === entry)];
            entry.result = writer ? await runJournalled(pair, details, opts, writer, run) : await runPlanned(pair, details, opts, run);
          } catch (e) {
            entry.error = e;
            entry.result = (e as { result?: CopyResult }).result;
            if (o.failFast) stopAll.abort();
          } finally {
            finished++;
            if (entry.result) done.set(entry, entry.result.bytes);
            report();
          }
        }),
      );
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
    const results = pairs.map((p) => p.entry);
    const complete = results.filter((r) => !r.error && r.result && r.result.bytes === r.result.length).length;
    return {
      src: src.path,
      length,
      results,
      summary: {
        destinations: results.length,
        complete,
        failed: results.length - complete,
        populateTokens: results.reduce((n, r) => n + (r.result?.commands['POPULATE TOKEN'] ?? 0), 0),
        elapsedMs: Date.now() - started,
      },
    };
  } finally {
    await Promise.all(owned.map((d) => d.close()));
  }
}
