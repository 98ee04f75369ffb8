// Sense data decoding: fixed (0x70/0x71) and descriptor (0x72/0x73) formats, ref 2.1-2.4.
//
// Trust rule (ref 2.1, recipe 2.3): only bytes below 8 + ADDITIONAL SENSE LENGTH and below the
// number of bytes the kernel wrote are looked at. A buffer shorter than the sense data claims is
// normal (mx_sb_len, /dev/sg's 96-byte cap) and is reported as `truncated`; a descriptor that
// claims more bytes than the sense data itself has is malformed and throws ParseError.

import { ascName, senseKeyName, SENSE_KEY } from './asc';
import { ByteReader, walkDescriptors, ParseError } from './bytes';

/** ILLEGAL REQUEST: where in the CDB or parameter list the bad field is (ref 2.4). */
export interface FieldPointerSks {
  kind: 'field-pointer';
  /** C/D: true = the field is in the CDB, false = in the parameter data. */
  commandData: boolean;
  /** BPV: the bit pointer is valid. */
  bitPointerValid: boolean;
  /** Bit within the byte (only when BPV). */
  bitPointer?: number;
  /** Byte offset of the field. */
  fieldPointer: number;
  raw: Buffer;
}

/** NO SENSE / NOT READY: progress of a long operation (ref 2.4). */
export interface ProgressSks {
  kind: 'progress';
  /** PROGRESS INDICATION, 0..65535 meaning x/65536. */
  progress: number;
  /** progress / 65536. */
  fraction: number;
  raw: Buffer;
}

/** RECOVERED / MEDIUM / HARDWARE ERROR: actual retry count (ref 2.4). */
export interface RetryCountSks {
  kind: 'retry-count';
  actualRetryCount: number;
  raw: Buffer;
}

/** COPY ABORTED: which byte of the parameter list or segment descriptor failed (ref 2.4). */
export interface SegmentPointerSks {
  kind: 'segment-pointer';
  /** SD: true = offset relative to the segment descriptor, false = to the parameter list. */
  segmentDescriptor: boolean;
  bitPointerValid: boolean;
  bitPointer?: number;
  segmentPointer: number;
  raw: Buffer;
}

/** UNIT ATTENTION: the unit attention condition queue overflowed (ref 2.4). */
export interface UnitAttentionSks {
  kind: 'unit-attention-queue';
  overflow: boolean;
  raw: Buffer;
}

/** SKSV set, but no decoding is defined for this sense key. */
export interface OtherSks {
  kind: 'other';
  raw: Buffer;
}

export type SenseKeySpecific = FieldPointerSks | ProgressSks | RetryCountSks | SegmentPointerSks | UnitAttentionSks | OtherSks;

interface DescriptorBase {
  /** DESCRIPTOR TYPE (byte 0). */
  type: number;
  /** ADDITIONAL LENGTH (byte 1): bytes after byte 1. */
  additionalLength: number;
  /** The whole descriptor, header included (a view into the input). */
  raw: Buffer;
}

export interface InformationDescriptor extends DescriptorBase {
  kind: 'information';
  valid: boolean;
  information: bigint;
}
export interface CommandSpecificDescriptor extends DescriptorBase {
  kind: 'command-specific';
  commandSpecific: bigint;
}
export interface SenseKeySpecificDescriptor extends DescriptorBase {
  kind: 'sense-key-specific';
  /** Undefined when SKSV is clear. */
  senseKeySpecific?: SenseKeySpecific;
}
export interface FruDescriptor extends DescriptorBase {
  kind: 'fru';
  fru: number;
}
export interface StreamCommandsDescriptor extends DescriptorBase {
  kind: 'stream-commands';
  filemark: boolean;
  eom: boolean;
  ili: boolean;
}
export interface BlockCommandsDescriptor extends DescriptorBase {
  kind: 'block-commands';
  ili: boolean;
}
export interface ProgressDescriptor extends DescriptorBase {
  kind: 'progress-indication';
  senseKey: number;
  asc: number;
  ascq: number;
  progress: number;
  fraction: number;
}
export interface ForwardedSenseDescriptor extends DescriptorBase {
  kind: 'forwarded-sense';
  /** FSDT: the forwarded sense was truncated by the copy manager (FreeBSD: to 64 bytes). */
  fsdt: boolean;
  /** SENSE DATA SOURCE: 0 unknown, 1 EXTENDED COPY source, 2 EXTENDED COPY destination. */
  senseDataSource: number;
  senseDataSourceName: string;
  /** Status the copy target returned to the copy manager. */
  forwardedStatus: number;
  /** The forwarded sense bytes (a view). */
  forwardedSenseData: Buffer;
  /** Decoded forwarded sense, when it parses. */
  forwardedSense?: DecodedSense;
  /** Why the forwarded sense could not be decoded (it is the copy target's data, not ours). */
  forwardedSenseError?: string;
}
export interface UnknownSenseDescriptor extends DescriptorBase {
  kind: 'unknown';
}

