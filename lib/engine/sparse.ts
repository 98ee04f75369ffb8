// The sparse planner: which parts of a copy need copying at all. On a thin source (LBPME) that
// answers GET LBA STATUS, deallocated ranges need no data moved: the destination only has to
// read back what the source reads there, zeros when the source's LBPRZ says so. Each such
// range becomes `skip` where the destination already reads zeros there (deallocated, LBPRZ),
// else `zero` (zeroing's ladder: unmap, zero token, WRITE SAME, WRITE). The rest is `copy`.
// Anchored blocks are copied: that is always right, and costs only their bytes.
import * as cmds from '../scsi/commands';
import type { ScsiTransport } from '../scsi/transport';
import type { Provisioning } from '../device/capabilities';
import type { ProvisioningState } from '../scsi/sbc';
import { lbaStatusUnavailable } from './reactions';

export type SparseMode = 'auto' | 'never';
export type PieceAction = 'copy' | 'zero' | 'skip';

/** A run of the copy (bytes relative to its start) and what to do with it. */
export interface SparsePiece {
  offset: bigint;
  length: bigint;
  action: PieceAction;
}

export interface SparsePlan {
  /** True when the source's map decided the pieces; false: one `copy` piece for everything. */
  used: boolean;
  /** Why (or why not), one line. */
  reason: string;
  pieces: SparsePiece[];
}

export interface SparseInput {
  mode: SparseMode;
  src: ScsiTransport;
  dst: ScsiTransport;
  srcProvisioning?: Provisioning;
  dstProvisioning?: Provisioning;
  srcOffset: bigint;
  dstOffset: bigint;
  length: bigint;
  srcBlockSize: number;
  dstBlockSize: number;
  timeoutMs?: number;
}

export interface StatusRun {
  lba: bigint;
  blocks: bigint;
  state: ProvisioningState;
}

/** A GET LBA STATUS answer the map cannot follow (no progress, too many runs). */
export class LbaMapError extends Error {}
Object.defineProperty(LbaMapError.prototype, 'name', { value: 'LbaMapError' });

/** More runs than this and the map is not worth following: copy everything instead. */
const MAX_RUNS = 1 << 16;

/**
 * The provisioning status of [lba, lba + blocks), in runs (adjacent runs of one state joined),
 * from as many GET LBA STATUS commands as the target needs. Throws what the target answers.
 */
export async function lbaStatusMap(t: ScsiTransport, lba: bigint, blocks: bigint, timeoutMs?: number): Promise<StatusRun[]> {
  const end = lba + blocks;
  const runs: StatusRun[] = [];
  const add = (from: bigint, to: bigint, state: ProvisioningState) => {
    const last = runs[runs.length - 1];
    if (last && last.state === state && last.lba + last.blocks === from) last.blocks += to - from;
    else runs.push({ lba: from, blocks: to - from, state });
  };
  let at = lba;
  while (at < end) {
    const r = await cmds.getLbaStatus(t, { lba: at, timeoutMs });
    const before = at;
    for (const d of r.descriptors) {
      const dEnd = d.lba + BigInt(d.blocks);
      // Only descriptors that continue exactly where the map stands count; a target that
      // answers out of order or with gaps is asked again from where its answer stopped.
      if (d.lba > at || dEnd <= at) continue;
      const to = dEnd < end ? dEnd : end;
      add(at, to, d.state);
      at = to;
      if (at >= end) break;
    }
    if (at === before) throw new LbaMapError(`GET LBA STATUS from LBA ${at} did not describe that LBA`);
    if (runs.length > MAX_RUNS) throw new LbaMapError(`more than ${MAX_RUNS} provisioning runs`);
  }
  return runs;
}

function one(length: bigint, reason: string): SparsePlan {
  return { used: false, reason, pieces: length > 0n ? [{ offset: 0n, length, action: 'copy' }] : [] };
}

/** Decide the pieces of a copy. Never throws for a target that cannot say: that is a plain copy. */
export async function planSparse(i: SparseInput): Promise<SparsePlan> {
  if (i.mode === 'never') return one(i.length, 'sparse: never');
  const sp = i.srcProvisioning;
  if (!sp?.lbpme) return one(i.length, 'the source does not report logical block provisioning (LBPME=0)');
  // What a deallocated source block reads as is only known when LBPRZ says zeros.
  if (!sp.lbprz) return one(i.length, 'the source does not say its deallocated blocks read as zeros (LBPRZ=0)');
  const sbs = BigInt(i.srcBlockSize);
  const dbs = BigInt(i.dstBlockSize);
  // Zeroed or skipped pieces must be whole blocks on both sides (block sizes are powers of two).
  const unit = sbs > dbs ? sbs : dbs;
  let runs: StatusRun[];
  try {
    runs = await lbaStatusMap(i.src, i.srcOffset / sbs, i.length / sbs, i.timeoutMs);
  } catch (e) {
    if (lbaStatusUnavailable(e) || e instanceof LbaMapError) return one(i.length, `GET LBA STATUS unusable on the source: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  const pieces: SparsePiece[] = [];
  const push = (offset: bigint, length: bigint, action: PieceAction) => {
    if (length <= 0n) return;
    const last = pieces[pieces.length - 1];
    if (last && last.action === action && last.offset + last.length === offset) last.length += length;
    else pieces.push({ offset, length, action });
  };
  for (const r of runs) {
    const from = r.lba * sbs - i.srcOffset;
    const to = from + r.blocks * sbs;
    if (r.state !== 'deallocated') {
      push(from, to - from, 'copy');
      continue;
    }
    // Inward to whole destination blocks; the edges are copied.
    const a = ((from + unit - 1n) / unit) * unit;
    const b = (to / unit) * unit;
    if (b <= a) {
      push(from, to - from, 'copy');
      continue;
    }
    push(from, a - from, 'copy');
    for (const z of await destinationPieces(i, a, b - a)) push(z.offset, z.length, z.action);
    push(b, to - b, 'copy');
  }
  const zeroed = pieces.filter((p) => p.action !== 'copy').reduce((n, p) => n + p.length, 0n);
  return { used: true, reason: `GET LBA STATUS: ${zeroed} of ${i.length} bytes deallocated on the source`, pieces };
}

/** A source-deallocated range on the destination: `skip` where it already reads zeros, else `zero`. */
async function destinationPieces(i: SparseInput, offset: bigint, length: bigint): Promise<SparsePiece[]> {
  const dp = i.dstProvisioning;
  if (!dp?.lbpme || !dp.lbprz) return [{ offset, length, action: 'zero' }];
  const dbs = BigInt(i.dstBlockSize);
  let runs: StatusRun[];
  try {
    runs = await lbaStatusMap(i.dst, (i.dstOffset + offset) / dbs, length / dbs, i.timeoutMs);
  } catch (e) {
    if (lbaStatusUnavailable(e) || e instanceof LbaMapError) return [{ offset, length, action: 'zero' }];
    throw e;
  }
  return runs.map((r) => ({ offset: r.lba * dbs - i.dstOffset, length: r.blocks * dbs, action: r.state === 'deallocated' ? 'skip' : 'zero' }));
}

/** Pieces cut to at most `max` bytes each (copy pieces to the chunk size, zero pieces likewise). */
export function cutPieces(pieces: SparsePiece[], max: (a: PieceAction) => bigint): SparsePiece[] {
  const out: SparsePiece[] = [];
  for (const p of pieces) {
    const m = max(p.action);
    for (let off = 0n; off < p.length; off += m) out.push({ offset: p.offset + off, length: p.length - off < m ? p.length - off : m, action: p.action });
  }
  return out;
}
