// `odxcp resume FILE`: finish a copy a journal describes (engine/journal.ts), copying exactly
// what the journal does not confirm, after checking the devices are the same LUNs.
import type { ScsiDevice } from '../device/device';
import { UsageError } from '../errors';
import { runPlanned } from './copy';
import { gaps, JournalWriter, merge, readJournal, type JournalDevice } from './journal';
import { openPair, planPair } from './plan';
import type { CopiedExtent, CopyOptions, CopyResult } from './types';

export interface ResumeResult {
  file: string;
  /** Bytes the journal already confirmed (not copied again). */
  confirmedBytes: bigint;
  /** Bytes copied by this run. */
  copiedBytes: bigint;
  /** The account of each range copied by this run (offsets in the original copy). */
  runs: Array<{ offset: bigint; result: CopyResult }>;
  /** Every extent now on the destination, from the journal and this run. */
  extents: CopiedExtent[];
  length: bigint;
  complete: boolean;
  synced: boolean;
}

/** Check that `dev` is the LUN the journal names (by NAA designator, and block size). */
async function sameLun(dev: ScsiDevice, j: JournalDevice, role: string, file: string): Promise<void> {
  const id = await dev.identity();
  const cap = await dev.capacity();
  if (j.naa !== undefined && id.naa !== j.naa) {
    throw new UsageError(`${file}: ${role} ${dev.path} is not the LUN the journal was written for (NAA ${id.naa ?? 'none'}, journal ${j.naa})`);
  }
  if (cap.blockSize !== j.blockSize) throw new UsageError(`${file}: ${role} ${dev.path} has ${cap.blockSize}-byte blocks, the journal says ${j.blockSize}`);
}

/**
 * Resume the copy a journal describes: copy exactly the ranges it does not confirm (each with
 * the engine, fallbacks and all), journal them as they complete, flush, and close the journal.
 */
export async function resume(file: string, o: Pick<CopyOptions, 'signal' | 'timeoutMs' | 'onProgress' | 'maxInFlight' | 'fallback'> = {}): Promise<ResumeResult> {
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
    let copied = 0n;
    let failure: unknown;
    for (const g of todo) {
      const opts: CopyOptions = { ...o, src: pair.src, dst: pair.dst, srcOffset: h.srcOffset + g.offset, dstOffset: h.dstOffset + g.offset, length: g.length, mode: h.mode, sync: h.sync };
      try {
        const details = await planPair(pair, opts);
        const r = await runPlanned(pair, details, opts, { journal: { writer, base: g.offset } });
        runs.push({ offset: g.offset, result: r });
        copied += r.bytes;
      } catch (e) {
        const r = (e as { result?: CopyResult }).result;
        if (r) {
          runs.push({ offset: g.offset, result: r });
          copied += r.bytes;
        }
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
    return { file, confirmedBytes: confirmed, copiedBytes: copied, runs, extents, length: h.length, complete, synced };
  } finally {
    await pair.close();
  }
}
