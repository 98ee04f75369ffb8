// Third-party copy reply decoders: RECEIVE COPY RESULTS (LID1 status, operating parameters,
// failed segment details, ref 5.6), RECEIVE ROD TOKEN INFORMATION and RECEIVE COPY STATUS(LID4)
// (ref 5.10), REPORT ALL ROD TOKENS (ref 5.12), the 0xE4 identification CSCD descriptor (ref 5.3),
// and the status / transfer-count-unit tables of ref 7.1 and 7.2.

import { ByteReader, hex2, ParseError } from './bytes';
import { serviceActionName } from './opcodes';
import { decodeSense, type DecodedSense } from './sense';
import { decodeDesignationDescriptorAt, peripheralDeviceTypeName, type DesignationDescriptor } from './spc';

// ---------------------------------------------------------------------------------------------
// ROD types (ref 6.2)

export const ROD_TYPE = {
  COPY_MANAGER_INTERNAL: 0x00000000,
  ACCESS_UPON_REFERENCE: 0x00010000,
  POINT_IN_TIME_DEFAULT: 0x00800000,
  POINT_IN_TIME_CHANGE_VULNERABLE: 0x00800001,
  POINT_IN_TIME_PERSISTENT: 0x00800002,
  POINT_IN_TIME_COPY_ON_WRITE: 0x00800003,
  POINT_IN_TIME_ANY: 0x0080ffff,
  BLOCK_DEVICE_ZERO: 0xffff0001,
} as const;

export interface RodTypeEntry {
  /** First value of the range (the value itself for single entries). */
  from: number;
  /** Last value of the range (inclusive). */
  to: number;
  name: string;
}

/** ROD type table, single values and ranges (ref 6.2). Exact values are listed before ranges. */
export const ROD_TYPES: readonly RodTypeEntry[] = [
  { from: 0x00000000, to: 0x00000000, name: 'copy manager internal' },
  { from: 0x00010000, to: 0x00010000, name: 'access upon reference' },
  { from: 0x00800000, to: 0x00800000, name: 'point in time copy - default' },
  { from: 0x00800001, to: 0x00800001, name: 'point in time copy - change vulnerable' },
  { from: 0x00800002, to: 0x00800002, name: 'point in time copy - persistent' },
  { from: 0x00800003, to: 0x00800003, name: 'point in time copy - copy on write' },
  { from: 0x0080ffff, to: 0x0080ffff, name: 'point in time copy - any' },
  { from: 0xffff0001, to: 0xffff0001, name: 'block device zero ROD token' },
  { from: 0xff000000, to: 0xffffffef, name: 'device type specific' },
  { from: 0xfffffff0, to: 0xffffffff, name: 'vendor specific' },
];

export function rodTypeName(v: number): string {
  for (const e of ROD_TYPES) if (v >= e.from && v <= e.to) return e.name;
  return `reserved (0x${v.toString(16).padStart(8, '0')})`;
}

/** Full token length, and the value of ROD TOKEN LENGTH (bytes after byte 7) in it (ref 6.1). */

// ---------------------------------------------------------------------------------------------
// Status and unit tables (ref 7.1, 7.2, 5.6)

/** COPY OPERATION STATUS of RRTI / RECEIVE COPY STATUS(LID4), byte 5 bits 6-0 (ref 7.1). */
export const COPY_OPERATION_STATUS = {
  COMPLETED: 0x01,
  COMPLETED_WITH_ERRORS: 0x02,
  COMPLETED_PARTIAL_ROD_TOKEN_USAGE: 0x03,
  COMPLETED_RESIDUAL_DATA: 0x04,
  IN_PROGRESS: 0x10,
  IN_PROGRESS_FOREGROUND: 0x11,
  IN_PROGRESS_BACKGROUND: 0x12,
  TERMINATED: 0x60,
} as const;

const COPY_OPERATION_STATUS_NAMES = new Map<number, string>([
  [0x01, 'completed without errors'],
  [0x02, 'completed with errors'],
  [0x03, 'completed without errors, partial ROD token usage'],
  [0x04, 'completed without errors, residual data'],
  [0x10, 'in progress, foreground or background unknown'],
  [0x11, 'in progress in foreground'],
  [0x12, 'in progress in background'],
  [0x60, 'operation terminated'],
]);

