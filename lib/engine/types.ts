// The copy engine's public types: what a caller asks for, what it is told while the copy
// runs, and the exact account it gets at the end (or inside the error when it fails).
import type { ScsiDevice } from '../device/device';

/** How to copy: the best the pair supports, or one method forced. */
export type CopyMode = 'auto' | 'odx' | 'xcopy' | 'host';

/** The method that moved a given extent. */
export type CopyMethod = 'odx' | 'xcopy' | 'host';

/**
 * How an extent of the destination came to read like the source: copied by a method, zeroed
 * (the source's range is deallocated and reads as zeros), or skipped (both sides deallocated,
 * both read as zeros: nothing sent).
 */
export type ExtentKind = CopyMethod | 'zero' | 'skip';

export interface CopyOptions {
  /** Source LUN: a path (/dev/sdX, /dev/sgN, /dev/disk/by-*) or an open device. */
  src: string | ScsiDevice;
  /** Destination LUN (opened exclusively when given as a path). */
  dst: string | ScsiDevice;
  /** Byte offset in the source; a multiple of its block size. Default 0. */
  srcOffset?: bigint | number;
  /** Byte offset in the destination; a multiple of its block size. Default 0. */
  dstOffset?: bigint | number;
  /** Bytes to copy; default: the rest of the source from srcOffset. */
  length?: bigint | number;
  mode?: CopyMode;
  /** Continue with the buffered path when an offload fails (default true). */
  fallback?: boolean;
  /** Re-read both ranges after the copy and compare them. */
  verify?: boolean;
  /**
   * SYNCHRONIZE CACHE over the destination range after the last write (default true), on every
   * method: a copy manager may leave offloaded data in its write cache too. A failing flush
   * fails the copy.
   */
  sync?: boolean;
  /**
   * A journal file (created; an existing one is refused) that makes the copy resumable after a
   * crash: the job and every confirmed extent, in flushed, fsync'd checkpoints (engine/journal.ts).
   */
  journal?: string;
  /** Offload operations in flight at once (default 4, bounded by the targets' limits). */
  maxInFlight?: number;
  /** Bytes one ROD token represents (default: the targets' optimal/maximum, else 8 MiB). */
  tokenSize?: bigint | number;
  /** Bytes per EXTENDED COPY command (default: within the copy manager's limits). */
  xcopySize?: bigint | number;
  /** Bytes per host READ/WRITE (default: within the devices' transfer limits, 1 MiB). */
  hostTransferSize?: number;
  /** SG_IO timeout for each command, ms (default per command: 600 s for 0x83). */
  timeoutMs?: number;
  /** Where EXTENDED COPY is sent: the destination (sg_xcopy's default) or the source. */
  xcopyOn?: 'dst' | 'src';
  /** Force a LID1 list identifier / LIST ID USAGE (sg_xcopy's list_id= / id_usage=). */
  xcopyListId?: number;
  xcopyListIdUsage?: 'hold' | 'discard' | 'none';
  signal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
  /** Progress events at most this often, ms (default 200). */
  progressIntervalMs?: number;
  /**
   * 'auto' (default): on a thin source (LBPME, LBPRZ) that answers GET LBA STATUS, copy only
   * the mapped ranges and make each deallocated one read as zeros on the destination the
   * cheapest way (nothing, deallocation, zero token, WRITE SAME, WRITE). 'never': copy every byte.
   */
  sparse?: 'auto' | 'never';
}

export interface CopyProgress {
  /** Bytes known to be on the destination (copied + zeroed + skipped). */
  bytesDone: bigint;
  /** The split of bytesDone (a copy always sets them; other producers of progress may not). */
  copiedBytes?: bigint;
  zeroedBytes?: bigint;
  skippedBytes?: bigint;
  totalBytes: bigint;
  byMethod: Record<CopyMethod, bigint>;
  elapsedMs: number;
  /** The method the engine is using now. */
  method: CopyMethod;
}

/** One switch from an offload to the host path (or to a re-populated token). */
export interface FallbackRecord {
  /** Byte offset, relative to the start of the copy, where the host path took over. */
  offset: bigint;
  /** Bytes the host path copied because of this fallback. */
  length: bigint;
  from: 'odx' | 'xcopy';
  reason: string;
  /** The target's answer, when the fallback was caused by one. */
  sense?: { key: number; asc: number; ascq: number; name: string };
  /** True when the rest of the copy (not only this chunk) went to the host. */
  wholeCopy: boolean;
}

