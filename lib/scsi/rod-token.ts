// ROD tokens (ref 6): the 512-byte token layout, ROD type names, the block device zero token.
//
// An initiator passes a token back verbatim (ref 6.1); decoding it is for display and sanity
// checks only. The token's tail is random by design (FreeBSD), so sub-structures inside it
// (creator CSCD, target device descriptor) are decoded when they look valid and otherwise
// reported as absent or with an error string, never by failing the whole token.

import { ByteReader, hex2, ParseError } from './bytes';
import { decodeDesignationDescriptorAt, type DesignationDescriptor } from './spc';
import { decodeIdentificationCscd, openAvailable, ROD_TYPE, rodTypeName, type IdentificationCscd } from './tpc';

export { ROD_TYPE, ROD_TYPES, rodTypeName, type RodTypeEntry } from './tpc';

/** ROD TYPE values (ref 6.2). */
export const ROD_TOKEN_LENGTH = 512;
export const ROD_TOKEN_LENGTH_FIELD = 0x01f8;

/** A fresh block device zero ROD token: FF FF 00 01, bytes 6-7 = 01 F8, the rest zero (ref 6.2). */
export function makeZeroRodToken(): Buffer {
  const b = Buffer.alloc(ROD_TOKEN_LENGTH);
  b.writeUInt32BE(ROD_TYPE.BLOCK_DEVICE_ZERO, 0);
  b.writeUInt16BE(ROD_TOKEN_LENGTH_FIELD, 6);
  return b;
}

/**
 * The block device zero ROD token (ref 6.2), as ddptctl sends it; usable with WRITE USING TOKEN
 * without a POPULATE TOKEN. Shared: do not modify it (use makeZeroRodToken() for a copy).
 */
export const ZERO_ROD_TOKEN: Readonly<Buffer> = makeZeroRodToken();

/**
 * True when `buf` is a block device zero token. By default only the ROD type is checked, as
 * FreeBSD does (ref 6.2); `strict` also requires the exact 512 bytes of ZERO_ROD_TOKEN.
 */
export function isZeroRodToken(buf: Buffer, options: { strict?: boolean } = {}): boolean {
  if (buf.length < 4 || buf.readUInt32BE(0) !== ROD_TYPE.BLOCK_DEVICE_ZERO) return false;
  if (!options.strict) return true;
  return buf.length === ROD_TOKEN_LENGTH && buf.equals(ZERO_ROD_TOKEN as Buffer);
}

/** RC16 bytes 8-31 embedded at token bytes 96-119 for block devices (ref 6.1, 8.4). */
export interface RodTokenBlockDeviceData {
  blockLength: number;
  pType: number;
  protEn: boolean;
  pIExponent: number;
  /** From byte 101 low nibble (ddptctl's byte 102 is wrong, ref 8.4). */
  lbppbe: number;
  lbpme: boolean;
  lbprz: boolean;
  lowestAlignedLba: number;
}

/** What the first 96 bytes say: the ROD management token (ref 6.1, 5.12). */
export interface RodManagementToken {
  rodType: number;
  rodTypeName: string;
  /** ROD TOKEN LENGTH: bytes after byte 7 (0x01F8 for a 512-byte token). */
  rodTokenLength: number;
  /** COPY MANAGER ROD TOKEN IDENTIFIER (bytes 8-15) as hex. */
  copyManagerRodTokenId?: string;
  /** CREATOR LOGICAL UNIT DESCRIPTOR (bytes 16-47) when it is a valid 0xE4 CSCD. */
  creatorLogicalUnit?: IdentificationCscd;
  /** Why bytes 16-47 did not decode as an 0xE4 CSCD although they claim to be one. */
  creatorLogicalUnitError?: string;
  /** NUMBER OF BYTES REPRESENTED (128 bit, bytes 48-63). */
  numberOfBytesRepresented?: bigint;
  /** True for the block device zero ROD token type. */
  isZeroToken: boolean;
  /** The bytes given (a view). */
  raw: Buffer;
  truncated: boolean;
}

