// Copy offsets → LUN offsets for layered devices (partitions, dm-linear volumes, multipath
// maps). A plain LUN maps to itself. The copy is cut where either side's extent changes, so
// every chunk is one contiguous LUN range on each side, and no command reaches a byte outside
// the device's own extents.
import type { DeviceLayout, ScsiDevice } from '../device/device';
import { UsageError } from '../errors';

/** Device offset → LUN offset for one side of a copy, from its `base` (the plan's offset). */
export class SideMap {
  constructor(
    private readonly layout: DeviceLayout | undefined,
    /** The copy's start on the device (plan.srcOffset / plan.dstOffset). */
    readonly base: bigint,
  ) {}

  get layered(): boolean {
    return this.layout !== undefined;
  }

  /** Copy-relative offsets in (0, length) where this side moves to another extent. */
  cuts(length: bigint): bigint[] {
    if (!this.layout) return [];
    const out: bigint[] = [];
    for (const e of this.layout.extents) {
      const at = e.offset - this.base;
      if (at > 0n && at < length) out.push(at);
    }
    return out;
  }

  /**
   * The LUN offset of copy offset `off`, how many bytes from there stay in the same extent, and
   * the extent's LUN (an index into the layout's `stack.luns`; 0 for a plain LUN).
   * Throws when the device has no extent there (a hole in a table: never copied through).
   */
  at(off: bigint): { lunOffset: bigint; room: bigint; lun: number } {
    const d = this.base + off;
    if (!this.layout) return { lunOffset: d, room: 1n << 62n, lun: 0 };
    for (const e of this.layout.extents) {
      if (d >= e.offset && d < e.offset + e.length) return { lunOffset: e.lunOffset + (d - e.offset), room: e.offset + e.length - d, lun: e.lun };
    }
    throw new UsageError(`byte ${d} of ${this.layout.stack.given} is on no LUN extent`);
  }

  /** The value methods add to a copy offset to get a LUN offset, valid within off's extent. */
  baseAt(off: bigint): bigint {
    return this.at(off).lunOffset - off;
  }

  /** The LUN ranges [lunOffset, +length) the copy range [off, off+length) covers. */
  ranges(off: bigint, length: bigint): { lunOffset: bigint; length: bigint }[] {
    const out: { lunOffset: bigint; length: bigint }[] = [];
    let pos = off;
    while (pos < off + length) {
      const { lunOffset, room } = this.at(pos);
      const n = room < off + length - pos ? room : off + length - pos;
      out.push({ lunOffset, length: n });
      pos += n;
    }
    return out;
  }
}

/** Every copy offset where either side changes extent, sorted, without duplicates. */
export function copyCuts(length: bigint, ...sides: SideMap[]): bigint[] {
  const all = new Set<bigint>();
  for (const s of sides) for (const c of s.cuts(length)) all.add(c);
  return [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Split pieces at the cuts (each piece keeps its other fields). */
export function splitAtCuts<T extends { offset: bigint; length: bigint }>(pieces: readonly T[], cuts: readonly bigint[]): T[] {
  if (cuts.length === 0) return [...pieces];
  const out: T[] = [];
  for (const p of pieces) {
    let start = p.offset;
    const end = p.offset + p.length;
    for (const c of cuts) {
      if (c > start && c < end) {
        out.push({ ...p, offset: start, length: c - start });
        start = c;
      }
    }
    out.push({ ...p, offset: start, length: end - start });
  }
  return out;
}

/** True when either side is a device over several LUNs (copied run by run, engine/span.ts). */
export function spans(pair: { src: Pick<ScsiDevice, 'parts'>; dst: Pick<ScsiDevice, 'parts'> }): boolean {
  return pair.src.parts !== undefined || pair.dst.parts !== undefined;
}

/** Copy-relative bytes [offset, offset+length) where the source is on LUN srcLun and the destination on dstLun. */
export interface LunRun {
  offset: bigint;
  length: bigint;
  srcLun: number;
  dstLun: number;
}

/** The copy's runs on one LUN pair each, in order (neighbouring extents on the same pair joined). */
export function lunRuns(length: bigint, src: SideMap, dst: SideMap): LunRun[] {
  const out: LunRun[] = [];
  for (const p of splitAtCuts([{ offset: 0n, length }], copyCuts(length, src, dst))) {
    const s = src.at(p.offset).lun;
    const d = dst.at(p.offset).lun;
    const last = out[out.length - 1];
    if (last && last.srcLun === s && last.dstLun === d) last.length += p.length;
    else out.push({ offset: p.offset, length: p.length, srcLun: s, dstLun: d });
  }
  return out;
}

