// Token files: a ROD token written to a file so another host (or a later run) can write the
// data it represents with WRITE USING TOKEN. A token grants read access to the source range
// for as long as it lives, so files are created with mode 0600.
//
// Format (version 1, all integers big-endian, 576 bytes):
//
//   0-7    magic "ODXCPTOK"
//   8-9    format version (1)
//   10-11  header length (64): the token starts here
//   12-15  source logical block size, bytes
//   16-23  source LBA of the first block the token represents
//   24-31  bytes the token represents (the RRTI transfer count, in bytes)
//   32-39  creation time, milliseconds since the Unix epoch
//   40-43  inactivity timeout asked for, seconds (0 = the device default)
//   44-47  token length (512)
//   48-51  CRC-32 (zlib) of bytes 0-47 followed by the token
//   52-63  reserved (zero)
//   64-575 the ROD token, verbatim (reference 6.1)
//
// `tail -c 512 FILE` is the raw token. Two forms other tools write are read as well, and can be
// written (`--format raw|raw-len`): a bare 512-byte token (ddptctl's --rtf file), and ddpt's
// 520-byte form, the token followed by an 8-byte big-endian "number of bytes represented"
// (ddpt's oflag=rtf_len, for ROD types whose token does not carry the count). The block size
// and length then come from the token itself (and the trailer) when present.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ScsiDevice } from '../device/device';
import { writeThenFlush } from '../engine/flush';
import { DeviceError, UsageError } from '../errors';
import { decodeRodToken, plausibleBlockLength, ROD_TOKEN_LENGTH, rodTokenProblem, type RodToken } from '../scsi/rod-token';
import type { DesignationDescriptor } from '../scsi/spc';
import {
  blockRange,
  populate,
  splitRanges,
  tokenLimits,
  writeUsingTokenLoop,
  type TokenTarget,
} from './token-ops';

export const TOKEN_FILE_MAGIC = 'ODXCPTOK';
export const TOKEN_FILE_VERSION = 1;
export const TOKEN_FILE_HEADER_LENGTH = 64;
export const TOKEN_FILE_LENGTH = TOKEN_FILE_HEADER_LENGTH + ROD_TOKEN_LENGTH;
/** ddpt's rtf_len form: the token, then the bytes it represents as a big-endian 64-bit integer. */
export const RTF_LEN_FILE_LENGTH = ROD_TOKEN_LENGTH + 8;

/** How `token populate` writes the token: odxcp's file, or ddpt/ddptctl's raw forms. */
export type TokenFileFormat = 'odxcp' | 'raw' | 'raw-len';
export const TOKEN_FILE_FORMATS: readonly TokenFileFormat[] = ['odxcp', 'raw', 'raw-len'];

/**
 * A token file that cannot be used: corrupt, truncated, another version, not a ROD token, or not
 * readable/writable. A file problem (exit 15, SG_LIB_FILE_ERROR), like a missing file.
 */
export class TokenFileError extends DeviceError {
  constructor(file: string, message: string, init: { code?: string; errno?: number; cause?: unknown } = {}) {
    super({ path: file, code: init.code ?? 'BAD_TOKEN_FILE', errno: init.errno, message, cause: init.cause });
  }
}
Object.defineProperty(TokenFileError.prototype, 'name', { value: 'TokenFileError' });

/** JavaScript Dates stop at 8.64e15 ms either side of the epoch. */
const MAX_DATE_MS = 8_640_000_000_000_000n;

export interface TokenFileMeta {
  /** Logical block size of the LUN the token was populated on. */
  blockSize: number;
  /** First source LBA the token represents. */
  lba: bigint;
  /** Bytes the token represents. */
  bytes: bigint;
  createdAt: Date;
  /** Seconds asked for in POPULATE TOKEN; 0 = the device default. */
  inactivityTimeout: number;
}

export interface TokenFile {
  format: TokenFileFormat;
  /** Header format version (odxcp files). */
  version?: number;
  /** The 512-byte ROD token. */
  token: Buffer;
  decoded: RodToken;
  /** From the header, else from the token's block device data (bytes 96-99). */
  blockSize?: number;
  lba?: bigint;
  /** From the header, else the token's NUMBER OF BYTES REPRESENTED. */
  bytes?: bigint;
  createdAt?: Date;
  inactivityTimeout?: number;
}