export type SenseDescriptor =
  | InformationDescriptor
  | CommandSpecificDescriptor
  | SenseKeySpecificDescriptor
  | FruDescriptor
  | StreamCommandsDescriptor
  | BlockCommandsDescriptor
  | ProgressDescriptor
  | ForwardedSenseDescriptor
  | UnknownSenseDescriptor;

/** Decoded sense data (either format normalised to one shape). */
export interface DecodedSense {
  format: 'fixed' | 'descriptor';
  /** Bits 6-0 of byte 0: 0x70..0x73. */
  responseCode: number;
  /** 0x70/0x72: the error is about the command that got this sense. */
  current: boolean;
  /** 0x71/0x73: the error is about an earlier command (ref 2.3 step 4). */
  deferred: boolean;
  senseKey: number;
  senseKeyName: string;
  /** ASC and ASCQ; 0 when the sense data is too short to carry them (see ascPresent). */
  asc: number;
  ascq: number;
  ascPresent: boolean;
  ascName: string;
  /** ADDITIONAL SENSE LENGTH (byte 7), when present. */
  additionalLength?: number;
  /** Fixed: VALID bit; descriptor: VALID bit of the information descriptor. */
  informationValid: boolean;
  /** INFORMATION, only when valid (fixed: 32 bit, descriptor: 64 bit). */
  information?: bigint;
  /** COMMAND-SPECIFIC INFORMATION (FreeBSD puts the failing segment index here, ref 2.4). */
  commandSpecific?: bigint;
  /** FIELD REPLACEABLE UNIT CODE. */
  fru?: number;
  /** Decoded SENSE-KEY SPECIFIC bytes, only when SKSV is set. */
  senseKeySpecific?: SenseKeySpecific;
  filemark: boolean;
  eom: boolean;
  ili: boolean;
  sdatOvfl: boolean;
  /** Descriptor format only: every descriptor, in order (unknown ones kept raw). */
  descriptors: SenseDescriptor[];
  /** The buffer ended before 8 + ADDITIONAL SENSE LENGTH. */
  truncated: boolean;
  /** Bytes that were trusted: min(8 + additional length, buffer length). */
  length: number;
}

/** Minimal header view used when full decoding fails (see scsiErrorFromResult). */
export interface SenseHeader {
  format: 'fixed' | 'descriptor';
  responseCode: number;
  senseKey: number;
  asc: number;
  ascq: number;
  ascPresent: boolean;
}

const STRUCT = 'sense data';
/** Forwarded sense can itself carry forwarded sense; stop decoding after this many levels. */
const MAX_FORWARD_DEPTH = 3;

const SENSE_DATA_SOURCE_NAMES = ['unknown', 'EXTENDED COPY source', 'EXTENDED COPY destination'];

/** Decode the 3 sense-key specific bytes for a sense key (ref 2.4); undefined when SKSV = 0. */
export function decodeSenseKeySpecific(senseKey: number, raw: Buffer): SenseKeySpecific | undefined {
  const r = new ByteReader(raw, 'sense-key specific');
  const b0 = r.u8(0, 'SKSV');
  if ((b0 & 0x80) === 0) return undefined;
  const value = r.u16(1, 'sense-key specific value');
  switch (senseKey & 0x0f) {
    case SENSE_KEY.ILLEGAL_REQUEST: {
      const bpv = (b0 & 0x08) !== 0;
      const out: FieldPointerSks = { kind: 'field-pointer', commandData: (b0 & 0x40) !== 0, bitPointerValid: bpv, fieldPointer: value, raw };
      if (bpv) out.bitPointer = b0 & 0x07;
      return out;
    }
    case SENSE_KEY.NO_SENSE:
    case SENSE_KEY.NOT_READY:
      return { kind: 'progress', progress: value, fraction: value / 65536, raw };
    case SENSE_KEY.RECOVERED_ERROR:
    case SENSE_KEY.MEDIUM_ERROR:
    case SENSE_KEY.HARDWARE_ERROR:
      return { kind: 'retry-count', actualRetryCount: value, raw };
    case SENSE_KEY.COPY_ABORTED: {
      const bpv = (b0 & 0x08) !== 0;
      const out: SegmentPointerSks = { kind: 'segment-pointer', segmentDescriptor: (b0 & 0x20) !== 0, bitPointerValid: bpv, segmentPointer: value, raw };
      if (bpv) out.bitPointer = b0 & 0x07;
      return out;
    }
    case SENSE_KEY.UNIT_ATTENTION:
      return { kind: 'unit-attention-queue', overflow: (b0 & 0x01) !== 0, raw };
    default:
      return { kind: 'other', raw };
  }
}

