// Token files and zeroing on the host: the file format (round trip, raw tokens, corruption),
// and the WRITE USING TOKEN loop and zero policy against a fake LUN that decodes the real
// encoders' CDBs and parameter lists (reference 5.8-5.10, 6.3, 7.2) and answers like a target:
// truncated transfer counts in blocks or bytes, refusals, failures part-way.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EncodedCommand, NativeExecuteResult } from '../../lib/native';
import { ScsiError, UsageError, scsiErrorFromResult } from '../../lib/scsi/errors';
import { ROD_TYPE, ZERO_ROD_TOKEN } from '../../lib/scsi/rod-token';
import type { CommandOptions, CommandResult } from '../../lib/scsi/transport';
import {
  decodeTokenFile,
  TokenFileError,
  encodeTokenFile,
  populateTokenFile,
  readTokenFile,
  tokenFileInfo,
  TOKEN_FILE_LENGTH,
  writeTokenFile,
} from '../../lib/tokens/token-file';
import { splitRanges, TokenWriteError, type TokenTarget } from '../../lib/tokens/token-ops';
import { zeroRange, ZeroError } from '../../lib/tokens/zero';
import type { Capabilities } from '../../lib/device/capabilities';

function fixedSense(key: number, asc: number, ascq: number): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key;
  b[7] = 0x0a;
  b[12] = asc;
  b[13] = ascq;
  return b;
}

function checkCondition(name: string, cdb: Buffer, key: number, asc: number, ascq: number): ScsiError {
  const r: NativeExecuteResult = { status: 2, hostStatus: 0, driverStatus: 8, sense: fixedSense(key, asc, ascq), resid: 0, durationMs: 0, info: 1 };
  return scsiErrorFromResult(name, cdb, r) as ScsiError;
}

interface ListState {
  sa: number;
  status: number;
  bytes: number;
  token?: Buffer;
  sense?: Buffer;
}

interface FakeKnobs {
  blockSize?: number;
  blocks?: number;
  /** Blocks one WRITE USING TOKEN writes at most (a truncating target). */
  wutMaxBlocks?: number;
  /** TRANSFER COUNT UNITS in RRTI: 0xF1 blocks (FreeBSD) or 0x00 bytes. */
  units?: number;
  /** ROD types accepted (VPD 0x8F TOKEN_IN). */
  rodTypesIn?: number[];
  tokenCopy?: boolean;
  maxTokenBlocks?: bigint;
  maxWriteSameBlocks?: bigint;
  /** Refuse these opcodes with ILLEGAL REQUEST 20/00. */
  invalidOps?: number[];
  /** The Nth WRITE USING TOKEN (1-based) fails with COPY ABORTED 0D/01 after writing `failAfterBlocks`. */
  failWut?: { nth: number; afterBlocks: number };
  /** RRTI reports this many blocks for POPULATE TOKEN (a truncated token). */
  populateBlocks?: number;
  /** WRITE SAME of more blocks than this fails with 24/00 (an unadvertised limit). */
  writeSameLimit?: number;
}

/** A LUN in memory speaking just enough SCSI for the token and zero paths. */
class FakeLun implements TokenTarget {
  readonly path = '/dev/fake';
  readonly bs: number;
  readonly data: Buffer;
  readonly log: { op: string; lba?: bigint; blocks?: number; offsetIntoRod?: bigint; listId?: number; delTkn?: boolean }[] = [];
  private readonly lists = new Map<number, ListState>();
  /** Tokens of every fake LUN, as a copy manager shared by them would keep them. */
  private static readonly tokens = new Map<string, { lun: FakeLun; lba: number; blocks: number }>();
  private wuts = 0;

  constructor(readonly k: FakeKnobs = {}) {
    this.bs = k.blockSize ?? 512;
    this.data = Buffer.alloc((k.blocks ?? 4096) * this.bs, 0xee);
  }

  async capacity() {
    const blocks = BigInt(this.data.length / this.bs);
    return { blockSize: this.bs, blocks, bytes: blocks * BigInt(this.bs) };
  }

