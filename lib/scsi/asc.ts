// Sense key names and ASC/ASCQ names (ref 2.5, 2.6). What the copy engine does about each code
// is the engine's (lib/engine/reactions.ts).
//
// Names are the T10 ones (sense keys upper case as T10 writes them; ASC/ASCQ in lower case with
// acronyms kept, so they read well inside a message). The list covers every code in the
// reference's table 2.6 plus the families a copy engine meets around it; anything else gets a
// generic name.

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


export interface AscEntry {
  asc: number;
  ascq: number;
  name: string;
}

// [asc, ascq, name]
type Row = [number, number, string];
const ROWS: Row[] = [
  [0x00, 0x00, 'no additional sense information'],
  [0x00, 0x16, 'operation in progress'],
  [0x00, 0x17, 'cleaning requested'],
  [0x00, 0x1d, 'ATA pass through information available'],
  [0x00, 0x20, 'extended copy information available'],
  [0x04, 0x00, 'logical unit not ready, cause not reportable'],
  [0x04, 0x01, 'logical unit is in process of becoming ready'],
  [0x04, 0x02, 'logical unit not ready, initializing command required'],
  [0x04, 0x03, 'logical unit not ready, manual intervention required'],
  [0x04, 0x04, 'logical unit not ready, format in progress'],
  [0x04, 0x05, 'logical unit not ready, rebuild in progress'],
  [0x04, 0x06, 'logical unit not ready, recalculation in progress'],
  [0x04, 0x07, 'logical unit not ready, operation in progress'],
  [0x04, 0x08, 'logical unit not ready, long write in progress'],
  [0x04, 0x09, 'logical unit not ready, self-test in progress'],
  [0x04, 0x0a, 'logical unit not accessible, asymmetric access state transition'],
  [0x04, 0x0b, 'logical unit not accessible, target port in standby state'],
  [0x04, 0x0c, 'logical unit not accessible, target port in unavailable state'],
  [0x04, 0x0d, 'logical unit not ready, structure check required'],
  [0x04, 0x0e, 'logical unit not ready, security session in progress'],
  [0x04, 0x10, 'logical unit not ready, auxiliary memory not accessible'],
  [0x04, 0x11, 'logical unit not ready, notify (enable spinup) required'],
  [0x04, 0x12, 'logical unit not ready, offline'],
  [0x04, 0x13, 'logical unit not ready, SA creation in progress'],
  [0x04, 0x14, 'logical unit not ready, space allocation in progress'],
  [0x04, 0x15, 'logical unit not ready, robotics disabled'],
  [0x04, 0x16, 'logical unit not ready, configuration required'],
  [0x04, 0x17, 'logical unit not ready, calibration required'],
  [0x04, 0x18, 'logical unit not ready, a door is open'],
  [0x04, 0x19, 'logical unit not ready, operating in sequential mode'],
  [0x04, 0x1a, 'logical unit not ready, start stop unit command in progress'],
  [0x04, 0x1b, 'logical unit not ready, sanitize in progress'],
  [0x04, 0x1c, 'logical unit not ready, additional power use not yet granted'],
  [0x04, 0x1d, 'logical unit not ready, configuration in progress'],
  [0x04, 0x1e, 'logical unit not ready, microcode activation required'],
  [0x04, 0x1f, 'logical unit not ready, microcode download required'],
  [0x04, 0x20, 'logical unit not ready, logical unit reset required'],
  [0x04, 0x21, 'logical unit not ready, hard reset required'],
  [0x04, 0x22, 'logical unit not ready, power cycle required'],
  [0x05, 0x00, 'logical unit does not respond to selection'],
  [0x08, 0x00, 'logical unit communication failure'],
  [0x08, 0x01, 'logical unit communication time-out'],
  [0x08, 0x02, 'logical unit communication parity error'],
  [0x08, 0x03, 'logical unit communication CRC error (Ultra-DMA/32)'],
  [0x08, 0x04, 'unreachable copy target'],
  [0x0c, 0x00, 'write error'],
  [0x0d, 0x00, 'error detected by third party temporary initiator'],
  [0x0d, 0x01, 'third party device failure'],
  [0x0d, 0x02, 'copy target device not reachable'],
  [0x0d, 0x03, 'incorrect copy target device type'],
  [0x0d, 0x04, 'copy target device data underrun'],
  [0x0d, 0x05, 'copy target device data overrun'],
  [0x0e, 0x00, 'invalid information unit'],
  [0x0e, 0x01, 'information unit too short'],
  [0x0e, 0x02, 'information unit too long'],
  [0x0e, 0x03, 'invalid field in command information unit'],
  [0x10, 0x00, 'ID CRC or ECC error'],
  [0x10, 0x01, 'logical block guard check failed'],
  [0x10, 0x02, 'logical block application tag check failed'],
  [0x10, 0x03, 'logical block reference tag check failed'],
  [0x10, 0x04, 'logical block protection error on recover buffered data'],
  [0x10, 0x05, 'logical block protection method error'],
  [0x11, 0x00, 'unrecovered read error'],
  [0x1a, 0x00, 'parameter list length error'],
  [0x20, 0x00, 'invalid command operation code'],
  [0x21, 0x00, 'logical block address out of range'],
  [0x21, 0x01, 'invalid element address'],
  [0x23, 0x00, 'invalid token operation, cause not reportable'],
  [0x23, 0x01, 'invalid token operation, unsupported token type'],
  [0x23, 0x02, 'invalid token operation, remote token usage not supported'],
  [0x23, 0x03, 'invalid token operation, remote ROD token creation not supported'],
  [0x23, 0x04, 'invalid token operation, token unknown'],
  [0x23, 0x05, 'invalid token operation, token corrupt'],
  [0x23, 0x06, 'invalid token operation, token revoked'],
  [0x23, 0x07, 'invalid token operation, token expired'],
  [0x23, 0x08, 'invalid token operation, token cancelled'],
  [0x23, 0x09, 'invalid token operation, token deleted'],
  [0x23, 0x0a, 'invalid token operation, invalid token length'],
  [0x24, 0x00, 'invalid field in CDB'],
  [0x25, 0x00, 'logical unit not supported'],
  [0x26, 0x00, 'invalid field in parameter list'],
  [0x26, 0x01, 'parameter not supported'],
  [0x26, 0x02, 'parameter value invalid'],
  [0x26, 0x03, 'threshold parameters not supported'],
  [0x26, 0x04, 'invalid release of persistent reservation'],
  [0x26, 0x05, 'data decryption error'],
  [0x26, 0x06, 'too many target descriptors'],
  [0x26, 0x07, 'unsupported target descriptor type code'],
  [0x26, 0x08, 'too many segment descriptors'],
  [0x26, 0x09, 'unsupported segment descriptor type code'],
  [0x26, 0x0a, 'unexpected inexact segment'],
  [0x26, 0x0b, 'inline data length exceeded'],
  [0x26, 0x0c, 'invalid operation for copy source or destination'],
  [0x26, 0x0d, 'copy segment granularity violation'],
  [0x26, 0x15, 'copy source or copy destination not authorized'],
  [0x26, 0x16, 'fast copy not possible'],
  [0x27, 0x00, 'write protected'],
  [0x27, 0x01, 'hardware write protected'],
  [0x27, 0x02, 'logical unit software write protected'],
  [0x27, 0x03, 'associated write protect'],
  [0x27, 0x04, 'persistent write protect'],
  [0x27, 0x05, 'permanent write protect'],
  [0x27, 0x06, 'conditional write protect'],
  [0x27, 0x07, 'space allocation failed write protect'],
  [0x27, 0x08, 'zone is read only'],
  [0x28, 0x00, 'not ready to ready change, medium may have changed'],
  [0x29, 0x00, 'power on, reset, or bus device reset occurred'],
  [0x29, 0x01, 'power on occurred'],
  [0x29, 0x02, 'SCSI bus reset occurred'],
  [0x29, 0x03, 'bus device reset function occurred'],
  [0x29, 0x04, 'device internal reset'],
  [0x29, 0x05, 'transceiver mode changed to single-ended'],
  [0x29, 0x06, 'transceiver mode changed to LVD'],
  [0x29, 0x07, 'I_T nexus loss occurred'],
  [0x2a, 0x00, 'parameters changed'],
  [0x2a, 0x01, 'mode parameters changed'],
  [0x2a, 0x06, 'asymmetric access state changed'],
  [0x2a, 0x09, 'capacity data has changed'],
  [0x2c, 0x00, 'command sequence error'],
  [0x2f, 0x00, 'commands cleared by another initiator'],
  [0x2f, 0x01, 'commands cleared by power loss notification'],
  [0x2f, 0x02, 'commands cleared by device server'],
  [0x3a, 0x00, 'medium not present'],
  [0x3f, 0x00, 'target operating conditions have changed'],
  [0x3f, 0x01, 'microcode has been changed'],
  [0x3f, 0x03, 'inquiry data has changed'],
  [0x3f, 0x05, 'device identifier changed'],
  [0x3f, 0x0e, 'reported LUNs data has changed'],
  [0x44, 0x00, 'internal target failure'],
  [0x47, 0x00, 'SCSI parity error'],
  [0x4b, 0x00, 'data phase error'],
  [0x55, 0x00, 'system resource failure'],
  [0x55, 0x01, 'system buffer full'],
  [0x55, 0x02, 'insufficient reservation resources'],
  [0x55, 0x03, 'insufficient resources'],
  [0x55, 0x04, 'insufficient registration resources'],
  [0x55, 0x0c, 'insufficient resources to create ROD'],
  [0x55, 0x0d, 'insufficient resources to create ROD token'],
];

/** Every ASC/ASCQ this module names. */
export const ASC_TABLE: readonly AscEntry[] = ROWS.map(([asc, ascq, name]) => ({ asc, ascq, name }));

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