export interface RodToken extends RodManagementToken {
  /** Block device data at 96-119, when present and non-zero. */
  blockDevice?: RodTokenBlockDeviceData;
  /** TARGET DEVICE DESCRIPTOR at byte 128, when it looks like a designation descriptor. */
  targetDeviceDescriptor?: DesignationDescriptor;
}

function decodeTokenHead(r: ByteReader, expectedLen: number): { out: RodManagementToken; t: ByteReader } {
  r.need(0, 8, 'ROD token header (bytes 0-7)');
  const rodType = r.u32(0, 'ROD TYPE');
  const rodTokenLength = r.u16(6, 'ROD TOKEN LENGTH');
  const clamp = r.clampLength(8, rodTokenLength);
  const t = r.limit(clamp.end);
  const out: RodManagementToken = {
    rodType,
    rodTypeName: rodTypeName(rodType),
    rodTokenLength,
    isZeroToken: rodType === ROD_TYPE.BLOCK_DEVICE_ZERO,
    raw: r.buf,
    truncated: r.length < Math.min(clamp.claimedEnd, expectedLen),
  };
  if (t.has(8, 8)) out.copyManagerRodTokenId = t.hex(8, 8, 'COPY MANAGER ROD TOKEN IDENTIFIER');
  if (t.has(16, 32) && t.u8(16, 'creator CSCD type code') === 0xe4) {
    try {
      out.creatorLogicalUnit = decodeIdentificationCscd(t.slice(16, 32, 'CREATOR LOGICAL UNIT DESCRIPTOR'));
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      out.creatorLogicalUnitError = e.message;
    }
  }
  if (t.has(48, 16)) out.numberOfBytesRepresented = t.u128(48, 'NUMBER OF BYTES REPRESENTED');
  return { out, t };
}

/** Decode a ROD management token: the first 96 bytes of a ROD token (ref 5.12, 6.1). */
export function decodeRodManagementToken(buf: Buffer): RodManagementToken {
  return decodeTokenHead(new ByteReader(buf, 'ROD management token'), 96).out;
}

/**
 * Decode a 512-byte ROD token (ref 6.1). Needs the 8-byte header; a shorter buffer than
 * 8 + ROD TOKEN LENGTH is decoded as far as it goes and flagged truncated.
 */
export function decodeRodToken(buf: Buffer): RodToken {
  const { out, t } = decodeTokenHead(new ByteReader(buf, 'ROD token'), ROD_TOKEN_LENGTH);
  const token: RodToken = out;
  if (t.has(96, 8)) {
    const blockLength = t.u32(96, 'block device LOGICAL BLOCK LENGTH');
    // All-zero means "not provided" (the zero token, non-block ROD types).
    if (blockLength !== 0) {
      const b100 = t.u8(100, 'P_TYPE/PROT_EN');
      const b101 = t.u8(101, 'P_I_EXPONENT/LBPPBE');
      const v = t.u16(102, 'LBPME/LBPRZ/LOWEST ALIGNED LBA');
      token.blockDevice = {
        blockLength,
        pType: (b100 >> 1) & 0x07,
        protEn: (b100 & 0x01) !== 0,
        pIExponent: b101 >> 4,
        lbppbe: b101 & 0x0f,
        lbpme: (v & 0x8000) !== 0,
        lbprz: (v & 0x4000) !== 0,
        lowestAlignedLba: v & 0x3fff,
      };
    }
  }
  const target = plausibleDesignator(t, 128);
  if (target) token.targetDeviceDescriptor = target;
  return token;
}

/**
 * A designation descriptor at `off` if its header is sane (code set 1-3, association 0-2, a
 * defined designator type, non-zero length that fits); undefined otherwise, since the token
 * bytes there may be random (ref 6.1, FreeBSD).
 */
function plausibleDesignator(t: ByteReader, off: number): DesignationDescriptor | undefined {
  if (!t.has(off, 4)) return undefined;
  const codeSet = t.u8(off, 'code set') & 0x0f;
  const b1 = t.u8(off + 1, 'association/designator type');
  const len = t.u8(off + 3, 'designator length');
  const association = (b1 >> 4) & 0x03;
  const type = b1 & 0x0f;
  if (codeSet < 1 || codeSet > 3 || association > 2 || type > 0x0a || len === 0 || !t.has(off + 4, len)) return undefined;
  return decodeDesignationDescriptorAt(t, off);
}

