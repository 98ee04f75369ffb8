// `odxcp resume FILE`: finish a copy a journal describes (engine/journal.ts), copying exactly
// what the journal does not confirm, after checking the devices are the same LUNs. A journal
// set (a fan-out's or a batch's) is resumed member by member, each pair on its own: a fan-out
// resumed reads the source once per destination, not once for all.
import type { ScsiDevice } from '../device/device';
import { UsageError } from '../errors';
import { runPlanned } from './copy';
import { gaps, JournalWriter, merge, readJournal, readJournalSet, type JournalDevice, type JournalSetKind } from './journal';
import { openPair, planPair } from './plan';
import type { CopiedExtent, CopyOptions, CopyResult } from './types';

export interface ResumeResult {
  file: string;
  /** Bytes the journal already confirmed (not copied again). */
  confirmedBytes: bigint;
  /** Bytes this run moved with a copy method (token, EXTENDED COPY, host). */
  copiedBytes: bigint;
  /** Bytes this run made read as zeros, and left alone (a thin source's deallocated ranges). */
  zeroedBytes: bigint;
  skippedBytes: bigint;
  /** Bytes this run completed: copied + zeroed + skipped. */
  bytes: bigint;
  /** The account of each range copied by this run (offsets in the original copy). */
  runs: Array<{ offset: bigint; result: CopyResult }>;
  /** Every extent now on the destination, from the journal and this run. */
  extents: CopiedExtent[];
  length: bigint;
  complete: boolean;
  synced: boolean;
  /** A journal set: what it is, and each member's resume (the fields above are their sums). */
  kind?: JournalSetKind;
  members?: Array<ResumeResult | { file: string; error: unknown }>;
}

/**
 * Check that `dev` is the LUN the journal names (by NAA designator, and block size); a volume
 * over several LUNs, that it lies on the same LUNs in the same order.
 */
export async function sameLun(dev: ScsiDevice, j: JournalDevice, role: string, file: string): Promise<void> {
  const id = await dev.identity();
  const cap = await dev.capacity();
  if (j.naa !== undefined && id.naa !== j.naa) {
    throw new UsageError(`${file}: ${role} ${dev.path} is not the LUN the journal was written for (NAA ${id.naa ?? 'none'}, journal ${j.naa})`);
  }
  if (j.luns !== undefined) {
    const now = dev.parts && dev.layout ? dev.layout.stack.luns.map((l) => l.id) : [`naa.${id.naa ?? 'none'}`];
    if (now.join(' ') !== j.luns.join(' ')) {
      throw new UsageError(`${file}: ${role} ${dev.path} is not the volume the journal was written for (on LUNs ${now.join(', ')}; the journal says ${j.luns.join(', ')})`);
    }
  }
  if (cap.blockSize !== j.blockSize) throw new UsageError(`${file}: ${role} ${dev.path} has ${cap.blockSize}-byte blocks, the journal says ${j.blockSize}`);
}

/**
 * Resume the copy a journal describes: copy exactly the ranges it does not confirm (each with
 * the engine, fallbacks and all), journal them as they complete, flush, and close the journal.
 */
export type ResumeOptions = Pick<CopyOptions, 'signal' | 'timeoutMs' | 'onProgress' | 'maxInFlight' | 'fallback'>;

export async function resume(file: string, o: ResumeOptions = {}): Promise<ResumeResult> {
  const set = readJournalSet(file);
  if (set) return await resumeSet(file, set.kind, set.members, o);
  return await resumeOne(file, o);
}

/** Each member of a journal set in turn; a member that fails does not stop the others. */
async function resumeSet(file: string, kind: JournalSetKind, members: string[], o: ResumeOptions): Promise<ResumeResult> {
  const out: NonNullable<ResumeResult['members']> = [];
  for (const m of members) {
    if (o.signal?.aborted) break;
    try {
      out.push(await resumeOne(m, o));
    } catch (e) {
      out.push({ file: m, error: e });
    }
  }
  const ok = out.filter((x): x is ResumeResult => !('error' in x));
  const sum = (f: (r: ResumeResult) => bigint) => ok.reduce((n, r) => n + f(r), 0n);
  return {
    file,
    kind,
    members: out,
    confirmedBytes: sum((r) => r.confirmedBytes),
    copiedBytes: sum((r) => r.copiedBytes),
    zeroedBytes: sum((r) => r.zeroedBytes),
    skippedBytes: sum((r) => r.skippedBytes),
    bytes: sum((r) => r.bytes),
    runs: [],
    extents: [],
    length: sum((r) => r.length),
    complete: out.length === members.length && ok.length === members.length && ok.every((r) => r.complete),
    synced: ok.length === members.length && ok.every((r) => r.synced),
  };
}

async function resumeOne(file: string, o: ResumeOptions): Promise<ResumeResult> {
  const j = readJournal(file);
  const h = j.header;
  const pair = await openPair({ src: h.src.path, dst: h.dst.path });
  try {
    await sameLun(pair.src, h.src, 'source', file);
    await sameLun(pair.dst, h.dst, 'destination', file);
    const todo = gaps(j.extents, h.length);
    const confirmed = h.length - todo.reduce((n, g) => n + g.length, 0n);
    const writer = JournalWriter.append(file);
    const runs: ResumeResult['runs'] = [];
    let failure: unknown;
    for (const g of todo) {
      const opts: CopyOptions = { ...o, src: pair.src, dst: pair.dst, srcOffset: h.srcOffset + g.offset, dstOffset: h.dstOffset + g.offset, length: g.length, mode: h.mode, sparse: h.sparse, sync: h.sync };
      try {
        const details = await planPair(pair, opts);
        const r = await runPlanned(pair, details, opts, { journal: { writer, base: g.offset } });
        runs.push({ offset: g.offset, result: r });
      } catch (e) {
        const r = (e as { result?: CopyResult }).result;
        if (r) runs.push({ offset: g.offset, result: r });
        failure = e;
        break;
      }
    }
    const all = [...j.extents, ...runs.flatMap((x) => x.result.extents.map((e) => ({ ...e, offset: e.offset + x.offset })))];
    const extents = merge(all);
    const complete = failure === undefined && gaps(extents, h.length).length === 0;
    const synced = runs.every((x) => x.result.synced) && h.sync;
    await writer.close(async () => undefined, failure === undefined ? { complete, synced } : undefined);
    if (failure !== undefined) throw failure;
    const sum = (f: (r: CopyResult) => bigint) => runs.reduce((n, x) => n + f(x.result), 0n);
    return {
      file,
      confirmedBytes: confirmed,
      copiedBytes: sum((r) => r.copiedBytes),
      zeroedBytes: sum((r) => r.zeroedBytes),
      skippedBytes: sum((r) => r.skippedBytes),
      bytes: sum((r) => r.bytes),
      runs,
      extents,
      length: h.length,
      complete,
      synced,
    };
  } finally {
    await pair.close();
  }
}
