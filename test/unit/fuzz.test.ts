// Robustness of every decoder against truncated, corrupt and random replies.
//
// Contract checked (lib/scsi/decoders.ts): a decoder returns or throws ParseError - nothing
// else; it never reads outside the Buffer it is given; every Buffer in its result is a view
// inside that Buffer or a copy of bytes from it; it does not modify its input.
//
// How out-of-range reads are caught: the input is copied into the middle of a larger
// ArrayBuffer whose other bytes are a fill value, and the decoder gets only the middle view.
// Each input is decoded twice, with fill 0x00 and with fill 0xFF: a decoder that looked past
// its view (through .buffer, a wider Uint8Array, an unchecked index) sees different bytes and
// produces a different result, or a Buffer outside the view, or `undefined`/NaN. The
// "harness self-test" block feeds deliberately leaky decoders through the same checks to show
// that each of these failures is detected.

import { strict as assert } from 'node:assert';
import type { NativeExecuteResult } from '../../lib/native';
import { ScsiError, scsiErrorFromResult } from '../../lib/scsi/errors';
import { ParseError } from '../../lib/scsi/bytes';
import { decodeSense, decodeSenseHeader } from '../../lib/scsi/sense';
import { decodeReadCapacity16 } from '../../lib/scsi/sbc';
import {
  decodeDesignationDescriptor,
  decodeReportLuns,
  decodeStandardInquiry,
  decodeVpdBlockLimits,
  decodeVpdDeviceIdentification,
  decodeVpdHeader,
  decodeVpdLogicalBlockProvisioning,
  decodeVpdSupportedPages,
  decodeVpdUnitSerial,
} from '../../lib/scsi/spc';
import { decodeVpdThirdPartyCopy } from '../../lib/scsi/tpc-vpd';
import {
  decodeCopyStatus,
  decodeFailedSegmentDetails,
  decodeIdentificationCscd,
  decodeOperatingParameters,
  decodeReceiveCopyStatusLid4,
  decodeReceiveRodTokenInformation,
} from '../../lib/scsi/tpc';
import { decodeReportAllRodTokens } from '../../lib/scsi/rod-token';
import { decodeRodManagementToken, decodeRodToken } from '../../lib/scsi/rod-token';
import { ROD_VECTORS } from './rod-token.test';
import { SBC_VECTORS } from './sbc.test';
import { SENSE_VECTORS } from './sense.test';
import { SPC_VECTORS } from './spc.test';
import { TPC_VECTORS } from './tpc.test';

// ---------------------------------------------------------------------------------------------
// Harness

/** Bytes of fill on each side of the input inside its ArrayBuffer. */
const PAD = 64;
const FILLS = [0x00, 0xff] as const;

type Outcome = { kind: 'value'; value: unknown } | { kind: 'parse-error'; message: string };

class HarnessFailure extends Error {}

/** Run `fn` on a copy of `bytes` that sits between PAD bytes of `fill` in one ArrayBuffer. */
function runIsolated(fn: (b: Buffer) => unknown, bytes: Buffer, fill: number): Outcome {
  const pool = Buffer.alloc(bytes.length + 2 * PAD, fill);
  bytes.copy(pool, PAD);
  const view = pool.subarray(PAD, PAD + bytes.length);
  let value: unknown;
  try {
    value = fn(view);
  } catch (e) {
    if (!(e instanceof ParseError)) throw new HarnessFailure(`threw ${(e as Error)?.name ?? typeof e} instead of ParseError: ${(e as Error)?.message}`);
    checkPool(pool, bytes, fill);
    return { kind: 'parse-error', message: e.message };
  }
  checkPool(pool, bytes, fill);
  return { kind: 'value', value: normalize(value, view, new Set(), '$') };
}

/** The input and the fill around it must be unchanged. */
function checkPool(pool: Buffer, bytes: Buffer, fill: number): void {
  if (!pool.subarray(PAD, PAD + bytes.length).equals(bytes)) throw new HarnessFailure('decoder modified its input');
  for (let i = 0; i < PAD; i++) {
    if (pool[i] !== fill || pool[PAD + bytes.length + i] !== fill) throw new HarnessFailure('decoder wrote outside its input');
  }
}