/** The file bytes for a token and what it represents. */
export function encodeTokenFile(meta: TokenFileMeta, token: Buffer): Buffer {
  if (token.length !== ROD_TOKEN_LENGTH) throw new RangeError(`encodeTokenFile: a ROD token is ${ROD_TOKEN_LENGTH} bytes, got ${token.length}`);
  const b = Buffer.alloc(TOKEN_FILE_LENGTH);
  b.write(TOKEN_FILE_MAGIC, 0, 'latin1');
  b.writeUInt16BE(TOKEN_FILE_VERSION, 8);
  b.writeUInt16BE(TOKEN_FILE_HEADER_LENGTH, 10);
  b.writeUInt32BE(meta.blockSize, 12);
  b.writeBigUInt64BE(meta.lba, 16);
  b.writeBigUInt64BE(meta.bytes, 24);
  b.writeBigUInt64BE(BigInt(meta.createdAt.getTime()), 32);
  b.writeUInt32BE(meta.inactivityTimeout, 40);
  b.writeUInt32BE(ROD_TOKEN_LENGTH, 44);
  token.copy(b, TOKEN_FILE_HEADER_LENGTH);
  b.writeUInt32BE(fileCrc(b), 48);
  return b;
}

function fileCrc(b: Buffer): number {
  // node:zlib only when a token file is read or written, not on every CLI start.
  const { crc32 } = require('node:zlib') as typeof import('node:zlib');
  return crc32(b.subarray(TOKEN_FILE_HEADER_LENGTH, TOKEN_FILE_LENGTH), crc32(b.subarray(0, 48))) >>> 0;
}

/** The token must look like a ROD token at all ("not a ROD token" otherwise). */
function checkToken(name: string, decoded: RodToken): void {
  const problem = rodTokenProblem(decoded);
  if (problem) throw new TokenFileError(name, `${name}: not a ROD token (${problem})`);
}

/** A bare token (512 bytes) or ddpt's rtf_len form (520: the token, then the bytes it represents). */
function decodeRawToken(buf: Buffer, name: string): TokenFile {
  const token = Buffer.from(buf.subarray(0, ROD_TOKEN_LENGTH));
  const decoded = decodeRodToken(token);
  checkToken(name, decoded);
  const blockSize = decoded.blockDevice?.blockLength;
  const inToken = decoded.numberOfBytesRepresented;
  if (buf.length === ROD_TOKEN_LENGTH) return { format: 'raw', token, decoded, blockSize, bytes: inToken };
  const trailer = buf.readBigUInt64BE(ROD_TOKEN_LENGTH);
  // The trailer is what ddpt read from RRTI; a token that states its own count must agree.
  if (trailer === 0n) throw new TokenFileError(name, `${name}: not a ROD token file (ddpt's 520-byte form says the token represents 0 bytes)`);
  if (inToken !== undefined && inToken !== 0n && inToken !== trailer) {
    throw new TokenFileError(name, `${name}: the length after the token does not match the token (${trailer} bytes after it, ${inToken} in it)`);
  }
  if (blockSize !== undefined && trailer % BigInt(blockSize) !== 0n) {
    throw new TokenFileError(name, `${name}: the length after the token (${trailer} bytes) is not a whole number of the token's ${blockSize}-byte blocks`);
  }
  return { format: 'raw-len', token, decoded, blockSize, bytes: trailer };
}

/** The bytes of `token` in one of the raw forms ddpt and ddptctl read. */
export function encodeRawToken(format: 'raw' | 'raw-len', token: Buffer, bytes: bigint): Buffer {
  if (token.length !== ROD_TOKEN_LENGTH) throw new RangeError(`encodeRawToken: a ROD token is ${ROD_TOKEN_LENGTH} bytes, got ${token.length}`);
  if (format === 'raw') return Buffer.from(token);
  const b = Buffer.alloc(RTF_LEN_FILE_LENGTH);
  token.copy(b);
  b.writeBigUInt64BE(bytes, ROD_TOKEN_LENGTH);
  return b;
}

