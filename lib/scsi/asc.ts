// Sense key names, ASC/ASCQ names, and what a copy engine should do about each (ref 2.5, 2.6).
//
// Names are the T10 ones (sense keys upper case as T10 writes them; ASC/ASCQ in lower case with
// acronyms kept, so they read well inside a message). The list covers every code in the
// reference's table 2.6 plus the families a copy engine meets around it; anything else gets a
// generic name. The copy-engine action column of 2.6 is ours; `copyActionFor` turns it into a
// value the engine can switch on.

import { hex2 } from './bytes';

/** Sense keys, ref 2.5 (index = sense key). */
export const SENSE_KEY_NAMES: readonly string[] = [
  'NO SENSE',
  'RECOVERED ERROR',
  'NOT READY',
  'MEDIUM ERROR',
  'HARDWARE ERROR',
  'ILLEGAL REQUEST',
  'UNIT ATTENTION',
  'DATA PROTECT',
  'BLANK CHECK',
  'VENDOR SPECIFIC',
  'COPY ABORTED',
  'ABORTED COMMAND',
  'EQUAL',
  'VOLUME OVERFLOW',
  'MISCOMPARE',
  'COMPLETED',
];

/** Sense key constants (ref 2.5). */
export const SENSE_KEY = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  BLANK_CHECK: 0x8,
  VENDOR_SPECIFIC: 0x9,
  COPY_ABORTED: 0xa,
  ABORTED_COMMAND: 0xb,
  EQUAL: 0xc,
  VOLUME_OVERFLOW: 0xd,
  MISCOMPARE: 0xe,
  COMPLETED: 0xf,
} as const;

export function senseKeyName(key: number): string {
  return SENSE_KEY_NAMES[key & 0x0f] as string;
}

/**
 * What the copy engine should do after a command failed with a given sense:
 * - `retry`: transient; retry the same command (bounded, with backoff).
 * - `repopulate`: the ROD token is unusable; issue POPULATE TOKEN again (once), then fall back.
 * - `fallback`: this copy-offload path cannot do the job; use host READ/WRITE.
 * - `fatal`: a real error (media, protection, write protect...) that host copy would hit too.
 * - `new-list-id`: the list identifier is busy; pick another one (or poll the busy one).
 * - `split`: too many descriptors/segments; send smaller parameter lists.
 * - `encoder-bug`: the target says our parameter list is malformed; do not retry, report.
 * - `recheck`: cached state (capacity, VPD designators, list status) may be stale; re-read it,
 *   then retry.
 */
export type CopyAction = 'retry' | 'repopulate' | 'fallback' | 'fatal' | 'new-list-id' | 'split' | 'encoder-bug' | 'recheck';

export interface AscEntry {
  asc: number;
  ascq: number;
  name: string;
  /** Our action for this code; undefined means "decide by sense key" (see copyActionFor). */
  action?: CopyAction;
}