function responseCodeOf(r: ByteReader): number {
  const rc = r.u8(0, 'response code') & 0x7f;
  if (rc < 0x70 || rc > 0x73) {
    r.fail('response code', 0, `response code 0x${rc.toString(16)} is neither fixed (0x70/0x71) nor descriptor (0x72/0x73) format`);
  }
  return rc;
}

/**
 * Just the sense key and ASC/ASCQ, with the fewest checks that still make them meaningful
 * (ref 2.3 steps 1-3). Throws ParseError when even those bytes are missing.
 */
export function decodeSenseHeader(buf: Buffer): SenseHeader {
  const r = new ByteReader(buf, STRUCT);
  const rc = responseCodeOf(r);
  if (rc >= 0x72) {
    const senseKey = r.u8(1, 'sense key') & 0x0f;
    const ascPresent = r.has(2, 2);
    return { format: 'descriptor', responseCode: rc, senseKey, asc: ascPresent ? r.u8(2, 'ASC') : 0, ascq: ascPresent ? r.u8(3, 'ASCQ') : 0, ascPresent };
  }
  const senseKey = r.u8(2, 'sense key') & 0x0f;
  const end = r.has(7) ? Math.min(8 + r.u8(7, 'additional sense length'), r.length) : r.length;
  const ascPresent = end >= 14;
  return { format: 'fixed', responseCode: rc, senseKey, asc: ascPresent ? r.u8(12, 'ASC') : 0, ascq: ascPresent ? r.u8(13, 'ASCQ') : 0, ascPresent };
}

/**
 * Decode sense data (ref 2.1-2.4). Fixed format needs at least bytes 0-2 (the sense key),
 * descriptor format bytes 0-3 (key, ASC, ASCQ); less, or a response code other than
 * 0x70-0x73, throws ParseError.
 */
export function decodeSense(buf: Buffer): DecodedSense {
  return decodeSenseAt(buf, 0);
}

function decodeSenseAt(buf: Buffer, depth: number): DecodedSense {
  const r = new ByteReader(buf, depth === 0 ? STRUCT : `forwarded sense data (level ${depth})`);
  const rc = responseCodeOf(r);
  return rc >= 0x72 ? decodeDescriptorFormat(r, rc, depth) : decodeFixedFormat(r, rc);
}

type HeaderFields = Pick<DecodedSense, keyof SenseHeader | 'current' | 'deferred' | 'senseKeyName' | 'ascName'>;

/** The fields both formats derive alike from the header, in DecodedSense's order. */
function headerFields(h: SenseHeader): HeaderFields {
  const rc = h.responseCode;
  return {
    format: h.format,
    responseCode: rc,
    current: rc === 0x70 || rc === 0x72,
    deferred: rc === 0x71 || rc === 0x73,
    senseKey: h.senseKey,
    senseKeyName: senseKeyName(h.senseKey),
    asc: h.asc,
    ascq: h.ascq,
    ascPresent: h.ascPresent,
    ascName: ascName(h.asc, h.ascq),
  };
}

