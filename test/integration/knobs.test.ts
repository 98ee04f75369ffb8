// Every knob of the ODX handler, driven through odxcp's own encoders, decoders and engine
// (test/targets/odx/conformance.sh proves the same handler with sg3_utils and ddpt). Each
// knob gets a LUN of its own, made at run time in a tcm_loop target of its own. Copies are
// checked against the backing files: the destination range equals the source range and
// nothing outside it changed.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { ScsiDevice } from '../../lib/device/device';
import * as cmds from '../../lib/scsi/commands';
import { ScsiError } from '../../lib/scsi/errors';
import { classify, clearPairCache, copy, planCopy } from '../../lib/engine';
import { nextListId4 } from '../../lib/tokens/lists';
import { backing, copyChecked, pattern, sleep, writeBacking, RuntimeOdxTarget, type LabLun } from './lab';

const KiB = 1024;
const MiB = 1024 * 1024;

/** An ILLEGAL REQUEST / other sense with this key, ASC and ASCQ. */
function isSense(key: number, asc: number, ascq: number) {
  return (e: unknown) => {
    assert.ok(e instanceof ScsiError, `expected a ScsiError, got ${String(e)}`);
    assert.deepEqual([e.senseKey, e.asc, e.ascq], [key, asc, ascq], e.message);
    return true;
  };
}

async function withDevice<T>(l: LabLun, f: (d: ScsiDevice) => Promise<T>): Promise<T> {
  const d = await ScsiDevice.open(l.sg);
  try {
    return await f(d);
  } finally {
    await d.close();
  }
}

/** POPULATE TOKEN + RRTI: the token and what it represents. */
async function populate(d: ScsiDevice, lba: number, blocks: number, o: { inactivityTimeout?: number; rodType?: number } = {}) {
  const listId = nextListId4();
  await cmds.populateToken(d, { listId, ranges: [{ lba, blocks }], ...o });
  const info = await cmds.receiveRodTokenInformation(d, listId);
  assert.ok(info.token, 'RRTI returned a ROD token');
  return { info, token: info.token };
}

async function writeToken(d: ScsiDevice, token: Buffer, lba: number, blocks: number, o: { immed?: boolean; listId?: number } = {}) {
  const listId = o.listId ?? nextListId4();
  await cmds.writeUsingToken(d, { listId, token, ranges: [{ lba, blocks }], immed: o.immed });
  return listId;
}

/** WRITE(16) in 64 KiB commands (within any LUN's transfer limit; the sg node refuses more). */
async function writeBlocks(d: ScsiDevice, lba: number, data: Buffer): Promise<void> {
  for (let o = 0; o < data.length; o += 64 * KiB) {
    await cmds.write16(d, { lba: BigInt(lba + o / 512), data: data.subarray(o, Math.min(data.length, o + 64 * KiB)), blockSize: 512 });
  }
}

/** Poll RRTI until the operation ends. */
async function untilDone(d: ScsiDevice, listId: number) {
  for (let i = 0; i < 600; i++) {
    const st = await cmds.receiveRodTokenInformation(d, listId);
    if (!st.inProgress) return st;
    await sleep(20);
  }
  throw new Error(`list ${listId} still in progress`);
}