/** Human summary of a token's identity, e.g. for logs: "access upon reference 0x1a2b... 1048576 bytes". */
export function describeRodToken(tok: RodManagementToken): string {
  const parts = [`${tok.rodTypeName} (0x${tok.rodType.toString(16).padStart(8, '0')})`];
  if (tok.copyManagerRodTokenId) parts.push(`id ${tok.copyManagerRodTokenId}`);
  if (tok.numberOfBytesRepresented !== undefined) parts.push(`${tok.numberOfBytesRepresented} bytes`);
  if (tok.truncated) parts.push(`(truncated at ${tok.raw.length} of ${8 + tok.rodTokenLength} bytes, length field 0x${hex2(tok.rodTokenLength >> 8)}${hex2(tok.rodTokenLength & 0xff)})`);
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// REPORT ALL ROD TOKENS, SA 0x08 (ref 5.12)

export interface ReportAllRodTokens {
  availableData: number;
  /** ROD management tokens (the first 96 bytes of each token). */
  tokens: RodManagementToken[];
  truncated: boolean;
}

export const ROD_MANAGEMENT_TOKEN_LENGTH = 96;

export function decodeReportAllRodTokens(buf: Buffer): ReportAllRodTokens {
  const { r, availableData, claimedEnd, truncated } = openAvailable(buf, 'REPORT ALL ROD TOKENS data', 8);
  if ((availableData - 4) % ROD_MANAGEMENT_TOKEN_LENGTH !== 0) {
    r.fail('AVAILABLE DATA', 0, `${availableData - 4} bytes of token list is not a multiple of the 96-byte ROD management token`);
  }
  const tokens: RodManagementToken[] = [];
  let trunc = truncated;
  for (let off = 8; off < claimedEnd; off += ROD_MANAGEMENT_TOKEN_LENGTH) {
    if (!r.has(off, ROD_MANAGEMENT_TOKEN_LENGTH)) {
      trunc = true;
      break;
    }
    tokens.push(decodeRodManagementToken(r.slice(off, ROD_MANAGEMENT_TOKEN_LENGTH, 'ROD management token')));
  }
  return { availableData, tokens, truncated: trunc };
}

/** Logical block lengths a real LUN can have (512, 520, 4096, 4160...; ref 8.4). */
export function plausibleBlockLength(n: number): boolean {
  return Number.isInteger(n) && n >= 256 && n <= 1 << 20;
}

/**
 * Why `tok` cannot be a ROD token, or undefined when it can (ref 6.1, 6.2): a reserved ROD type,
 * a ROD TOKEN LENGTH other than 0x01F8 for a 512-byte token, an impossible logical block length
 * in the block device data, or a byte count no block device has or not in whole blocks. The
 * token's tail is random by design, so nothing else is checked.
 */
export function rodTokenProblem(tok: RodToken): string | undefined {
  if (rodTypeName(tok.rodType).startsWith('reserved')) return `ROD type 0x${tok.rodType.toString(16).padStart(8, '0')} is reserved`;
  if (tok.raw.length === ROD_TOKEN_LENGTH && tok.rodTokenLength !== ROD_TOKEN_LENGTH_FIELD) {
    return `ROD TOKEN LENGTH is 0x${tok.rodTokenLength.toString(16).padStart(4, '0')}, not 0x01F8 for a 512-byte token`;
  }
  const bl = tok.blockDevice?.blockLength;
  if (bl !== undefined && !plausibleBlockLength(bl)) return `its block device data gives a logical block length of ${bl} bytes`;
  const n = tok.numberOfBytesRepresented;
  if (n !== undefined && n > (1n << 64n) - 1n) return `it claims to represent ${n} bytes, more than any LUN holds`;
  if (n !== undefined && bl !== undefined && n % BigInt(bl) !== 0n) return `it represents ${n} bytes, not a whole number of its ${bl}-byte blocks`;
  return undefined;
}