  async capabilities(): Promise<Pick<Capabilities, 'tokenCopy' | 'blockLimits'>> {
    const supported = this.k.tokenCopy !== false;
    return {
      tokenCopy: supported
        ? {
            supported,
            reason: 'fake',
            limits: {
              maximumRangeDescriptors: 8,
              maximumInactivityTimeout: 600,
              defaultInactivityTimeout: 60,
              maximumTokenTransferSize: this.k.maxTokenBlocks ?? 0n,
              optimalTransferCount: 0n,
              maximumTokenLifetime: 0,
              rodTypesOut: [ROD_TYPE.ACCESS_UPON_REFERENCE],
              rodTypesIn: this.k.rodTypesIn ?? [ROD_TYPE.ACCESS_UPON_REFERENCE],
            },
          }
        : { supported: false, reason: 'fake: none' },
      blockLimits: { pageCode: 0xb0, peripheralDeviceType: 0, peripheralQualifier: 0, pageLength: 0x3c, maximumWriteSameLength: this.k.maxWriteSameBlocks ?? 0n, maximumTransferLength: 64 } as unknown as Capabilities['blockLimits'],
    };
  }

  queueLimits() {
    return { maxSectorsBytes: 16384 };
  }

  private result(data: Buffer = Buffer.alloc(0)): CommandResult {
    return { data, resid: 0, durationMs: 0, raw: { status: 0, hostStatus: 0, driverStatus: 0, sense: Buffer.alloc(0), resid: 0, durationMs: 0, info: 0 } };
  }

  private rrti(listId: number, cdb: Buffer): Buffer {
    const l = this.lists.get(listId);
    if (!l) throw checkCondition('RECEIVE ROD TOKEN INFORMATION', cdb, 5, 0x24, 0);
    const units = this.k.units ?? 0xf1;
    const sense = l.sense ?? Buffer.alloc(0);
    const tokenPart = l.token ? Buffer.concat([Buffer.from([0, 0, 0x02, 0x02, 0, 0]), l.token]) : Buffer.from([0, 0, 0, 0]);
    const b = Buffer.alloc(32 + sense.length);
    b[4] = l.sa;
    b[5] = l.status;
    b.writeUInt32BE(0xffffffff, 8);
    b[12] = l.status === 0x02 ? 2 : 0;
    b[13] = sense.length;
    b[14] = sense.length;
    b[15] = units;
    b.writeBigUInt64BE(units === 0xf1 ? BigInt(l.bytes / this.bs) : BigInt(l.bytes), 16);
    sense.copy(b, 32);
    const all = Buffer.concat([b, tokenPart]);
    all.writeUInt32BE(all.length - 4, 0);
    return all;
  }

