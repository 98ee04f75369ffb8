// The chunk loop. The copy is cut into chunks (one token or one EXTENDED COPY command each);
// up to maxInFlight run at once. A method that stops part-way says how far it got; the loop
// retries what may succeed, hands the rest of the chunk (or of the whole copy) to the host
// path from that exact offset, and stops with an exact account when even that fails.
import * as cmds from '../scsi/commands';
import { flushRange, type FlushForm } from './flush';
import { ScsiError } from '../scsi/errors';
import { AbortedError, MiscompareError, OdxcpError } from '../errors';
import { Account } from './account';
import { classify, isPathError, neverReachedTarget } from './reactions';
import { failoverOf, type PathFailover } from '../device/paths';
import { ListUnconfirmedError, NoPathLeftError, PathUnconfirmedError, type UnconfirmedRange } from './failover';
import { HostMethod } from './methods/host';
import { TokenMethod, type SharedTokens } from './methods/token';
import { JournalWriter, journalHeader } from './journal';
import { XcopyMethod } from './methods/xcopy';
import { CountingTransport, MethodError, StopRequested, type CopyMethodImpl, type MethodContext } from './methods/context';
import { rememberFailure } from './pair-cache';
import { openPair, planPair, type OpenedPair, type PlanDetails } from './plan';
import { cutPieces, planSparse, type SparsePlan } from './sparse';
import { copyCuts, SideMap, splitAtCuts } from './layout';
import { CopyError, methodOf, stopLine } from './result';
import { runSpanning, spans } from './span';
import { zeroRange, ZeroError, type ZeroProgress } from '../tokens/zero';
import type { TokenTarget } from '../tokens/token-ops';
import type { CopyMethod, CopyOptions, CopyPlan, CopyProgress, CopyResult, FallbackRecord } from './types';

const MAX_RETRIES_PER_CHUNK = 2;
/** Path switches one chunk may make (a path that flaps must not loop forever). */
const MAX_PATH_SWITCHES_PER_CHUNK = 4;
/**
 * How long a failed path's nexus may take to be seen ending before its list is unconfirmed:
 * open-iscsi notices a silent connection by its NOP-Out (5 s interval + 5 s timeout by
 * default), and a dropped one a moment after commands on the offline device already fail.
 */
const NEXUS_END_WAIT_MS = 15_000;
/** Bytes one zeroing job covers (zeroing runs in the same workers as the copy chunks). */
const ZERO_PIECE_BYTES = 256n * 1024n * 1024n;
/**
 * A dead token that was partly used is re-populated from where it stopped; each time the copy
 * moved on, so this bound only stops an array that kills every token early. Bounded apart from
 * the retries so a copy of many tokens against a short-lived-token array stays offloaded.
 */
const MAX_REPOPULATES_PER_CHUNK = 16;

function senseOf(e: unknown): FallbackRecord['sense'] {
  if (e instanceof ScsiError && e.senseKey !== undefined && e.asc !== undefined && e.ascq !== undefined) {
    return { key: e.senseKey, asc: e.asc, ascq: e.ascq, name: e.ascName ?? '' };
  }
  return undefined;
}

export interface RunOptions {
  /** Test hook: replace the methods (unit tests of the loop with scripted methods). */
  methods?: { offload?: CopyMethodImpl; host: CopyMethodImpl };
  /** Tokens shared with the other destinations of a fan-out (copyMany). */
  tokens?: SharedTokens;
  /** Journal every confirmed extent (offsets + `base`), in flushed checkpoints. */
  journal?: { writer: JournalWriter; base: bigint };
}

/** How the end of a copy went beyond its data: the flush, and what the caller should know. */
interface Closing {
  synced: boolean;
  syncForm?: FlushForm;
  warnings: string[];
}

