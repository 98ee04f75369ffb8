// EXTENDED COPY (LID1): one parameter list per command, two 0xE4 identification CSCD
// descriptors (source, destination) and block->block 0x02 segments within the copy
// manager's limits (reference 5.2-5.6, 7.6). The command returns when the copy is done, so
// GOOD means every segment of the list was copied.
import * as cmds from '../../scsi/commands';
import type { BlockToBlockSegmentInput, IdentificationCscdInput, ListIdUsage } from '../../native';
import type { ScsiTransport } from '../../scsi/transport';
import { guardList, nextListId1 } from '../../tokens/lists';
import { StillInProgressError } from '../../tokens/token-ops';
import { settleLid1List } from '../../tokens/settle';
import { listFateUnknown } from '../reactions';
import { ListUnconfirmedError } from '../failover';
import { MethodError, StopRequested, min, type CopyMethodImpl, type MethodContext, type Range } from './context';

export interface XcopyMethodOptions {
  /** Bytes per EXTENDED COPY command. */
  commandBytes: bigint;
  /** Bytes per segment descriptor (<= 65535 blocks and the copy manager's maximum segment length). */
  segmentBytes: bigint;
  /** Segment descriptors per command. */
  segmentsPerCommand: number;
  source: IdentificationCscdInput;
  destination: IdentificationCscdInput;
  /** The LU that receives the command (the destination by default, as sg_xcopy does). */
  on: 'src' | 'dst';
  listIdUsage: ListIdUsage;
  /** A fixed list id (11b requires 0); undefined: a fresh one per command. */
  listId?: number;
  /** Bound on asking the nexus about a list lost to a transport error (default SETTLE_MS). */
  settleMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Before a fixed list id is used again (a retry, the next command): wait while the copy manager
 * still reports that list in progress (bounded), so two lists never share the id. A target
 * that keeps no status for it (or refuses the query) is taken as idle.
 */
async function listIdle(dev: ScsiTransport, listId: number, boundMs = 30_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const st = await cmds.receiveCopyStatus(dev, listId).catch(() => undefined);
    if (!st || st.copyManagerStatus !== 0x00) return;
    if (Date.now() > deadline) throw new StillInProgressError('EXTENDED COPY', listId, dev.path);
    await sleep(100);
  }
}

/** Segments a failed list completed, per COPY STATUS; 0 when the target cannot say. */
async function completedSegments(dev: ScsiTransport, listId: number, total: number): Promise<number> {
  try {
    const st = await cmds.receiveCopyStatus(dev, listId);
    // Only a finished list's count is final. SEGMENTS PROCESSED may include the segment that
    // failed, so one less is what is surely on the destination (the host redoes the rest).
    if (st.copyManagerStatus === 0x00) return 0;
    return Math.max(0, Math.min(st.segmentsProcessed - 1, total - 1));
  } catch {
    return 0;
  }
}

export class XcopyMethod implements CopyMethodImpl {
  readonly name = 'xcopy' as const;
  /** A fixed list id has been used: the next use waits until that list is idle. */
  private fixedUsed = false;
  constructor(private readonly o: XcopyMethodOptions) {}

  async run(range: Range, ctx: MethodContext): Promise<void> {
    const sbs = BigInt(ctx.srcBlockSize);
    const dbs = BigInt(ctx.dstBlockSize);
    const target: ScsiTransport = this.o.on === 'src' ? ctx.src : ctx.dst;
    let pos = range.offset;
    const end = range.offset + range.length;
    try {
      while (pos < end) {
        if (ctx.signal.aborted) throw new StopRequested();
        const n = min(end - pos, this.o.commandBytes);
        const segments: BlockToBlockSegmentInput[] = [];
        for (let s = 0n; s < n; s += this.o.segmentBytes) {
          const len = min(n - s, this.o.segmentBytes);
          segments.push({
            sourceCscdId: 0,
            destinationCscdId: 1,
            blocks: Number(len / sbs),
            sourceLba: (ctx.srcBase + pos + s) / sbs,
            destinationLba: (ctx.dstBase + pos + s) / dbs,
          });
        }
        const fixed = this.o.listIdUsage !== 'none' && this.o.listId !== undefined;
        const listId = this.o.listIdUsage === 'none' ? 0 : (this.o.listId ?? nextListId1());
        if (fixed && this.fixedUsed) await listIdle(target, listId);
        if (fixed) this.fixedUsed = true;
        // The command returns only when the copy manager is done with the list; an abort
        // meanwhile asks it to stop (a list without an id cannot be named: it runs to its end).
        const guard = this.o.listIdUsage === 'none' ? undefined : guardList(target, listId, ctx.signal);
        const recordSegments = (ok: number) => {
          if (ok <= 0) return;
          let bytes = 0n;
          for (let i = 0; i < ok; i++) bytes += BigInt(segments[i]!.blocks) * sbs;
          ctx.account.record(pos, bytes, 'xcopy');
          pos += bytes;
        };
        try {
          await cmds.extendedCopyLid1(target, {
            listId,
            listIdUsage: this.o.listIdUsage,
            cscds: [this.o.source, this.o.destination],
            segments,
            timeoutMs: ctx.timeoutMs,
          });
        } catch (e) {
          await guard?.release();
          if (listFateUnknown(e, target)) {
            // Lost with the nexus alive: the list may still run. Ask the nexus until it ended
            // (COPY OPERATION ABORT first after a timeout), and count what it did; only then may
            // the range be rewritten (docs/path-failover.md, case 2). A list without an id
            // cannot be asked about: its range is unconfirmed.
            if (this.o.listIdUsage === 'none') throw new ListUnconfirmedError('EXTENDED COPY', undefined, target.path, 'a list without an identifier cannot be asked about', e);
            const st = await settleLid1List(target, listId, e, { boundMs: this.o.settleMs, signal: ctx.signal });
            const ok = st.state === 'none' ? 0 : st.status.copyManagerStatus === 0x01 ? segments.length : Math.max(0, Math.min(st.status.segmentsProcessed - 1, segments.length - 1));
            recordSegments(ok);
            throw e;
          }
          // With a list id the copy manager keeps the list's status: ask how many segments
          // completed before the failure (RECEIVE COPY RESULTS, COPY STATUS; reference 5.6).
          recordSegments(this.o.listIdUsage === 'none' ? 0 : await completedSegments(target, listId, segments.length));
          throw e;
        }
        await guard?.release();
        ctx.account.record(pos, n, 'xcopy');
        pos += n;
      }
    } catch (e) {
      // A failed list may have copied some segments; without RECEIVE COPY RESULTS for it
      // (LIO has none) nothing of it is counted, and the host path redoes the whole list.
      throw e instanceof StopRequested ? e : new MethodError('xcopy', pos - range.offset, e);
    }
  }
}
