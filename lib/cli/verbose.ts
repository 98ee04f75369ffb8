// `-v`, `-vv`, `-vvv`: the transport's command trace (lib/scsi/trace.ts) on stderr, in
// sg3_utils' manner: -v each CDB in hex with its status, decoded sense and duration; -vv also
// the parameter lists sent, the raw sense and retries; -vvv also the data received and the
// first bytes of READ/WRITE data. ODXCP_DEBUG stays the switch for stack traces.
import { decodeSense } from '../scsi/sense';
import { driverStatusName, hostStatusName, statusName } from '../scsi/errors';
import { setCommandTrace, type CommandTraceRecord } from '../scsi/trace';
import type { OutStream } from './progress';

/** Bytes of READ/WRITE data (and of any other payload at -vv) shown before eliding the rest. */
const DATA_SHOWN = 256;
const BULK_OPCODES = new Set([0x88, 0x8a, 0x28, 0x2a]); // READ/WRITE(16), (10): the data, not a parameter list

export function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** sg3_utils-like hex dump: offset, 16 bytes a line; at most `limit` bytes, the rest counted. */
export function hexDump(b: Uint8Array, indent: string, limit = Infinity): string[] {
  const shown = b.subarray(0, Math.min(b.length, limit));
  const lines: string[] = [];
  for (let i = 0; i < shown.length; i += 16) lines.push(`${indent}${i.toString(16).padStart(4, '0')}  ${hexBytes(shown.subarray(i, i + 16))}`);
  if (shown.length < b.length) lines.push(`${indent}... ${b.length - shown.length} more bytes`);
  return lines;
}

function senseLine(sense: Buffer): string {
  try {
    const d = decodeSense(sense);
    const info = d.informationValid && d.information !== undefined ? `, information 0x${d.information.toString(16)}` : '';
    return `${d.deferred ? 'deferred ' : ''}sense: ${d.senseKeyName}, ${d.ascName} (${d.asc.toString(16).padStart(2, '0')}/${d.ascq.toString(16).padStart(2, '0')})${info}`;
  } catch (e) {
    return `sense: could not be decoded (${e instanceof Error ? e.message : String(e)})`;
  }
}

/** The lines one command produces at `level` (1..3). */
export function traceLines(r: CommandTraceRecord, level: number): string[] {
  const i = '    ';
  const retry = r.attempt > 1 ? ` (retry ${r.attempt - 1})` : '';
  const lines = [`${i}${r.name} cdb: ${hexBytes(r.cdb)}  [${r.path}]${retry}`];
  const bulk = BULK_OPCODES.has(r.cdb[0] ?? -1);
  if (level >= 2 && r.dataOut && r.dataOut.length > 0 && (!bulk || level >= 3)) {
    lines.push(`${i}  ${bulk ? 'data' : 'parameter list'} out (${r.dataOut.length} bytes):`, ...hexDump(r.dataOut, `${i}    `, bulk || level < 3 ? DATA_SHOWN : Infinity));
  }
  if (r.errno !== undefined) {
    lines.push(`${i}  -> SG_IO failed: ${r.errno}, ${r.wallMs.toFixed(2)} ms`);
    return lines;
  }
  const res = r.result;
  if (!res) return lines;
  // DRIVER_SENSE only says sense came back; anything else is the transport's own trouble.
  const transport = res.hostStatus !== 0 || (res.driverStatus & 0x07) !== 0 ? `, host ${hostStatusName(res.hostStatus)}, driver ${driverStatusName(res.driverStatus)}` : '';
  const moved = r.direction === 'from-device' ? `, ${r.dataIn?.length ?? 0} bytes in` : r.direction === 'to-device' ? `, ${r.dataOut?.length ?? 0} bytes out` : '';
  lines.push(`${i}  -> ${statusName(res.status)}${transport}${moved}, resid ${res.resid}, ${res.durationMs} ms (kernel), ${r.wallMs.toFixed(2)} ms (host)`);
  if (res.sense.length > 0) {
    lines.push(`${i}  ${senseLine(res.sense)}`);
    if (level >= 2) lines.push(`${i}  sense bytes: ${hexBytes(res.sense)}`);
  }
  if (level >= 3 && r.dataIn && r.dataIn.length > 0) {
    lines.push(`${i}  data in (${r.dataIn.length} bytes):`, ...hexDump(r.dataIn, `${i}    `, bulk ? DATA_SHOWN : Infinity));
  }
  return lines;
}

/** Send the trace at `level` to `err` until the returned function is called. Level 0: nothing. */
export function startTrace(level: number, err: OutStream): () => void {
  if (level <= 0) return () => undefined;
  const prev = setCommandTrace((r) => err.write(`${traceLines(r, Math.min(level, 3)).join('\n')}\n`));
  return () => {
    setCommandTrace(prev);
  };
}
