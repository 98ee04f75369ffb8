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
// `tail -c 512 FILE` is the raw token. A bare 512-byte token file (as other tools write) is
// read as well; its block size and length then come from the token itself when present.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { ScsiDevice } from '../device/device';
import { DeviceError, UsageError } from '../scsi/errors';
import { decodeRodToken, ROD_TOKEN_LENGTH, type RodToken } from '../scsi/rod-token';
import type { DesignationDescriptor } from '../scsi/spc';
import {
  blockRange,
  populate,
  tokenLimits,
  writeUsingTokenLoop,
  type TokenTarget,
} from './token-ops';

export const TOKEN_FILE_MAGIC = 'ODXCPTOK';
export const TOKEN_FILE_VERSION = 1;
export const TOKEN_FILE_HEADER_LENGTH = 64;
export const TOKEN_FILE_LENGTH = TOKEN_FILE_HEADER_LENGTH + ROD_TOKEN_LENGTH;

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
  format: 'odxcp' | 'raw';
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
  return crc32(b.subarray(TOKEN_FILE_HEADER_LENGTH, TOKEN_FILE_LENGTH), crc32(b.subarray(0, 48))) >>> 0;
}

/** Decode a token file's bytes (odxcp format or a bare 512-byte token). `name` is for messages. */
export function decodeTokenFile(buf: Buffer, name = 'token file'): TokenFile {
  if (buf.length === ROD_TOKEN_LENGTH && buf.subarray(0, 8).toString('latin1') !== TOKEN_FILE_MAGIC) {
    const token = Buffer.from(buf);
    const decoded = decodeRodToken(token);
    return {
      format: 'raw',
      token,
      decoded,
      blockSize: decoded.blockDevice?.blockLength,
      bytes: decoded.numberOfBytesRepresented,
    };
  }
  if (buf.length < 8 || buf.subarray(0, 8).toString('latin1') !== TOKEN_FILE_MAGIC) {
    throw new UsageError(`${name}: not a token file (no ${TOKEN_FILE_MAGIC} header, and not a bare ${ROD_TOKEN_LENGTH}-byte ROD token)`);
  }
  if (buf.length < 12) throw new UsageError(`${name}: truncated token file header`);
  const version = buf.readUInt16BE(8);
  const headerLength = buf.readUInt16BE(10);
  if (version !== TOKEN_FILE_VERSION) throw new UsageError(`${name}: token file version ${version} is not supported (this odxcp reads version ${TOKEN_FILE_VERSION})`);
  if (headerLength !== TOKEN_FILE_HEADER_LENGTH || buf.length !== TOKEN_FILE_LENGTH) {
    throw new UsageError(`${name}: corrupt token file (${buf.length} bytes, header length ${headerLength}; expected ${TOKEN_FILE_LENGTH} and ${TOKEN_FILE_HEADER_LENGTH})`);
  }
  const tokenLength = buf.readUInt32BE(44);
  if (tokenLength !== ROD_TOKEN_LENGTH) throw new UsageError(`${name}: corrupt token file (token length ${tokenLength})`);
  const stored = buf.readUInt32BE(48);
  const actual = fileCrc(buf);
  if (stored !== actual) throw new UsageError(`${name}: corrupt token file (CRC-32 0x${actual.toString(16).padStart(8, '0')}, header says 0x${stored.toString(16).padStart(8, '0')})`);
  const token = Buffer.from(buf.subarray(TOKEN_FILE_HEADER_LENGTH));
  return {
    format: 'odxcp',
    version,
    token,
    decoded: decodeRodToken(token),
    blockSize: buf.readUInt32BE(12),
    lba: buf.readBigUInt64BE(16),
    bytes: buf.readBigUInt64BE(24),
    createdAt: new Date(Number(buf.readBigUInt64BE(32))),
    inactivityTimeout: buf.readUInt32BE(40),
  };
}

/** Read and check a token file. */
export function readTokenFile(file: string): TokenFile {
  let buf: Buffer;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new UsageError(`${file}: not a regular file`);
    if (st.size > 64 * 1024) throw new UsageError(`${file}: ${st.size} bytes is far too large for a token file`);
    buf = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new DeviceError({ path: file, code: err.code ?? 'EIO', errno: err.errno, message: `${file}: cannot read the token file: ${err.code ?? err.message}`, cause: e });
  }
  return decodeTokenFile(buf, file);
}

/** Write `data` to `file` with mode 0600, atomically (temporary file + rename). */
function writePrivateFile(file: string, data: Buffer, overwrite: boolean): void {
  if (!overwrite && fs.existsSync(file)) throw new UsageError(`${file}: exists (use --force to replace it)`);
  try {
    writeAtomically(file, data);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new DeviceError({ path: file, code: err.code ?? 'EIO', errno: err.errno, message: `${file}: cannot write the token file: ${err.code ?? err.message}`, cause: e });
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
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PopulateTokenFileResult {
  file: string;
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
  if (!o.overwrite && fs.existsSync(o.out)) throw new UsageError(`${o.out}: exists (use --force to replace it)`);
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
    const p = await populate(dev, { lba, blocks, blockSize: cap.blockSize, maxRanges: lim.maxRanges, inactivityTimeout: inactivity, timeoutMs: o.timeoutMs, signal: o.signal });
    const createdAt = new Date();
    writePrivateFile(o.out, encodeTokenFile({ blockSize: cap.blockSize, lba, bytes: p.bytes, createdAt, inactivityTimeout: inactivity }, p.token), o.overwrite === true);
    return {
      file: o.out,
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
    const r = await writeUsingTokenLoop(dev, {
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
    });
    return {
      device: name,
      offset,
      lba,
      blockSize: cap.blockSize,
      rodOffset,
      requestedBytes: length,
      bytesWritten: r.blocksWritten * bs,
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
}

export function tokenFileInfo(tf: TokenFile, now = new Date()): TokenFileInfo {
  const d = tf.decoded;
  const c = d.creatorLogicalUnit;
  return {
    format: tf.format,
    version: tf.version,
    blockSize: tf.blockSize,
    lba: tf.lba,
    bytes: tf.bytes,
    createdAt: tf.createdAt?.toISOString(),
    ageSeconds: tf.createdAt ? Math.max(0, Math.round((now.getTime() - tf.createdAt.getTime()) / 1000)) : undefined,
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
  };
}
