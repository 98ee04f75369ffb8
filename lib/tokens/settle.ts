// A list whose command (or status poll) was lost to a transport error that is not the path's:
// the I_T nexus is alive, so it is asked what became of the list (docs/path-failover.md,
// case 2) before anything rewrites its range. Its status is polled on the same transport until
// the list is no longer in progress, or the target answers that it has no such list (then no
// list of it runs). Within a bound; otherwise the range is unconfirmed (ListUnconfirmedError).
import * as cmds from '../scsi/commands';
import { ScsiError, TransportError } from '../scsi/errors';
import type { ScsiTransport } from '../scsi/transport';
import type { CopyOperationStatusInfo } from '../scsi/tpc';
import { ListUnconfirmedError } from '../engine/failover';
import { isPathError, noSuchList } from '../engine/reactions';

/** How long the nexus is asked about a lost list by default before its range is called unconfirmed. */
export const SETTLE_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A status query the target does not have at all: it cannot tell. */
const cannotTell = (e: unknown): boolean => e instanceof ScsiError && e.category === 'INVALID_OP';

export type Settled<T> = { state: 'ended'; status: T } | { state: 'none' };

export interface SettleOptions {
  /** Give up (the range is unconfirmed) after this long; default SETTLE_MS. */
  boundMs?: number;
  /** The caller is stopping: the list is told to stop too. */
  signal?: AbortSignal;
}

/**
 * Poll `query` until the list is no longer in progress. `lost` is the transport error that lost
 * it; after a timeout (it ran past what the caller allowed) or when the caller is stopping, the
 * list is first told to stop (COPY OPERATION ABORT). Throws ListUnconfirmedError when the answer
 * did not come within the bound.
 */
async function settle<T>(t: ScsiTransport, listId: number, command: string, lost: TransportError, query: () => Promise<T>, inProgress: (s: T) => boolean, o: SettleOptions): Promise<Settled<T>> {
  const boundMs = o.boundMs ?? SETTLE_MS;
  const deadline = Date.now() + boundMs;
  if (lost.isTimeout || o.signal?.aborted) await cmds.copyOperationAbort(t, listId).catch(() => undefined);
  let wait = 20;
  let last = 'no answer';
  for (;;) {
    try {
      const s = await query();
      if (!inProgress(s)) return { state: 'ended', status: s };
      last = 'it was still in progress';
    } catch (e) {
      if (noSuchList(e)) return { state: 'none' };
      if (isPathError(e)) {
        // Lost to a path-class error on a path that still ran, and now that path fails too:
        // path failover decides (the rule's other cases), as for any list on a failed path.
        if (isPathError(lost)) throw lost;
        throw new ListUnconfirmedError(command, listId, t.path, `its path failed while it was asked (${e.message})`, lost);
      }
      if (cannotTell(e)) throw new ListUnconfirmedError(command, listId, t.path, 'the target cannot report its status', lost);
      // Another transport error (the nexus may be recovering): ask again until the bound.
      last = `its status query failed: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (Date.now() + wait > deadline) throw new ListUnconfirmedError(command, listId, t.path, `its status could not be learned within ${boundMs >= 1000 ? `${Math.round(boundMs / 1000)} s` : `${boundMs} ms`} (${last})`, lost);
    await sleep(wait);
    wait = Math.min(wait * 2, 500);
  }
}

/**
 * A token list (POPULATE TOKEN or WRITE USING TOKEN, service action `sa`) once it ended, by
 * RECEIVE ROD TOKEN INFORMATION; 'none' when the target has no such list. A status that
 * answers for another service action is taken as "cannot tell" (the id was reused).
 */
export async function settleTokenList(t: ScsiTransport, listId: number, sa: number, command: string, lost: TransportError, o: SettleOptions = {}): Promise<Settled<CopyOperationStatusInfo>> {
  const r = await settle(t, listId, command, lost, () => cmds.receiveRodTokenInformation(t, listId), (s) => s.inProgress, o);
  if (r.state === 'ended' && r.status.responseToServiceAction !== sa) {
    throw new ListUnconfirmedError(command, listId, t.path, `its status answers for service action 0x${r.status.responseToServiceAction.toString(16)} (the id was reused?)`, lost);
  }
  return r;
}

/** An EXTENDED COPY(LID1) list once it ended, by RECEIVE COPY RESULTS (COPY STATUS); 'none' when the target has no such list. */
export async function settleLid1List(t: ScsiTransport, listId: number, lost: TransportError, o: SettleOptions = {}) {
  return settle(t, listId, 'EXTENDED COPY', lost, () => cmds.receiveCopyStatus(t, listId), (s) => s.copyManagerStatus === 0x00, o);
}