export function copyOperationStatusName(v: number): string {
  return COPY_OPERATION_STATUS_NAMES.get(v) ?? `reserved (0x${hex2(v)})`;
}

/** 0x10-0x12: poll again (ref 7.1). */
export function isCopyInProgress(v: number): boolean {
  return v >= 0x10 && v <= 0x12;
}

/** COPY MANAGER STATUS of RECEIVE COPY STATUS(LID1), byte 4 bits 6-0 (ref 5.6). */
export const COPY_MANAGER_STATUS_LID1 = {
  IN_PROGRESS: 0x00,
  COMPLETED: 0x01,
  COMPLETED_WITH_ERRORS: 0x02,
} as const;

const LID1_STATUS_NAMES = ['in progress', 'completed without errors', 'completed with errors'];

/** TRANSFER COUNT UNITS (ref 7.2). */
export const TRANSFER_COUNT_UNITS = {
  BYTES: 0x00,
  KIBIBYTES: 0x01,
  MEBIBYTES: 0x02,
  GIBIBYTES: 0x03,
  TEBIBYTES: 0x04,
  PEBIBYTES: 0x05,
  EXBIBYTES: 0x06,
  LOGICAL_BLOCKS: 0xf1,
} as const;

const UNIT_NAMES = new Map<number, string>([
  [0x00, 'bytes'],
  [0x01, 'kibibytes'],
  [0x02, 'mebibytes'],
  [0x03, 'gibibytes'],
  [0x04, 'tebibytes'],
  [0x05, 'pebibytes'],
  [0x06, 'exbibytes'],
  [0xf1, 'logical blocks'],
]);

export function transferCountUnitsName(v: number): string {
  return UNIT_NAMES.get(v) ?? `reserved (0x${hex2(v)})`;
}

/**
 * Convert a TRANSFER COUNT in its units to bytes (ref 7.2). Units 0xF1 (logical blocks, what
 * FreeBSD's RRTI uses) need the block size; unknown units throw ParseError (the reply is not
 * something we can interpret).
 */
export function transferCountToBytes(units: number, count: bigint, blockSize?: number): bigint {
  if (units >= 0x00 && units <= 0x06) return count << BigInt(10 * units);
  if (units === TRANSFER_COUNT_UNITS.LOGICAL_BLOCKS) {
    if (blockSize === undefined || !Number.isSafeInteger(blockSize) || blockSize <= 0) {
      throw new RangeError(`transfer count is in logical blocks: a positive integer block size is needed (got ${String(blockSize)})`);
    }
    return count * BigInt(blockSize);
  }
  throw new ParseError('transfer count', 'TRANSFER COUNT UNITS', 0, 1, `unknown transfer count units 0x${hex2(units)}`);
}

/** Something with a transfer count; the decoded replies below all are. */
export interface HasTransferCount {
  transferCountUnits: number;
  transferCount: bigint;
}

/** Bytes represented by a decoded status reply's transfer count (see transferCountToBytes). */
export function transferredBytes(x: HasTransferCount, blockSize?: number): bigint {
  return transferCountToBytes(x.transferCountUnits, x.transferCount, blockSize);
}

/** Attach `transferredBytes(blockSize)` as a non-enumerable method (keeps the data plain). */
function withTransferredBytes<T extends HasTransferCount>(o: T): T & { transferredBytes(blockSize?: number): bigint } {
  Object.defineProperty(o, 'transferredBytes', {
    value: (blockSize?: number) => transferCountToBytes(o.transferCountUnits, o.transferCount, blockSize),
    enumerable: false,
    writable: false,
    configurable: true,
  });
  return o as T & { transferredBytes(blockSize?: number): bigint };
}

/** Read AVAILABLE DATA (bytes 0-3), check the fixed part, and limit the reader. */
export function openAvailable(buf: Buffer, structure: string, fixedLen: number): { r: ByteReader; availableData: number; claimedEnd: number; truncated: boolean } {
  const whole = new ByteReader(buf, structure);
  whole.need(0, 4, 'AVAILABLE DATA');
  const availableData = whole.u32(0, 'AVAILABLE DATA');
  const clamp = whole.clampLength(4, availableData);
  if (clamp.claimedEnd < fixedLen) whole.fail('AVAILABLE DATA', 0, `available data ${availableData} is less than the ${fixedLen - 4} bytes this reply always has`);
  whole.need(0, fixedLen, `fixed part (bytes 0-${fixedLen - 1})`);
  return { r: whole.limit(clamp.end), availableData, claimedEnd: clamp.claimedEnd, truncated: clamp.truncated };
}