  async command(cmd: EncodedCommand, o: CommandOptions = {}): Promise<CommandResult> {
    const cdb = cmd.cdb;
    const op = cdb[0] as number;
    if (this.k.invalidOps?.includes(op)) throw checkCondition(`op 0x${op.toString(16)}`, cdb, 5, 0x20, 0);
    if (op === 0x83) {
      const sa = (cdb[1] as number) & 0x1f;
      const listId = cdb.readUInt32BE(6);
      const p = (o.data ?? cmd.data) as Buffer;
      if (sa === 0x10) {
        const n = p.readUInt16BE(14) / 16;
        assert.equal(n, 1, 'one range per POPULATE TOKEN in these tests');
        const lba = Number(p.readBigUInt64BE(16));
        const blocks = p.readUInt32BE(24);
        const got = Math.min(blocks, this.k.populateBlocks ?? blocks);
        const token = Buffer.alloc(512);
        token.writeUInt32BE(ROD_TYPE.ACCESS_UPON_REFERENCE, 0);
        token.writeUInt16BE(0x1f8, 6);
        token.writeBigUInt64BE(BigInt(listId), 8);
        token.writeBigUInt64BE(BigInt(got * this.bs), 56);
        token.writeUInt32BE(this.bs, 96);
        token.fill(0x5a, 200);
        FakeLun.tokens.set(token.toString('hex'), { lun: this, lba, blocks: got });
        this.lists.set(listId, { sa, status: 1, bytes: got * this.bs, token });
        this.log.push({ op: 'PT', lba: BigInt(lba), blocks, listId });
        return this.result();
      }
      assert.equal(sa, 0x11);
      this.wuts++;
      const delTkn = (p[2]! & 0x02) !== 0;
      const offsetIntoRod = p.readBigUInt64BE(8);
      const token = p.subarray(16, 528);
      const n = p.readUInt16BE(534) / 16;
      let budget = this.k.wutMaxBlocks ?? Number.MAX_SAFE_INTEGER;
      const fail = this.k.failWut && this.k.failWut.nth === this.wuts ? this.k.failWut : undefined;
      if (fail) budget = Math.min(budget, fail.afterBlocks);
      let written = 0;
      const zero = token.readUInt32BE(0) === ROD_TYPE.BLOCK_DEVICE_ZERO;
      const src = zero ? undefined : FakeLun.tokens.get(Buffer.from(token).toString('hex'));
      if (!zero && !src) {
        this.lists.set(listId, { sa, status: 2, bytes: 0, sense: fixedSense(5, 0x23, 0x04) });
        throw checkCondition('WRITE USING TOKEN', cdb, 5, 0x23, 0x04);
      }
      for (let i = 0; i < n && budget > 0; i++) {
        const lba = Number(p.readBigUInt64BE(536 + 16 * i));
        const blocks = Math.min(p.readUInt32BE(536 + 16 * i + 8), budget);
        this.log.push({ op: 'WUT', lba: BigInt(lba), blocks, offsetIntoRod, listId, delTkn });
        for (let b = 0; b < blocks; b++) {
          const dst = (lba + b) * this.bs;
          if (zero) this.data.fill(0, dst, dst + this.bs);
          else {
            const s = (src!.lba + Number(offsetIntoRod) + written + b) * this.bs;
            src!.lun.data.copy(this.data, dst, s, s + this.bs);
          }
        }
        written += blocks;
        budget -= blocks;
      }
      if (fail) {
        this.lists.set(listId, { sa, status: 2, bytes: written * this.bs, sense: fixedSense(0x0a, 0x0d, 0x01) });
        throw checkCondition('WRITE USING TOKEN', cdb, 0x0a, 0x0d, 0x01);
      }
      this.lists.set(listId, { sa, status: 1, bytes: written * this.bs });
      return this.result();
    }
    if (op === 0x84) {
      const listId = cdb.readUInt32BE(2);
      return this.result(this.rrti(listId, cdb));
    }
    if (op === 0x93 || op === 0x8a) {
      const lba = cdb.readBigUInt64BE(2);
      const blocks = cdb.readUInt32BE(10);
      this.log.push({ op: op === 0x93 ? 'WS' : 'W', lba, blocks });
      if (op === 0x93 && this.k.writeSameLimit !== undefined && blocks > this.k.writeSameLimit) throw checkCondition('WRITE SAME(16)', cdb, 5, 0x24, 0);
      const d = o.data ?? cmd.data;
      assert.ok(d, 'data-out');
      if (op === 0x93) {
        assert.equal(d.length, this.bs, 'WRITE SAME carries one block');
        for (let b = 0; b < blocks; b++) d.copy(this.data, (Number(lba) + b) * this.bs);
      } else {
        assert.equal(d.length, blocks * this.bs);
        d.copy(this.data, Number(lba) * this.bs);
      }
      return this.result();
    }
    throw checkCondition(`op 0x${op.toString(16)}`, cdb, 5, 0x20, 0);
  }
}

