// A process-wide witness of every SCSI command: runCommand (transport.ts) is the one place
// each command passes, so `-v` is implemented there once instead of in every command.
import type { Direction, NativeExecuteResult } from '../native';

export interface CommandTraceRecord {
  /** The node the command went to. */
  path: string;
  name: string;
  cdb: Buffer;
  direction: Direction;
  /** The parameter list or data sent (to-device). */
  dataOut?: Buffer;
  /** The data received, trimmed by the residual (from-device, GOOD status only). */
  dataIn?: Buffer;
  /** The kernel's outcome, absent when the ioctl itself failed. */
  result?: NativeExecuteResult;
  /** The errno of a failed ioctl. */
  errno?: string;
  /** Wall-clock time of the SG_IO call on the host, ms. */
  wallMs: number;
  /** 1 for the first try, more for a retry of the same command. */
  attempt: number;
}

export type CommandTraceSink = (r: CommandTraceRecord) => void;

let sink: CommandTraceSink | undefined;

/** Install (or with undefined remove) the sink; returns the one it replaces. */
export function setCommandTrace(s: CommandTraceSink | undefined): CommandTraceSink | undefined {
  const prev = sink;
  sink = s;
  return prev;
}

/** Hand a record to the sink; a sink that throws never fails the command it watches. */
export function traceCommand(r: CommandTraceRecord): void {
  if (!sink) return;
  try {
    sink(r);
  } catch {
    // the trace is a witness, not a participant
  }
}

export function tracing(): boolean {
  return sink !== undefined;
}
