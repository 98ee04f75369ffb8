// The copy engine against real targets: token copy between ODX handler LUNs, EXTENDED COPY
// between LIO LUNs and on tcmu-runner, the host path, fallbacks (scsi_debug, cross-nexus,
// forced offload on a LUN without it), truncation and failure knobs, abort and verify.
// Every copy is checked against the backing files: the destination range equals the source
// range, and nothing outside the destination range changed.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { copy, planCopy, CopyError, clearPairCache, type CopyOptions } from '../../lib/engine';
import { UsageError } from '../../lib/errors';
import { backing, copyChecked, lun } from './lab';

const KiB = 1024;
const MiB = 1024 * 1024;

describe('copy engine in the lab', function () {
  before(async () => {
    // odx0 starts as zeros: give it fio0's random bytes with the host path (mode host).
    clearPairCache();
    const r = await copyChecked(lun('fio0'), lun('odx0'), { srcOffset: 0, dstOffset: 0, length: lun('odx0').bytes, mode: 'host' });
    assert.equal(r.method, 'host');
    assert.equal(r.hostDataBytes, BigInt(2 * lun('odx0').bytes), 'every byte read and written once through SG_IO');
  });

  describe('token copy (ODX handler)', () => {
    it('odx0 -> odx1: all offloaded, no host data, at odd offsets and a length that is not a multiple of the token', async () => {
      const r = await copyChecked(lun('odx0'), lun('odx1'), { srcOffset: MiB + 7 * 512, dstOffset: 5 * MiB, length: 40 * MiB + 3 * 512, tokenSize: 8 * MiB });
      assert.equal(r.method, 'odx');
      assert.equal(r.hostBytes, 0n);
      assert.equal(r.hostDataBytes, 0n);
      assert.equal(r.fallbacks.length, 0);
      assert.ok((r.commands['POPULATE TOKEN'] ?? 0) >= 5, JSON.stringify(r.commands));
      assert.ok((r.commands['WRITE USING TOKEN'] ?? 0) >= 5);
      assert.ok((r.commands['RECEIVE ROD TOKEN INFORMATION'] ?? 0) >= 10);
    });

    it('within one LUN, and refuses overlapping ranges there with nothing written', async () => {
      const l = lun('odx1');
      await copyChecked(l, l, { srcOffset: 5 * MiB, dstOffset: 50 * MiB, length: 8 * MiB });
      const before = fs.readFileSync(l.file!);
      await assert.rejects(copy({ src: l.sg, dst: l.sd, srcOffset: 0, dstOffset: MiB, length: 2 * MiB }), (e: unknown) => e instanceof UsageError && /overlap/.test((e as Error).message));
      assert.ok(fs.readFileSync(l.file!).equals(before));
    });

    it('on 4096-byte blocks (odx4k, same LUN)', async () => {
      const l = lun('odx4k');
      await copyChecked(lun('fio4k'), l, { srcOffset: 0, dstOffset: 0, length: 16 * MiB, mode: 'host' });
      const r = await copyChecked(l, l, { srcOffset: 4096 * 3, dstOffset: 32 * MiB, length: 12 * MiB + 4096 });
      assert.equal(r.method, 'odx');
    });

    it('between block sizes (odx0 512 -> odx4k 4096): no token copy, bytes still right', async () => {
      const r = await copyChecked(lun('odx0'), lun('odx4k'), { srcOffset: 0, dstOffset: 40 * MiB, length: 4 * MiB });
      assert.notEqual(r.plannedMethod, 'odx');
    });

    it('a stingy, flaky array (odxflaky): truncations re-driven, failures fall back, the account is exact', async () => {
      const r = await copyChecked(lun('odx0'), lun('odxflaky'), { srcOffset: 0, dstOffset: 0, length: 24 * MiB });
      assert.ok(r.truncations > 0, 'the handler truncated some tokens/writes');
      assert.ok(r.offloadedBytes > 0n);
      for (const f of r.fallbacks) assert.equal(f.from, 'odx');
    });

    it('a slow array (odxslow) with several tokens in flight', async () => {
      const r = await copyChecked(lun('odx0'), lun('odxslow'), { srcOffset: 0, dstOffset: 0, length: 16 * MiB, maxInFlight: 4, tokenSize: 2 * MiB });
      assert.equal(r.method, 'odx');
    });

    it('abort mid-copy: stops, says what was copied, and every reported extent is right', async () => {
      const src = lun('odx0');
      const dst = lun('odxslow');
      fs.writeFileSync(dst.file!, Buffer.alloc(dst.bytes)); // reset to zeros behind the target
      const ac = new AbortController();
      const p = copy({ src: src.sg, dst: dst.sg, length: 24 * MiB, tokenSize: MiB, maxInFlight: 1, signal: ac.signal, onProgress: (pr) => pr.bytesDone > 0n && ac.abort(), progressIntervalMs: 0 });
      await assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof CopyError);
        assert.equal(e.code, 'ABORTED');
        assert.ok(e.result.bytes > 0n && e.result.bytes < BigInt(24 * MiB), `copied ${e.result.bytes}`);
        const now = fs.readFileSync(dst.file!);
        for (const x of e.result.extents) {
          const o = Number(x.offset);
          const n = Number(x.length);
          assert.ok(now.subarray(o, o + n).equals(backing(src, o, n)), `extent ${o}+${n}`);
        }
        assert.ok(now.subarray(24 * MiB).equals(Buffer.alloc(dst.bytes - 24 * MiB)), 'nothing past the range');
        return true;
      });
    });

    it('verify re-reads both ranges', async () => {
      const r = await copyChecked(lun('odx0'), lun('odx1'), { srcOffset: 0, dstOffset: 0, length: 8 * MiB, verify: true });
      assert.equal(r.verified, true);
    });
  });

  describe('EXTENDED COPY', () => {
    it('fio0 -> fio1: LIO\'s copy manager, all offloaded, one segment of 65535 blocks per command', async () => {
      const r = await copyChecked(lun('fio0'), lun('fio1'), { srcOffset: 3 * 512, dstOffset: MiB, length: 48 * MiB });
      assert.equal(r.method, 'xcopy');
      assert.equal(r.hostDataBytes, 0n);
      assert.equal(r.commands['EXTENDED COPY(LID1)'], Math.ceil((48 * MiB) / (65535 * 512)));
    });

    it('tcmu-runner, within one LUN (LIST ID USAGE 11b)', async () => {
      const t = lun('tcmu0');
      await copyChecked(lun('fio0'), t, { srcOffset: 0, dstOffset: 0, length: 8 * MiB, mode: 'host' });
      const r = await copyChecked(t, t, { srcOffset: 0, dstOffset: 16 * MiB, length: 8 * MiB, mode: 'xcopy' });
      assert.equal(r.method, 'xcopy');
    });

    it('the plan explains its choice for a pair', async () => {
      const p = await planCopy({ src: lun('fio0').sg, dst: lun('fio2').sg });
      assert.equal(p.method, 'xcopy');
      assert.equal(p.verdicts.odx.usable, false);
      assert.match(p.verdicts.odx.reason, /0x8F/);
      assert.equal(p.chunkBytes, BigInt(65535 * 512));
    });
  });

  describe('fallback to the host path', () => {
    beforeEach(() => clearPairCache());

    it('scsi_debug has no offload: the plan is the host path, no fallback needed', async () => {
      const r = await copy({ src: lun('fio0').sg, dst: lun('sdebug0').sg, length: 8 * MiB, verify: true });
      assert.equal(r.method, 'host');
      assert.equal(r.fallbacks.length, 0);
      assert.equal(r.verified, true);
    });

    it('cross-nexus (fio0 -> xnex0): LIO refuses (0D/02), the whole copy goes to the host from byte 0, and the pair is remembered', async () => {
      const r = await copyChecked(lun('fio0'), lun('xnex0'), { srcOffset: 0, dstOffset: 512 * KiB, length: 6 * MiB });
      assert.equal(r.plannedMethod, 'xcopy');
      assert.equal(r.method, 'host');
      assert.equal(r.fallbacks.length, 1);
      assert.deepEqual(r.fallbacks[0].sense && [r.fallbacks[0].sense.key, r.fallbacks[0].sense.asc, r.fallbacks[0].sense.ascq], [0xa, 0x0d, 0x02]);
      assert.equal(r.fallbacks[0].offset, 0n);
      assert.equal(r.fallbacks[0].wholeCopy, true);
      const again = await planCopy({ src: lun('fio0').sg, dst: lun('xnex0').sg });
      assert.equal(again.method, 'host');
      assert.match(again.verdicts.xcopy.reason, /failed earlier in this process/);
    });

    it('token copy forced on LIO: invalid opcode, host path for the rest', async () => {
      const r = await copyChecked(lun('fio0'), lun('fio2'), { srcOffset: 0, dstOffset: 0, length: 4 * MiB, mode: 'odx' });
      assert.equal(r.fallbacks[0]?.sense?.asc, 0x20);
      assert.equal(r.hostBytes, BigInt(4 * MiB));
    });

    it('with --no-fallback a refused offload is an error and nothing is claimed', async () => {
      await assert.rejects(copy({ src: lun('fio0').sg, dst: lun('xnex0').sg, length: MiB, fallback: false }), (e: unknown) => {
        assert.ok(e instanceof CopyError);
        assert.equal(e.result.bytes, 0n);
        assert.equal(e.code, 'COPY_ABORTED');
        return true;
      });
    });
  });

  describe('refusals before anything is written', () => {
    it('a range past the end, a misaligned offset, a zero length', async () => {
      const l = lun('fio2');
      const before = fs.readFileSync(l.file!);
      const cases: Array<[Partial<CopyOptions>, RegExp]> = [
        [{ dstOffset: l.bytes - 512, length: 1024 }, /past the end/],
        [{ srcOffset: 100 }, /not a multiple of the source block size/],
        [{ length: 0 }, /nothing to copy/],
        [{ length: 1000 }, /not a multiple of the block size/],
      ];
      for (const [o, re] of cases) {
        await assert.rejects(copy({ src: lun('fio0').sg, dst: l.sg, ...o }), (e: unknown) => e instanceof UsageError && re.test((e as Error).message));
      }
      assert.ok(fs.readFileSync(l.file!).equals(before));
    });
  });
});