function decodeFixedFormat(whole: ByteReader, rc: number): DecodedSense {
  whole.need(0, 3, 'sense key');
  // Byte 7 says how many bytes follow it; before it is there we only know the buffer ended.
  const additionalLength = whole.has(7) ? whole.u8(7, 'additional sense length') : undefined;
  const clamp = additionalLength === undefined ? { end: whole.length, truncated: true } : whole.clampLength(8, additionalLength);
  const r = whole.limit(clamp.end);
  const b0 = r.u8(0, 'VALID/response code');
  const b2 = r.u8(2, 'sense key');
  const senseKey = b2 & 0x0f;
  const ascPresent = r.has(12, 2);
  const asc = ascPresent ? r.u8(12, 'ASC') : 0;
  const ascq = ascPresent ? r.u8(13, 'ASCQ') : 0;
  const out: DecodedSense = {
    ...headerFields({ format: 'fixed', responseCode: rc, senseKey, asc, ascq, ascPresent }),
    informationValid: (b0 & 0x80) !== 0,
    filemark: (b2 & 0x80) !== 0,
    eom: (b2 & 0x40) !== 0,
    ili: (b2 & 0x20) !== 0,
    sdatOvfl: (b2 & 0x10) !== 0,
    descriptors: [],
    truncated: clamp.truncated,
    length: r.length,
  };
  if (additionalLength !== undefined) out.additionalLength = additionalLength;
  if (out.informationValid && r.has(3, 4)) out.information = BigInt(r.u32(3, 'INFORMATION'));
  if (r.has(8, 4)) out.commandSpecific = BigInt(r.u32(8, 'COMMAND-SPECIFIC INFORMATION'));
  if (r.has(14)) out.fru = r.u8(14, 'FIELD REPLACEABLE UNIT CODE');
  if (r.has(15, 3)) {
    const sks = decodeSenseKeySpecific(senseKey, r.slice(15, 3, 'SENSE-KEY SPECIFIC'));
    if (sks) out.senseKeySpecific = sks;
  }
  return out;
}

function decodeDescriptorFormat(whole: ByteReader, rc: number, depth: number): DecodedSense {
  whole.need(0, 4, 'sense key/ASC/ASCQ');
  const additionalLength = whole.has(7) ? whole.u8(7, 'additional sense length') : undefined;
  const clamp = additionalLength === undefined ? { end: whole.length, claimedEnd: Infinity, truncated: true } : whole.clampLength(8, additionalLength);
  const r = whole.limit(clamp.end);
  const senseKey = r.u8(1, 'sense key') & 0x0f;
  const asc = r.u8(2, 'ASC');
  const ascq = r.u8(3, 'ASCQ');
  const out: DecodedSense = {
    ...headerFields({ format: 'descriptor', responseCode: rc, senseKey, asc, ascq, ascPresent: true }),
    informationValid: false,
    filemark: false,
    eom: false,
    ili: false,
    sdatOvfl: r.has(4) ? (r.u8(4, 'SDAT_OVFL') & 0x80) !== 0 : false,
    descriptors: [],
    truncated: clamp.truncated,
    length: r.length,
  };
  if (additionalLength === undefined) return out;
  out.additionalLength = additionalLength;

  // A descriptor header or body running past 8 + additional length is self-inconsistent;
  // running past the buffer (but not the claimed length) is ordinary truncation.
  const typeAt = (off: number): string => `sense descriptor 0x${r.u8(off, 'descriptor type').toString(16)}`;
  const cut = walkDescriptors(
    r,
    {
      start: 8,
      claimedEnd: clamp.claimedEnd,
      headerLen: 2,
      length: (off) => r.u8(off + 1, 'descriptor additional length'),
      headerPastEnd: (off) => r.fail('sense descriptor header', off, 'descriptor header crosses the end given by ADDITIONAL SENSE LENGTH'),
      bodyPastEnd: (off, len) => r.fail(typeAt(off), off, `descriptor of ${2 + len} bytes at offset ${off} runs past the ${clamp.claimedEnd} bytes of sense data`),
    },
    (off, total) => {
      const d = decodeSenseDescriptor(r.sub(off, total, typeAt(off)), senseKey, depth);
      out.descriptors.push(d);
      applyDescriptor(out, d);
    },
  );
  if (cut) out.truncated = true;
  return out;
}

/** Copy the salient fields of the first descriptor of each kind into the normalised view. */
function applyDescriptor(out: DecodedSense, d: SenseDescriptor): void {
  switch (d.kind) {
    case 'information':
      if (out.information === undefined && !out.informationValid) {
        out.informationValid = d.valid;
        if (d.valid) out.information = d.information;
      }
      break;
    case 'command-specific':
      if (out.commandSpecific === undefined) out.commandSpecific = d.commandSpecific;
      break;
    case 'sense-key-specific':
      if (out.senseKeySpecific === undefined && d.senseKeySpecific) out.senseKeySpecific = d.senseKeySpecific;
      break;
    case 'fru':
      if (out.fru === undefined) out.fru = d.fru;
      break;
    case 'stream-commands':
      out.filemark ||= d.filemark;
      out.eom ||= d.eom;
      out.ili ||= d.ili;
      break;
    case 'block-commands':
      out.ili ||= d.ili;
      break;
    default:
      break;
  }
}

