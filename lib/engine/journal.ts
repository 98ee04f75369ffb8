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
//    "srcOffset":"0","dstOffset":"0","length":"268435456","mode":"auto","sparse":"auto","sync":true}
//   {"offset":"0","length":"8388608","method":"odx"}          (relative to the copy's start;
//                                     method odx/xcopy/host, or zero/skip for a thin source's holes)
//   {"done":true,"complete":true,"synced":true}
// Byte counts are decimal strings (they may pass 2^53).
//
// A fan-out or a batch journals each pair in a journal of its own, FILE.1, FILE.2... (one per
// destination / pair, in order), all created with their headers before any pair starts; FILE
// itself is the set, one JSON line:
//   {"odxcp":"journal-set","version":1,"createdAt":"…","kind":"fanout","members":["FILE.1",…]}
// (member names relative to FILE's directory).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ScsiDevice } from '../device/device';
import { DeviceError, OdxcpError, UsageError } from '../errors';
import type { OpenedPair, PlanDetails } from './plan';
import type { SparseMode } from './sparse';
import type { CopiedExtent, CopyMode, CopyOptions, ExtentKind } from './types';

export const JOURNAL_VERSION = 1;
/** A checkpoint at least this often: bytes confirmed since the last one, or time. */
export const CHECKPOINT_BYTES = 64n << 20n;
export const CHECKPOINT_MS = 2000;

export interface JournalDevice {
  path: string;
  naa?: string;
  blockSize: number;
  /** A volume over several LUNs: every LUN's id ("naa.<hex>"...), in the stack's order. */
  luns?: string[];
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
  /** The copy's --sparse (journals before it was recorded: auto). */
  sparse: SparseMode;
  sync: boolean;
}

export interface JournalContents {
  header: JournalHeader;
  /** Confirmed extents, merged, relative to the copy's start. */
  extents: CopiedExtent[];
  done: boolean;
}

const str = (v: bigint) => v.toString();

/** Create `file` (never replacing one) holding `line`, fsync'd; returns the open fd. */
function createWithLine(file: string, line: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`--journal: ${file} exists; resume it with \`odxcp resume ${file}\` or remove it`);
    throw new DeviceError({ path: file, code: code ?? 'EIO', message: `--journal: cannot create ${file}: ${(e as Error).message}`, cause: e });
  }
  try {
    fs.writeSync(fd, `${line}\n`);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    throw new DeviceError({ path: file, code: (e as NodeJS.ErrnoException).code ?? 'EIO', message: `--journal: cannot write ${file}: ${(e as Error).message}`, cause: e });
  }
  return fd;
}

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
    const line = JSON.stringify({ ...header, srcOffset: str(header.srcOffset), dstOffset: str(header.dstOffset), length: str(header.length) });
    return new JournalWriter(createWithLine(file, line), file);
  }

  /** Reopen a journal to go on appending (resume). */
  static append(file: string): JournalWriter {
    return new JournalWriter(fs.openSync(file, 'a'), file);
  }

  /** An extent the destination completed (not yet durable: the next checkpoint makes it so). */
  add(offset: bigint, length: bigint, method: ExtentKind): void {
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
  const dev = async (d: ScsiDevice, bs: number): Promise<JournalDevice> => ({ path: d.path, naa: (await d.identity()).naa, blockSize: bs, ...(d.parts && d.layout ? { luns: d.layout.stack.luns.map((l) => l.id) } : {}) });
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
    sparse: o.sparse ?? 'auto',
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
      if (j.odxcp === 'journal-set') throw bad(1, 'a journal set (fan-out or batch): resume it as a whole');
      if (j.odxcp !== 'journal') throw bad(1, 'not an odxcp journal');
      if (j.version !== JOURNAL_VERSION) throw bad(1, `journal version ${String(j.version)}, this odxcp reads ${JOURNAL_VERSION}`);
      const dev = (d: unknown): JournalDevice => {
        const x = d as JournalDevice;
        if (!x || typeof x.path !== 'string' || !Number.isSafeInteger(x.blockSize)) throw bad(1, 'src/dst are not devices');
        if (x.luns !== undefined && !(Array.isArray(x.luns) && x.luns.every((l) => typeof l === 'string'))) throw bad(1, 'luns is not a list of LUN ids');
        return { path: x.path, naa: typeof x.naa === 'string' ? x.naa : undefined, blockSize: x.blockSize, ...(x.luns ? { luns: x.luns } : {}) };
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
        sparse: j.sparse === 'never' ? 'never' : 'auto',
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
    extents.push({ offset, length, method: j.method as ExtentKind });
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

// ---- journal sets (fan-out, batch)

export type JournalSetKind = 'fanout' | 'batch';

export interface JournalSet {
  kind: JournalSetKind;
  /** The members' paths (resolved against the set file's directory), in pair order. */
  members: string[];
}

/** The member journal paths of a set file (FILE.1, FILE.2, ...). */
export function journalSetMembers(file: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${file}.${i + 1}`);
}

/**
 * Create a journal set: the set file, then one member journal per pair with its header, all
 * before any pair starts (so a crash at any point leaves every pair resumable). Refuses to
 * replace any file. Returns the writers, in pair order.
 */
export function createJournalSet(file: string, kind: JournalSetKind, headers: JournalHeader[]): JournalWriter[] {
  const members = journalSetMembers(file, headers.length);
  for (const m of members) {
    if (fs.existsSync(m)) throw new UsageError(`--journal: ${m} exists (a member of an earlier journal set?); remove it or choose another FILE`);
  }
  const line = JSON.stringify({ odxcp: 'journal-set', version: JOURNAL_VERSION, createdAt: new Date().toISOString(), kind, members: members.map((m) => path.basename(m)) });
  fs.closeSync(createWithLine(file, line));
  return headers.map((h, i) => JournalWriter.create(members[i]!, h));
}

/** Read a journal file's first line: a set (its members), or undefined for a single-copy journal. */
export function readJournalSet(file: string): JournalSet | undefined {
  let first: string;
  try {
    first = fs.readFileSync(file, 'utf8').split('\n')[0] ?? '';
  } catch (e) {
    throw new DeviceError({ path: file, code: (e as NodeJS.ErrnoException).code ?? 'EIO', message: `${file}: cannot read the journal: ${(e as Error).message}`, cause: e });
  }
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(first) as Record<string, unknown>;
  } catch {
    return undefined; // readJournal says what is wrong with it
  }
  if (j.odxcp !== 'journal-set') return undefined;
  const bad = (why: string) => new OdxcpError(`${file}: line 1: ${why}`, 'BAD_JOURNAL');
  if (j.version !== JOURNAL_VERSION) throw bad(`journal version ${String(j.version)}, this odxcp reads ${JOURNAL_VERSION}`);
  if (j.kind !== 'fanout' && j.kind !== 'batch') throw bad('kind is not fanout or batch');
  const members = j.members;
  if (!Array.isArray(members) || members.length === 0 || !members.every((m) => typeof m === 'string' && m !== '' && path.basename(m) === m)) {
    throw bad('members are not file names');
  }
  return { kind: j.kind, members: members.map((m: string) => path.join(path.dirname(file), m)) };
}
