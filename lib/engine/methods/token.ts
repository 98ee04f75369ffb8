// Token copy (ODX): POPULATE TOKEN on the source, RECEIVE ROD TOKEN INFORMATION for the ROD
// token and how much it represents, then WRITE USING TOKEN on the destination with OFFSET
// INTO ROD until the ROD is used up (reference 5.8-5.10, 6.3, 7.3-7.6). Every transfer count
// is honoured in its units: a short ROD or a short write is re-driven from where it stopped.
import * as cmds from '../../scsi/commands';
import { ScsiError, categoryForSense } from '../../scsi/errors';
import { isCopyInProgress, type CopyOperationStatusInfo, type RodTokenInformation } from '../../scsi/tpc';
import type { ScsiTransport } from '../../scsi/transport';
import { nextListId4 } from '../ids';
import { MethodError, StopRequested, min, sleep, type CopyMethodImpl, type MethodContext, type Range } from './context';

export interface TokenMethodOptions {
  /** Bytes one POPULATE TOKEN asks for. */
  tokenBytes: bigint;
  /** Seconds asked for in POPULATE TOKEN (0: the device default). */
  inactivityTimeout: number;
  /** The inactivity timeout in force, seconds (what 0 means on this source), for re-populating in time. */
  effectiveInactivitySeconds: number;
  /** Seconds a token lives from its creation whatever its use (0: no limit). */
  tokenLifetimeSeconds?: number;
  /** Poll interval when the target gives no estimate, ms. */
  pollMs?: number;
}

/** Copy operation statuses that mean "done, look at the transfer count" (reference 7.1). */
const COMPLETED_OK = new Set([0x01, 0x03, 0x04]);

/**
 * A status reply that reports failure, as a ScsiError carrying the sense the target put in it
 * (so the engine classifies it like a CHECK CONDITION), or a plain Error when there is none.
 */
function statusFailure(what: string, sa: number, info: CopyOperationStatusInfo): Error {
  const s = info.sense;
  if (s) {
    return new ScsiError({
      command: what,
      opcode: 0x83,
      serviceAction: sa,
      status: info.extendedCopyCompletionStatus || 2,
      category: categoryForSense(s.senseKey, s.asc, s.ascq),
      sense: s,
      rawSense: info.senseData,
    });
  }
  return new Error(`${what}: copy operation status 0x${info.copyOperationStatus.toString(16)} (${info.copyOperationStatusName})`);
}

/**
 * True when a token whose clock started at `since` is within a safety margin of a limit of
 * `seconds` (0: no limit). The margin (a quarter of the limit, 0.5 to 2 s) covers the time
 * the next WRITE USING TOKEN takes to reach the array.
 */
function expiresSoon(since: number, seconds: number): boolean {
  if (seconds <= 0) return false;
  const margin = Math.min(2, Math.max(0.5, seconds / 4));
  return (Date.now() - since) / 1000 > seconds - margin;
}

export class TokenMethod implements CopyMethodImpl {
  readonly name = 'odx' as const;
  /** Largest WRITE USING TOKEN the destination completed in full after a truncation; 0 = unknown. */
  private wutCeiling = 0n;
  /** Writes in a row that did all they asked at the ceiling (to raise it again). */
  private fullAtCeiling = 0;
  /** While a raised ceiling is being tried: the ceiling before it; 0 otherwise. */
  private probeFrom = 0n;
  /** Bytes a token could be used for before it expired, once one did; 0 = no such limit seen. */
  private tokenCeiling = 0n;
  /** IMMED=1 is tried on WRITE USING TOKEN until a target refuses it. */
  private immed = true;

  constructor(private readonly o: TokenMethodOptions) {}

  /** Poll RRTI for a list id until the operation is no longer in progress (reference 7.3). */
  private async rrti(dev: ScsiTransport, listId: number, ctx: MethodContext): Promise<RodTokenInformation> {
    const deadline = Date.now() + (ctx.timeoutMs ?? 600_000);
    for (;;) {
      const info = await cmds.receiveRodTokenInformation(dev, listId);
      if (!isCopyInProgress(info.copyOperationStatus)) return info;
      if (Date.now() > deadline) throw new Error(`RECEIVE ROD TOKEN INFORMATION: list ${listId} still in progress after ${ctx.timeoutMs ?? 600_000} ms`);
      const est = info.estimatedStatusUpdateDelay;
      await sleep(est > 0 && est < 0xfffffffe ? Math.min(Math.max(est, 5), 1000) : (this.o.pollMs ?? 50));
    }
  }