/** Decode a token file's bytes (odxcp format, a bare 512-byte token, or ddpt's 520-byte form). `name` is for messages. */
export function decodeTokenFile(buf: Buffer, name = 'token file'): TokenFile {
  const magic = buf.length >= 8 && buf.subarray(0, 8).toString('latin1') === TOKEN_FILE_MAGIC;
  if (!magic && (buf.length === ROD_TOKEN_LENGTH || buf.length === RTF_LEN_FILE_LENGTH)) return decodeRawToken(buf, name);
  if (!magic && buf.length > RTF_LEN_FILE_LENGTH && (buf.length % ROD_TOKEN_LENGTH === 0 || buf.length % RTF_LEN_FILE_LENGTH === 0)) {
    throw new TokenFileError(name, `${name}: ${buf.length} bytes: several ROD tokens (a ddpt rtf= file?); odxcp reads a file of one token (512 bytes, or 520 with ddpt's rtf_len length)`);
  }
  if (buf.length < 8 || buf.subarray(0, 8).toString('latin1') !== TOKEN_FILE_MAGIC) {
    throw new TokenFileError(name, `${name}: not a token file (no ${TOKEN_FILE_MAGIC} header, and not a bare ${ROD_TOKEN_LENGTH}-byte ROD token or ddpt's ${RTF_LEN_FILE_LENGTH}-byte form; ${buf.length} bytes)`);
  }
  if (buf.length < 12) throw new TokenFileError(name, `${name}: truncated token file (${buf.length} bytes, the header alone is ${TOKEN_FILE_HEADER_LENGTH})`);
  const version = buf.readUInt16BE(8);
  const headerLength = buf.readUInt16BE(10);
  if (version !== TOKEN_FILE_VERSION) throw new TokenFileError(name, `${name}: token file version ${version} is not supported (this odxcp reads version ${TOKEN_FILE_VERSION})`);
  if (headerLength !== TOKEN_FILE_HEADER_LENGTH) throw new TokenFileError(name, `${name}: corrupt token file (header length ${headerLength}, expected ${TOKEN_FILE_HEADER_LENGTH})`);
  if (buf.length < TOKEN_FILE_LENGTH) throw new TokenFileError(name, `${name}: truncated token file (${buf.length} of ${TOKEN_FILE_LENGTH} bytes)`);
  if (buf.length > TOKEN_FILE_LENGTH) throw new TokenFileError(name, `${name}: corrupt token file (${buf.length} bytes, expected ${TOKEN_FILE_LENGTH})`);
  const tokenLength = buf.readUInt32BE(44);
  if (tokenLength !== ROD_TOKEN_LENGTH) throw new TokenFileError(name, `${name}: corrupt token file (token length ${tokenLength}, expected ${ROD_TOKEN_LENGTH})`);
  const stored = buf.readUInt32BE(48);
  const actual = fileCrc(buf);
  if (stored !== actual) throw new TokenFileError(name, `${name}: corrupt token file (CRC-32 0x${actual.toString(16).padStart(8, '0')}, header says 0x${stored.toString(16).padStart(8, '0')})`);
  const token = Buffer.from(buf.subarray(TOKEN_FILE_HEADER_LENGTH));
  const decoded = decodeRodToken(token);
  checkToken(name, decoded);
  // A valid CRC only proves the writer's bytes arrived: the header must still make sense, and
  // agree with what the token itself says.
  const blockSize = buf.readUInt32BE(12);
  const bytes = buf.readBigUInt64BE(24);
  const created = buf.readBigUInt64BE(32);
  if (!plausibleBlockLength(blockSize)) throw new TokenFileError(name, `${name}: corrupt token file (block size ${blockSize} in the header)`);
  if (bytes % BigInt(blockSize) !== 0n) throw new TokenFileError(name, `${name}: corrupt token file (the header says ${bytes} bytes, not a whole number of ${blockSize}-byte blocks)`);
  if (created > MAX_DATE_MS) throw new TokenFileError(name, `${name}: corrupt token file (creation time ${created} ms after 1970 is not a valid time)`);
  const tb = decoded.blockDevice?.blockLength;
  if (tb !== undefined && tb !== blockSize) throw new TokenFileError(name, `${name}: the header does not match the token (${blockSize}-byte blocks in the header, ${tb} in the token)`);
  const tn = decoded.numberOfBytesRepresented;
  if (tn !== undefined && tn !== 0n && tn !== bytes) throw new TokenFileError(name, `${name}: the header does not match the token (${bytes} bytes in the header, ${tn} in the token)`);
  return {
    format: 'odxcp',
    version,
    token,
    decoded,
    blockSize,
    lba: buf.readBigUInt64BE(16),
    bytes,
    createdAt: new Date(Number(created)),
    inactivityTimeout: buf.readUInt32BE(40),
  };
}

