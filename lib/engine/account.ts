// The copy's account: which byte ranges (relative to the start of the copy) are on the
// destination and how each got there. Methods report each completed piece as it completes,
// so the account is exact even when chunks finish out of order or a chunk fails half-way.
import type { CopiedExtent, CopyMethod, ExtentKind, FallbackRecord, PathSwitch } from './types';

export class Account {
  private readonly pieces: CopiedExtent[] = [];
  readonly byMethod: Record<CopyMethod, bigint> = { odx: 0n, xcopy: 0n, host: 0n };
  /** Bytes made to read as zeros / left alone because both sides read as zeros (sparse copies). */
  zeroed = 0n;
  skipped = 0n;
  readonly fallbacks: FallbackRecord[] = [];
  readonly pathSwitches: PathSwitch[] = [];
  readonly commands: Record<string, number> = {};
  truncations = 0;
  /** Bytes that crossed the host's SG_IO data buffers (READ data-in + WRITE data-out). */
  hostDataBytes = 0n;

  /** Told after every change of what is on the destination (never while the account changes). */
  onChange: (() => void) | undefined;
  /** Told of every piece as it is recorded (the journal). Must not throw. */
  onRecord: ((offset: bigint, length: bigint, method: ExtentKind) => void) | undefined;

  record(offset: bigint, length: bigint, method: ExtentKind): void {
    if (length <= 0n) return;
    this.pieces.push({ offset, length, method });
    if (method === 'zero') this.zeroed += length;
    else if (method === 'skip') this.skipped += length;
    else this.byMethod[method] += length;
    this.onRecord?.(offset, length, method);
    this.onChange?.();
  }

  command(name: string, n = 1): void {
    this.commands[name] = (this.commands[name] ?? 0) + n;
  }

  /** Bytes moved by the methods. */
  get copied(): bigint {
    return this.byMethod.odx + this.byMethod.xcopy + this.byMethod.host;
  }

  /** Bytes that read on the destination as on the source: copied, zeroed or skipped. */
  get bytes(): bigint {
    return this.copied + this.zeroed + this.skipped;
  }

  /** Pieces sorted and merged where adjacent with the same method. */
  extents(): CopiedExtent[] {
    const sorted = [...this.pieces].sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
    const out: CopiedExtent[] = [];
    for (const p of sorted) {
      const last = out[out.length - 1];
      if (last && last.method === p.method && last.offset + last.length === p.offset) last.length += p.length;
      else out.push({ ...p });
    }
    return out;
  }

  /** Bytes from offset 0 with no gap (what a sequential reader of the destination can trust). */
  contiguousFromStart(): bigint {
    let end = 0n;
    for (const e of this.extents()) {
      if (e.offset > end) break;
      if (e.offset + e.length > end) end = e.offset + e.length;
    }
    return end;
  }
}