function makeResult(plan: CopyPlan, account: Account, started: number, closing: Closing, sparse: CopyResult['sparse'], verified?: boolean, unconfirmed: readonly UnconfirmedRange[] = []): CopyResult {
  const offloaded = account.byMethod.odx + account.byMethod.xcopy;
  const host = account.byMethod.host;
  const method = methodOf(account.byMethod, plan.method);
  return {
    src: plan.src.path,
    dst: plan.dst.path,
    srcOffset: plan.srcOffset,
    dstOffset: plan.dstOffset,
    bytes: account.bytes,
    length: plan.length,
    copiedBytes: account.copied,
    zeroedBytes: account.zeroed,
    skippedBytes: account.skipped,
    sparse,
    offloadedBytes: offloaded,
    hostBytes: host,
    byMethod: { ...account.byMethod },
    method,
    plannedMethod: plan.method,
    fallbacks: account.fallbacks,
    pathSwitches: account.pathSwitches,
    ...(unconfirmed.length ? { unconfirmed: [...unconfirmed].sort((a, b) => (a.offset < b.offset ? -1 : 1)).map(({ offset, length, node }) => ({ offset, length, node })) } : {}),
    extents: account.extents(),
    commands: { ...account.commands },
    hostDataBytes: account.hostDataBytes,
    elapsedMs: Date.now() - started,
    verified,
    truncations: account.truncations,
    synced: closing.synced,
    ...(closing.syncForm ? { syncForm: closing.syncForm } : {}),
    ...(closing.warnings.length ? { warnings: [...closing.warnings] } : {}),
    contiguousBytes: account.contiguousFromStart(),
  };
}

export { CopyError, stopLine };

/**
 * Run a planned copy on an opened pair. A side over several LUNs: each LUN pair's run is a copy
 * of its own on the side's parts (span.ts), its account merged into this one.
 */