/** Advice for an errno on a token file. */
function fileAdvice(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (token files are mode 0600: run as the user who wrote it, or root)';
    case 'ELOOP':
      return 'too many levels of symbolic links (a symlink loop?): give the file itself';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'ENOSPC':
      return 'no space left on the file system';
    case 'EROFS':
      return 'read-only file system';
    default:
      return code ?? 'I/O error';
  }
}

/** Read and check a token file. */
export function readTokenFile(file: string): TokenFile {
  let buf: Buffer;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new TokenFileError(file, `${file}: not a regular file (a token file is ${TOKEN_FILE_LENGTH}, ${ROD_TOKEN_LENGTH} or ${RTF_LEN_FILE_LENGTH} bytes)`);
    if (st.size > 64 * 1024) throw new TokenFileError(file, `${file}: ${st.size} bytes is far too large for a token file`);
    buf = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof TokenFileError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new TokenFileError(file, `${file}: cannot read the token file: ${err.code ?? err.message} (${fileAdvice(err.code)})`, { code: err.code ?? 'EIO', errno: err.errno, cause: e });
  }
  return decodeTokenFile(buf, file);
}

/**
 * Check that a token file can be written at `file`, before a token exists: refused when it
 * exists (without `overwrite`) or is not a regular file, and proven by writing a scratch file
 * of the token file's size in the same directory (which also finds a full file system).
 */
export function checkTokenFileOut(file: string, overwrite: boolean): void {
  if (file === '') throw new UsageError('--out: empty path (give the token file to write)');
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new TokenFileError(file, `${file}: cannot write the token file: ${code} (${fileAdvice(code)})`, { code: code ?? 'EIO', cause: e });
  }
  if (st && !overwrite) throw new UsageError(`${file}: exists (use --force to replace it)`);
  if (st && !st.isFile()) throw new TokenFileError(file, `${file}: cannot write the token file: not a regular file`);
  const dir = path.dirname(file);
  const probe = path.join(dir, `.${path.basename(file)}.${process.pid}.probe`);
  try {
    const fd = fs.openSync(probe, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      fs.writeSync(fd, Buffer.alloc(TOKEN_FILE_LENGTH));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(probe, { force: true });
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const where = code === 'ENOENT' ? `directory ${dir} does not exist` : `${code} in ${dir} (${fileAdvice(code)})`;
    throw new TokenFileError(file, `${file}: cannot write the token file: ${where}`, { code: code ?? 'EIO', errno: (e as NodeJS.ErrnoException).errno, cause: e });
  }
}

/** Write `data` to `file` with mode 0600, atomically (temporary file + rename). */
function writePrivateFile(file: string, data: Buffer, overwrite: boolean): void {
  if (!overwrite && fs.existsSync(file)) throw new UsageError(`${file}: exists (use --force to replace it)`);
  try {
    writeAtomically(file, data);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TokenFileError(file, `${file}: cannot write the token file: ${err.code ?? err.message} (${fileAdvice(err.code)})`, { code: err.code ?? 'EIO', errno: err.errno, cause: e });
  }
}

function writeAtomically(file: string, data: Buffer): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    fs.fchmodSync(fd, 0o600); // whatever the umask
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

type DeviceArg = string | TokenTarget;

async function withDevice<T>(d: DeviceArg, exclusive: boolean, fn: (t: TokenTarget, name: string) => Promise<T>): Promise<T> {
  if (typeof d !== 'string') return fn(d, d.path);
  const dev = await ScsiDevice.open(d, { exclusive });
  try {
    return await fn(dev, d);
  } finally {
    await dev.close();
  }
}