function fillPattern(b: Buffer, seed: number): void {
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + seed + (i >> 9)) & 0xff;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-tokens-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('token file format', () => {
  const token = Buffer.alloc(512, 0x33);
  token.writeUInt32BE(ROD_TYPE.ACCESS_UPON_REFERENCE, 0);
  token.writeUInt16BE(0x1f8, 6);
  token.fill(0, 16, 128); // no creator CSCD; what it represents and its block device data:
  token.writeBigUInt64BE(1048576n, 56);
  token.writeUInt32BE(512, 96);
  const meta = { blockSize: 512, lba: 1234n, bytes: 1048576n, createdAt: new Date(1_700_000_000_123), inactivityTimeout: 90 };

  it('round-trips the header fields and the 512 token bytes; the token is the last 512 bytes', () => {
    const f = encodeTokenFile(meta, token);
    assert.equal(f.length, TOKEN_FILE_LENGTH);
    assert.equal(f.subarray(0, 8).toString(), 'ODXCPTOK');
    assert.ok(f.subarray(-512).equals(token));
    const d = decodeTokenFile(f);
    assert.equal(d.format, 'odxcp');
    assert.equal(d.blockSize, 512);
    assert.equal(d.lba, 1234n);
    assert.equal(d.bytes, 1048576n);
    assert.equal(d.createdAt?.getTime(), 1_700_000_000_123);
    assert.equal(d.inactivityTimeout, 90);
    assert.ok(d.token.equals(token));
    assert.equal(d.decoded.rodTypeName, 'access upon reference');
  });

  it('reads a bare 512-byte token, taking block size and length from the token', () => {
    const t = Buffer.from(token);
    t.fill(0, 48, 64);
    t.writeBigUInt64BE(4096n, 56);
    t.writeUInt32BE(4096, 96);
    const d = decodeTokenFile(t);
    assert.equal(d.format, 'raw');
    assert.equal(d.bytes, 4096n);
    assert.equal(d.blockSize, 4096);
    assert.equal(d.lba, undefined);
  });

  it('refuses a flipped bit (CRC-32), a short file, another version and a non-token', () => {
    const f = encodeTokenFile(meta, token);
    const flipped = Buffer.from(f);
    flipped[300] = (flipped[300] as number) ^ 1;
    assert.throws(() => decodeTokenFile(flipped, 'x'), (e: unknown) => e instanceof TokenFileError && /CRC-32/.test(e.message));
    assert.throws(() => decodeTokenFile(f.subarray(0, 100), 'x'), (e: unknown) => e instanceof TokenFileError && /truncated/.test(e.message));
    const v2 = Buffer.from(f);
    v2.writeUInt16BE(2, 8);
    assert.throws(() => decodeTokenFile(v2, 'x'), /version 2 is not supported/);
    assert.throws(() => decodeTokenFile(Buffer.from('hello world\n'), 'x'), /not a token file/);
  });

  it('tokenFileInfo reports the age and the decoded token', () => {
    const i = tokenFileInfo(decodeTokenFile(encodeTokenFile(meta, token)), new Date(1_700_000_010_123));
    assert.equal(i.ageSeconds, 10);
    assert.equal(i.rodType, ROD_TYPE.ACCESS_UPON_REFERENCE);
    assert.equal(i.rodTokenLength, 0x1f8);
    assert.equal(i.createdAt, new Date(1_700_000_000_123).toISOString());
  });

  it('splitRanges keeps each descriptor within 32 bits and refuses too many', () => {
    assert.deepEqual(splitRanges(10n, 5n, 1), [{ lba: 10n, blocks: 5 }]);
    const r = splitRanges(0n, 0xffffffffn + 3n, 2);
    assert.deepEqual(r, [{ lba: 0n, blocks: 0xffffffff }, { lba: 0xffffffffn, blocks: 3 }]);
    assert.throws(() => splitRanges(0n, 0xffffffffn + 3n, 1), RangeError);
  });
});

