// Bounds-checked big-endian reading for every SCSI reply decoder.
//
// Rules every decoder follows (see the reference, "Conventions": all multi-byte fields are
// big-endian, bit 7 is the MSB):
//  - every read goes through a ByteReader, which throws ParseError (naming the structure, the
//    field, the offset and the buffer length) instead of reading past its buffer;
//  - Buffers handed back are views (subarray) that lie inside the reader's buffer, or copies
//    made from such views; never a view that extends past the bytes the caller gave us;
//  - a structure's own length field is trusted only up to the buffer (`clampLength`): a short
//    allocation length is normal in SCSI and is reported as `truncated`, not as an error.
import { OdxcpError, setName } from '../errors';

/** A reply from the target could not be decoded: truncated header or inconsistent lengths. */
export class ParseError extends OdxcpError {
  /** What was being decoded, e.g. "VPD page 0x83". */
  readonly structure: string;
  /** The field that could not be read or is inconsistent. */
  readonly field: string;
  /** Byte offset of that field within the structure. */
  readonly offset: number;
  /** Number of bytes the decoder had. */
  readonly length: number;

  constructor(structure: string, field: string, offset: number, length: number, detail?: string) {
    super(`${structure}: ${field} at offset ${offset}: ${detail ?? 'out of range'} (buffer length ${length})`, 'PARSE');
    this.structure = structure;
    this.field = field;
    this.offset = offset;
    this.length = length;
  }
}
setName(ParseError, 'ParseError');

/** 2^53 - 1 as a bigint, for "does this 64-bit value fit in a JS number" checks. */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A bigint as a number when it is a safe integer, else undefined. */
export function toSafeNumber(v: bigint): number | undefined {
  return v >= 0n && v <= MAX_SAFE ? Number(v) : undefined;
}

/** Two lower-case hex digits per byte, no separators. */
export function bufferToHex(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString('hex');
}

/**
 * Parse hex text into a Buffer. Whitespace, ':' and '-' separators and `#` or `//` comments up
 * to the end of the line are ignored, so test vectors can be written as annotated dumps.
 */