// ---------------------------------------------------------------------------------------------
// RECEIVE COPY STATUS(LID1), SA 0x00 (ref 5.6)

export interface CopyStatusLid1 extends HasTransferCount {
  availableData: number;
  /** HDD: held data discarded. */
  hdd: boolean;
  copyManagerStatus: number;
  copyManagerStatusName: string;
  inProgress: boolean;
  segmentsProcessed: number;
  transferCountUnitsName: string;
  truncated: boolean;
  transferredBytes(blockSize?: number): bigint;
}

export function decodeCopyStatus(buf: Buffer): CopyStatusLid1 {
  const { r, availableData, truncated } = openAvailable(buf, 'RECEIVE COPY STATUS(LID1) data', 12);
  const b4 = r.u8(4, 'HDD/COPY MANAGER STATUS');
  const status = b4 & 0x7f;
  const units = r.u8(7, 'TRANSFER COUNT UNITS');
  return withTransferredBytes({
    availableData,
    hdd: (b4 & 0x80) !== 0,
    copyManagerStatus: status,
    copyManagerStatusName: LID1_STATUS_NAMES[status] ?? `reserved (0x${hex2(status)})`,
    inProgress: status === COPY_MANAGER_STATUS_LID1.IN_PROGRESS,
    segmentsProcessed: r.u16(5, 'SEGMENTS PROCESSED'),
    transferCountUnits: units,
    transferCountUnitsName: transferCountUnitsName(units),
    transferCount: BigInt(r.u32(8, 'TRANSFER COUNT')),
    truncated,
  });
}

// ---------------------------------------------------------------------------------------------
// RECEIVE COPY OPERATING PARAMETERS, SA 0x03 (ref 5.6)

export interface OperatingParameters {
  availableData: number;
  /** SNLID: LIST ID USAGE 11b (no list identifier) is supported. */
  snlid: boolean;
  maximumCscdDescriptorCount: number;
  maximumSegmentDescriptorCount: number;
  maximumDescriptorListLength: number;
  /** Bytes; 0 = not reported / no limit (sg_xcopy treats 0 as unlimited). */
  maximumSegmentLength: number;
  maximumInlineDataLength: number;
  heldDataLimit: number;
  maximumStreamDeviceTransferSize: number;
  totalConcurrentCopies: number;
  maximumConcurrentCopies: number;
  /** log2 of bytes (ref 8.2; LIO/tcmu 9 = 512). */
  dataSegmentGranularity: number;
  inlineDataGranularity: number;
  heldDataGranularity: number;
  implementedDescriptorListLength: number;
  /** Implemented descriptor type codes (segment and CSCD), e.g. [0x02, 0xE4]. */
  implementedDescriptorTypeCodes: number[];
  truncated: boolean;
}

export function decodeOperatingParameters(buf: Buffer): OperatingParameters {
  const { r, availableData, claimedEnd, truncated } = openAvailable(buf, 'RECEIVE COPY OPERATING PARAMETERS data', 44);
  const listLen = r.u8(43, 'IMPLEMENTED DESCRIPTOR LIST LENGTH');
  if (44 + listLen > claimedEnd) r.fail('IMPLEMENTED DESCRIPTOR LIST LENGTH', 43, `list of ${listLen} bytes runs past the ${availableData} bytes of available data`);
  const present = Math.min(listLen, r.length - 44);
  return {
    availableData,
    snlid: r.bit(4, 0, 'SNLID'),
    maximumCscdDescriptorCount: r.u16(8, 'MAXIMUM CSCD DESCRIPTOR COUNT'),
    maximumSegmentDescriptorCount: r.u16(10, 'MAXIMUM SEGMENT DESCRIPTOR COUNT'),
    maximumDescriptorListLength: r.u32(12, 'MAXIMUM DESCRIPTOR LIST LENGTH'),
    maximumSegmentLength: r.u32(16, 'MAXIMUM SEGMENT LENGTH'),
    maximumInlineDataLength: r.u32(20, 'MAXIMUM INLINE DATA LENGTH'),
    heldDataLimit: r.u32(24, 'HELD DATA LIMIT'),
    maximumStreamDeviceTransferSize: r.u32(28, 'MAXIMUM STREAM DEVICE TRANSFER SIZE'),
    totalConcurrentCopies: r.u16(34, 'TOTAL CONCURRENT COPIES'),
    maximumConcurrentCopies: r.u8(36, 'MAXIMUM CONCURRENT COPIES'),
    dataSegmentGranularity: r.u8(37, 'DATA SEGMENT GRANULARITY'),
    inlineDataGranularity: r.u8(38, 'INLINE DATA GRANULARITY'),
    heldDataGranularity: r.u8(39, 'HELD DATA GRANULARITY'),
    implementedDescriptorListLength: listLen,
    implementedDescriptorTypeCodes: [...r.slice(44, present, 'IMPLEMENTED DESCRIPTOR TYPE CODES')],
    truncated: truncated || present < listLen,
  };
}