describe('populateTokenFile / writeTokenFile against a fake LUN', () => {
  it('populates a token file (mode 0600) and writes it back at another offset, byte-exact', async () => {
    const lun = new FakeLun({ blocks: 4096 });
    fillPattern(lun.data, 7);
    const before = Buffer.from(lun.data);
    const out = path.join(tmp, 'a.tok');
    const p = await populateTokenFile({ device: lun, offset: 100 * 512, length: 256 * 512, out });
    assert.equal(p.bytes, 256n * 512n);
    assert.equal(p.truncated, false);
    assert.equal(fs.statSync(out).mode & 0o777, 0o600);
    const tf = readTokenFile(out);
    assert.equal(tf.blockSize, 512);
    assert.equal(tf.lba, 100n);
    const w = await writeTokenFile({ device: lun, token: out, offset: 2000 * 512 });
    assert.equal(w.bytesWritten, 256n * 512n);
    assert.equal(w.commands, 1);
    assert.ok(lun.data.subarray(2000 * 512, 2256 * 512).equals(before.subarray(100 * 512, 356 * 512)));
    assert.ok(lun.data.subarray(0, 2000 * 512).equals(before.subarray(0, 2000 * 512)), 'nothing before the range changed');
    assert.ok(lun.data.subarray(2256 * 512).equals(before.subarray(2256 * 512)), 'nothing after the range changed');
  });

  it('checks the output before POPULATE TOKEN; a write failing after it says the token is left to expire, and when (issue 14)', async () => {
    const lun = new FakeLun();
    await assert.rejects(populateTokenFile({ device: lun, offset: 0, length: 512, out: path.join(tmp, 'missing-dir', 'x.tok') }), (e: unknown) => e instanceof TokenFileError && /directory .*missing-dir does not exist/.test(e.message));
    assert.deepEqual(lun.log, [], 'nothing was sent');
    // The directory goes away while the token is being made: the token exists and cannot be saved.
    const dir = fs.mkdtempSync(path.join(tmp, 'out-'));
    class Vanishing extends FakeLun {
      override async command(cmd: EncodedCommand, o: CommandOptions = {}): Promise<CommandResult> {
        if (cmd.cdb[0] === 0x83 && ((cmd.cdb[1] as number) & 0x1f) === 0x10) fs.rmSync(dir, { recursive: true, force: true });
        return super.command(cmd, o);
      }
    }
    const v = new Vanishing();
    await assert.rejects(populateTokenFile({ device: v, offset: 0, length: 512 * 8, out: path.join(dir, 't.tok') }), (e: unknown) => {
      assert.ok(e instanceof TokenFileError, String(e));
      assert.match(e.message, /t\.tok: cannot write the token file: ENOENT .*; the token populated on .* was not saved and is left to expire \(odxcp cannot delete a token without writing data\): it expires after 60 s unused/);
      return true;
    });
    assert.deepEqual(v.log.map((l) => l.op), ['PT'], 'the token was made, and nothing wrote data to delete it');
  });

  it('refuses to replace an existing token file without overwrite', async () => {
    const lun = new FakeLun();
    const out = path.join(tmp, 'exists.tok');
    fs.writeFileSync(out, 'x');
    await assert.rejects(populateTokenFile({ device: lun, offset: 0, length: 512, out }), /exists/);
    assert.equal(fs.readFileSync(out, 'utf8'), 'x');
  });

  it('reports a truncated token (the target represented less than asked)', async () => {
    const lun = new FakeLun({ populateBlocks: 64 });
    const p = await populateTokenFile({ device: lun, offset: 0, length: 256 * 512, out: path.join(tmp, 't.tok') });
    assert.equal(p.bytes, 64n * 512n);
    assert.equal(p.truncated, true);
    assert.equal(readTokenFile(path.join(tmp, 't.tok')).bytes, 64n * 512n);
  });

  for (const units of [0xf1, 0x00]) {
    it(`re-drives truncated WRITE USING TOKEN with OFFSET INTO ROD advanced by what was written (units 0x${units.toString(16)})`, async () => {
      const lun = new FakeLun({ blocks: 4096, wutMaxBlocks: 100, units });
      fillPattern(lun.data, 3);
      const before = Buffer.from(lun.data);
      const out = path.join(tmp, `trunc-${units}.tok`);
      await populateTokenFile({ device: lun, offset: 0, length: 450 * 512, out });
      let last = 0n;
      const w = await writeTokenFile({ device: lun, token: out, offset: 1000 * 512, onProgress: (p) => (last = p.bytesWritten) });
      assert.equal(w.bytesWritten, 450n * 512n);
      assert.equal(last, 450n * 512n);
      assert.equal(w.commands, 5);
      assert.equal(w.truncations, 4);
      const wuts = lun.log.filter((l) => l.op === 'WUT');
      assert.deepEqual(wuts.map((l) => l.offsetIntoRod), [0n, 100n, 200n, 300n, 400n]);
      assert.deepEqual(wuts.map((l) => l.lba), [1000n, 1100n, 1200n, 1300n, 1400n]);
      assert.ok(lun.data.subarray(1000 * 512, 1450 * 512).equals(before.subarray(0, 450 * 512)));
    });
  }

  it('writes on another LUN, honours --rod-offset and --length, chunks by MAXIMUM TOKEN TRANSFER SIZE, DEL_TKN only on the last', async () => {
    const src = new FakeLun({ blocks: 4096 });
    fillPattern(src.data, 9);
    const dst = new FakeLun({ blocks: 4096, maxTokenBlocks: 30n });
    const before = Buffer.from(dst.data);
    const out = path.join(tmp, 'part.tok');
    await populateTokenFile({ device: src, offset: 512 * 10, length: 512 * 100, out });
    const w = await writeTokenFile({ device: dst, token: out, offset: 512 * 3000, rodOffset: 512 * 20, length: 512 * 50, deleteToken: true });
    assert.equal(w.bytesWritten, 512n * 50n);
    assert.equal(w.truncations, 0);
    assert.ok(dst.data.subarray(3000 * 512, 3050 * 512).equals(src.data.subarray(30 * 512, 80 * 512)));
    assert.ok(dst.data.subarray(0, 3000 * 512).equals(before.subarray(0, 3000 * 512)));
    assert.ok(dst.data.subarray(3050 * 512).equals(before.subarray(3050 * 512)));
    const wuts = dst.log.filter((l) => l.op === 'WUT');
    assert.deepEqual(wuts.map((l) => [l.offsetIntoRod, l.blocks]), [[20n, 30], [50n, 20]]);
    assert.deepEqual(wuts.map((l) => l.delTkn), [false, true]);
  });

  it('populate refuses a length over the MAXIMUM TOKEN TRANSFER SIZE (one token cannot hold it)', async () => {
    const lun = new FakeLun({ blocks: 4096, maxTokenBlocks: 128n });
    const out = path.join(tmp, 'max.tok');
    await assert.rejects(populateTokenFile({ device: lun, offset: 0, length: 512 * 200, out }), (e: unknown) => e instanceof UsageError && /MAXIMUM TOKEN TRANSFER SIZE 128/.test(e.message));
  });

  it('a failure part-way reports exactly what was written (RRTI after the failed command)', async () => {
    const lun = new FakeLun({ blocks: 4096, wutMaxBlocks: 100, failWut: { nth: 3, afterBlocks: 40 } });
    const out = path.join(tmp, 'fail.tok');
    await populateTokenFile({ device: lun, offset: 0, length: 512 * 400, out });
    await assert.rejects(writeTokenFile({ device: lun, token: out, offset: 512 * 1000 }), (e: unknown) => {
      assert.ok(e instanceof TokenWriteError, String(e));
      assert.equal(e.bytesWritten, 240n * 512n);
      assert.equal(e.exact, true);
      assert.ok(e.cause instanceof ScsiError && e.cause.category === 'COPY_ABORTED');
      assert.match(e.message, /122880 of 204800 bytes written/);
      return true;
    });
  });

  it('refuses a token for another block size and a range past the token', async () => {
    const small = new FakeLun({ blocks: 4096 });
    const out = path.join(tmp, 'bs.tok');
    await populateTokenFile({ device: small, offset: 0, length: 512 * 16, out });
    const big = new FakeLun({ blockSize: 4096, blocks: 64 });
    await assert.rejects(writeTokenFile({ device: big, token: out, offset: 0 }), /512-byte blocks.*4096-byte blocks/);
    await assert.rejects(writeTokenFile({ device: small, token: out, offset: 0, rodOffset: 512 * 10, length: 512 * 10 }), /past the 8192 bytes/);
    await assert.rejects(writeTokenFile({ device: small, token: out, offset: 512 * 4090 }), /runs past the end/);
  });

  it('an unknown token fails with the target\'s 23/04 and zero bytes written', async () => {
    const lun = new FakeLun();
    const t = Buffer.alloc(512, 1);
    t.writeUInt32BE(ROD_TYPE.ACCESS_UPON_REFERENCE, 0);
    t.writeUInt16BE(0x1f8, 6);
    t.fill(0, 16, 128);
    const tf = decodeTokenFile(encodeTokenFile({ blockSize: 512, lba: 0n, bytes: 512n * 8n, createdAt: new Date(), inactivityTimeout: 0 }, t));
    await assert.rejects(writeTokenFile({ device: lun, token: tf, offset: 0 }), (e: unknown) => e instanceof TokenWriteError && e.bytesWritten === 0n && /23\/04/.test(e.message));
  });
});

