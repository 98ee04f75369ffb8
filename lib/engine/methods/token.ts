// Token copy (ODX) as the engine runs it: the token layer (lib/tokens/token-ops.ts) does
// POPULATE TOKEN, the status polls and each WRITE USING TOKEN; this file keeps the policy:
// how much one token asks for, the destination's per-command ceiling, re-populating before a
// token may expire, and DEL_TKN only on a token's real last use (reference 5.8-5.10, 7.5).
import { populate, TokenWriteError, writeUsingTokenStep, type PopulateResult } from '../../tokens/token-ops';
import { MethodError, StopRequested, min, type CopyMethodImpl, type MethodContext, type Range } from './context';

export interface TokenMethodOptions {
  /** Bytes one POPULATE TOKEN asks for. */
  tokenBytes: bigint;
  /** Seconds asked for in POPULATE TOKEN (0: the device default). */
  inactivityTimeout: number;
  /** The inactivity timeout in force, seconds (what 0 means on this source), for re-populating in time. */
  effectiveInactivitySeconds: number;
  /** Seconds a token lives from its creation whatever its use (0: no limit). */
  tokenLifetimeSeconds?: number;
  /**
   * Tokens shared with other copies of the same source (a fan-out): a range is populated once
   * and written to every destination. Shared tokens are never deleted with DEL_TKN (another
   * destination may still need them); they end with their inactivity timeout.
   */
  tokens?: SharedTokens;
  /** Bound on asking the nexus about a list lost to a transport error (default SETTLE_MS). */
  settleMs?: number;
}

/** A token for a source range, made once and handed to every copy that asks for that range. */
export interface SharedTokens {
  get(srcLba: bigint, blocks: bigint, populate: () => Promise<PopulateResult>): Promise<{ token: PopulateResult; made: number }>;
  /** This token failed a write: never hand it out again (a re-population must make a new one). */
  forget(srcLba: bigint, blocks: bigint, token: PopulateResult): void;
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

/**
 * What one chunk learns of the destination's per-command WRITE USING TOKEN ceiling. Each chunk
 * has its own, so chunks in flight together cannot mix up each other's probes; a new chunk
 * starts from the ceiling the last one settled on.
 */
export class WriteCeiling {
  /** Largest WRITE USING TOKEN completed in full after a truncation; 0 = unknown. */
  ceiling: bigint;
  /** Writes in a row that did all they asked at the ceiling (to raise it again). */
  private fullAtCeiling = 0;
  /** While a raised ceiling is being tried: the ceiling before it; 0 otherwise. */
  private probeFrom = 0n;

  constructor(seed: bigint) {
    this.ceiling = seed;
  }

  /** Bytes to ask for when `rest` is left of the token. */
  ask(rest: bigint): bigint {
    return this.ceiling > 0n && rest > this.ceiling ? this.ceiling : rest;
  }

  /**
   * May a write of `ask` bytes that ends the token carry DEL_TKN? Not while a raised ceiling is
   * tried: a truncated write would delete the rest of the ROD with it.
   */
  mayDelete(ask: bigint): boolean {
    return this.probeFrom === 0n || ask <= this.probeFrom;
  }

  /** After a write of `ask` bytes that wrote `wrote`. */
  wrote(ask: bigint, wrote: bigint): void {
    if (wrote === ask) {
      if (ask !== this.ceiling) return;
      this.probeFrom = 0n; // a raised ceiling that held
      if (++this.fullAtCeiling >= 4) {
        // Several full writes at the ceiling: it may have been a passing limit; try more.
        this.probeFrom = this.ceiling;
        this.ceiling *= 2n;
        this.fullAtCeiling = 0;
      }
      return;
    }
    // The largest truncated write seen is the ceiling: an array that truncates now and then
    // (or halves one write) must not shrink every later write, a few blocks at a time.
    if (this.probeFrom > 0n) this.ceiling = wrote > this.probeFrom ? wrote : this.probeFrom;
    else if (wrote > this.ceiling) this.ceiling = wrote;
    this.probeFrom = 0n;
    this.fullAtCeiling = 0;
  }
}

export class TokenMethod implements CopyMethodImpl {
  readonly name = 'odx' as const;
  // Facts shared by the chunks in flight. Each only moves one way (or is only a starting
  // point), so interleaved chunks cannot corrupt them.
  /** IMMED=1 is tried on WRITE USING TOKEN until a target refuses it. */
  private immed = true;
  /** Bytes a token could be used for before it expired, once one did; 0 = no such limit seen. Only shrinks. */
  private tokenCeiling = 0n;
  /** Where the next chunk's WriteCeiling starts. */
  private ceilingSeed = 0n;