// [asc, ascq, name, action?]. Actions follow the "Copy-engine action (ours)" column of ref 2.6;
// where that column names two outcomes ("retry once, else host copy") the first step is given,
// the engine bounds the retries.
type Row = [number, number, string, CopyAction?];
const ROWS: Row[] = [
  [0x00, 0x00, 'no additional sense information'],
  [0x00, 0x16, 'operation in progress', 'new-list-id'], // ddpt: list id busy (ref 2.6, 8.6)
  [0x00, 0x17, 'cleaning requested'],
  [0x00, 0x1d, 'ATA pass through information available'],
  [0x00, 0x20, 'extended copy information available'],
  // 04/xx LOGICAL UNIT NOT READY family: FreeBSD fails at once on 04/02 and 04/03 and retries
  // the rest (ref 2.6). Codes that need an operator or a reset are fatal here too.
  [0x04, 0x00, 'logical unit not ready, cause not reportable', 'retry'],
  [0x04, 0x01, 'logical unit is in process of becoming ready', 'retry'],
  [0x04, 0x02, 'logical unit not ready, initializing command required', 'fatal'],
  [0x04, 0x03, 'logical unit not ready, manual intervention required', 'fatal'],
  [0x04, 0x04, 'logical unit not ready, format in progress', 'retry'],
  [0x04, 0x05, 'logical unit not ready, rebuild in progress', 'retry'],
  [0x04, 0x06, 'logical unit not ready, recalculation in progress', 'retry'],
  [0x04, 0x07, 'logical unit not ready, operation in progress', 'retry'],
  [0x04, 0x08, 'logical unit not ready, long write in progress', 'retry'],
  [0x04, 0x09, 'logical unit not ready, self-test in progress', 'retry'],
  [0x04, 0x0a, 'logical unit not accessible, asymmetric access state transition', 'retry'],
  [0x04, 0x0b, 'logical unit not accessible, target port in standby state', 'retry'],
  [0x04, 0x0c, 'logical unit not accessible, target port in unavailable state', 'retry'],
  [0x04, 0x0d, 'logical unit not ready, structure check required', 'retry'],
  [0x04, 0x0e, 'logical unit not ready, security session in progress', 'retry'],
  [0x04, 0x10, 'logical unit not ready, auxiliary memory not accessible', 'retry'],
  [0x04, 0x11, 'logical unit not ready, notify (enable spinup) required', 'retry'],
  [0x04, 0x12, 'logical unit not ready, offline', 'fatal'],
  [0x04, 0x13, 'logical unit not ready, SA creation in progress', 'retry'],
  [0x04, 0x14, 'logical unit not ready, space allocation in progress', 'retry'],
  [0x04, 0x15, 'logical unit not ready, robotics disabled', 'retry'],
  [0x04, 0x16, 'logical unit not ready, configuration required', 'fatal'],
  [0x04, 0x17, 'logical unit not ready, calibration required', 'fatal'],
  [0x04, 0x18, 'logical unit not ready, a door is open', 'fatal'],
  [0x04, 0x19, 'logical unit not ready, operating in sequential mode', 'retry'],
  [0x04, 0x1a, 'logical unit not ready, start stop unit command in progress', 'retry'],
  [0x04, 0x1b, 'logical unit not ready, sanitize in progress', 'retry'],
  [0x04, 0x1c, 'logical unit not ready, additional power use not yet granted', 'retry'],
  [0x04, 0x1d, 'logical unit not ready, configuration in progress', 'retry'],
  [0x04, 0x1e, 'logical unit not ready, microcode activation required', 'fatal'],
  [0x04, 0x1f, 'logical unit not ready, microcode download required', 'fatal'],
  [0x04, 0x20, 'logical unit not ready, logical unit reset required', 'fatal'],
  [0x04, 0x21, 'logical unit not ready, hard reset required', 'fatal'],
  [0x04, 0x22, 'logical unit not ready, power cycle required', 'fatal'],
  [0x05, 0x00, 'logical unit does not respond to selection', 'fatal'],
  // LIO answers NOT READY 08/00 when source and destination block sizes differ (ref 2.6, 8.9).
  [0x08, 0x00, 'logical unit communication failure', 'fallback'],
  [0x08, 0x01, 'logical unit communication time-out', 'retry'],
  [0x08, 0x02, 'logical unit communication parity error', 'retry'],
  [0x08, 0x03, 'logical unit communication CRC error (Ultra-DMA/32)', 'retry'],
  [0x08, 0x04, 'unreachable copy target', 'fallback'],
  [0x0c, 0x00, 'write error', 'fatal'],
  // 0D/00 is treated like 0D/01: retry the segment once, then host copy (ref 2.6).
  [0x0d, 0x00, 'error detected by third party temporary initiator', 'retry'],
  [0x0d, 0x01, 'third party device failure', 'retry'],
  [0x0d, 0x02, 'copy target device not reachable', 'fallback'],
  [0x0d, 0x03, 'incorrect copy target device type', 'fallback'],
  [0x0d, 0x04, 'copy target device data underrun', 'fallback'],
  [0x0d, 0x05, 'copy target device data overrun', 'fallback'],
  [0x0e, 0x00, 'invalid information unit', 'retry'],
  [0x0e, 0x01, 'information unit too short', 'retry'],
  [0x0e, 0x02, 'information unit too long', 'retry'],
  [0x0e, 0x03, 'invalid field in command information unit', 'retry'],
  [0x10, 0x00, 'ID CRC or ECC error', 'fatal'],
  [0x10, 0x01, 'logical block guard check failed', 'fatal'],
  [0x10, 0x02, 'logical block application tag check failed', 'fatal'],
  [0x10, 0x03, 'logical block reference tag check failed', 'fatal'],
  [0x10, 0x04, 'logical block protection error on recover buffered data', 'fatal'],
  [0x10, 0x05, 'logical block protection method error', 'fatal'],
  [0x11, 0x00, 'unrecovered read error', 'fatal'],
  [0x1a, 0x00, 'parameter list length error', 'encoder-bug'],
  [0x20, 0x00, 'invalid command operation code', 'fallback'],
  [0x21, 0x00, 'logical block address out of range', 'recheck'],
  [0x21, 0x01, 'invalid element address', 'fatal'],
  [0x23, 0x00, 'invalid token operation, cause not reportable', 'repopulate'],
  // 23/01: re-populate without RTV or with another ROD type (ref 2.6).
  [0x23, 0x01, 'invalid token operation, unsupported token type', 'repopulate'],
  [0x23, 0x02, 'invalid token operation, remote token usage not supported', 'fallback'],
  [0x23, 0x03, 'invalid token operation, remote ROD token creation not supported', 'fallback'],
  [0x23, 0x04, 'invalid token operation, token unknown', 'repopulate'],
  [0x23, 0x05, 'invalid token operation, token corrupt', 'repopulate'],
  [0x23, 0x06, 'invalid token operation, token revoked', 'repopulate'],
  [0x23, 0x07, 'invalid token operation, token expired', 'repopulate'],
  [0x23, 0x08, 'invalid token operation, token cancelled', 'repopulate'],
  [0x23, 0x09, 'invalid token operation, token deleted', 'repopulate'],
  [0x23, 0x0a, 'invalid token operation, invalid token length', 'encoder-bug'],
  // 24/00 from a copy command means "not supported here" (LIO, FreeBSD) or "list id gone".
  [0x24, 0x00, 'invalid field in CDB', 'fallback'],
  [0x25, 0x00, 'logical unit not supported', 'fatal'],
  // 26/00 is mostly a designator the target will not accept (LIO/tcmu want NAA-6, ref 8.7);
  // FreeBSD also uses it for a busy list id (ref 8.6): the engine may try a new id first.
  [0x26, 0x00, 'invalid field in parameter list', 'fallback'],
  [0x26, 0x01, 'parameter not supported', 'fallback'],
  [0x26, 0x02, 'parameter value invalid', 'fallback'],
  [0x26, 0x03, 'threshold parameters not supported', 'fallback'],
  [0x26, 0x04, 'invalid release of persistent reservation', 'fatal'],
  [0x26, 0x05, 'data decryption error', 'fatal'],
  [0x26, 0x06, 'too many target descriptors', 'split'],
  // We only ever send 0xE4 CSCDs and 0x02 segments: a target refusing them cannot do our copy.
  [0x26, 0x07, 'unsupported target descriptor type code', 'fallback'],
  [0x26, 0x08, 'too many segment descriptors', 'split'],
  [0x26, 0x09, 'unsupported segment descriptor type code', 'fallback'],
  [0x26, 0x0a, 'unexpected inexact segment', 'encoder-bug'],
  [0x26, 0x0b, 'inline data length exceeded', 'encoder-bug'],
  [0x26, 0x0c, 'invalid operation for copy source or destination', 'fallback'],
  [0x26, 0x0d, 'copy segment granularity violation', 'encoder-bug'],
  [0x26, 0x15, 'copy source or copy destination not authorized', 'fallback'],
  [0x26, 0x16, 'fast copy not possible', 'fallback'],
  [0x27, 0x00, 'write protected', 'fatal'],
  [0x27, 0x01, 'hardware write protected', 'fatal'],
  [0x27, 0x02, 'logical unit software write protected', 'fatal'],
  [0x27, 0x03, 'associated write protect', 'fatal'],
  [0x27, 0x04, 'persistent write protect', 'fatal'],
  [0x27, 0x05, 'permanent write protect', 'fatal'],
  [0x27, 0x06, 'conditional write protect', 'fatal'],
  [0x27, 0x07, 'space allocation failed write protect', 'fatal'],
  [0x27, 0x08, 'zone is read only', 'fatal'],
  [0x28, 0x00, 'not ready to ready change, medium may have changed', 'recheck'],
  // 29/xx: a reset may have dropped in-flight lists; re-check them with RCR/RRTI (ref 2.6).
  [0x29, 0x00, 'power on, reset, or bus device reset occurred', 'recheck'],
  [0x29, 0x01, 'power on occurred', 'recheck'],
  [0x29, 0x02, 'SCSI bus reset occurred', 'recheck'],
  [0x29, 0x03, 'bus device reset function occurred', 'recheck'],
  [0x29, 0x04, 'device internal reset', 'recheck'],
  [0x29, 0x05, 'transceiver mode changed to single-ended', 'recheck'],
  [0x29, 0x06, 'transceiver mode changed to LVD', 'recheck'],
  [0x29, 0x07, 'I_T nexus loss occurred', 'recheck'],
  [0x2a, 0x00, 'parameters changed', 'recheck'],
  [0x2a, 0x01, 'mode parameters changed', 'recheck'],
  [0x2a, 0x06, 'asymmetric access state changed', 'recheck'],
  [0x2a, 0x09, 'capacity data has changed', 'recheck'],
  [0x2c, 0x00, 'command sequence error', 'fatal'],
  [0x2f, 0x00, 'commands cleared by another initiator', 'retry'],
  [0x2f, 0x01, 'commands cleared by power loss notification', 'retry'],
  [0x2f, 0x02, 'commands cleared by device server', 'retry'],
  [0x3a, 0x00, 'medium not present', 'fatal'],
  [0x3f, 0x00, 'target operating conditions have changed', 'recheck'],
  [0x3f, 0x01, 'microcode has been changed', 'recheck'],
  [0x3f, 0x03, 'inquiry data has changed', 'recheck'],
  [0x3f, 0x05, 'device identifier changed', 'recheck'],
  [0x3f, 0x0e, 'reported LUNs data has changed', 'recheck'],
  [0x44, 0x00, 'internal target failure', 'fallback'],
  [0x47, 0x00, 'SCSI parity error', 'retry'],
  [0x4b, 0x00, 'data phase error', 'retry'],
  [0x55, 0x00, 'system resource failure', 'retry'],
  [0x55, 0x01, 'system buffer full', 'retry'],
  [0x55, 0x02, 'insufficient reservation resources', 'fatal'],
  [0x55, 0x03, 'insufficient resources', 'retry'],
  [0x55, 0x04, 'insufficient registration resources', 'fatal'],
  [0x55, 0x0c, 'insufficient resources to create ROD', 'retry'],
  [0x55, 0x0d, 'insufficient resources to create ROD token', 'retry'],
];