describe('zeroRange against a fake LUN', () => {
  it('auto uses the zero token when VPD 0x8F lists 0xFFFF0001 as TOKEN_IN', async () => {
    const lun = new FakeLun({ rodTypesIn: [ROD_TYPE.ACCESS_UPON_REFERENCE, ROD_TYPE.BLOCK_DEVICE_ZERO] });
    const r = await zeroRange({ device: lun, offset: 512 * 10, length: 512 * 20 });
    assert.equal(r.method, 'token');
    assert.equal(r.bytes, 512n * 20n);
    assert.ok(lun.data.subarray(512 * 10, 512 * 30).every((b) => b === 0));
    assert.equal(lun.data[512 * 10 - 1], 0xee);
    assert.equal(lun.data[512 * 30], 0xee);
    const w = lun.log.find((l) => l.op === 'WUT');
    assert.equal(w?.offsetIntoRod, 0n);
  });

  it('without the zero token, auto uses WRITE SAME(16) in chunks of MAXIMUM WRITE SAME LENGTH', async () => {
    const lun = new FakeLun({ maxWriteSameBlocks: 7n });
    const r = await zeroRange({ device: lun, offset: 0, length: 512 * 20 });
    assert.equal(r.method, 'write-same');
    assert.deepEqual(lun.log.map((l) => [l.op, l.lba, l.blocks]), [['WS', 0n, 7], ['WS', 7n, 7], ['WS', 14n, 6]]);
    assert.equal(r.commands, 3);
    assert.ok(lun.data.subarray(0, 512 * 20).every((b) => b === 0));
    assert.equal(lun.data[512 * 20], 0xee);
  });

  it('with no MAXIMUM WRITE SAME LENGTH reported, WRITE SAME chunks stay within 0xFFFF blocks (LIO\'s unadvertised limit)', async () => {
    const lun = new FakeLun({ blocks: 70000 });
    const r = await zeroRange({ device: lun, offset: 0, length: 512 * 70000 });
    assert.equal(r.method, 'write-same');
    assert.deepEqual(lun.log.map((l) => l.blocks), [0xffff, 70000 - 0xffff]);
  });

  it('with no limit reported, a WRITE SAME refused with 24/00 is retried with half the blocks (an unadvertised limit)', async () => {
    const lun = new FakeLun({ blocks: 70000, writeSameLimit: 0x1000 });
    const r = await zeroRange({ device: lun, offset: 0, length: 512 * 10000 });
    assert.equal(r.method, 'write-same');
    assert.deepEqual(r.fallbacks, []);
    assert.deepEqual(lun.log.map((l) => l.blocks), [10000, 5000, 2500, 2500, 2500, 2500]);
    assert.ok(lun.data.subarray(0, 512 * 10000).every((b) => b === 0));
    assert.equal(lun.data[512 * 10000], 0xee);
  });

  it('falls back to WRITE(16) when WRITE SAME is refused, within the transfer limits', async () => {
    const lun = new FakeLun({ invalidOps: [0x93] });
    const r = await zeroRange({ device: lun, offset: 512, length: 512 * 70 });
    assert.equal(r.method, 'write');
    assert.equal(r.fallbacks.length, 1);
    assert.equal(r.fallbacks[0]?.from, 'write-same');
    // queue limit 16 KiB = 32 blocks; VPD 0xB0 allows 64
    assert.deepEqual(lun.log.filter((l) => l.op === 'W').map((l) => l.blocks), [32, 32, 6]);
    assert.ok(lun.data.subarray(512, 512 * 71).every((b) => b === 0));
    assert.equal(lun.data[511], 0xee);
  });

  it('a forced method does not fall back, and says how much was zeroed', async () => {
    const lun = new FakeLun({ invalidOps: [0x93] });
    await assert.rejects(zeroRange({ device: lun, offset: 0, length: 512 * 4, method: 'write-same' }), (e: unknown) => {
      assert.ok(e instanceof ZeroError);
      assert.equal(e.result.bytes, 0n);
      assert.match(e.message, /0 of 2048 bytes zeroed/);
      return true;
    });
  });

  it('forced token zeroing on a truncating target re-drives from where it stopped', async () => {
    const lun = new FakeLun({ wutMaxBlocks: 8 });
    const r = await zeroRange({ device: lun, offset: 0, length: 512 * 20, method: 'token' });
    assert.equal(r.bytes, 512n * 20n);
    assert.deepEqual(lun.log.map((l) => l.lba), [0n, 8n, 16n]);
    assert.ok(lun.data.subarray(0, 512 * 20).every((b) => b === 0));
    assert.ok(ZERO_ROD_TOKEN.readUInt32BE(0) === ROD_TYPE.BLOCK_DEVICE_ZERO);
  });

  it('checks alignment and bounds before sending anything', async () => {
    const lun = new FakeLun({ blocks: 16 });
    await assert.rejects(zeroRange({ device: lun, offset: 100, length: 512 }), /--offset: 100 is not a multiple/);
    await assert.rejects(zeroRange({ device: lun, offset: 0, length: 500 }), /--length: 500 is not a multiple/);
    await assert.rejects(zeroRange({ device: lun, offset: 512 * 10, length: 512 * 10 }), /runs past the end/);
    await assert.rejects(zeroRange({ device: lun, offset: 0, length: 0 }), /must be more than 0/);
    assert.equal(lun.log.length, 0);
  });
});
