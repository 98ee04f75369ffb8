// A copy that can be resumed after a crash (SIGKILL, power loss): a journal file records the
// job (the devices by path and NAA designator, the ranges, the options) and every extent the
// destination confirmed. Extents are written in checkpoints: the destination range is flushed
// (SYNCHRONIZE CACHE) first, then the lines are appended and the file fsync'd, at least every
// 64 MiB or 2 s, so every extent in the journal is durable on the destination. `resume` copies
// exactly the bytes the journal does not confirm, after checking the devices are the same LUNs.
//
// Format: NDJSON a person can read. Line 1 is the header; then one line per confirmed extent;
// the last line of a finished copy says so.
//   {"odxcp":"journal","version":1,"createdAt":"…","src":{"path","naa","blockSize"},"dst":{…},
//    "srcOffset":"0","dstOffset":"0","length":"268435456","mode":"auto","sync":true}
//   {"offset":"0","length":"8388608","method":"odx"}          (relative to the copy's start)
//   {"done":true,"complete":true,"synced":true}
// Byte counts are decimal strings (they may pass 2^53).
import * as fs from 'node:fs';
import type { ScsiDevice } from '../device/device';
import { DeviceError, OdxcpError, UsageError } from '../errors';
import type { OpenedPair, PlanDetails } from './plan';
import type { CopiedExtent, CopyMethod, CopyMode, CopyOptions } from './types';

export const JOURNAL_VERSION = 1;
/** A checkpoint at least this often: bytes confirmed since the last one, or time. */
export const CHECKPOINT_BYTES = 64n << 20n;
export const CHECKPOINT_MS = 2000;

export interface JournalDevice {
  path: string;
  naa?: string;
  blockSize: number;
}

export interface JournalHeader {
  odxcp: 'journal';
  version: number;
  createdAt: string;
  src: JournalDevice;
  dst: JournalDevice;
  srcOffset: bigint;
  dstOffset: bigint;
  length: bigint;
  mode: CopyMode;
  sync: boolean;
}

export interface JournalContents {
  header: JournalHeader;
  /** Confirmed extents, merged, relative to the copy's start. */
  extents: CopiedExtent[];
  done: boolean;
}

const str = (v: bigint) => v.toString();

/** Appends confirmed extents to a journal file in flushed, fsync'd checkpoints. */
export class JournalWriter {
  private pending: CopiedExtent[] = [];
  private pendingBytes = 0n;
  private last = Date.now();
  private busy: Promise<void> = Promise.resolve();
  private failure: unknown;

  private constructor(
    private readonly fd: number,
    readonly file: string,
  ) {}

  /** Create a new journal (refusing to replace one: it may be the only record of a copy). */
  static create(file: string, header: JournalHeader): JournalWriter {
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx', 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new UsageError(`--journal: ${file} exists; resume it with \`odxcp resume ${file}\` or remove it`);
      throw new DeviceError({ path: file, code: code ?? 'EIO', message: `--journal: cannot create ${file}: ${(e as Error).message}`, cause: e });
    }
    const line = JSON.stringify({ ...header, srcOffset: str(header.srcOffset), dstOffset: str(header.dstOffset), length: str(header.length) });
    fs.writeSync(fd, `${line}\n`);
    fs.fsyncSync(fd);
    return new JournalWriter(fd, file);
  }

  /** Reopen a journal to go on appending (resume). */
  static append(file: string): JournalWriter {
    return new JournalWriter(fs.openSync(file, 'a'), file);
  }

  /** An extent the destination completed (not yet durable: the next checkpoint makes it so). */
  add(offset: bigint, length: bigint, method: CopyMethod): void {
    this.pending.push({ offset, length, method });
    this.pendingBytes += length;
  }

  /** True when a checkpoint is due. */
  get due(): boolean {
    return this.pending.length > 0 && (this.pendingBytes >= CHECKPOINT_BYTES || Date.now() - this.last >= CHECKPOINT_MS);
  }

  /**
   * Flush the destination (so what the lines say is durable), then append and fsync them.
   * One checkpoint at a time; a failure is kept and thrown by `close`.
   */
  checkpoint(flush: () => Promise<unknown>): Promise<void> {
    const run = async () => {
      if (this.pending.length === 0 || this.failure !== undefined) return;
      const lines = this.pending;
      this.pending = [];
      this.pendingBytes = 0n;
      this.last = Date.now();
      try {
        await flush();
        fs.writeSync(this.fd, lines.map((e) => `${JSON.stringify({ offset: str(e.offset), length: str(e.length), method: e.method })}\n`).join(''));
        fs.fsyncSync(this.fd);
      } catch (e) {
        this.failure = e;
      }
    };
    this.busy = this.busy.then(run);
    return this.busy;
  }

  /** Last checkpoint, the closing line, close. Throws what a checkpoint failed with. */
  async close(flush: () => Promise<unknown>, end?: { complete: boolean; synced: boolean }): Promise<void> {
    await this.checkpoint(flush);
    try {
      if (this.failure === undefined && end) {
        fs.writeSync(this.fd, `${JSON.stringify({ done: true, ...end })}\n`);
        fs.fsyncSync(this.fd);
      }
    } finally {
      fs.closeSync(this.fd);
    }
    if (this.failure !== undefined) {
      const msg = this.failure instanceof Error ? this.failure.message : String(this.failure);
      throw new OdxcpError(`--journal ${this.file}: checkpoint failed: ${msg}`, 'JOURNAL', { cause: this.failure });
    }
  }
}