describe('ODX handler knobs, through odxcp', function () {
  this.timeout(180_000);
  let target: RuntimeOdxTarget;
  const L: Record<string, LabLun> = {};

  before(async function () {
    this.timeout(300_000);
    clearPairCache();
    target = new RuntimeOdxTarget();
    const started = Date.now();
    const luns: Array<[string, number, string]> = [
      ['ksrc', 32, ''], // plain source, filled with a pattern below
      ['kdst', 32, ''], // plain destination
      ['kunits', 16, 'tc_units=kib'],
      ['kunitm', 16, 'tc_units=mib'],
      ['ktrunc', 16, 'trunc_every=2&trunc_status=1&advertise_max_token=0&max_token_bytes=2m'],
      ['ktruncd', 16, 'trunc_every=2&trunc_status=1'],
      ['kimm0', 16, 'immed=0'],
      ['kimmrej', 16, 'immed=reject'],
      ['kbusy26', 16, 'lid_busy=2600&latency_ms_per_mib=400&poll_delay_ms=150&list_retention=2'],
      ['kbusy16', 16, 'latency_ms_per_mib=400'],
      ['kttl', 16, 'token_lifetime=2&max_token_bytes=4m'],
      ['kslow', 16, 'max_wut_bytes=1m&latency_ms_per_mib=600'],
      ['kinact', 16, 'inactivity_max=5&inactivity_default=3'],
      ['kfailpt', 16, 'fail_pt=%3'],
      ['kfailrr', 16, 'fail_rrti=%3'],
      ['kfailwut', 16, 'fail_wut=2:B/0D/01&fail_after_bytes=256k'],
      ['kfailx', 16, 'fail_xcopy=%3&fail_after_bytes=1m'],
      ['kpit', 16, 'token_mode=pit&pit_max_mib=2'],
      ['kmaxtok', 16, 'max_tokens=1&max_ranges=2'],
      ['knoxc', 16, 'xcopy=0'],
      ['knoodx', 16, 'odx=0'],
      ['knone', 16, 'odx=0&xcopy=0'],
      ['kbig0', 260, ''],
      ['kbig1', 260, ''],
    ];
    for (const [name, mb, knobs] of luns) L[name] = await target.add(name, { sizeMb: mb, knobs });
    // Sources get distinct patterns written behind the target (the handler serves the raw file).
    for (const n of ['ksrc', 'ktrunc', 'kttl', 'kfailpt', 'kpit', 'kinact', 'knoxc', 'knoodx']) writeBacking(L[n]!, 0, pattern(L[n]!.bytes, n.length * 7919 + n.charCodeAt(1)));
    console.log(`      (${luns.length} runtime odx LUNs in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  });

  after(() => target?.remove());

  describe('transfer count units (tc_units)', () => {
    it('kib: RRTI says KiB (0x01?) and the count rounds down; odxcp converts it exactly', async () => {
      await withDevice(L.kunits!, async (d) => {
        // 3 MiB + 1.5 KiB: 6147 blocks; in KiB the count rounds down to 3073
        const { info } = await populate(d, 0, 6147);
        assert.notEqual(info.transferCountUnits, 0xf1, 'not logical blocks');
        assert.match(info.transferCountUnitsName, /kib|kilo|2\^10|1024/i);
        assert.equal(info.transferCount, 3073n);
        assert.equal(info.transferredBytes(512), 3073n * 1024n);
      });
    });

    it('mib: a copy whose pieces report in MiB still lands exactly (coarse counts re-driven)', async () => {
      const r = await copyChecked(L.ksrc!, L.kunitm!, { srcOffset: 0, dstOffset: 512 * KiB, length: 6 * MiB + 64 * KiB, tokenSize: 2 * MiB });
      assert.ok(r.offloadedBytes >= BigInt(6 * MiB), `offloaded ${r.offloadedBytes}`);
    });
  });

  it('trunc_every + trunc_status=1 + a secret token limit: truncation reported as "completed" is still honoured', async () => {
    // Source: tokens of at most 2 MiB (not advertised), every 2nd one halved; destination:
    // every 2nd WRITE USING TOKEN halved. Both say "completed" (0x01) with the short count.
    const r = await copyChecked(L.ktrunc!, L.ktruncd!, { srcOffset: 0, dstOffset: 0, length: 12 * MiB });
    assert.equal(r.method, 'odx');
    assert.ok(r.truncations >= 4, `truncations ${r.truncations}`);
    assert.deepEqual(r.fallbacks, []);
    assert.ok((r.commands['POPULATE TOKEN'] ?? 0) >= 6, 'tokens of at most 2 MiB although more was asked');
  });

  describe('IMMED (immed)', () => {
    it('immed=0: IMMED is ignored, the operation is complete when WRITE USING TOKEN returns', async () => {
      await withDevice(L.ksrc!, async (s) =>
        withDevice(L.kimm0!, async (d) => {
          const { token } = await populate(s, 0, 2048);
          const id = await writeToken(d, token, 0, 2048, { immed: true });
          const st = await cmds.receiveRodTokenInformation(d, id);
          assert.equal(st.copyOperationStatus, 0x01, st.copyOperationStatusName);
          assert.ok(backing(L.kimm0!, 0, MiB).equals(backing(L.ksrc!, 0, MiB)));
        }),
      );
      const r = await copyChecked(L.ksrc!, L.kimm0!, { srcOffset: MiB, dstOffset: MiB, length: 4 * MiB });
      assert.equal(r.method, 'odx');
    });

    it('immed=reject: 5/26/00 for IMMED; the engine sends the write again without it, once', async () => {
      await withDevice(L.ksrc!, async (s) =>
        withDevice(L.kimmrej!, async (d) => {
          const { token } = await populate(s, 0, 2048);
          await assert.rejects(writeToken(d, token, 0, 2048, { immed: true }), isSense(5, 0x26, 0));
        }),
      );
      const r = await copyChecked(L.ksrc!, L.kimmrej!, { srcOffset: 0, dstOffset: 0, length: 8 * MiB, tokenSize: 2 * MiB, maxInFlight: 1 });
      assert.equal(r.method, 'odx');
      assert.deepEqual(r.fallbacks, []);
      assert.equal(r.commands['WRITE USING TOKEN'], (r.commands['POPULATE TOKEN'] ?? 0) + 1, 'one refused IMMED write, then one write per token');
    });
  });

  describe('list identifier in use (lid_busy), estimated delay (poll_delay_ms), retention (list_retention)', () => {
    for (const [lunName, asc, ascq, what] of [
      ['kbusy26', 0x26, 0x00, '2600 (FreeBSD)'],
      ['kbusy16', 0x00, 0x16, '0016 (default, what ddpt expects)'],
    ] as const) {
      it(`a busy list id is answered ${what}; the engine takes it as "retry with a new id"`, async () => {
        await withDevice(L.ksrc!, async (s) =>
          withDevice(L[lunName]!, async (d) => {
            const { token } = await populate(s, 0, 8192);
            const id = await writeToken(d, token, 0, 8192, { immed: true }); // 4 MiB at 400 ms/MiB
            const running = await cmds.receiveRodTokenInformation(d, id);
            assert.equal(running.copyOperationStatus, 0x12, `in progress in the background: ${running.copyOperationStatusName}`);
            if (lunName === 'kbusy26') assert.equal(running.estimatedStatusUpdateDelay, 150);
            let busy: unknown;
            await assert.rejects(
              cmds.populateToken(d, { listId: id, ranges: [{ lba: 0, blocks: 8 }] }).catch((e) => {
                busy = e;
                throw e;
              }),
              isSense(5, asc, ascq),
            );
            assert.equal(classify(busy), 'retry');
            const done = await untilDone(d, id);
            assert.equal(done.copyOperationStatus, 0x01);
            assert.equal(done.transferredBytes(512), BigInt(4 * MiB));
            assert.ok(backing(L[lunName]!, 0, 4 * MiB).equals(backing(L.ksrc!, 0, 4 * MiB)));
            if (lunName === 'kbusy26') {
              await sleep(2600);
              await assert.rejects(cmds.receiveRodTokenInformation(d, id), isSense(5, 0x24, 0x00), 'forgotten after list_retention');
            }
          }),
        );
      });
    }
  });

  describe('token lifetime and inactivity (token_lifetime, inactivity_default, inactivity_max)', () => {
    it('a token past its lifetime is refused with 23/07; the engine would re-populate', async () => {
      await withDevice(L.kttl!, async (s) =>
        withDevice(L.kdst!, async (d) => {
          const caps = await s.capabilities();
          assert.equal(caps.tokenCopy.limits?.maximumTokenLifetime, 2, 'VPD 0x8F/0106 MAXIMUM TOKEN LIFETIME');
          const { token } = await populate(s, 0, 2048);
          await sleep(2600);
          let err: unknown;
          await assert.rejects(
            writeToken(d, token, 0, 2048).catch((e) => {
              err = e;
              throw e;
            }),
            isSense(5, 0x23, 0x07),
          );
          assert.equal(classify(err), 'repopulate');
        }),
      );
    });

    it('the engine re-populates before a token outlives itself on a slow destination: all offloaded, no fallback', async () => {
      // 4 MiB tokens, 1 MiB per write at 600 ms/MiB: a token would live 2.4 s + polling > 2 s.
      const r = await copyChecked(L.kttl!, L.kslow!, { srcOffset: 0, dstOffset: 0, length: 8 * MiB, maxInFlight: 1 });
      assert.equal(r.method, 'odx');
      assert.deepEqual(r.fallbacks, []);
      assert.ok((r.commands['POPULATE TOKEN'] ?? 0) > 2, `more tokens than 8 MiB / 4 MiB: ${r.commands['POPULATE TOKEN']}`);
    });

    it('inactivity: VPD says default 3 s / max 5 s; more than the maximum is refused; an idle token expires', async () => {
      await withDevice(L.kinact!, async (s) =>
        withDevice(L.kdst!, async (d) => {
          const lim = (await s.capabilities()).tokenCopy.limits!;
          assert.equal(lim.defaultInactivityTimeout, 3);
          assert.equal(lim.maximumInactivityTimeout, 5);
          await assert.rejects(cmds.populateToken(s, { listId: nextListId4(), ranges: [{ lba: 0, blocks: 8 }], inactivityTimeout: 6 }), isSense(5, 0x26, 0x00));
          const { token } = await populate(s, 0, 2048, { inactivityTimeout: 1 });
          await writeToken(d, token, 4096, 1024); // a use restarts the clock...
          await sleep(1600); // ...and 1.6 s without one ends it
          await assert.rejects(writeToken(d, token, 4096, 1024), isSense(5, 0x23, 0x07));
        }),
      );
    });
  });

  describe('injected failures (fail_pt, fail_rrti, fail_wut, fail_xcopy, fail_after_bytes)', () => {
    it('every 3rd POPULATE TOKEN fails (4/44/00): those chunks go to the host from their first byte, the others stay offloaded', async () => {
      const r = await copyChecked(L.kfailpt!, L.kdst!, { srcOffset: 0, dstOffset: 0, length: 8 * MiB, tokenSize: MiB, maxInFlight: 1 });
      assert.equal(r.method, 'mixed');
      assert.deepEqual(
        r.fallbacks.map((f) => [f.offset, f.length, f.from, f.sense?.asc]),
        [
          [2n * BigInt(MiB), BigInt(MiB), 'odx', 0x44],
          [5n * BigInt(MiB), BigInt(MiB), 'odx', 0x44],
        ],
      );
      assert.equal(r.hostBytes, 2n * BigInt(MiB));
    });

    it('every 3rd RRTI on the destination fails: the unconfirmed write is redone by the host, the account stays exact', async () => {
      const r = await copyChecked(L.ksrc!, L.kfailrr!, { srcOffset: 0, dstOffset: 0, length: 8 * MiB, tokenSize: MiB, maxInFlight: 1 });
      assert.ok(r.fallbacks.length >= 1, 'at least one RRTI failure became a fallback');
      for (const f of r.fallbacks) assert.equal(f.sense?.asc, 0x44);
      assert.ok(r.offloadedBytes > 0n && r.hostBytes > 0n);
    });

    it('the 2nd WRITE USING TOKEN fails after 256 KiB (B/0D/01): the 256 KiB count, the rest is retried', async () => {
      const r = await copyChecked(L.ksrc!, L.kfailwut!, { srcOffset: 0, dstOffset: 0, length: 4 * MiB, tokenSize: MiB, maxInFlight: 1 });
      assert.equal(r.method, 'odx', 'one failure, retried by the offload');
      assert.deepEqual(r.fallbacks, []);
      assert.equal(r.commands['WRITE USING TOKEN'], 5, 'four writes and one that failed part-way');
    });

    it('every 3rd EXTENDED COPY fails after 1 MiB: that list is redone by the host (no list id to ask), the rest offloaded', async () => {
      const r = await copyChecked(L.ksrc!, L.kfailx!, { srcOffset: 0, dstOffset: 0, length: 8 * MiB, mode: 'xcopy', xcopySize: 2 * MiB, maxInFlight: 1 });
      assert.deepEqual(r.fallbacks.map((f) => [f.offset, f.length, f.from]), [[4n * BigInt(MiB), 2n * BigInt(MiB), 'xcopy']]);
      assert.equal(r.byMethod.xcopy, 6n * BigInt(MiB));
      assert.equal(r.hostBytes, 2n * BigInt(MiB));
    });
  });

  describe('token modes (token_mode, pit_max_mib)', () => {
    it('access upon reference: a write to the source range revokes the token (23/06)', async () => {
      await withDevice(L.ksrc!, async (s) =>
        withDevice(L.kdst!, async (d) => {
          const lba = 48 * 1024; // 24 MiB in: a part of ksrc no copy here reads
          const { token } = await populate(s, lba, 2048);
          const same = await cmds.read16(s, { lba: BigInt(lba), blocks: 8, blockSize: 512 });
          await cmds.write16(s, { lba: BigInt(lba), data: same, blockSize: 512 }); // the same bytes: still a write
          await assert.rejects(writeToken(d, token, 0, 2048), isSense(5, 0x23, 0x06));
        }),
      );
    });

    it('point in time: the token keeps the data as it was; beyond pit_max_mib it is revoked instead', async () => {
      await withDevice(L.kpit!, async (s) =>
        withDevice(L.kdst!, async (d) => {
          const old = backing(L.kpit!, 0, MiB);
          const { token } = await populate(s, 0, 2048);
          await writeBlocks(s, 0, pattern(MiB, 4242));
          assert.ok(backing(L.kpit!, 0, MiB).equals(pattern(MiB, 4242)), 'the source really changed');
          await writeToken(d, token, 8192, 2048);
          assert.ok(backing(L.kdst!, 4 * MiB, MiB).equals(old), 'the destination got the data of the token time');
          // 4 MiB would need more copied aside than pit_max_mib=2 allows
          const big = await populate(s, 4096, 8192);
          await writeBlocks(s, 4096, Buffer.alloc(4 * MiB, 0x5a));
          await assert.rejects(writeToken(d, big.token, 8192, 8192), isSense(5, 0x23, 0x06));
        }),
      );
    });
  });

  it('max_ranges=2: three ranges get 26/08; max_tokens=1: the next token gets 55/0D', async () => {
    await withDevice(L.kmaxtok!, async (s) => {
      const three = [0, 100, 200].map((lba) => ({ lba, blocks: 8 }));
      await assert.rejects(cmds.populateToken(s, { listId: nextListId4(), ranges: three }), isSense(5, 0x26, 0x08));
      // Live tokens are counted for the whole process: another spec's may already be live.
      const answers: string[] = [];
      for (let i = 0; i < 3; i++) {
        try {
          await populate(s, i * 8, 8, { inactivityTimeout: 1 });
          answers.push('token');
        } catch (e) {
          assert.ok(e instanceof ScsiError, String(e));
          answers.push(`${e.asc?.toString(16)}/${e.ascq?.toString(16)}`);
        }
      }
      assert.ok(answers.filter((a) => a === 'token').length <= 1, `at most one live token: ${answers}`);
      assert.ok(answers.includes('55/d'), `INSUFFICIENT RESOURCES TO CREATE ROD TOKEN: ${answers}`);
    });
  });

  describe('what a LUN offers (xcopy, odx)', () => {
    it('xcopy=0: token copy only; the engine uses it', async () => {
      const caps = await withDevice(L.knoxc!, (d) => d.capabilities());
      assert.equal(caps.tokenCopy.supported, true);
      assert.equal(caps.xcopyLid1.supported, false, caps.xcopyLid1.reason);
      const r = await copyChecked(L.knoxc!, L.kdst!, { srcOffset: 0, dstOffset: 0, length: 4 * MiB });
      assert.equal(r.method, 'odx');
    });

    it('odx=0: EXTENDED COPY only (token commands 20/00); auto picks EXTENDED COPY, a forced token copy falls back', async () => {
      const caps = await withDevice(L.knoodx!, (d) => d.capabilities());
      assert.equal(caps.tokenCopy.supported, false, caps.tokenCopy.reason);
      assert.equal(caps.xcopyLid1.supported, true);
      assert.equal((await planCopy({ src: L.knoodx!.sg, dst: L.kdst!.sg, length: MiB })).method, 'xcopy');
      const r = await copyChecked(L.knoodx!, L.kdst!, { srcOffset: 0, dstOffset: 0, length: 4 * MiB, mode: 'odx' });
      assert.equal(r.method, 'host');
      assert.equal(r.fallbacks[0]?.sense?.asc, 0x20);
    });

    it('odx=0&xcopy=0: no copy manager (3PC=0, no VPD 0x8F): as the destination, the host path', async () => {
      const caps = await withDevice(L.knone!, (d) => d.capabilities());
      assert.equal(caps.threePC, false);
      assert.equal(caps.thirdPartyCopy, undefined);
      const r = await copyChecked(L.ksrc!, L.knone!, { srcOffset: 0, dstOffset: 0, length: 4 * MiB });
      assert.equal(r.plannedMethod, 'host');
      assert.equal(r.method, 'host');
    });
  });

  // Last, so its 512 MiB of tmpfs is given back before anything else needs room.
  describe('a large token copy', () => {
    it('256 MiB by POPULATE TOKEN + WRITE USING TOKEN between two odx LUNs matches byte for byte', async () => {
      const [a, b] = [L.kbig0!, L.kbig1!];
      // The backing files live in the guest's RAM (tmpfs): say so plainly when it is too small.
      const st = fs.statfsSync('/lab');
      const free = st.bavail * st.bsize;
      assert.ok(free > 600 * MiB, `the lab's tmpfs has ${Math.round(free / MiB)} MiB free; 512 MiB are needed (ODXCP_LAB_MEM)`);
      execFileSync('dd', ['if=/dev/urandom', `of=${a.file}`, 'bs=1M', 'count=256', 'conv=notrunc', 'status=none']);
      const r = await copy({ src: a.sg, dst: b.sg, length: 256 * MiB, mode: 'odx', fallback: false });
      assert.equal(r.method, 'odx');
      assert.equal(r.offloadedBytes, BigInt(256 * MiB));
      assert.equal(r.hostDataBytes, 0n);
      const fa = fs.openSync(a.file!, 'r');
      const fb = fs.openSync(b.file!, 'r');
      try {
        const x = Buffer.alloc(16 * MiB);
        const y = Buffer.alloc(16 * MiB);
        for (let off = 0; off < 260 * MiB; off += 16 * MiB) {
          const n = Math.min(16 * MiB, 260 * MiB - off);
          fs.readSync(fa, x, 0, n, off);
          fs.readSync(fb, y, 0, n, off);
          if (off < 256 * MiB) assert.ok(x.subarray(0, n).equals(y.subarray(0, n)), `bytes ${off}+${n} equal`);
          else assert.ok(y.subarray(0, n).equals(Buffer.alloc(n)), 'nothing written past 256 MiB');
        }
      } finally {
        fs.closeSync(fa);
        fs.closeSync(fb);
        // Give the RAM back at once (the LUNs go in after()): later specs need the room.
        for (const f of [a.file!, b.file!]) execFileSync('fallocate', ['--punch-hole', '--offset', '0', '--length', String(260 * MiB), f]);
      }
    });
  });
});
