// Token files and zeroing on the host: the file format (round trip, raw tokens, corruption),
// and the WRITE USING TOKEN loop and zero policy against a fake LUN that decodes the real
// encoders' CDBs and parameter lists (reference 5.8-5.10, 6.3, 7.2) and answers like a target:
// truncated transfer counts in blocks or bytes, refusals, failures part-way.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EncodedCommand } from '../../lib/native';
import { ScsiError } from '../../lib/scsi/errors';
import type { CommandOptions, CommandResult } from '../../lib/scsi/transport';
import { UsageError } from '../../lib/errors';
import { ROD_TYPE, ZERO_ROD_TOKEN } from '../../lib/scsi/rod-token';
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
import { splitRanges, TokenWriteError } from '../../lib/tokens/token-ops';
import { zeroRange, ZeroError } from '../../lib/tokens/zero';
import { FakeLun, fillPattern } from './helpers/fake-lun';

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
    fillPattern(lun.mem, 7);
    const before = Buffer.from(lun.mem);
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
    assert.ok(lun.mem.subarray(2000 * 512, 2256 * 512).equals(before.subarray(100 * 512, 356 * 512)));
    assert.ok(lun.mem.subarray(0, 2000 * 512).equals(before.subarray(0, 2000 * 512)), 'nothing before the range changed');
    assert.ok(lun.mem.subarray(2256 * 512).equals(before.subarray(2256 * 512)), 'nothing after the range changed');
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
      fillPattern(lun.mem, 3);
      const before = Buffer.from(lun.mem);
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
      assert.ok(lun.mem.subarray(1000 * 512, 1450 * 512).equals(before.subarray(0, 450 * 512)));
    });
  }

  it('writes on another LUN, honours --rod-offset and --length, chunks by MAXIMUM TOKEN TRANSFER SIZE, DEL_TKN only on the last', async () => {
    const src = new FakeLun({ blocks: 4096 });
    fillPattern(src.mem, 9);
    const dst = new FakeLun({ blocks: 4096, maxTokenBlocks: 30n });
    const before = Buffer.from(dst.mem);
    const out = path.join(tmp, 'part.tok');
    await populateTokenFile({ device: src, offset: 512 * 10, length: 512 * 100, out });
    const w = await writeTokenFile({ device: dst, token: out, offset: 512 * 3000, rodOffset: 512 * 20, length: 512 * 50, deleteToken: true });
    assert.equal(w.bytesWritten, 512n * 50n);
    assert.equal(w.truncations, 0);
    assert.ok(dst.mem.subarray(3000 * 512, 3050 * 512).equals(src.mem.subarray(30 * 512, 80 * 512)));
    assert.ok(dst.mem.subarray(0, 3000 * 512).equals(before.subarray(0, 3000 * 512)));
    assert.ok(dst.mem.subarray(3050 * 512).equals(before.subarray(3050 * 512)));
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
    assert.ok(lun.mem.subarray(512 * 10, 512 * 30).every((b) => b === 0));
    assert.equal(lun.mem[512 * 10 - 1], 0xee);
    assert.equal(lun.mem[512 * 30], 0xee);
    const w = lun.log.find((l) => l.op === 'WUT');
    assert.equal(w?.offsetIntoRod, 0n);
  });

  it('without the zero token, auto uses WRITE SAME(16) in chunks of MAXIMUM WRITE SAME LENGTH', async () => {
    const lun = new FakeLun({ maxWriteSameBlocks: 7n });
    const r = await zeroRange({ device: lun, offset: 0, length: 512 * 20 });
    assert.equal(r.method, 'write-same');
    // ...and the range is flushed after the last write
    assert.deepEqual(lun.log.map((l) => [l.op, l.lba, l.blocks]), [['WS', 0n, 7], ['WS', 7n, 7], ['WS', 14n, 6], ['SC16', 0n, 20]]);
    assert.equal(r.commands, 3);
    assert.ok(lun.mem.subarray(0, 512 * 20).every((b) => b === 0));
    assert.equal(lun.mem[512 * 20], 0xee);
  });

  it('with no MAXIMUM WRITE SAME LENGTH reported, WRITE SAME chunks stay within 0xFFFF blocks (LIO\'s unadvertised limit)', async () => {
    const lun = new FakeLun({ blocks: 70000 });
    const r = await zeroRange({ device: lun, offset: 0, length: 512 * 70000 });
    assert.equal(r.method, 'write-same');
    assert.deepEqual(lun.ops('WS').map((l) => l.blocks), [0xffff, 70000 - 0xffff]);
  });

  it('with no limit reported, a WRITE SAME refused with 24/00 is retried with half the blocks (an unadvertised limit)', async () => {
    const lun = new FakeLun({ blocks: 70000, writeSameLimit: 0x1000 });
    const r = await zeroRange({ device: lun, offset: 0, length: 512 * 10000 });
    assert.equal(r.method, 'write-same');
    assert.deepEqual(r.fallbacks, []);
    assert.deepEqual(lun.ops('WS').map((l) => l.blocks), [10000, 5000, 2500, 2500, 2500, 2500]);
    assert.ok(lun.mem.subarray(0, 512 * 10000).every((b) => b === 0));
    assert.equal(lun.mem[512 * 10000], 0xee);
  });

  it('falls back to WRITE(16) when WRITE SAME is refused, within the transfer limits', async () => {
    const lun = new FakeLun({ invalidOps: [0x93] });
    const r = await zeroRange({ device: lun, offset: 512, length: 512 * 70 });
    assert.equal(r.method, 'write');
    assert.equal(r.fallbacks.length, 1);
    assert.equal(r.fallbacks[0]?.from, 'write-same');
    // queue limit 16 KiB = 32 blocks; VPD 0xB0 allows 64
    assert.deepEqual(lun.log.filter((l) => l.op === 'W').map((l) => l.blocks), [32, 32, 6]);
    assert.ok(lun.mem.subarray(512, 512 * 71).every((b) => b === 0));
    assert.equal(lun.mem[511], 0xee);
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
    assert.deepEqual(lun.ops('WUT').map((l) => l.lba), [0n, 8n, 16n]);
    assert.ok(lun.mem.subarray(0, 512 * 20).every((b) => b === 0));
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

  it('flushes after the last write unless sync is off; a refused SYNCHRONIZE CACHE(16) falls back to (10)', async () => {
    const lun = new FakeLun({ maxWriteSameBlocks: 64n });
    const r = await zeroRange({ device: lun, offset: 512 * 4, length: 512 * 8 });
    assert.equal(r.synced, true);
    assert.deepEqual(lun.log.at(-1) && [lun.log.at(-1)!.op, lun.log.at(-1)!.lba, lun.log.at(-1)!.blocks], ['SC16', 4n, 8]);
    const off = new FakeLun({ maxWriteSameBlocks: 64n });
    const q = await zeroRange({ device: off, offset: 0, length: 512 * 8, sync: false });
    assert.equal(q.synced, false);
    assert.equal(off.ops('SC16', 'SC10').length, 0);
    const old = new FakeLun({ maxWriteSameBlocks: 64n, invalidOps: [0x91] });
    const o = await zeroRange({ device: old, offset: 0, length: 512 * 8 });
    assert.equal(o.synced, true);
    assert.deepEqual(old.log.slice(-2).map((l) => l.op), ['REFUSED 0x91', 'SC10']);
  });

  it('token write flushes its range after the last WRITE USING TOKEN', async () => {
    const src = new FakeLun({ blocks: 4096 });
    const dst = new FakeLun({ blocks: 4096 });
    const file = path.join(tmp, 'flush.tok');
    await populateTokenFile({ device: src, offset: 0, length: 512 * 64, out: file });
    const w = await writeTokenFile({ device: dst, token: file, offset: 512 * 100 });
    assert.equal(w.synced, true);
    const last = dst.log.at(-1)!;
    assert.deepEqual([last.op, last.lba, last.blocks], ['SC16', 100n, 64]);
    assert.ok(dst.ops('WUT').every((x) => x.seq < last.seq));
  });
});