/** Every ASC/ASCQ this module names, with its copy-engine action. */
export const ASC_TABLE: readonly AscEntry[] = ROWS.map(([asc, ascq, name, action]) =>
  action === undefined ? { asc, ascq, name } : { asc, ascq, name, action },
);

const BY_CODE = new Map<number, AscEntry>(ASC_TABLE.map((e) => [(e.asc << 8) | e.ascq, e]));

/** The table entry for an ASC/ASCQ pair, if we know it. */
export function ascEntry(asc: number, ascq: number): AscEntry | undefined {
  return BY_CODE.get(((asc & 0xff) << 8) | (ascq & 0xff));
}

/**
 * Human name of an ASC/ASCQ pair. Unknown codes get a generic name that still says whether the
 * code lies in a vendor-specific range (ASC >= 0x80, or ASCQ >= 0x80 under a standard ASC).
 */
export function ascName(asc: number, ascq: number): string {
  const e = ascEntry(asc, ascq);
  if (e) return e.name;
  if (asc >= 0x80) return `vendor specific ASC 0x${hex2(asc)} ASCQ 0x${hex2(ascq)}`;
  if (ascq >= 0x80) return `vendor specific ASCQ 0x${hex2(ascq)} for ASC 0x${hex2(asc)}`;
  return `ASC 0x${hex2(asc)} ASCQ 0x${hex2(ascq)}`;
}

