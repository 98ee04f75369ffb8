// Sizes and numbers on the command line.
//
// odxcp's own options (--length 64M, --src-offset 2048b): a decimal integer with an optional
// K/M/G/T suffix (powers of 1024; KiB/MiB/GiB/TiB and lower case accepted) or `b` for logical
// blocks of the device the option belongs to. Parsing is syntactic; turning blocks into bytes
// and checking alignment needs the block size (resolveSize).
//
// sg_xcopy-style operands (count=, skip=, seek=, bs=): sg3_utils' numeric arguments, so scripts
// keep their meaning: multiplicative suffixes (c w b k K KiB KB m M MiB MB g G GiB GB t T TiB TB
// p P PiB PB; note `b` is x512 there), hex as 0x1F or 1Fh, and N x M / N + M expressions.
import { UsageError } from '../errors';

export const U64_MAX = (1n << 64n) - 1n;

/** A parsed size: bytes, or a count of logical blocks still to be multiplied by a block size. */
export interface SizeSpec {
  unit: 'bytes' | 'blocks';
  value: bigint;
  /** As typed, for messages. */
  text: string;
}

const BINARY: Record<string, bigint> = {
  '': 1n,
  k: 1n << 10n,
  K: 1n << 10n,
  KiB: 1n << 10n,
  m: 1n << 20n,
  M: 1n << 20n,
  MiB: 1n << 20n,
  g: 1n << 30n,
  G: 1n << 30n,
  GiB: 1n << 30n,
  t: 1n << 40n,
  T: 1n << 40n,
  TiB: 1n << 40n,
};

const SIZE_HELP = 'use N, NK, NM, NG, NT (powers of 1024) or Nb (logical blocks)';

/** Parse an odxcp size option. `name` is the option as the user typed it, for the message. */
export function parseSize(text: string, name: string): SizeSpec {
  const t = text.trim();
  if (t === '') throw new UsageError(`${name}: missing size (${SIZE_HELP})`);
  if (/^-/.test(t)) throw new UsageError(`${name}: size must not be negative: '${text}'`);
  if (/^\+?\d*\.\d*[a-zA-Z]*$/.test(t) && /\d/.test(t)) throw new UsageError(`${name}: '${text}' is not a whole number (sizes and block counts are integers)`);
  const m = /^(\d+)([a-zA-Z]*)$/.exec(t);
  if (!m) throw new UsageError(`${name}: bad size '${text}' (${SIZE_HELP})`);
  const digits = m[1] as string;
  const suffix = m[2] as string;
  const value = BigInt(digits);
  if (suffix === 'b') {
    if (value > U64_MAX) throw new UsageError(`${name}: '${text}' is too large (more than 2^64-1 blocks)`);
    return { unit: 'blocks', value, text };
  }
  const mul = BINARY[suffix];
  if (mul === undefined) throw new UsageError(`${name}: bad size suffix in '${text}' (${SIZE_HELP})`);
  const bytes = value * mul;
  if (bytes > U64_MAX) throw new UsageError(`${name}: '${text}' is too large (more than 2^64-1 bytes)`);
  return { unit: 'bytes', value: bytes, text };
}

/**
 * Bytes of a size, given the logical block size of the device the option belongs to. With
 * `aligned`, the byte count must be a whole number of blocks (offsets and lengths on a LUN).
 */
export function resolveSize(spec: SizeSpec, blockSize: number, name: string, aligned = true, deviceName = 'the device'): bigint {
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0) throw new RangeError(`resolveSize: bad block size ${blockSize}`);
  const bs = BigInt(blockSize);
  if (spec.unit === 'blocks') {
    const bytes = spec.value * bs;
    if (bytes > U64_MAX) throw new UsageError(`${name}: '${spec.text}' is too large (${spec.value} blocks of ${blockSize} bytes exceed 2^64-1 bytes)`);
    return bytes;
  }
  if (aligned && spec.value % bs !== 0n) {
    throw new UsageError(`${name}: ${spec.value} bytes ('${spec.text}') is not a multiple of the ${blockSize}-byte logical block of ${deviceName}`);
  }
  return spec.value;
}

/** A positive integer option (--max-in-flight). */
export function parseCount(text: string, name: string, min: number, max: number): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new UsageError(`${name}: '${text}' is not a whole number`);
  const v = Number(t);
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new UsageError(`${name}: ${text} is out of range (${min}..${max})`);
  return v;
}