/** Block->block segment descriptor type code (ref 5.5). */
export const SEGMENT_BLOCK_TO_BLOCK = 0x02;
/** Identification CSCD descriptor type code (ref 5.3). */
export const CSCD_IDENTIFICATION = 0xe4;

/** EXTENDED COPY(LID1) block copy is possible: 0x02 segments and 0xE4 CSCDs (ref 5.6, sg_xcopy's test). */
export function supportsLid1BlockCopy(op: Pick<OperatingParameters, 'implementedDescriptorTypeCodes'>): boolean {
  return op.implementedDescriptorTypeCodes.includes(SEGMENT_BLOCK_TO_BLOCK) && op.implementedDescriptorTypeCodes.includes(CSCD_IDENTIFICATION);
}

// ---------------------------------------------------------------------------------------------
// RECEIVE COPY FAILURE DETAILS(LID1), SA 0x04 (ref 5.6)

export interface FailedSegmentDetails {
  availableData: number;
  /** AVAILABLE DATA is 0 when the list did not fail (or has no details). */
  hasDetails: boolean;
  /** SCSI status the failed EXTENDED COPY returned. */
  extendedCopyCommandStatus?: number;
  senseDataLength?: number;
  /** The sense bytes present (a view). */
  senseData?: Buffer;
  sense?: DecodedSense;
  senseError?: string;
  truncated: boolean;
}

export function decodeFailedSegmentDetails(buf: Buffer): FailedSegmentDetails {
  const whole = new ByteReader(buf, 'RECEIVE COPY FAILURE DETAILS data');
  whole.need(0, 4, 'AVAILABLE DATA');
  const availableData = whole.u32(0, 'AVAILABLE DATA');
  if (availableData === 0) return { availableData, hasDetails: false, truncated: false };
  // Details end with SENSE DATA LENGTH at 58-59: anything less is inconsistent.
  if (availableData < 56) whole.fail('AVAILABLE DATA', 0, `available data ${availableData} is non-zero but shorter than the 56 bytes of failure details`);
  const clamp = whole.clampLength(4, availableData);
  const r = whole.limit(clamp.end);
  const out: FailedSegmentDetails = { availableData, hasDetails: true, truncated: clamp.truncated };
  if (r.has(56)) out.extendedCopyCommandStatus = r.u8(56, 'EXTENDED COPY COMMAND STATUS');
  if (!r.has(58, 2)) return out;
  const senseLen = r.u16(58, 'SENSE DATA LENGTH');
  out.senseDataLength = senseLen;
  if (60 + senseLen > clamp.claimedEnd) r.fail('SENSE DATA LENGTH', 58, `${senseLen} bytes of sense data run past the available data`);
  const present = Math.min(senseLen, r.length - 60);
  if (present < senseLen) out.truncated = true;
  if (present > 0) {
    out.senseData = r.slice(60, present, 'SENSE DATA');
    decodeNestedSense(out, out.senseData);
  }
  return out;
}

/** Sense embedded in a reply is the target's record of another command: keep errors local. */
function decodeNestedSense(out: { sense?: DecodedSense; senseError?: string }, data: Buffer): void {
  try {
    out.sense = decodeSense(data);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    out.senseError = e.message;
  }
}

// ---------------------------------------------------------------------------------------------
// RECEIVE ROD TOKEN INFORMATION (SA 0x07) and RECEIVE COPY STATUS(LID4) (SA 0x05), ref 5.10