  async run(range: Range, ctx: MethodContext): Promise<void> {
    const sbs = BigInt(ctx.srcBlockSize);
    const dbs = BigInt(ctx.dstBlockSize);
    let pos = range.offset;
    const end = range.offset + range.length;
    // Everything before `cursor` is on the destination (pieces are recorded in order).
    let cursor = range.offset;
    const record = (off: bigint, len: bigint) => {
      ctx.account.record(off, len, 'odx');
      cursor = off + len;
    };
    try {
      while (pos < end) {
        if (ctx.aborted()) throw new StopRequested();
        // ---- POPULATE TOKEN for as much of the rest as one token may represent
        const want = min(end - pos, this.tokenCeiling > 0n ? min(this.tokenCeiling, this.o.tokenBytes) : this.o.tokenBytes);
        const ptId = nextListId4();
        const srcLba = (ctx.srcBase + pos) / sbs;
        const live = { device: ctx.src, listId: ptId };
        ctx.live.add(live);
        let info: RodTokenInformation;
        try {
          await cmds.populateToken(ctx.src, {
            listId: ptId,
            ranges: [{ lba: srcLba, blocks: Number(want / sbs) }],
            inactivityTimeout: this.o.inactivityTimeout,
            timeoutMs: ctx.timeoutMs,
          });
          info = await this.rrti(ctx.src, ptId, ctx);
        } finally {
          ctx.live.delete(live);
        }
        if (!COMPLETED_OK.has(info.copyOperationStatus)) throw statusFailure('POPULATE TOKEN', 0x10, info);
        if (!info.token) throw new Error('RECEIVE ROD TOKEN INFORMATION: POPULATE TOKEN completed but no ROD token was returned');
        let represented = info.transferredBytes(ctx.srcBlockSize);
        if (represented > want) represented = want; // never write more than asked, whatever the target says
        represented -= represented % (sbs > dbs ? sbs : dbs);
        if (represented <= 0n) throw new Error('POPULATE TOKEN: the ROD represents no data (transfer count 0)');
        if (represented < want) ctx.account.truncations++;
        const token = info.token;
        const made = Date.now();
        let lastUse = made;

        // ---- WRITE USING TOKEN until the ROD is used up
        let used = 0n;
        while (used < represented) {
          if (ctx.aborted()) throw new StopRequested();
          // Do not use a token that may have expired: populate the rest anew (reference 7.5).
          // A token that has not been used at all is tried anyway (the array answers 23/07 if it
          // is too late); otherwise a short lifetime could make this loop forever. Later tokens
          // ask only for what could be used in time.
          if (used > 0n && (expiresSoon(lastUse, this.o.effectiveInactivitySeconds) || expiresSoon(made, this.o.tokenLifetimeSeconds ?? 0))) {
            if (this.tokenCeiling === 0n || used < this.tokenCeiling) this.tokenCeiling = used;
            break;
          }
          let ask = represented - used;
          if (this.wutCeiling > 0n && ask > this.wutCeiling) ask = this.wutCeiling;
          const last = used + ask === represented;
          const wutId = nextListId4();
          const wlive = { device: ctx.dst, listId: wutId };
          ctx.live.add(wlive);
          let wrote: bigint;
          const deleteToken = last && (this.probeFrom === 0n || ask <= this.probeFrom);
          try {
            const params = {
              listId: wutId,
              token,
              offsetIntoRod: used / dbs,
              ranges: [{ lba: (ctx.dstBase + pos + used) / dbs, blocks: Number(ask / dbs) }],
              // The last use of a token deletes it, so the array can free the ROD (reference 7.5);
              // not while trying a raised ceiling: a truncated write would delete the rest too.
              deleteToken,
              immed: this.immed,
              timeoutMs: ctx.timeoutMs,
            };
            try {
              await cmds.writeUsingToken(ctx.dst, params);
            } catch (e) {
              // A target that refuses IMMED in the parameter list: send it again without.
              if (this.immed && e instanceof ScsiError && e.senseKey === 0x5 && (e.asc === 0x26 || e.asc === 0x24) && e.ascq === 0) {
                this.immed = false;
                await cmds.writeUsingToken(ctx.dst, { ...params, immed: false });
              } else throw e;
            }
            const winfo = await this.rrti(ctx.dst, wutId, ctx);
            if (!COMPLETED_OK.has(winfo.copyOperationStatus)) {
              // The target may have written part of it before failing; honour what it reports.
              const partial = winfo.transferredBytes(ctx.dstBlockSize);
              const done = partial > 0n && partial <= ask ? partial - (partial % dbs) : 0n;
              if (done > 0n) {
                record(pos + used, done);
                used += done;
              }
              throw statusFailure('WRITE USING TOKEN', 0x11, winfo);
            }
            wrote = winfo.transferredBytes(ctx.dstBlockSize);
          } finally {
            ctx.live.delete(wlive);
          }
          if (wrote > ask) wrote = ask;
          wrote -= wrote % dbs;
          lastUse = Date.now();
          if (wrote <= 0n) throw new Error('WRITE USING TOKEN: transfer count 0, no progress');
          if (wrote === ask && ask === this.wutCeiling) {
            this.probeFrom = 0n; // a raised ceiling that held
            if (++this.fullAtCeiling >= 4) {
              // Several full writes at the ceiling: it may have been a passing limit; try more.
              this.probeFrom = this.wutCeiling;
              this.wutCeiling *= 2n;
              this.fullAtCeiling = 0;
            }
          }
          record(pos + used, wrote);
          used += wrote;
          if (wrote < ask) {
            ctx.account.truncations++;
            // Learn the destination's per-command ceiling, so the next writes ask for what it
            // does and DEL_TKN goes only with the real last piece. The largest truncated write
            // seen is the ceiling: an array that truncates now and then (or halves one write)
            // must not shrink every later write, a few blocks at a time.
            if (this.probeFrom > 0n) this.wutCeiling = wrote > this.probeFrom ? wrote : this.probeFrom;
            else if (wrote > this.wutCeiling) this.wutCeiling = wrote;
            this.probeFrom = 0n;
            this.fullAtCeiling = 0;
            // With DEL_TKN the token is gone after a short last write: populate the rest anew.
            if (deleteToken) break;
          }
        }
        pos += used;
      }
    } catch (e) {
      throw e instanceof StopRequested ? e : new MethodError('odx', cursor - range.offset, e);
    }
  }
}