/** The header of a journal for a planned copy. */
export async function journalHeader(pair: OpenedPair, details: PlanDetails, o: CopyOptions): Promise<JournalHeader> {
  const p = details.plan;
  const dev = async (d: ScsiDevice, bs: number): Promise<JournalDevice> => ({ path: d.path, naa: (await d.identity()).naa, blockSize: bs });
  return {
    odxcp: 'journal',
    version: JOURNAL_VERSION,
    createdAt: new Date().toISOString(),
    src: await dev(pair.src, p.src.blockSize),
    dst: await dev(pair.dst, p.dst.blockSize),
    srcOffset: p.srcOffset,
    dstOffset: p.dstOffset,
    length: p.length,
    mode: o.mode ?? 'auto',
    sync: o.sync ?? true,
  };
}

/** Read a journal: its header, the merged confirmed extents, whether the copy finished. */
export function readJournal(file: string): JournalContents {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DeviceError({ path: file, code: (e as NodeJS.ErrnoException).code ?? 'EIO', message: `${file}: cannot read the journal: ${(e as Error).message}`, cause: e });
  }
  const lines = text.split('\n');
  const bad = (n: number, why: string) => new OdxcpError(`${file}: line ${n}: ${why}`, 'BAD_JOURNAL');
  let header: JournalHeader | undefined;
  const extents: CopiedExtent[] = [];
  let done = false;
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(line) as Record<string, unknown>;
    } catch {
      // A crash can cut the last line short: it was never fsync'd as a whole, so it never counted.
      if (i >= lines.length - 2) break;
      throw bad(i + 1, 'not JSON');
    }
    if (i === 0) {
      if (j.odxcp !== 'journal') throw bad(1, 'not an odxcp journal');
      if (j.version !== JOURNAL_VERSION) throw bad(1, `journal version ${String(j.version)}, this odxcp reads ${JOURNAL_VERSION}`);
      const dev = (d: unknown): JournalDevice => {
        const x = d as JournalDevice;
        if (!x || typeof x.path !== 'string' || !Number.isSafeInteger(x.blockSize)) throw bad(1, 'src/dst are not devices');
        return { path: x.path, naa: typeof x.naa === 'string' ? x.naa : undefined, blockSize: x.blockSize };
      };
      header = {
        odxcp: 'journal',
        version: JOURNAL_VERSION,
        createdAt: String(j.createdAt),
        src: dev(j.src),
        dst: dev(j.dst),
        srcOffset: BigInt(String(j.srcOffset)),
        dstOffset: BigInt(String(j.dstOffset)),
        length: BigInt(String(j.length)),
        mode: (j.mode as CopyMode) ?? 'auto',
        sync: j.sync !== false,
      };
      continue;
    }
    if (j.done === true) {
      done = true;
      continue;
    }
    const offset = BigInt(String(j.offset));
    const length = BigInt(String(j.length));
    if (offset < 0n || length <= 0n || !header || offset + length > header.length) throw bad(i + 1, 'extent outside the copy');
    extents.push({ offset, length, method: j.method as CopyMethod });
  }
  if (!header) throw bad(1, 'no header');
  return { header, extents: merge(extents), done };
}

/** Sorted, adjacent runs of one method joined (the journal's extents never overlap). */
export function merge(xs: CopiedExtent[]): CopiedExtent[] {
  const sorted = [...xs].sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  const out: CopiedExtent[] = [];
  for (const x of sorted) {
    const last = out[out.length - 1];
    if (last && last.method === x.method && x.offset === last.offset + last.length) last.length += x.length;
    else out.push({ ...x });
  }
  return out;
}

/** The ranges of [0, length) no extent covers. */
export function gaps(extents: CopiedExtent[], length: bigint): Array<{ offset: bigint; length: bigint }> {
  const out: Array<{ offset: bigint; length: bigint }> = [];
  let at = 0n;
  for (const e of merge(extents)) {
    // (sorted by offset; overlapping runs only move `at` on)
    if (e.offset > at) out.push({ offset: at, length: e.offset - at });
    if (e.offset + e.length > at) at = e.offset + e.length;
  }
  if (at < length) out.push({ offset: at, length: length - at });
  return out;
}