export async function runPlanned(pair: OpenedPair, details: PlanDetails, o: CopyOptions, run: RunOptions = {}): Promise<CopyResult> {
  if (spans(pair)) return runSpanning(pair, details, o, run, runPlanned);
  const plan = details.plan;
  const started = Date.now();
  const account = new Account();
  let stop: 'abort' | 'fatal' | undefined;
  // Fires on any stop (the caller's abort, or a fatal error of one chunk): the other chunks
  // stop between commands, and what the arrays are running is aborted and waited for.
  const stopping = new AbortController();
  const closing: Closing = { synced: false, warnings: [] };
  const ctx: MethodContext = {
    src: new CountingTransport(pair.src, account),
    dst: new CountingTransport(pair.dst, account),
    srcData: new CountingTransport(pair.src.data ?? pair.src, account),
    dstData: new CountingTransport(pair.dst.data ?? pair.dst, account),
    srcBase: plan.srcOffset,
    dstBase: plan.dstOffset,
    srcBlockSize: plan.src.blockSize,
    dstBlockSize: plan.dst.blockSize,
    account,
    timeoutMs: o.timeoutMs,
    signal: stopping.signal,
  };
  // Layered devices: every chunk lies in one extent on each side; its methods see LUN offsets.
  const srcMap = new SideMap(pair.src.layout, plan.srcOffset);
  const dstMap = new SideMap(pair.dst.layout, plan.dstOffset);
  const layered = srcMap.layered || dstMap.layered;
  const cuts = copyCuts(plan.length, srcMap, dstMap);
  const ctxFor = (offset: bigint): MethodContext => (layered ? { ...ctx, srcBase: srcMap.baseAt(offset), dstBase: dstMap.baseAt(offset) } : ctx);
  const host = run.methods?.host ?? new HostMethod({ transferBytes: plan.hostTransferBytes, depth: details.hostDepth });
  let offload: CopyMethodImpl | undefined = run.methods?.offload;
  if (!offload && plan.method === 'odx') {
    offload = new TokenMethod({
      tokenBytes: details.tokenBytes,
      inactivityTimeout: 0,
      effectiveInactivitySeconds: details.inactivityTimeout,
      tokenLifetimeSeconds: details.tokenLifetime,
      tokens: run.tokens,
    });
  } else if (!offload && plan.method === 'xcopy' && details.xcopy) {
    offload = new XcopyMethod(details.xcopy);
  }
  let current: CopyMethodImpl = plan.method === 'host' || !offload ? host : offload;
  const fallback = o.fallback ?? true;

  // ---- progress: emitted after the account changed, never from inside it, so a listener
  // cannot disturb what the methods record. One that throws is reported once and detached.
  const interval = o.progressIntervalMs ?? 200;
  let listener = o.onProgress;
  let lastEmit = 0;
  let scheduled: NodeJS.Immediate | undefined;
  const emit = () => {
    scheduled = undefined;
    if (!listener) return;
    lastEmit = Date.now();
    const p: CopyProgress = {
      bytesDone: account.bytes,
      copiedBytes: account.copied,
      zeroedBytes: account.zeroed,
      skippedBytes: account.skipped,
      totalBytes: plan.length,
      byMethod: { ...account.byMethod },
      elapsedMs: lastEmit - started,
      method: current.name,
    };
    try {
      listener(p);
    } catch (e) {
      listener = undefined;
      closing.warnings.push(`the progress listener threw and was detached: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  account.onChange = () => {
    if (listener && !scheduled && Date.now() - lastEmit >= interval) scheduled = setImmediate(emit);
  };

  // ---- journal: extents as they are confirmed, written in checkpoints that flush first
  const dbsJ = BigInt(plan.dst.blockSize);
  // The destination's LUN ranges, each flushed (one range for a plain LUN). A flush is the
  // LUN's, whatever the nexus: one whose path failed is sent again on the next path.
  /**
   * Move `side` off the path `from` (failed with `cause`) and record the switch at `at`. Throws
   * NoPathLeftError when no usable path is left (none up, or the one chosen would not open).
   */
  const moveOff = async (side: 'src' | 'dst', f: PathFailover, from: string, reason: string, cause: unknown, at: bigint): Promise<void> => {
    let mv;
    try {
      mv = await f.switchPath(from, reason);
    } catch (e) {
      throw new NoPathLeftError(side, from, e, cause);
    }
    if (!mv) throw new NoPathLeftError(side, from, undefined, cause);
    if (mv.switched) account.pathSwitches.push({ side, from: mv.from, to: mv.to, atOffset: at, reason });
  };
  const dstFailover = failoverOf(pair.dst);
  const flushOne = async (lba: bigint, blocks: bigint) => {
    for (let switches = 0; ; switches++) {
      const from = dstFailover?.commandNode;
      try {
        return await flushRange(ctx.dst, lba, blocks, { timeoutMs: o.timeoutMs });
      } catch (e) {
        if (!dstFailover || from === undefined || !isPathError(e) || switches >= MAX_PATH_SWITCHES_PER_CHUNK) throw e;
        if (dstFailover.commandNode === from && !dstFailover.pathFailed()) throw e;
        const msg = e instanceof Error ? e.message : String(e);
        await moveOff('dst', dstFailover, from, msg.startsWith('SYNCHRONIZE CACHE') ? msg : `SYNCHRONIZE CACHE: ${msg}`, e, plan.length);
      }
    }
  };
  const flushAll = async () => {
    let last: Awaited<ReturnType<typeof flushRange>> | undefined;
    for (const r of dstMap.ranges(0n, plan.length)) last = await flushOne(r.lunOffset / dbsJ, r.length / dbsJ);
    return last as Awaited<ReturnType<typeof flushRange>>;
  };
  const journal = run.journal;
  let checkpoints: Promise<void> = Promise.resolve();
  if (journal) {
    account.onRecord = (off, len, m) => {
      journal.writer.add(journal.base + off, len, m);
      if (journal.writer.due) checkpoints = journal.writer.checkpoint(flushAll);
    };
  }

  // ---- abort: stop scheduling; the methods abort their lists and wait until they stopped
  const onAbort = () => {
    if (stop) return;
    stop = 'abort';
    stopping.abort();
  };
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort);

  let fatal: unknown;
  const chunkBytes = plan.chunkBytes;

  // ---- path failover (docs/path-failover.md): a layered side whose path failed moves to another
  const sides = ([['src', failoverOf(pair.src)], ['dst', failoverOf(pair.dst)]] as const).filter((x): x is readonly ['src' | 'dst', PathFailover] => x[1] !== undefined);
  // Ranges a list may still be writing (docs/path-failover.md): left alone, never counted; the
  // copy goes on with its other chunks and ends with PATH_UNCONFIRMED naming them.
  const unconfirmed: UnconfirmedRange[] = [];
  let unconfirmedCause: unknown;
  const leaveUnconfirmed = (r: UnconfirmedRange, cause: unknown) => {
    unconfirmed.push(r);
    unconfirmedCause ??= cause;
  };
  /**
   * After a path error: switch every side whose path failed (or was switched by another worker
   * since `nodes` was taken). 'none' when no side's path failed (not a path failure then);
   * 'unconfirmed' with the node when the rule forbids re-driving the range (the path is
   * switched all the same, for the other chunks). Throws NoPathLeftError when a failed side has
   * no usable path left.
   */
  const failOver = async (cause: unknown, nodes: ReadonlyMap<string, string>, m: CopyMethodImpl, pos: bigint): Promise<'switched' | 'none' | { unconfirmed: string }> => {
    const failed = sides.filter(([side, f]) => f.commandNode !== nodes.get(side) || f.pathFailed());
    if (failed.length === 0) return 'none';
    const reason = cause instanceof Error ? cause.message : String(cause);
    const failedOn = (cause as { node?: string } | undefined)?.node;
    let unsafeOn: string | undefined;
    for (const [side, f] of failed) {
      const from = nodes.get(side) as string;
      // The rule: re-drive only when no list of the old nexus can still write the range.
      const safe =
        m === host || // READ/WRITE of the same bytes again
        (m.name === 'odx' && side === 'src') || // a source's token lists only read
        // A side whose command did not fail has no list of this chunk in flight: a chunk runs
        // one list at a time (POPULATE TOKEN, then its writes; one EXTENDED COPY at a time).
        (failedOn !== undefined && failedOn !== from) ||
        (failedOn === from && neverReachedTarget(cause) && isListOpener(cause)) || // refused before it left the host
        (await f.nexusGone(from, NEXUS_END_WAIT_MS)); // the session ended: the target aborted its tasks
      if (!safe) unsafeOn = from;
      await moveOff(side, f, from, reason, cause, pos); // no path left: stop with the exact account
    }
    return unsafeOn === undefined ? 'switched' : { unconfirmed: unsafeOn };
  };

  const processChunk = async (offset: bigint, length: bigint) => {
    let pos = offset;
    const end = offset + length;
    let m = current;
    let retries = 0;
    let repopulates = 0;
    let previous: unknown;
    let switches = 0;
    const cctx = ctxFor(offset);
    while (pos < end) {
      if (stop) throw new StopRequested();
      const nodes = new Map(sides.map(([side, f]) => [side, f.commandNode]));
      try {
        await m.run({ offset: pos, length: end - pos }, cctx);
        pos = end;
      } catch (e) {
        if (e instanceof StopRequested) throw e;
        if (!(e instanceof MethodError)) throw e;
        pos += e.progress;
        // A failure during a stop is the stop's doing (our own abort), not the target's: no
        // fallback, no pair remembered as unable to offload.
        if (stop) throw new StopRequested();
        let decision = classify(e.cause, previous);
        previous = e.cause;
        if (decision === 'unconfirmed') {
          // The list's fate could not be learned on its nexus: this chunk ends here.
          const u = e.cause instanceof ListUnconfirmedError ? e.cause : undefined;
          leaveUnconfirmed({ offset: pos, length: end - pos, node: u?.node ?? '', why: e.cause instanceof Error ? e.cause.message : String(e.cause) }, u?.cause ?? e.cause);
          return;
        }
        if (decision === 'path') {
          // Re-driven from the last confirmed offset on the new path (a new list id; a token
          // method populates again). Without a failed path it is a transport error as before.
          const moved = switches < MAX_PATH_SWITCHES_PER_CHUNK ? await failOver(e.cause, nodes, m, pos) : 'none';
          if (moved === 'switched') {
            switches++;
            continue;
          }
          if (moved !== 'none') {
            // A list of the old nexus may still write the rest of this chunk: it ends here; the
            // other chunks go on on the new path.
            const reason = e.cause instanceof Error ? e.cause.message : String(e.cause);
            leaveUnconfirmed({ offset: pos, length: end - pos, node: moved.unconfirmed, why: `path ${moved.unconfirmed} failed with a copy list in flight (${reason})` }, e.cause);
            return;
          }
          decision = 'fallback-chunk';
        }
        if (m === host) throw e.cause; // the buffered path failed too: stop with the account
        if (decision === 'repopulate') {
          if (e.progress > 0n && repopulates < MAX_REPOPULATES_PER_CHUNK) {
            repopulates++;
            continue;
          }
          decision = 'retry';
        }
        if (decision === 'retry' && retries < MAX_RETRIES_PER_CHUNK) {
          retries++;
          continue;
        }
        if (decision === 'retry') decision = 'fallback-chunk';
        if (decision === 'fatal' || !fallback) throw e.cause;
        const wholeCopy = decision === 'fallback-copy';
        if (pos >= end && !wholeCopy) continue; // the failed list had done the whole chunk: nothing to fall back
        const reason = e.cause instanceof Error ? e.cause.message : String(e.cause);
        account.fallbacks.push({ offset: pos, length: end - pos, from: m.name as 'odx' | 'xcopy', reason, sense: senseOf(e.cause), wholeCopy });
        if (wholeCopy) {
          rememberFailure(details.srcKey, details.dstKey, m.name, reason);
          current = host;
        }
        m = host;
        retries = 0;
      }
    }
  };

  // ---- the pieces: copy chunks, and on a thin source the deallocated ranges to zero or skip
  const sparseMode = o.sparse ?? 'auto';
  let sparsePlan: SparsePlan = { used: false, reason: 'not planned', pieces: [{ offset: 0n, length: plan.length, action: 'copy' }] };
  if (layered) sparsePlan = { ...sparsePlan, reason: 'a layered device (partition, dm volume or map): every byte is copied' };
  else {
    try {
      sparsePlan = await planSparse({
        mode: sparseMode,
        src: ctx.src,
        dst: ctx.dst,
        srcProvisioning: details.srcCaps?.provisioning,
        dstProvisioning: details.dstCaps?.provisioning,
        srcOffset: plan.srcOffset,
        dstOffset: plan.dstOffset,
        length: plan.length,
        srcBlockSize: plan.src.blockSize,
        dstBlockSize: plan.dst.blockSize,
        timeoutMs: o.timeoutMs,
      });
    } catch (e) {
      if (!stop) {
        stop = 'fatal';
        fatal = e;
      }
    }
  }
  const sparseInfo = { mode: sparseMode, used: sparsePlan.used, reason: sparsePlan.reason };
  const queue = splitAtCuts(cutPieces(sparsePlan.pieces, (a) => (a === 'copy' ? chunkBytes : ZERO_PIECE_BYTES)), cuts);
  if (!stop) for (const p of queue) if (p.action === 'skip') account.record(p.offset, p.length, 'skip');
  const work = queue.filter((p) => p.action !== 'skip');
  let next = 0;

  // Zeroing's ladder on the destination, each confirmed step recorded as it lands.
  const dstTarget: TokenTarget = {
    path: pair.dst.path,
    command: (c, opts) => ctx.dst.command(c, opts),
    capacity: () => pair.dst.capacity(),
    capabilities: () => pair.dst.capabilities(),
    queueLimits: () => pair.dst.queueLimits?.(),
  };
  const zeroPiece = async (offset: bigint, length: bigint) => {
    let recorded = 0n;
    const upTo = (bytes: bigint) => {
      if (bytes > recorded) account.record(offset + recorded, bytes - recorded, 'zero');
      recorded = bytes > recorded ? bytes : recorded;
    };
    try {
      const r = await zeroRange({ device: dstTarget, offset: plan.dstOffset + offset, length, sync: false, timeoutMs: o.timeoutMs, signal: stopping.signal, onProgress: (p: ZeroProgress) => upTo(p.bytesDone) });
      upTo(r.bytes);
    } catch (e) {
      if (e instanceof ZeroError) upTo(e.result.bytes);
      if (stop) throw new StopRequested();
      throw e;
    }
  };

  const worker = async () => {
    while (!stop && next < work.length) {
      const p = work[next++] as (typeof work)[number];
      try {
        if (p.action === 'zero') await zeroPiece(p.offset, p.length);
        else await processChunk(p.offset, p.length);
      } catch (e) {
        if (e instanceof StopRequested) return;
        if (!stop) {
          stop = 'fatal';
          fatal = e;
          stopping.abort();
        }
        return;
      }
    }
  };

  try {
    // Every worker returns only when its chunk's commands have ended and its lists stopped.
    await Promise.all(Array.from({ length: plan.maxInFlight }, worker));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (scheduled) clearImmediate(scheduled);
    account.onChange = undefined;
    account.onRecord = undefined;
    await checkpoints;
  }

  // ---- flush what was written (also after a stop, so the reported extents are durable)
  let syncError: unknown;
  if ((o.sync ?? true) && account.bytes > 0n) {
    try {
      const f = await flushAll();
      closing.synced = true;
      closing.syncForm = f.form;
    } catch (e) {
      syncError = e;
    }
  }
  emit();
  // What is left for the journal: durable now if the flush above was done, else flushed here.
  if (journal) await journal.writer.checkpoint(closing.synced ? async () => undefined : flushAll);

  if (stop === 'abort') {
    const r = makeResult(plan, account, started, closing, sparseInfo, undefined, unconfirmed);
    throw new CopyError(stopLine('copy aborted', r), 'ABORTED', r, new AbortedError('copy aborted by the caller'));
  }
  if (stop === 'fatal') {
    const r = makeResult(plan, account, started, closing, sparseInfo, undefined, unconfirmed);
    const msg = fatal instanceof Error ? fatal.message : String(fatal);
    throw new CopyError(`${stopLine('copy failed', r)}: ${msg}`, fatal instanceof OdxcpError ? fatal.code : 'COPY_FAILED', r, fatal);
  }
  if (syncError !== undefined) {
    const r = makeResult(plan, account, started, closing, sparseInfo, undefined, unconfirmed);
    const msg = syncError instanceof Error ? syncError.message : String(syncError);
    throw new CopyError(`copy written but not flushed: SYNCHRONIZE CACHE failed on ${plan.dst.path}: ${msg}`, syncError instanceof OdxcpError ? syncError.code : 'SYNC_FAILED', r, syncError);
  }
  if (unconfirmed.length > 0) {
    const r = makeResult(plan, account, started, closing, sparseInfo, undefined, unconfirmed);
    const u = new PathUnconfirmedError([...unconfirmed].sort((a, b) => (a.offset < b.offset ? -1 : 1)), unconfirmedCause);
    throw new CopyError(`${stopLine('copy incomplete', r)}: ${u.message}`, u.code, r, u);
  }

  let verified: boolean | undefined;
  if (o.verify) {
    const diff = await compareRanges(pair, plan);
    if (diff !== undefined) {
      const r = makeResult(plan, account, started, closing, sparseInfo, false);
      throw new CopyError(`verify: destination differs from source at byte ${diff} of the copy`, 'MISCOMPARE', r, new MiscompareError({ message: `first difference at byte ${diff} of the copy`, offset: diff }));
    }
    verified = true;
  }
  return makeResult(plan, account, started, closing, sparseInfo, verified);
}

/** Re-read both ranges and compare; the offset of the first difference, or undefined. */
export async function compareRanges(pair: OpenedPair, plan: CopyPlan, step = 4 << 20): Promise<bigint | undefined> {
  const sbs = plan.src.blockSize;
  const dbs = plan.dst.blockSize;
  const unit = BigInt(sbs * dbs);
  let chunk = BigInt(Math.min(step, plan.hostTransferBytes * 4));
  chunk -= chunk % unit || 0n;
  if (chunk <= 0n) chunk = unit;
  const srcMap = new SideMap(pair.src.layout, plan.srcOffset);
  const dstMap = new SideMap(pair.dst.layout, plan.dstOffset);
  for (let off = 0n; off < plan.length; off += chunk) {
    const len = plan.length - off < chunk ? plan.length - off : chunk;
    const n = Number(len);
    // Within one piece keep each READ under the transfer limit, and inside one extent per side.
    const pieces: Array<Promise<[Buffer, Buffer]>> = [];
    for (let p = 0; p < n; ) {
      const s = srcMap.at(off + BigInt(p));
      const d = dstMap.at(off + BigInt(p));
      const room = s.room < d.room ? s.room : d.room;
      const l = Math.min(plan.hostTransferBytes, n - p, Number(room < BigInt(n) ? room : BigInt(n)));
      const so = s.lunOffset;
      const dO = d.lunOffset;
      p += l;
      pieces.push(
        Promise.all([
          cmds.read16(pair.src.data ?? pair.src, { lba: so / BigInt(sbs), blocks: l / sbs, blockSize: sbs }),
          cmds.read16(pair.dst.data ?? pair.dst, { lba: dO / BigInt(dbs), blocks: l / dbs, blockSize: dbs }),
        ]),
      );
    }
    const got = await Promise.all(pieces);
    let p = 0;
    for (const [a, b] of got) {
      if (!a.equals(b)) {
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return off + BigInt(p + i);
      }
      p += a.length;
    }
  }
  return undefined;
}

/** Probe both LUNs and decide how the copy would run; nothing is written. */
export async function planCopy(o: CopyOptions): Promise<CopyPlan> {
  const pair = await openPair({ src: o.src, dst: o.dst });
  try {
    return (await planPair(pair, o)).plan;
  } finally {
    await pair.close();
  }
}

/** Copy a range; resolves with the account, or rejects with CopyError / UsageError / DeviceError. */
export async function copy(o: CopyOptions): Promise<CopyResult> {
  const pair = await openPair(o);
  try {
    const details = await planPair(pair, o);
    if (!o.journal) return await runPlanned(pair, details, o);
    return await runJournalled(pair, details, o, JournalWriter.create(o.journal, await journalHeader(pair, details, o)));
  } finally {
    await pair.close();
  }
}

/** runPlanned with every confirmed extent journalled; the journal is closed (and says so when done). */
export async function runJournalled(pair: OpenedPair, details: PlanDetails, o: CopyOptions, writer: JournalWriter, run: Omit<RunOptions, 'journal'> = {}): Promise<CopyResult> {
  let r: CopyResult;
  try {
    r = await runPlanned(pair, details, o, { ...run, journal: { writer, base: 0n } });
  } catch (e) {
    await writer.close(async () => undefined).catch(() => undefined);
    throw e;
  }
  await writer.close(async () => undefined, { complete: r.bytes === r.length, synced: r.synced });
  return r;
}

export type { CopyMethod };

/** The command that opens a list (POPULATE TOKEN, WRITE USING TOKEN, EXTENDED COPY): refused, no list exists. */
function isListOpener(e: unknown): boolean {
  return (e as { opcode?: number }).opcode === 0x83;
}