/**
 * A comparable copy of a decoder result. Checks on the way: Buffers lie inside the view (or are
 * copies of bytes found in it), numbers are finite, no enumerable functions.
 */
function normalize(v: unknown, view: Buffer, seen: Set<object>, path: string): unknown {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    const b = v as Uint8Array;
    if (b.buffer === view.buffer) {
      if (b.byteOffset < view.byteOffset || b.byteOffset + b.length > view.byteOffset + view.length) {
        throw new HarnessFailure(`${path}: Buffer [${b.byteOffset - view.byteOffset}, +${b.length}) lies outside the ${view.length}-byte input`);
      }
    } else if (b.length > 0 && view.indexOf(Buffer.from(b.buffer, b.byteOffset, b.length)) < 0) {
      throw new HarnessFailure(`${path}: copied Buffer holds bytes that are not in the input`);
    }
    return `buf:${Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')}`;
  }
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) throw new HarnessFailure(`${path}: non-finite number ${v}`);
      return v;
    case 'bigint':
      return `big:${v.toString()}`;
    case 'string':
    case 'boolean':
      return v;
    case 'undefined':
      // Decoders omit absent optional fields; an undefined value is what an unchecked index
      // past the end of a Buffer or array yields.
      throw new HarnessFailure(`${path}: undefined value`);
    case 'function':
      throw new HarnessFailure(`${path}: enumerable function in a decoded result`);
    case 'object': {
      if (v === null) return null;
      if (seen.has(v)) throw new HarnessFailure(`${path}: cycle`);
      seen.add(v);
      const out = Array.isArray(v)
        ? v.map((x, i) => normalize(x, view, seen, `${path}[${i}]`))
        : Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, normalize((v as Record<string, unknown>)[k], view, seen, `${path}.${k}`)]),
          );
      seen.delete(v);
      return out;
    }
    default:
      throw new HarnessFailure(`${path}: unexpected ${typeof v}`);
  }
}

/** Decode `bytes` with each fill; outcomes must agree. Returns the outcome. */
function check(fn: (b: Buffer) => unknown, bytes: Buffer): Outcome {
  const first = runIsolated(fn, bytes, FILLS[0]);
  const second = runIsolated(fn, bytes, FILLS[1]);
  // normalize() left only JSON-safe values (undefined, bigint and Buffers made strings).
  if (JSON.stringify(second) !== JSON.stringify(first)) throw new HarnessFailure('result depends on bytes outside the input');
  return first;
}