export interface CopyOperationStatusInfo extends HasTransferCount {
  availableData: number;
  /** SA of the 0x83 command this reports on (0x00, 0x01, 0x10, 0x11). */
  responseToServiceAction: number;
  responseToServiceActionName: string;
  copyOperationStatus: number;
  copyOperationStatusName: string;
  /** Status 0x10-0x12: poll again. */
  inProgress: boolean;
  operationCounter: number;
  /** Milliseconds; FreeBSD always reports 0xFFFFFFFF (ref 7.3). */
  estimatedStatusUpdateDelay: number;
  /** SCSI status of the originating command. */
  extendedCopyCompletionStatus: number;
  /** LENGTH OF THE SENSE DATA FIELD (byte 13): bytes reserved at 32. */
  senseDataFieldLength: number;
  /** SENSE DATA LENGTH (byte 14): valid sense bytes. */
  senseDataLength: number;
  /** The valid sense bytes present (a view), when any. */
  senseData?: Buffer;
  sense?: DecodedSense;
  senseError?: string;
  transferCountUnitsName: string;
  segmentsProcessed: number;
  truncated: boolean;
  /** Transfer count in bytes; units 0xF1 need the block size. */
  transferredBytes(blockSize?: number): bigint;
}

export interface RodTokenInformation extends CopyOperationStatusInfo {
  /** ROD TOKEN DESCRIPTORS LENGTH: 514 with a token, 0 without; undefined if not returned. */
  rodTokenDescriptorsLength?: number;
  /** The 512-byte ROD token (a copy, safe to keep), when present and complete. */
  token?: Buffer;
}

function decodeStatusCommon(structure: string, buf: Buffer): { r: ByteReader; info: CopyOperationStatusInfo; claimedEnd: number } {
  const { r, availableData, claimedEnd, truncated } = openAvailable(buf, structure, 32);
  const sa = r.u8(4, 'RESPONSE TO SERVICE ACTION') & 0x1f;
  const status = r.u8(5, 'COPY OPERATION STATUS') & 0x7f;
  const fieldLen = r.u8(13, 'LENGTH OF THE SENSE DATA FIELD');
  const senseLen = r.u8(14, 'SENSE DATA LENGTH');
  const units = r.u8(15, 'TRANSFER COUNT UNITS');
  if (senseLen > fieldLen) r.fail('SENSE DATA LENGTH', 14, `${senseLen} valid sense bytes in a sense data field of ${fieldLen}`);
  if (32 + fieldLen > claimedEnd) r.fail('LENGTH OF THE SENSE DATA FIELD', 13, `sense data field of ${fieldLen} bytes runs past the available data`);
  const info: CopyOperationStatusInfo = withTransferredBytes({
    availableData,
    responseToServiceAction: sa,
    responseToServiceActionName: serviceActionName(0x83, sa),
    copyOperationStatus: status,
    copyOperationStatusName: copyOperationStatusName(status),
    inProgress: isCopyInProgress(status),
    operationCounter: r.u16(6, 'OPERATION COUNTER'),
    estimatedStatusUpdateDelay: r.u32(8, 'ESTIMATED STATUS UPDATE DELAY'),
    extendedCopyCompletionStatus: r.u8(12, 'EXTENDED COPY COMPLETION STATUS'),
    senseDataFieldLength: fieldLen,
    senseDataLength: senseLen,
    transferCountUnits: units,
    transferCountUnitsName: transferCountUnitsName(units),
    transferCount: r.u64(16, 'TRANSFER COUNT'),
    segmentsProcessed: r.u16(24, 'SEGMENTS PROCESSED'),
    truncated,
  });
  const present = Math.max(0, Math.min(senseLen, r.length - 32));
  if (present < senseLen) info.truncated = true;
  if (present > 0) {
    info.senseData = r.slice(32, present, 'SENSE DATA');
    decodeNestedSense(info, info.senseData);
  }
  return { r, info, claimedEnd };
}

/** Decode RECEIVE COPY STATUS(LID4) data (ref 5.10, without the token part). */
export function decodeReceiveCopyStatusLid4(buf: Buffer): CopyOperationStatusInfo {
  return decodeStatusCommon('RECEIVE COPY STATUS(LID4) data', buf).info;
}

/** A ROD token descriptor is 2 reserved bytes + the 512-byte token (ref 5.10, FreeBSD). */
const ROD_TOKEN_DESCRIPTOR_LENGTH = 514;

