// The error that stops a copy when a path failed with a list in flight whose fate is unknown
// (docs/path-failover.md): the range may still be written by the array for the old nexus, so it
// is neither rewritten nor counted as copied.
import { OdxcpError } from '../errors';

export class PathUnconfirmedError extends OdxcpError {
  constructor(
    readonly node: string,
    /** Byte offset (relative to the copy) and length of the unconfirmed range. */
    readonly offset: bigint,
    readonly length: bigint,
    reason: string,
    cause?: unknown,
  ) {
    // The cause (the transport error) gives the exit status: 35, as any transport failure.
    super(`path ${node} failed with a copy list in flight (${reason}); ${length} bytes from +${offset} are unconfirmed and were not rewritten`, 'PATH_UNCONFIRMED', { cause });
  }
}
Object.defineProperty(PathUnconfirmedError.prototype, 'name', { value: 'PathUnconfirmedError' });