export interface PopulateTokenFileOptions {
  /** Source LUN: a path or an open device. */
  device: DeviceArg;
  /** Byte offset of the range; a multiple of the block size. */
  offset: bigint | number;
  /** Bytes the token should represent; a multiple of the block size. */
  length: bigint | number;
  /** The token file to write (mode 0600). */
  out: string;
  /** Replace an existing file. */
  overwrite?: boolean;
  /** INACTIVITY TIMEOUT, seconds; 0 (default) = the device default. */
  inactivityTimeout?: number;
  /** odxcp's file (default), the bare token (ddptctl), or the token and its length (ddpt rtf_len). */
  format?: TokenFileFormat;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PopulateTokenFileResult {
  file: string;
  format: TokenFileFormat;
  device: string;
  blockSize: number;
  lba: bigint;
  offset: bigint;
  requestedBytes: bigint;
  /** Bytes the token represents (may be less than asked when the target truncated it). */
  bytes: bigint;
  truncated: boolean;
  inactivityTimeout: number;
  createdAt: Date;
  listId: number;
  token: RodToken;
}

/** POPULATE TOKEN on a range, RRTI for the token, and write it to a token file. */
export async function populateTokenFile(o: PopulateTokenFileOptions): Promise<PopulateTokenFileResult> {
  const offset = BigInt(o.offset);
  const length = BigInt(o.length);
  const inactivity = o.inactivityTimeout ?? 0;
  if (!Number.isSafeInteger(inactivity) || inactivity < 0 || inactivity > 0xffffffff) throw new UsageError(`inactivity timeout: ${inactivity} is not a number of seconds`);
  checkTokenFileOut(o.out, o.overwrite === true);
  return withDevice(o.device, false, async (dev, name) => {
    const cap = await dev.capacity();
    const { lba, blocks } = blockRange(offset, length, cap.blockSize, cap.bytes, { offset: '--offset', length: '--length', device: name });
    const lim = await tokenLimits(dev);
    if (lim.maxTokenBlocks > 0n && blocks > lim.maxTokenBlocks) {
      throw new UsageError(`--length: ${length} bytes is more than one token can represent on ${name} (MAXIMUM TOKEN TRANSFER SIZE ${lim.maxTokenBlocks} blocks = ${lim.maxTokenBlocks * BigInt(cap.blockSize)} bytes)`);
    }
    if (lim.maxInactivity > 0 && inactivity > lim.maxInactivity) {
      throw new UsageError(`inactivity timeout: ${inactivity} s is more than ${name} allows (${lim.maxInactivity} s)`);
    }
    const rangesNeeded = Number((blocks + 0xfffffffen) / 0xffffffffn);
    if (rangesNeeded > lim.maxRanges) throw new UsageError(`--length: needs ${rangesNeeded} range descriptors, ${name} takes ${lim.maxRanges}`);
    const p = await populate(dev, { ranges: splitRanges(lba, blocks, lim.maxRanges), blockSize: cap.blockSize, inactivityTimeout: inactivity, timeoutMs: o.timeoutMs, signal: o.signal });
    const createdAt = new Date();
    try {
      const format = o.format ?? 'odxcp';
      const data = format === 'odxcp' ? encodeTokenFile({ blockSize: cap.blockSize, lba, bytes: p.bytes, createdAt, inactivityTimeout: inactivity }, p.token) : encodeRawToken(format, p.token, p.bytes);
      writePrivateFile(o.out, data, o.overwrite === true);
    } catch (e) {
      // The token is live and nobody holds it. It cannot be deleted without writing: WRITE USING
      // TOKEN with DEL_TKN needs at least one range descriptor (targets refuse an empty list,
      // ref 5.8/5.9), so it is left to expire; say when.
      const caps = await dev.capabilities();
      const secs = inactivity || caps.tokenCopy.limits?.defaultInactivityTimeout || 0;
      const expiry = secs ? `it expires after ${secs} s unused` : 'it expires after the device default inactivity timeout';
      const msg = `${(e as Error).message}; the token populated on ${name} was not saved and is left to expire (odxcp cannot delete a token without writing data): ${expiry}`;
      throw new TokenFileError(o.out, msg, { code: (e as DeviceError).code ?? 'EIO', cause: e });
    }
    return {
      file: o.out,
      format: o.format ?? 'odxcp',
      device: name,
      blockSize: cap.blockSize,
      lba,
      offset,
      requestedBytes: length,
      bytes: p.bytes,
      truncated: p.bytes < length,
      inactivityTimeout: inactivity,
      createdAt,
      listId: p.listId,
      token: decodeRodToken(p.token),
    };
  });
}

export interface WriteTokenFileOptions {
  /** Destination LUN: a path (opened exclusively: refused when mounted or in use) or an open device. */
  device: DeviceArg;
  /** A token file path, or one already read. */
  token: string | TokenFile;
  /** Destination byte offset; a multiple of the block size. */
  offset: bigint | number;
  /** Bytes into the ROD to start from (OFFSET INTO ROD); default 0. */
  rodOffset?: bigint | number;
  /** Bytes to write; default: what the token represents after rodOffset. */
  length?: bigint | number;
  /** DEL_TKN on the last command: the token cannot be used again. */
  deleteToken?: boolean;
  /** SYNCHRONIZE CACHE over the range afterwards (default true). */
  sync?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?(p: { bytesWritten: bigint; totalBytes: bigint }): void;
}

export interface WriteTokenFileResult {
  device: string;
  offset: bigint;
  lba: bigint;
  blockSize: number;
  rodOffset: bigint;
  requestedBytes: bigint;
  bytesWritten: bigint;
  /** True when the destination accepted SYNCHRONIZE CACHE for the range. */
  synced: boolean;
  /** WRITE USING TOKEN commands sent. */
  commands: number;
  /** Commands the target cut short (re-driven). */
  truncations: number;
}

/**
 * WRITE USING TOKEN from a token file until all of `length` is written. No fallback: either the
 * whole range is written or a TokenWriteError says exactly (or at least) how much was.
 */
export async function writeTokenFile(o: WriteTokenFileOptions): Promise<WriteTokenFileResult> {
  const tf = typeof o.token === 'string' ? readTokenFile(o.token) : o.token;
  const tokenName = typeof o.token === 'string' ? o.token : 'the token';
  if (tf.decoded.isZeroToken) throw new UsageError(`${tokenName}: the block device zero token represents no data; use odxcp zero --method token`);
  const offset = BigInt(o.offset);
  const rodOffset = BigInt(o.rodOffset ?? 0);
  return withDevice(o.device, true, async (dev, name) => {
    const cap = await dev.capacity();
    const bs = BigInt(cap.blockSize);
    if (tf.blockSize !== undefined && tf.blockSize !== cap.blockSize) {
      // OFFSET INTO ROD and the range descriptors count destination blocks; a token from another
      // block size is refused by targets (23/00 on the odx handler) and ambiguous in the standard.
      throw new UsageError(`${tokenName}: the token is for ${tf.blockSize}-byte blocks, ${name} has ${cap.blockSize}-byte blocks`);
    }
    if (rodOffset < 0n || rodOffset % bs !== 0n) throw new UsageError(`--rod-offset: ${rodOffset} is not a multiple of the ${cap.blockSize}-byte logical block`);
    let length: bigint;
    if (o.length !== undefined) length = BigInt(o.length);
    else {
      if (tf.bytes === undefined) throw new UsageError(`${tokenName}: the token does not say how many bytes it represents; give --length`);
      length = tf.bytes - rodOffset;
    }
    if (tf.bytes !== undefined && rodOffset + length > tf.bytes) {
      throw new UsageError(`--rod-offset/--length: ${rodOffset}+${length} is past the ${tf.bytes} bytes the token represents`);
    }
    const { lba, blocks } = blockRange(offset, length, cap.blockSize, cap.bytes, { offset: '--offset', length: '--length', device: name });
    const lim = await tokenLimits(dev);
    const whole = BigInt(lim.maxRanges) * 0xffffffffn;
    const maxChunk = lim.maxTokenBlocks > 0n && lim.maxTokenBlocks < whole ? lim.maxTokenBlocks : whole;
    const { value: r, synced } = await writeThenFlush(dev, lba, blocks, { sync: o.sync, timeoutMs: o.timeoutMs }, () => writeUsingTokenLoop(dev, {
      token: tf.token,
      lba,
      blocks,
      blockSize: cap.blockSize,
      rodOffsetBlocks: rodOffset / bs,
      advanceRodOffset: true,
      maxChunkBlocks: maxChunk,
      maxRanges: lim.maxRanges,
      deleteTokenAtEnd: o.deleteToken,
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      onWritten: (b) => o.onProgress?.({ bytesWritten: b * bs, totalBytes: length }),
    }));
    return {
      device: name,
      offset,
      lba,
      blockSize: cap.blockSize,
      rodOffset,
      requestedBytes: length,
      bytesWritten: r.blocksWritten * bs,
      synced,
      commands: r.commands,
      truncations: r.truncations,
    };
  });
}

/** A designation descriptor in printable form. */
export interface DesignatorSummary {
  designatorType: number;
  designatorTypeName: string;
  codeSet: number;
  association: number;
  /** The designator bytes as hex (an NAA, EUI-64...). */
  designator: string;
}

function summarize(d: DesignationDescriptor): DesignatorSummary {
  return {
    designatorType: d.designatorType,
    designatorTypeName: d.designatorTypeName,
    codeSet: d.codeSet,
    association: d.association,
    designator: d.designator.toString('hex'),
  };
}

/** What `odxcp token info` shows: the file header and the decoded token, plus its age. */
export interface TokenFileInfo {
  format: TokenFile['format'];
  version?: number;
  blockSize?: number;
  lba?: bigint;
  bytes?: bigint;
  createdAt?: string;
  ageSeconds?: number;
  /** The creation time is after `now` (a clock is wrong somewhere). */
  inFuture?: boolean;
  futureSeconds?: number;
  inactivityTimeout?: number;
  rodType: number;
  rodTypeName: string;
  rodTokenLength: number;
  copyManagerRodTokenId?: string;
  numberOfBytesRepresented?: bigint;
  creatorLogicalUnit?: DesignatorSummary & { peripheralDeviceType: number; diskBlockLength: number };
  creatorLogicalUnitError?: string;
  blockDevice?: RodToken['blockDevice'];
  targetDeviceDescriptor?: DesignatorSummary;
  truncated: boolean;
  /** Things that do not stop the token from being used but deserve a look. */
  warnings: string[];
}

export function tokenFileInfo(tf: TokenFile, now = new Date()): TokenFileInfo {
  const d = tf.decoded;
  const c = d.creatorLogicalUnit;
  const ageMs = tf.createdAt ? now.getTime() - tf.createdAt.getTime() : undefined;
  // A second of slack: two hosts' clocks never agree to the millisecond.
  const inFuture = ageMs !== undefined && ageMs < -1000;
  const warnings: string[] = [];
  if (inFuture) warnings.push(`the creation time is ${Math.round(-(ageMs as number) / 1000)} s in the future: this host's clock or the creating host's is wrong, so the age and expiry cannot be judged`);
  else if (ageMs !== undefined && tf.inactivityTimeout && ageMs / 1000 > tf.inactivityTimeout) {
    warnings.push(`older than its ${tf.inactivityTimeout} s inactivity timeout: expired unless it was used since`);
  }
  return {
    format: tf.format,
    version: tf.version,
    blockSize: tf.blockSize,
    lba: tf.lba,
    bytes: tf.bytes,
    createdAt: tf.createdAt?.toISOString(),
    ageSeconds: ageMs !== undefined ? Math.max(0, Math.round(ageMs / 1000)) : undefined,
    inFuture: ageMs !== undefined ? inFuture : undefined,
    futureSeconds: inFuture ? Math.round(-(ageMs as number) / 1000) : undefined,
    inactivityTimeout: tf.inactivityTimeout,
    rodType: d.rodType,
    rodTypeName: d.rodTypeName,
    rodTokenLength: d.rodTokenLength,
    copyManagerRodTokenId: d.copyManagerRodTokenId,
    numberOfBytesRepresented: d.numberOfBytesRepresented,
    creatorLogicalUnit: c ? { ...summarize(c.designator), peripheralDeviceType: c.peripheralDeviceType, diskBlockLength: c.diskBlockLength } : undefined,
    creatorLogicalUnitError: d.creatorLogicalUnitError,
    blockDevice: d.blockDevice,
    targetDeviceDescriptor: d.targetDeviceDescriptor ? summarize(d.targetDeviceDescriptor) : undefined,
    truncated: d.truncated,
    warnings,
  };
}