/** Decode RECEIVE ROD TOKEN INFORMATION data (ref 5.10), including the ROD token if any. */
export function decodeReceiveRodTokenInformation(buf: Buffer): RodTokenInformation {
  const { r, info, claimedEnd } = decodeStatusCommon('RECEIVE ROD TOKEN INFORMATION data', buf);
  const out: RodTokenInformation = info;
  const p = 32 + info.senseDataFieldLength;
  // The token part follows the sense data field, if the reply claims to go that far.
  if (p + 4 > claimedEnd) return out;
  if (!r.has(p, 4)) {
    out.truncated = true;
    return out;
  }
  const len = r.u32(p, 'ROD TOKEN DESCRIPTORS LENGTH');
  out.rodTokenDescriptorsLength = len;
  if (len === 0) return out;
  if (len < ROD_TOKEN_DESCRIPTOR_LENGTH) r.fail('ROD TOKEN DESCRIPTORS LENGTH', p, `${len} bytes cannot hold a 512-byte ROD token`);
  if (p + 4 + len > claimedEnd) r.fail('ROD TOKEN DESCRIPTORS LENGTH', p, `ROD token descriptors of ${len} bytes run past the available data`);
  if (!r.has(p + 6, 512)) {
    out.truncated = true;
    return out;
  }
  out.token = r.copy(p + 6, 512, 'ROD TOKEN');
  return out;
}


// ---------------------------------------------------------------------------------------------
// Identification CSCD descriptor 0xE4 (ref 5.3)

export interface IdentificationCscd {
  descriptorTypeCode: number;
  /** LU ID TYPE: 0 LUN, 1 proxy token. */
  luIdType: number;
  nul: boolean;
  peripheralDeviceType: number;
  peripheralDeviceTypeName: string;
  relativeInitiatorPortIdentifier: number;
  /** The embedded designation descriptor (bytes 4.., designator at most 20 bytes). */
  designator: DesignationDescriptor;
  /** PDT 0: PAD bit (byte 28 bit 2). */
  pad: boolean;
  /** FIXED (byte 28 bit 0, stream devices). */
  fixed: boolean;
  /** DISK BLOCK LENGTH (bytes 29-31, block devices). */
  diskBlockLength: number;
  /** The 32 bytes (a view). */
  raw: Buffer;
}

export const CSCD_DESCRIPTOR_LENGTH = 32;

/** Decode a 32-byte identification CSCD descriptor (type 0xE4, ref 5.3). */
export function decodeIdentificationCscd(buf: Buffer): IdentificationCscd {
  const r = new ByteReader(buf, 'identification CSCD descriptor');
  r.need(0, CSCD_DESCRIPTOR_LENGTH, 'CSCD descriptor (32 bytes)');
  const type = r.u8(0, 'DESCRIPTOR TYPE CODE');
  if (type !== CSCD_IDENTIFICATION) r.fail('DESCRIPTOR TYPE CODE', 0, `type code 0x${hex2(type)} is not 0xE4`);
  const dlen = r.u8(7, 'DESIGNATOR LENGTH');
  if (dlen > 20) r.fail('DESIGNATOR LENGTH', 7, `designator of ${dlen} bytes exceeds the 20-byte field`);
  const b1 = r.u8(1, 'LU ID TYPE/NUL/PERIPHERAL DEVICE TYPE');
  const b28 = r.u8(28, 'PAD/FIXED');
  const pdt = b1 & 0x1f;
  return {
    descriptorTypeCode: type,
    luIdType: b1 >> 6,
    nul: (b1 & 0x20) !== 0,
    peripheralDeviceType: pdt,
    peripheralDeviceTypeName: peripheralDeviceTypeName(pdt),
    relativeInitiatorPortIdentifier: r.u16(2, 'RELATIVE INITIATOR PORT IDENTIFIER'),
    designator: decodeDesignationDescriptorAt(r.sub(4, 24, 'CSCD designator'), 0),
    pad: (b28 & 0x04) !== 0,
    fixed: (b28 & 0x01) !== 0,
    diskBlockLength: r.u24(29, 'DISK BLOCK LENGTH'),
    raw: r.slice(0, CSCD_DESCRIPTOR_LENGTH, 'CSCD descriptor'),
  };
}
