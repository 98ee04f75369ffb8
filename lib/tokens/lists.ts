// Copy-manager lists as a process sees them: one allocator of list identifiers for every
// feature (the engine's copies, token files, zeroing), and the awaited abort of a list that is
// still running when the caller gives up.
//
// Lists are keyed by list id and I_T nexus (reference 7.4), so two operations of this process
// must never share an id while either is alive. LID1 ids are 1 byte; the 4-byte ids of POPULATE
// TOKEN, WRITE USING TOKEN and COPY OPERATION ABORT start above the LID1 range (as ddpt's do), at
// a random point, so two odxcp processes on one nexus rarely meet; a meeting is answered by the
// target (00/16 or 26/00) and handled by taking a new id.
import * as cmds from '../scsi/commands';
import { isListIdInUse } from '../engine/reactions';
import type { ScsiTransport } from '../scsi/transport';

const LID4_FIRST = 0x100;
const LID4_LAST = 0xffff_ffff;
// Drawn on first use: node:crypto is not worth loading for a command that opens no list.
let next4 = -1;
let next1 = -1;
const randomInt = (min: number, max: number): number => (require('node:crypto') as typeof import('node:crypto')).randomInt(min, max);

/** A fresh 4-byte list identifier (never in the 1-byte LID1 range). */
export function nextListId4(): number {
  if (next4 < 0) next4 = LID4_FIRST + randomInt(0, 0x7fff_0000);
  const id = next4;
  next4 = next4 >= LID4_LAST ? LID4_FIRST : next4 + 1;
  return id;
}

/** A LID1 list identifier (1..255) for LIST ID USAGE 00b/10b. */
export function nextListId1(): number {
  if (next1 < 0) next1 = randomInt(1, 256);
  const id = next1;
  next1 = next1 >= 255 ? 1 : next1 + 1;
  return id;
}

/**
 * Send a command that opens a list, moving to the next id while the target says the id is in
 * use (00/16, up to 10 times, as ddpt does). `send` gets each id as it is tried.
 */
export async function withListId<T>(send: (listId: number) => Promise<T>): Promise<{ listId: number; value: T }> {
  for (let attempt = 0; ; attempt++) {
    const listId = nextListId4();
    try {
      return { listId, value: await send(listId) };
    } catch (e) {
      if (!isListIdInUse(e) || attempt >= 9) throw e;
    }
  }
}

/**
 * While a command that opened list `listId` on `t` is outstanding (an EXTENDED COPY, a
 * WRITE USING TOKEN without IMMED), an abort of `signal` sends COPY OPERATION ABORT for it
 * (reference 5.11). `release()` detaches and waits for that abort, so nothing is left running
 * behind the caller's back; it never throws (a target without the command still ends the list
 * when its command returns, which the caller awaits anyway).
 */
export function guardList(t: ScsiTransport, listId: number, signal: AbortSignal | undefined): { release(): Promise<void> } {
  if (!signal) return { release: async () => undefined };
  let sent: Promise<void> | undefined;
  const onAbort = () => {
    sent ??= cmds.copyOperationAbort(t, listId).catch(() => undefined);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    release: async () => {
      signal.removeEventListener('abort', onAbort);
      await sent;
    },
  };
}
