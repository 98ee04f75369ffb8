// The errors of docs/path-failover.md: a range a copy list may still be writing (its path
// failed, or its command was lost and the nexus could not say what became of it) is neither
// rewritten nor counted as copied; the copy goes on with its other chunks and ends with
// PathUnconfirmedError naming every such range. No usable path left is an error of its own.
import { OdxcpError } from '../errors';

/** A range of the copy (offsets relative to its start) no list of which is known to have stopped. */
export interface UnconfirmedRange {
  offset: bigint;
  length: bigint;
  /** The sg node the list was sent through. */
  node: string;
  /** Why its fate is unknown (the first half of the error's sentence). */
  why: string;
}

/** Ranges named in the message at most; the account lists them all. */
const NAMED = 4;

export class PathUnconfirmedError extends OdxcpError {
  constructor(
    readonly ranges: readonly UnconfirmedRange[],
    cause?: unknown,
  ) {
    // The cause (the first transport error) gives the exit status: 35, as any transport failure.
    const named = ranges.slice(0, NAMED).map((r) => `${r.why}; ${r.length} bytes from +${r.offset} are unconfirmed and were not rewritten`);
    const more = ranges.length > NAMED ? `; ${ranges.length - NAMED} more unconfirmed ranges (see the account)` : '';
    super(named.join('; ') + more, 'PATH_UNCONFIRMED', { cause });
  }
  /** The first range's node (the path whose list is unconfirmed). */
  get node(): string {
    return this.ranges[0]?.node ?? '';
  }
}
Object.defineProperty(PathUnconfirmedError.prototype, 'name', { value: 'PathUnconfirmedError' });

/**
 * A list whose command or status poll was lost to a transport error that is not the path's
 * (DID_TIME_OUT, DID_ABORT, DID_RESET, DID_ERROR...): its status was asked on the same nexus and
 * could not be learned within the bound (case 2 of the rule did not come to hold).
 */
export class ListUnconfirmedError extends OdxcpError {
  constructor(
    readonly command: string,
    /** undefined: the list has no identifier (EXTENDED COPY with LIST ID USAGE 11b): nothing to ask. */
    readonly listId: number | undefined,
    readonly node: string,
    readonly detail: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`${command} list ${listId ?? '(no id)'} on ${node} was lost (${reason}) and ${detail}`, 'LIST_UNCONFIRMED', { cause });
  }
}
Object.defineProperty(ListUnconfirmedError.prototype, 'name', { value: 'ListUnconfirmedError' });

/** A side whose path failed has no usable path left (none up, or the one chosen would not open). */
export class NoPathLeftError extends OdxcpError {
  constructor(
    readonly side: 'src' | 'dst',
    readonly from: string,
    /** Why the switch failed when a path was chosen but could not be opened (a DeviceError). */
    readonly openError: unknown,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const open = openError instanceof Error ? `; ${openError.message}` : '';
    super(`no usable path left for the ${side === 'src' ? 'source' : 'destination'}: ${from} failed (${reason})${open}`, 'NO_PATH', { cause });
  }
}
Object.defineProperty(NoPathLeftError.prototype, 'name', { value: 'NoPathLeftError' });