/** Decode one sense data descriptor (ref 2.2); `d` covers exactly the descriptor. */
function decodeSenseDescriptor(d: ByteReader, senseKey: number, depth: number): SenseDescriptor {
  const type = d.u8(0, 'descriptor type');
  const additionalLength = d.u8(1, 'additional length');
  const base = { type, additionalLength, raw: d.buf };
  // Each known type has a minimum ADDITIONAL LENGTH; a shorter one is malformed.
  const needLen = (min: number, what: string): void => {
    if (additionalLength < min) {
      d.fail(what, 1, `additional length 0x${additionalLength.toString(16)} is below the 0x${min.toString(16)} this descriptor type needs`);
    }
  };
  switch (type) {
    case 0x00:
      needLen(0x0a, 'information descriptor');
      return { ...base, kind: 'information', valid: d.bit(2, 7, 'VALID'), information: d.u64(4, 'INFORMATION') };
    case 0x01:
      needLen(0x0a, 'command-specific information descriptor');
      return { ...base, kind: 'command-specific', commandSpecific: d.u64(4, 'COMMAND-SPECIFIC INFORMATION') };
    case 0x02: {
      needLen(0x06, 'sense-key specific descriptor');
      const sks = decodeSenseKeySpecific(senseKey, d.slice(4, 3, 'SENSE-KEY SPECIFIC'));
      const out: SenseKeySpecificDescriptor = { ...base, kind: 'sense-key-specific' };
      if (sks) out.senseKeySpecific = sks;
      return out;
    }
    case 0x03:
      needLen(0x02, 'field replaceable unit descriptor');
      return { ...base, kind: 'fru', fru: d.u8(3, 'FIELD REPLACEABLE UNIT CODE') };
    case 0x04: {
      needLen(0x02, 'stream commands descriptor');
      const b3 = d.u8(3, 'FILEMARK/EOM/ILI');
      return { ...base, kind: 'stream-commands', filemark: (b3 & 0x80) !== 0, eom: (b3 & 0x40) !== 0, ili: (b3 & 0x20) !== 0 };
    }
    case 0x05:
      needLen(0x02, 'block commands descriptor');
      return { ...base, kind: 'block-commands', ili: d.bit(3, 5, 'ILI') };
    case 0x0a: {
      needLen(0x06, 'progress indication descriptor');
      const progress = d.u16(6, 'PROGRESS INDICATION');
      return {
        ...base,
        kind: 'progress-indication',
        senseKey: d.u8(2, 'sense key') & 0x0f,
        asc: d.u8(3, 'ASC'),
        ascq: d.u8(4, 'ASCQ'),
        progress,
        fraction: progress / 65536,
      };
    }
    case 0x0c: {
      needLen(0x02, 'forwarded sense data descriptor');
      const b2 = d.u8(2, 'FSDT/SENSE DATA SOURCE');
      const source = b2 & 0x0f;
      const forwardedSenseData = d.slice(4, d.length - 4, 'forwarded sense data');
      const out: ForwardedSenseDescriptor = {
        ...base,
        kind: 'forwarded-sense',
        fsdt: (b2 & 0x80) !== 0,
        senseDataSource: source,
        senseDataSourceName: SENSE_DATA_SOURCE_NAMES[source] ?? `reserved (${source})`,
        forwardedStatus: d.u8(3, 'forwarded status'),
        forwardedSenseData,
      };
      if (forwardedSenseData.length > 0) {
        if (depth + 1 >= MAX_FORWARD_DEPTH) {
          out.forwardedSenseError = `forwarded sense nested more than ${MAX_FORWARD_DEPTH} levels deep; not decoded`;
        } else {
          try {
            out.forwardedSense = decodeSenseAt(forwardedSenseData, depth + 1);
          } catch (e) {
            // The forwarded sense is another device's data: a defect in it must not hide ours.
            if (!(e instanceof ParseError)) throw e;
            out.forwardedSenseError = e.message;
          }
        }
      }
      return out;
    }
    default:
      return { ...base, kind: 'unknown' };
  }
}
