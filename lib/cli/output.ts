// stdout and stderr that can fail. A full disk (ENOSPC), a closed pipe (EPIPE, `| head`) or a
// hung-up terminal (EIO) must never crash odxcp or stop a copy: the first failed write marks the
// stream lost, later writes are dropped, and main() turns a lost stream into exit status 120
// (ODXCP_OUTPUT_LOST) when the command itself succeeded.
import type { OutStream } from './progress';

/** What happened to the outputs during one run of main(). */
export class RunState {
  /** Something reached stdout (so an error path does not print a second JSON object). */
  stdoutWritten = false;
  /** The NDJSON progress stream ended with its `done` record. */
  doneWritten = false;
  /** -q without --json: stdout is dropped and stderr is no terminal for `--progress auto`. */
  quiet = false;
  /** The first failed write per stream: 'ENOSPC', 'EPIPE'... */
  readonly lost = new Map<'stdout' | 'stderr', string>();
}

interface EmitterLike {
  on?(event: 'error', fn: (e: unknown) => void): unknown;
  off?(event: 'error', fn: (e: unknown) => void): unknown;
}

/** The status a run ends with when the command succeeded but its output did not arrive. */
export const OUTPUT_LOST_EXIT = 120;

/**
 * Wrap a stream: writes never throw, an 'error' event never goes unhandled. The listener stays
 * attached for the life of the process, because Node reports a failed write on a later tick,
 * possibly after main() returned.
 */
export function guardStream(s: OutStream, which: 'stdout' | 'stderr', run: RunState): OutStream {
  const lose = (e: unknown) => {
    if (!run.lost.has(which)) run.lost.set(which, (e as { code?: string })?.code ?? String((e as Error)?.message ?? e));
  };
  const em = s as OutStream & EmitterLike;
  if (typeof em.on === 'function') em.on('error', lose);
  return {
    get isTTY() {
      return run.quiet ? false : s.isTTY;
    },
    get columns() {
      return s.columns;
    },
    write(text: string) {
      if (run.lost.has(which)) return false;
      if (run.quiet && which === 'stdout') return true;
      if (which === 'stdout' && text !== '') run.stdoutWritten = true;
      try {
        return s.write(text);
      } catch (e) {
        lose(e);
        return false;
      }
    },
  };
}

/** Let failed writes report themselves (Node emits write errors on a later tick). */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(() => setImmediate(r)));
}