/** Default action per sense key, for codes without their own entry (ours). */
const BY_SENSE_KEY: readonly CopyAction[] = [
  'retry', // NO SENSE: nothing reported; try again
  'retry', // RECOVERED ERROR: the command completed; repeating a copy is harmless
  'retry', // NOT READY: most 04/xx are transient (FreeBSD retries them)
  'fatal', // MEDIUM ERROR
  'fatal', // HARDWARE ERROR
  'fallback', // ILLEGAL REQUEST: the offload path does not accept what we sent
  'recheck', // UNIT ATTENTION: something changed; re-read state, then retry
  'fatal', // DATA PROTECT
  'fatal', // BLANK CHECK
  'fatal', // vendor specific
  'fallback', // COPY ABORTED: the copy manager gave up; host copy may still work
  'retry', // ABORTED COMMAND: soft failure, usually transport
  'fatal', // EQUAL (obsolete)
  'fatal', // VOLUME OVERFLOW
  'fatal', // MISCOMPARE
  'fatal', // COMPLETED
];

/**
 * The copy-engine action for a failed command's sense (ref 2.6, action column, ours).
 * A code with its own entry decides; otherwise the sense key does. 08/00 is always a fallback,
 * whatever the key, because LIO reports its block-size mismatch as NOT READY 08/00.
 */
export function copyActionFor(senseKey: number, asc: number, ascq: number): CopyAction {
  const e = ascEntry(asc, ascq);
  // 00/16 means "list id busy" only as ILLEGAL REQUEST; under NOT READY etc. it is progress.
  if (e?.action && !(asc === 0x00 && ascq === 0x16 && (senseKey & 0x0f) !== SENSE_KEY.ILLEGAL_REQUEST)) {
    return e.action;
  }
  // Protection information errors come as ABORTED COMMAND 10/xx but are never retried blindly.
  if ((senseKey & 0x0f) === SENSE_KEY.ABORTED_COMMAND && asc === 0x10) return 'fatal';
  return BY_SENSE_KEY[senseKey & 0x0f] as CopyAction;
}
