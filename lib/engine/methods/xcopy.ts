// EXTENDED COPY (LID1): one parameter list per command, two 0xE4 identification CSCD
// descriptors (source, destination) and block->block 0x02 segments within the copy
// manager's limits (reference 5.2-5.6, 7.6). The command returns when the copy is done, so
// GOOD means every segment of the list was copied.
import * as cmds from '../../scsi/commands';
import type { IdentificationCscdInput, ListIdUsage } from '../../native';
import type { ScsiTransport } from '../../scsi/transport';
import { nextListId1 } from '../ids';
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
  constructor(private readonly o: XcopyMethodOptions) {}

  async run(range: Range, ctx: MethodContext): Promise<void> {
    const sbs = BigInt(ctx.srcBlockSize);
    const dbs = BigInt(ctx.dstBlockSize);
    const target: ScsiTransport = this.o.on === 'src' ? ctx.src : ctx.dst;
    let pos = range.offset;
    const end = range.offset + range.length;
    try {
      while (pos < end) {
        if (ctx.aborted()) throw new StopRequested();
        const n = min(end - pos, this.o.commandBytes);
        const segments = [];
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
        const listId = this.o.listIdUsage === 'none' ? 0 : (this.o.listId ?? nextListId1());
        try {
          await cmds.extendedCopyLid1(target, {
            listId,
            listIdUsage: this.o.listIdUsage,
            cscds: [this.o.source, this.o.destination],
            segments,
            timeoutMs: ctx.timeoutMs,
          });
        } catch (e) {
          // With a list id the copy manager keeps the list's status: ask how many segments
          // completed before the failure (RECEIVE COPY RESULTS, COPY STATUS; reference 5.6).
          const ok = this.o.listIdUsage === 'none' ? 0 : await completedSegments(target, listId, segments.length);
          if (ok > 0) {
            let bytes = 0n;
            for (let i = 0; i < ok; i++) bytes += BigInt(segments[i]!.blocks) * sbs;
            ctx.account.record(pos, bytes, 'xcopy');
            pos += bytes;
          }
          throw e;
        }
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