export function hexToBuffer(text: string): Buffer {
  const clean = text
    .split('\n')
    .map((line) => line.replace(/(#|\/\/).*$/, ''))
    .join('')
    .replace(/[\s:-]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new TypeError(`hexToBuffer: not an even-length hex string: ${JSON.stringify(text.slice(0, 40))}`);
  }
  return Buffer.from(clean, 'hex');
}

/** Format a byte as two upper-case hex digits (the "0D/02" style of the reference). */
export function hex2(v: number): string {
  return v.toString(16).toUpperCase().padStart(2, '0');
}

/**
 * The result of checking a structure's own length field against the bytes we actually have.
 * `end` is where decoding must stop; `truncated` is true when the buffer ended first.
 */
export interface ClampedLength {
  /** Offset one past the last byte the structure claims (header + length field value). */
  claimedEnd: number;
  /** min(claimedEnd, buffer length): the last byte any field may be read from, plus one. */
  end: number;
  /** True when the buffer is shorter than the structure says it is. */
  truncated: boolean;
}

/**
 * A read-only, bounds-checked view of one structure inside a reply. Offsets are relative to the
 * start of this reader; error messages add `base`, so a nested reader (a descriptor inside a
 * page) still reports offsets relative to the outer structure's start.
 */
export class ByteReader {
  readonly buf: Buffer;
  readonly structure: string;
  /** Offset of byte 0 of this reader within the outermost structure (for messages only). */
  readonly base: number;

  constructor(buf: Buffer, structure: string, base = 0) {
    if (!Buffer.isBuffer(buf)) {
      // A decoder given something that is not a Buffer is a caller bug, but it must still fail
      // as a ParseError so the "decoders only throw ParseError" contract holds.
      throw new ParseError(structure, 'buffer', 0, 0, 'input is not a Buffer');
    }
    this.buf = buf;
    this.structure = structure;
    this.base = base;
  }

  get length(): number {
    return this.buf.length;
  }

  /** True when `len` bytes starting at `off` lie inside this reader. */
  has(off: number, len = 1): boolean {
    return Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= this.buf.length;
  }

  /** Throw a ParseError about `field` at `off` (relative to this reader). */
  fail(field: string, off: number, detail?: string): never {
    throw new ParseError(this.structure, field, this.base + off, this.base + this.buf.length, detail);
  }

  /** Throw unless `len` bytes at `off` are inside the buffer. */
  need(off: number, len: number, field: string): void {
    if (!this.has(off, len)) {
      this.fail(field, off, `needs ${len} byte${len === 1 ? '' : 's'} at offset ${this.base + off}`);
    }
  }

  u8(off: number, field: string): number {
    this.need(off, 1, field);
    return this.buf[off] as number;
  }

  u16(off: number, field: string): number {
    this.need(off, 2, field);
    return this.buf.readUInt16BE(off);
  }

  u24(off: number, field: string): number {
    this.need(off, 3, field);
    return this.buf.readUIntBE(off, 3);
  }

  u32(off: number, field: string): number {
    this.need(off, 4, field);
    return this.buf.readUInt32BE(off);
  }

  /** 48-bit unsigned; always a safe integer. */
  u48(off: number, field: string): number {
    this.need(off, 6, field);
    return this.buf.readUIntBE(off, 6);
  }

  u64(off: number, field: string): bigint {
    this.need(off, 8, field);
    return this.buf.readBigUInt64BE(off);
  }

  /** 64-bit unsigned as a number when it is a safe integer, else undefined. */
  u64Safe(off: number, field: string): number | undefined {
    return toSafeNumber(this.u64(off, field));
  }

  /** 128-bit unsigned (NUMBER OF BYTES REPRESENTED in a ROD token, ref 6.1). */
  u128(off: number, field: string): bigint {
    this.need(off, 16, field);
    return (this.buf.readBigUInt64BE(off) << 64n) | this.buf.readBigUInt64BE(off + 8);
  }

  /** One bit of the byte at `off` (bit 7 = MSB). */
  bit(off: number, bit: number, field: string): boolean {
    return ((this.u8(off, field) >> bit) & 1) === 1;
  }

  /** Bits hi..lo (inclusive, bit 7 = MSB) of the byte at `off`. */
  bits(off: number, hi: number, lo: number, field: string): number {
    const width = hi - lo + 1;
    return (this.u8(off, field) >> lo) & ((1 << width) - 1);
  }

  /** A view of `len` bytes at `off`; it shares memory with the input and never extends past it. */
  slice(off: number, len: number, field: string): Buffer {
    this.need(off, len, field);
    return this.buf.subarray(off, off + len);
  }

  /** An independent copy of `len` bytes at `off` (for data the caller will keep, e.g. tokens). */
  copy(off: number, len: number, field: string): Buffer {
    return Buffer.from(this.slice(off, len, field));
  }

  /** Lower-case hex of `len` bytes at `off`. */
  hex(off: number, len: number, field: string): string {
    return this.slice(off, len, field).toString('hex');
  }

  /** ASCII (latin1) text of `len` bytes at `off`, trailing spaces and NULs removed. */
  ascii(off: number, len: number, field: string): string {
    return this.slice(off, len, field).toString('latin1').replace(/[ \0]+$/, '');
  }

  /** A reader over `len` bytes at `off`, for a nested structure. */
  sub(off: number, len: number, structure: string): ByteReader {
    return new ByteReader(this.slice(off, len, structure), structure, this.base + off);
  }

  /**
   * Clamp a structure's own length to the buffer. `headerLen` is the number of bytes that
   * precede the counted part (e.g. 4 for a VPD page: bytes 0-3, then PAGE LENGTH bytes), and
   * `lengthValue` is the length field's value.
   */
  clampLength(headerLen: number, lengthValue: number): ClampedLength {
    const claimedEnd = headerLen + lengthValue;
    const end = Math.min(claimedEnd, this.buf.length);
    return { claimedEnd, end, truncated: this.buf.length < claimedEnd };
  }

  /** A reader restricted to the first `end` bytes (after clampLength). */
  limit(end: number): ByteReader {
    if (end >= this.buf.length) return this;
    return new ByteReader(this.buf.subarray(0, Math.max(0, end)), this.structure, this.base);
  }
}

/** A list of length-prefixed descriptors, as `walkDescriptors` reads it. */
export interface DescriptorList {
  /** Offset of the first descriptor. */
  start: number;
  /** Where the list ends by the structure's own length field; may lie past the reader. */
  claimedEnd: number;
  /** Bytes of each descriptor's header; the length field counts the bytes after it. */
  headerLen: number;
  /** The length field of the descriptor at `off` (its header is inside the reader). */
  length(off: number): number;
  /** Throw: the header at `off` crosses claimedEnd. */
  headerPastEnd(off: number): never;
  /** Throw: the descriptor at `off`, `len` bytes after its header, crosses claimedEnd. */
  bodyPastEnd(off: number, len: number): never;
}

/**
 * Visit every whole descriptor of a list in `r` (a reader already limited to the bytes present)
 * as `visit(off, total)`, header included. A header or descriptor past `claimedEnd` contradicts
 * the structure and throws; one past only the end of `r` is ordinary truncation: the walk stops
 * there and returns true.
 */
export function walkDescriptors(r: ByteReader, list: DescriptorList, visit: (off: number, total: number) => void): boolean {
  let off = list.start;
  while (off < list.claimedEnd) {
    if (off + list.headerLen > list.claimedEnd) list.headerPastEnd(off);
    if (off + list.headerLen > r.length) return true;
    const len = list.length(off);
    const total = list.headerLen + len;
    if (off + total > list.claimedEnd) list.bodyPastEnd(off, len);
    if (off + total > r.length) return true;
    visit(off, total);
    off += total;
  }
  return false;
}
