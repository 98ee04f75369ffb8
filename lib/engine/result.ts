// What a copy reports when it stops part-way, and the names of its account, shared by the
// chunk loop (copy.ts) and the runs of a copy over several LUNs (span.ts).
import { OdxcpError } from '../errors';
import type { CopyMethod, CopyResult } from './types';

/** Thrown when a copy stops part-way: `result` says exactly which bytes are on the destination. */
export class CopyError extends OdxcpError {
  readonly result: CopyResult;
  constructor(message: string, code: string, result: CopyResult, cause?: unknown) {
    super(message, code, { cause });
    this.result = result;
  }
}
Object.defineProperty(CopyError.prototype, 'name', { value: 'CopyError' });

/**
 * The one line a stopped copy reports: what is safe to resume from. A restart with offsets
 * past the contiguous prefix could skip a gap, so it names the prefix, not the byte count.
 */
export function stopLine(what: string, r: CopyResult): string {
  const prefix = r.contiguousBytes;
  const more = r.bytes > prefix ? ` (${r.bytes - prefix} more bytes after a gap; see the extents)` : '';
  return `${what}: the first ${prefix} bytes are copied; ${r.bytes} of ${r.length} bytes in all${more}`;
}

/** The method that moved the bytes: 'mixed' when offload and host both moved some; else the plan's. */
export function methodOf(byMethod: Record<CopyMethod, bigint>, planned: CopyMethod): CopyResult['method'] {
  const offloaded = byMethod.odx + byMethod.xcopy;
  if (offloaded > 0n && byMethod.host > 0n) return 'mixed';
  if (byMethod.host > 0n) return 'host';
  if (byMethod.odx > 0n) return 'odx';
  if (byMethod.xcopy > 0n) return 'xcopy';
  return planned;
}