/** A layered side's commands moved to another path of its LUN after its path failed (issue #11). */
export interface PathSwitch {
  side: 'src' | 'dst';
  /** sg nodes: the failed path's and the new one's. */
  from: string;
  to: string;
  /** Byte offset, relative to the start of the copy, from which the chunk was re-driven. */
  atOffset: bigint;
  reason: string;
}

/** A contiguous run of the copy, relative to its start, and how it was copied. */
export interface CopiedExtent {
  offset: bigint;
  length: bigint;
  method: ExtentKind;
}

export interface CopyResult {
  src: string;
  dst: string;
  srcOffset: bigint;
  dstOffset: bigint;
  /** Bytes that now read on the destination as on the source (equals length when the copy completed). */
  bytes: bigint;
  /** Bytes moved by a method (the sum of byMethod). */
  copiedBytes: bigint;
  /** Bytes made to read as zeros without copying (deallocated on the source). */
  zeroedBytes: bigint;
  /** Bytes left alone: deallocated on the source, and already reading as zeros on the destination. */
  skippedBytes: bigint;
  /** What the sparse planner decided, and why. */
  sparse: { mode: 'auto' | 'never'; used: boolean; reason: string };
  /** The length asked for. */
  length: bigint;
  /** Bytes moved by the array (token copy + EXTENDED COPY). */
  offloadedBytes: bigint;
  /** Bytes that crossed the host (READ + WRITE). */
  hostBytes: bigint;
  byMethod: Record<CopyMethod, bigint>;
  /** The method that moved most bytes, or 'mixed' when offload and host both moved some. */
  method: CopyMethod | 'mixed';
  /** The method the plan chose before anything failed. */
  plannedMethod: CopyMethod;
  fallbacks: FallbackRecord[];
  /** Path switches of a layered side (a multipath map) during the copy, in order. */
  pathSwitches: PathSwitch[];
  /**
   * Ranges a copy list may still have been writing when its path failed or its command was lost
   * (docs/path-failover.md): neither rewritten nor in the extents. Present only when there are any.
   */
  unconfirmed?: Array<{ offset: bigint; length: bigint; node: string }>;
  /** Merged extents, in order, copied / zeroed / skipped; a completed copy has them cover [0, length). */
  extents: CopiedExtent[];
  /** SCSI commands issued, by T10 name. */
  commands: Record<string, number>;
  /** Bytes that crossed the host's SG_IO data buffers (zero for a pure offload). */
  hostDataBytes: bigint;
  elapsedMs: number;
  verified?: boolean;
  /** Truncations the targets reported (short transfer counts re-driven). */
  truncations: number;
  /** True when the destination accepted SYNCHRONIZE CACHE for the range after the last write. */
  synced: boolean;
  /** The form of SYNCHRONIZE CACHE the destination accepted, when it was flushed. */
  syncForm?: string;
  /** Bytes from the start of the copy with no gap: what a restart with offsets may skip. */
  contiguousBytes: bigint;
  /** Things the caller should know that did not stop the copy (a progress listener that threw). */
  warnings?: string[];
}

/** Why a method would or would not be used for a pair (what `odxcp info SRC DST` prints). */
export interface MethodVerdict {
  usable: boolean;
  reason: string;
}

export interface PlannedDevice {
  path: string;
  sg?: string;
  sd?: string;
  vendor: string;
  product: string;
  serial?: string;
  naa?: string;
  blockSize: number;
  /** The device's size (a layered device's own, not its LUN's). */
  bytes: bigint;
  /** A layered device (partition, dm volume, multipath map): its chain down to the LUN. */
  chain?: string;
  /** A layered device: where its bytes sit on the LUN, device order (`lun`: over several LUNs, which). */
  extents?: { offset: bigint; length: bigint; lunOffset: bigint; lun?: number }[];
}

/** The engine's decision before any data moves; printable as JSON. */
export interface CopyPlan {
  src: PlannedDevice;
  dst: PlannedDevice;
  srcOffset: bigint;
  dstOffset: bigint;
  length: bigint;
  /** The first method that will be tried. */
  method: CopyMethod;
  verdicts: Record<'odx' | 'xcopy', MethodVerdict>;
  /** Bytes per offload operation (token or EXTENDED COPY command) for the chosen method. */
  chunkBytes: bigint;
  /** Bytes per host READ/WRITE. */
  hostTransferBytes: number;
  maxInFlight: number;
  /**
   * A side over several LUNs: the copy's runs, one per LUN pair (copy-relative offsets, the
   * LUNs by designator), each with the method planned for that pair. The fields above are then
   * those of the first extent's LUNs.
   */
  runs?: Array<{ offset: bigint; length: bigint; src: string; dst: string; method: CopyMethod }>;
}
