// The host copy's data buffers: page-aligned (the block layer maps them into SG_IO without a
// bounce copy) and pooled, so a copy, and the next one in the same process, reuses the same
// few buffers instead of allocating a fresh one per transfer or per range.
import { loadNative } from '../native';

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  /** Buffers lent out and not given back (for tests and the bench). */
  lent = 0;
  /** Buffers this pool allocated. */
  allocated = 0;

  constructor(
    private readonly alloc: (bytes: number) => Buffer = (n) => loadNative().alignedBuffer(n),
    /** Idle buffers kept per size; more are left to the garbage collector. */
    private readonly keep = 16,
  ) {}

  /** A buffer of exactly `bytes` (its contents are whatever the last user left). */
  take(bytes: number): Buffer {
    const b = this.free.get(bytes)?.pop() ?? (this.allocated++, this.alloc(bytes));
    this.lent++;
    return b;
  }

  /** Give back a buffer from take(); the caller must not touch it any more. */
  give(b: Buffer): void {
    this.lent--;
    const list = this.free.get(b.length) ?? [];
    if (list.length < this.keep) list.push(b);
    this.free.set(b.length, list);
  }
}

/** The process's pool for the host copy. */
export const hostBuffers = new BufferPool();