  constructor(private readonly o: TokenMethodOptions) {}

  async run(range: Range, ctx: MethodContext): Promise<void> {
    const sbs = BigInt(ctx.srcBlockSize);
    const dbs = BigInt(ctx.dstBlockSize);
    const unit = sbs > dbs ? sbs : dbs;
    const ceiling = new WriteCeiling(this.ceilingSeed);
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
        if (ctx.signal.aborted) throw new StopRequested();
        // ---- POPULATE TOKEN for as much of the rest as one token may represent
        const want = min(end - pos, this.tokenCeiling > 0n ? min(this.tokenCeiling, this.o.tokenBytes) : this.o.tokenBytes);
        const srcLba = (ctx.srcBase + pos) / sbs;
        const make = () =>
          populate(ctx.src, {
            ranges: [{ lba: srcLba, blocks: Number(want / sbs) }],
            blockSize: ctx.srcBlockSize,
            inactivityTimeout: this.o.inactivityTimeout,
            timeoutMs: ctx.timeoutMs,
            signal: ctx.signal,
            settleMs: this.o.settleMs,
          });
        const shared = this.o.tokens ? await this.o.tokens.get(srcLba, want / sbs, make) : undefined;
        const p = shared ? shared.token : await make();
        const represented = p.bytes - (p.bytes % unit);
        if (represented <= 0n) throw new Error(`POPULATE TOKEN: the ROD represents ${p.bytes} bytes, less than one destination block`);
        if (represented < want) ctx.account.truncations++;
        const made = shared ? shared.made : Date.now();
        let lastUse = made;

        // ---- WRITE USING TOKEN until the ROD is used up
        let used = 0n;
        while (used < represented) {
          if (ctx.signal.aborted) throw new StopRequested();
          // Do not use a token that may have expired: populate the rest anew (reference 7.5).
          // A token that has not been used at all is tried anyway (the array answers 23/07 if it
          // is too late); otherwise a short lifetime could make this loop forever. Later tokens
          // ask only for what could be used in time.
          if (used > 0n && (expiresSoon(lastUse, this.o.effectiveInactivitySeconds) || expiresSoon(made, this.o.tokenLifetimeSeconds ?? 0))) {
            if (this.tokenCeiling === 0n || used < this.tokenCeiling) this.tokenCeiling = used;
            break;
          }
          const ask = ceiling.ask(represented - used);
          // The last use of a token deletes it, so the array can free the ROD (reference 7.5).
          const deleteToken = !this.o.tokens && used + ask === represented && ceiling.mayDelete(ask);
          let wrote: bigint;
          try {
            const r = await writeUsingTokenStep(ctx.dst, {
              token: p.token,
              ranges: [{ lba: (ctx.dstBase + pos + used) / dbs, blocks: Number(ask / dbs) }],
              blockSize: ctx.dstBlockSize,
              offsetIntoRod: used / dbs,
              deleteToken,
              immed: this.immed,
              timeoutMs: ctx.timeoutMs,
              signal: ctx.signal,
              settleMs: this.o.settleMs,
            });
            if (!r.immed) this.immed = false;
            wrote = r.bytes;
          } catch (e) {
            if (shared) this.o.tokens?.forget(srcLba, want / sbs, p);
            // What the failed write did put on the destination is on it (a lower bound when
            // the target could not say exactly): count it, so the host rewrites only the rest.
            if (e instanceof TokenWriteError) {
              if (e.bytesWritten > 0n) record(pos + used, e.bytesWritten);
              throw e.cause ?? e;
            }
            throw e;
          }
          lastUse = Date.now();
          record(pos + used, wrote);
          used += wrote;
          ceiling.wrote(ask, wrote);
          this.ceilingSeed = ceiling.ceiling;
          if (wrote < ask) {
            ctx.account.truncations++;
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