/** Seconds, integer or decimal, > 0 (--timeout); returns milliseconds. */
export function parseSeconds(text: string, name: string): number {
  const t = text.trim();
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(t)) throw new UsageError(`${name}: '${text}' is not a number of seconds`);
  const ms = Math.round(Number(t) * 1000);
  // SG_IO's timeout is an unsigned 32-bit count of milliseconds.
  if (ms <= 0 || ms > 0xffffffff) throw new UsageError(`${name}: ${text} s is out of range (0.001..4294967)`);
  return ms;
}

// ---- sg3_utils numeric arguments (sg3_utils(8), "NUMERIC ARGUMENTS")

const SG_SUFFIX: Record<string, bigint> = {
  '': 1n,
  c: 1n,
  C: 1n,
  w: 2n,
  W: 2n,
  b: 512n,
  B: 512n,
  k: 1n << 10n,
  K: 1n << 10n,
  KiB: 1n << 10n,
  KB: 1000n,
  kB: 1000n,
  m: 1n << 20n,
  M: 1n << 20n,
  MiB: 1n << 20n,
  MB: 1000n ** 2n,
  mB: 1000n ** 2n,
  g: 1n << 30n,
  G: 1n << 30n,
  GiB: 1n << 30n,
  GB: 1000n ** 3n,
  gB: 1000n ** 3n,
  t: 1n << 40n,
  T: 1n << 40n,
  TiB: 1n << 40n,
  TB: 1000n ** 4n,
  p: 1n << 50n,
  P: 1n << 50n,
  PiB: 1n << 50n,
  PB: 1000n ** 5n,
};

function sgTerm(t: string): bigint | undefined {
  let m = /^0[xX]([0-9a-fA-F]+)$/.exec(t);
  if (m) return BigInt(`0x${m[1]}`);
  m = /^([0-9a-fA-F]+)[hH]$/.exec(t);
  if (m) return BigInt(`0x${m[1]}`);
  m = /^(\d+)([a-zA-Z]*)$/.exec(t);
  if (!m) return undefined;
  const mul = SG_SUFFIX[m[2] as string];
  return mul === undefined ? undefined : BigInt(m[1] as string) * mul;
}

/**
 * An sg3_utils numeric argument: "2k", "0x100", "100h", "2x33", "3+1k". Throws UsageError
 * naming the operand (e.g. "count=").
 */
export function parseSgNumber(text: string, name: string): bigint {
  const t = text.trim();
  if (t === '') throw new UsageError(`${name}: missing number`);
  if (/^-/.test(t)) throw new UsageError(`${name}: must not be negative: '${text}'`);
  // "N x M" and "N + M": the left operand ends in a hex digit (so "0x" stays a hex prefix).
  const op = /^0[xX]/.test(t) ? /^(0[xX][0-9a-fA-F]+)([x+])(.+)$/.exec(t) : /^([0-9a-fA-F]+)([x+])(.+)$/.exec(t);
  let v: bigint | undefined;
  if (op) {
    const left = sgTerm(op[1] as string);
    const right = left === undefined ? undefined : parseSgNumberOrUndefined(op[3] as string);
    if (left !== undefined && right !== undefined) v = op[2] === 'x' ? left * right : left + right;
  } else {
    v = sgTerm(t);
  }
  if (v === undefined) {
    if (/^\d*\.\d+/.test(t)) throw new UsageError(`${name}: '${text}' is not a whole number`);
    throw new UsageError(`${name}: bad number '${text}' (decimal with an optional k/M/G/T... suffix, or hex as 0x1F / 1Fh)`);
  }
  if (v > U64_MAX) throw new UsageError(`${name}: '${text}' is too large (more than 2^64-1)`);
  return v;
}

function parseSgNumberOrUndefined(t: string): bigint | undefined {
  try {
    return parseSgNumber(t, '');
  } catch {
    return undefined;
  }
}

/** Human size: "64 MiB", "1.5 GiB", "512 B". */
export function formatBytes(n: bigint | number): string {
  const v = typeof n === 'bigint' ? Number(n) : n;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  if (i === 0) return `${v} B`;
  const s = x >= 100 || Number.isInteger(x) ? x.toFixed(0) : x.toFixed(1);
  return `${s} ${units[i]}`;
}