/** `check`, but a failure names the decoder and the input. */
function checkOrFail(name: string, fn: (b: Buffer) => unknown, bytes: Buffer, how: string): Outcome {
  try {
    return check(fn, bytes);
  } catch (e) {
    throw new Error(`${name} (${how}, ${bytes.length} bytes: ${bytes.toString('hex').slice(0, 200)}): ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoders and their seed inputs

interface Target {
  name: string;
  fn: (b: Buffer) => unknown;
  seeds: Buffer[];
  /** Make a random buffer more likely to get past the header checks. */
  shape?: (b: Buffer, rnd: Rng) => void;
}

const vals = (o: Record<string, Buffer>, ...keys: string[]): Buffer[] => keys.map((k) => o[k] as Buffer);
const vpdShape = (page: number) => (b: Buffer, rnd: Rng) => {
  if (b.length > 1 && rnd.next() < 0.8) b[1] = page;
  if (b.length > 3 && rnd.next() < 0.5) b.writeUInt16BE(Math.max(0, b.length - 4 + rnd.int(-8, 8)), 2);
};
const availShape = (b: Buffer, rnd: Rng) => {
  if (b.length > 3 && rnd.next() < 0.6) b.writeUInt32BE(Math.max(0, b.length - 4 + rnd.int(-8, 8)), 0);
};
const allVpd = vals(SPC_VECTORS, 'tcmuSupportedPages', 'unitSerial', 'lioDeviceId', 'otherDesignators', 'lioBlockLimitsShort', 'blockLimitsFull', 'lbp', 'freebsdTpc', 'lx8fTpc');
const designators = [
  ...decodeVpdDeviceIdentification(SPC_VECTORS.lioDeviceId!).descriptors,
  ...decodeVpdDeviceIdentification(SPC_VECTORS.otherDesignators!).descriptors,
].map((d) => Buffer.from(d.raw));

const TARGETS: Target[] = [
  {
    name: 'decodeSense',
    fn: decodeSense,
    seeds: Object.values(SENSE_VECTORS),
    shape: (b, rnd) => {
      if (b.length > 0) b[0] = (rnd.next() < 0.5 ? 0x80 : 0) | (0x70 + rnd.int(0, 3));
      if (b.length > 7 && rnd.next() < 0.5) b[7] = Math.max(0, b.length - 8 + rnd.int(-4, 4)) & 0xff;
    },
  },
  { name: 'decodeSenseHeader', fn: decodeSenseHeader, seeds: Object.values(SENSE_VECTORS), shape: (b, rnd) => b.length > 0 && (b[0] = 0x70 + rnd.int(0, 3)) },
  { name: 'decodeStandardInquiry', fn: decodeStandardInquiry, seeds: vals(SPC_VECTORS, 'lioInquiry', 'tcmuInquiry') },
  { name: 'decodeVpdHeader', fn: decodeVpdHeader, seeds: allVpd },
  { name: 'decodeVpdSupportedPages', fn: decodeVpdSupportedPages, seeds: vals(SPC_VECTORS, 'tcmuSupportedPages'), shape: vpdShape(0x00) },
  { name: 'decodeVpdUnitSerial', fn: decodeVpdUnitSerial, seeds: vals(SPC_VECTORS, 'unitSerial'), shape: vpdShape(0x80) },
  { name: 'decodeVpdDeviceIdentification', fn: decodeVpdDeviceIdentification, seeds: vals(SPC_VECTORS, 'lioDeviceId', 'otherDesignators'), shape: vpdShape(0x83) },
  { name: 'decodeDesignationDescriptor', fn: decodeDesignationDescriptor, seeds: designators },
  { name: 'decodeVpdBlockLimits', fn: decodeVpdBlockLimits, seeds: vals(SPC_VECTORS, 'lioBlockLimitsShort', 'blockLimitsFull'), shape: vpdShape(0xb0) },
  { name: 'decodeVpdLogicalBlockProvisioning', fn: decodeVpdLogicalBlockProvisioning, seeds: vals(SPC_VECTORS, 'lbp'), shape: vpdShape(0xb2) },
  { name: 'decodeVpdThirdPartyCopy', fn: decodeVpdThirdPartyCopy, seeds: vals(SPC_VECTORS, 'freebsdTpc', 'lx8fTpc'), shape: vpdShape(0x8f) },
  { name: 'decodeReportLuns', fn: decodeReportLuns, seeds: vals(SPC_VECTORS, 'reportLuns') },
  { name: 'decodeReadCapacity16', fn: decodeReadCapacity16, seeds: Object.values(SBC_VECTORS) },
  { name: 'decodeCopyStatus', fn: decodeCopyStatus, seeds: vals(TPC_VECTORS, 'lid1Completed', 'lid1InProgressMiB'), shape: availShape },
  {
    name: 'decodeOperatingParameters',
    fn: decodeOperatingParameters,
    seeds: vals(TPC_VECTORS, 'lioOperatingParameters', 'tcmuOperatingParameters', 'freebsdOperatingParameters'),
    shape: availShape,
  },
  { name: 'decodeFailedSegmentDetails', fn: decodeFailedSegmentDetails, seeds: vals(TPC_VECTORS, 'failedSegment', 'noFailure'), shape: availShape },
  {
    name: 'decodeReceiveRodTokenInformation',
    fn: decodeReceiveRodTokenInformation,
    seeds: vals(TPC_VECTORS, 'freebsdRrti', 'rrtiInProgress', 'rrtiWithSense'),
    shape: availShape,
  },
  { name: 'decodeReceiveCopyStatusLid4', fn: decodeReceiveCopyStatusLid4, seeds: vals(TPC_VECTORS, 'freebsdRcsLid4', 'rrtiWithSense'), shape: availShape },
  { name: 'decodeReportAllRodTokens', fn: decodeReportAllRodTokens, seeds: vals(TPC_VECTORS, 'reportAllRodTokens'), shape: availShape },
  { name: 'decodeIdentificationCscd', fn: decodeIdentificationCscd, seeds: vals(TPC_VECTORS, 'cscdE4'), shape: (b) => b.length > 0 && (b[0] = 0xe4) },
  { name: 'decodeRodToken', fn: decodeRodToken, seeds: Object.values(ROD_VECTORS) },
  { name: 'decodeRodManagementToken', fn: decodeRodManagementToken, seeds: [ROD_VECTORS.aur!.subarray(0, 96), ROD_VECTORS.zero!.subarray(0, 96)] },
];

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32) so failures reproduce.

class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(0, a.length - 1)] as T;
  }
}

/** One random mutation of `b` (returns a new buffer). */
function mutate(b: Buffer, rnd: Rng): Buffer {
  let out = Buffer.from(b);
  switch (rnd.int(0, 7)) {
    case 0: // flip a bit
      if (out.length) out[rnd.int(0, out.length - 1)]! ^= 1 << rnd.int(0, 7);
      break;
    case 1: // random byte
      if (out.length) out[rnd.int(0, out.length - 1)] = rnd.int(0, 255);
      break;
    case 2: // extreme byte, typical for length fields
      if (out.length) out[rnd.int(0, out.length - 1)] = rnd.pick([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]);
      break;
    case 3: // 16-bit field near the start (page lengths, descriptor lengths) to an odd value
      if (out.length >= 2) out.writeUInt16BE(rnd.pick([0, 1, 3, 4, 5, 0x1f8, 0x200, 0x7fff, 0xffff, rnd.int(0, 0xffff)]), rnd.int(0, Math.min(out.length - 2, 64)));
      break;
    case 4: // 32-bit field
      if (out.length >= 4) out.writeUInt32BE(rnd.pick([0, 4, 8, 0x1c, 0x2a, 0x222, 0xffffffff, rnd.int(0, 0xffff)]), rnd.int(0, Math.min(out.length - 4, 64)));
      break;
    case 5: // truncate
      out = out.subarray(0, rnd.int(0, out.length));
      break;
    case 6: // extend with random bytes
      out = Buffer.concat([out, rnd.bytes(rnd.int(1, 64))]);
      break;
    default: // duplicate or drop a chunk
      if (out.length > 4) {
        const at = rnd.int(0, out.length - 2);
        const len = rnd.int(1, Math.min(32, out.length - at));
        out = rnd.next() < 0.5 ? Buffer.concat([out.subarray(0, at + len), out.subarray(at, at + len), out.subarray(at + len)]) : Buffer.concat([out.subarray(0, at), out.subarray(at + len)]);
      }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('fuzz: harness self-test (a check that cannot fail would be worthless)', () => {
  const input = Buffer.from('0102030405060708', 'hex');
  const leaky: Array<[string, (b: Buffer) => unknown]> = [
    ['returns a view that extends past the input', (b) => ({ raw: Buffer.from(b.buffer, b.byteOffset, b.length + 2) })],
    ['returns a view that starts before the input', (b) => ({ raw: Buffer.from(b.buffer, b.byteOffset - 1, 2) })],
    ['reads a byte past the end through .buffer', (b) => ({ next: new Uint8Array(b.buffer, b.byteOffset + b.length, 1)[0] })],
    ['copies bytes from past the end', (b) => ({ token: Buffer.from(new Uint8Array(b.buffer, b.byteOffset, b.length + 4)) })],
    ['indexes past the end (undefined -> NaN)', (b) => ({ n: (b[b.length] as number) + 1 })],
    ['indexes past the end into a list (undefined)', (b) => ({ codes: [b[0], b[b.length]] })],
    ['throws a RangeError from Buffer', (b) => b.readUInt32BE(b.length - 2)],
    ['throws a TypeError', () => (null as unknown as { x: number }).x],
    ['modifies its input', (b) => ((b[0] = 0xaa), {})],
    ['returns an enumerable function', () => ({ f: () => 1 })],
  ];
  for (const [what, fn] of leaky) {
    it(`detects a decoder that ${what}`, () => {
      assert.throws(() => check(fn, input), HarnessFailure);
    });
  }
  it('passes a decoder that stays inside its input', () => {
    const ok = (b: Buffer) => ({ raw: b.subarray(2, 6), copy: Buffer.from(b.subarray(0, 3)), n: b.readUInt16BE(0), big: b.readBigUInt64BE(0) });
    assert.deepEqual(check(ok, input), {
      kind: 'value',
      value: { big: 'big:72623859790382856', copy: 'buf:010203', n: 0x0102, raw: 'buf:03040506' },
    });
    assert.deepEqual(check(() => decodeSense(Buffer.alloc(0)), input).kind, 'parse-error');
  });
});

describe('fuzz: every prefix of every hand-built reply decodes or throws ParseError', () => {
  for (const t of TARGETS) {
    it(t.name, () => {
      assert.ok(t.seeds.length > 0);
      let decoded = 0;
      for (const seed of t.seeds) {
        for (let n = 0; n <= seed.length; n++) {
          if (checkOrFail(t.name, t.fn, seed.subarray(0, n), `prefix ${n}`).kind === 'value') decoded++;
        }
        // The full seed itself must decode: it is a valid reply.
        assert.equal(checkOrFail(t.name, t.fn, seed, 'full').kind, 'value', `${t.name}: a valid seed did not decode`);
      }
      assert.ok(decoded > 0);
    });
  }
});

describe('fuzz: seeded random and mutated replies', function () {
  this.timeout(60000);
  const SEED = 0x0dc0ffee;
  const PER_TARGET = 920; // 22 decoders x 920 = 20240 inputs

  it(`${TARGETS.length} decoders x ${PER_TARGET} inputs: only ParseError, no reads outside the input`, () => {
    const rnd = new Rng(SEED);
    let iterations = 0;
    let values = 0;
    let parseErrors = 0;
    const started = process.hrtime.bigint();
    const perTarget: string[] = [];
    for (const t of TARGETS) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < PER_TARGET; i++) {
        const r = rnd.next();
        let input: Buffer;
        let how: string;
        if (r < 0.2) {
          input = rnd.bytes(rnd.int(0, 600));
          t.shape?.(input, rnd);
          how = 'random';
        } else {
          input = rnd.pick(t.seeds);
          const k = rnd.int(1, 4);
          for (let j = 0; j < k; j++) input = mutate(input, rnd);
          if (r > 0.8) t.shape?.(input, rnd);
          how = `mutated x${k}`;
        }
        const o = checkOrFail(t.name, t.fn, input, `${how}, iteration ${i}, seed 0x${SEED.toString(16)}`);
        if (o.kind === 'value') values++;
        else parseErrors++;
        iterations++;
      }
      perTarget.push(`${t.name} ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)}`);
    }
    if (process.env.ODXCP_FUZZ_TIMES) console.log(perTarget.join('\n'));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(iterations >= 20000, `${iterations} iterations`);
    // Both outcomes must be common, or the inputs are not exercising the decoders.
    assert.ok(values > iterations / 10, `only ${values} of ${iterations} inputs decoded`);
    assert.ok(parseErrors > iterations / 10, `only ${parseErrors} of ${iterations} inputs were rejected`);
    console.log(`      ${iterations} inputs, ${values} decoded, ${parseErrors} ParseError, ${ms.toFixed(0)} ms`);
  });

  it('scsiErrorFromResult never throws on random sense bytes', () => {
    const rnd = new Rng(SEED ^ 0x5a5a);
    const base: NativeExecuteResult = { status: 2, hostStatus: 0, driverStatus: 8, sense: Buffer.alloc(0), resid: 0, durationMs: 0, info: 1 };
    for (let i = 0; i < 1000; i++) {
      const seed = rnd.pick(Object.values(SENSE_VECTORS));
      const sense = rnd.next() < 0.3 ? rnd.bytes(rnd.int(0, 96)) : mutate(mutate(seed, rnd), rnd);
      const status = rnd.pick([0x02, 0x02, 0x22, 0x08, 0x18, 0x28, 0x30, 0x40, rnd.int(0, 255)]);
      const e = scsiErrorFromResult('POPULATE TOKEN', Buffer.from([0x83, 0x10]), { ...base, status, sense });
      if ((status & 0x7e) === 0 || (status & 0x7e) === 4) assert.equal(e, undefined);
      else {
        assert.ok(e instanceof ScsiError);
        assert.ok(e.message.startsWith('POPULATE TOKEN: '));
        assert.equal(e.rawSense.toString('hex'), sense.toString('hex'));
      }
    }
  });
});
