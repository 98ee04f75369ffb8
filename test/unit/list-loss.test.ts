// A copy list lost to a transport error that is not the path's (docs/path-failover.md, case 2),
// in the in-process model: the nexus is alive, so the engine asks it about the list (RRTI /
// RECEIVE COPY STATUS for that list id, on the same transport) until the list is no longer in
// progress, takes its transfer count, and only then falls back from the confirmed offset. When
// the nexus does not say within the bound, the range is left unconfirmed: never rewritten, the
// other chunks go on, the copy ends PATH_UNCONFIRMED.
import { strict as assert } from 'node:assert';
import { CopyError, runPlanned } from '../../lib/engine/copy';
import { classify, listFateUnknown } from '../../lib/engine/reactions';
import { TokenMethod } from '../../lib/engine/methods/token';
import { XcopyMethod } from '../../lib/engine/methods/xcopy';
import { HostMethod } from '../../lib/engine/methods/host';
import { clearPairCache } from '../../lib/engine/pair-cache';
import { ListUnconfirmedError } from '../../lib/engine/failover';
import type { OpenedPair, PlanDetails } from '../../lib/engine/plan';
import type { CopyMethod, CopyOptions, CopyResult } from '../../lib/engine/types';
import type { ListIdUsage } from '../../lib/native';
import { TransportError } from '../../lib/scsi/errors';
import { settleTokenList } from '../../lib/tokens/settle';
import { cliExitCode } from '../../lib/cli/context';
import { FakeLun, fillPattern, type FakeKnobs } from './helpers/fake-lun';
import { fakePlanDetails, LossyLun, type ListLoss } from './helpers/fake-paths';

const KiB = 1024n;
const BS = 512;
const CHUNK = 128n * KiB;
const LEN = 512n * KiB;
const SRC_OFF = 64n * KiB;
const DST_OFF = 128n * KiB;

const details = (method: CopyMethod): PlanDetails => fakePlanDetails(method, { path: '/dev/fake', srcOffset: SRC_OFF, dstOffset: DST_OFF, length: LEN, chunk: CHUNK });

const WUT = { op: 0x83, sa: 0x11 };
const RRTI = { op: 0x84, sa: 0x07 };
const XCOPY = { op: 0x83, sa: 0x00 };
const DID = { TIME_OUT: 0x03, ABORT: 0x05, ERROR: 0x07, RESET: 0x08, SOFT_ERROR: 0x0b };
const PATH = { NO_CONNECT: 0x01, TRANSPORT_DISRUPTED: 0x0e, TRANSPORT_FAILFAST: 0x0f };

async function run(method: 'odx' | 'xcopy', loss: ListLoss, o: { knobs?: FakeKnobs; listIdUsage?: ListIdUsage; settleMs?: number } = {}) {
  const srcLun = new FakeLun({ blocks: 8192 });
  const dstLun = new FakeLun({ blocks: 8192, ...o.knobs });
  fillPattern(srcLun.mem, 5);
  fillPattern(dstLun.mem, 9);
  const dst = new LossyLun(dstLun, loss);
  const pair = { src: srcLun, dst, close() {} } as unknown as OpenedPair;
  const settleMs = o.settleMs ?? 5000;
  const offload =
    method === 'odx'
      ? new TokenMethod({ tokenBytes: CHUNK, inactivityTimeout: 0, effectiveInactivitySeconds: 60, settleMs })
      : new XcopyMethod({ commandBytes: CHUNK, segmentBytes: 32n * KiB, segmentsPerCommand: 4, source: srcLun.cscd, destination: dstLun.cscd, on: 'dst', listIdUsage: o.listIdUsage ?? 'discard', settleMs });
  let r: CopyResult | undefined;
  let err: unknown;
  try {
    r = await runPlanned(pair, details(method), {} as CopyOptions, { methods: { offload, host: new HostMethod({ transferBytes: 16384, depth: 2 }) } });
  } catch (e) {
    err = e;
  }
  const want = srcLun.mem.subarray(Number(SRC_OFF), Number(SRC_OFF + LEN));
  const got = () => dstLun.mem.subarray(Number(DST_OFF), Number(DST_OFF + LEN));
  return { r, err, dst, dstLun, want, got };
}

const lbaAt = (off: bigint) => (DST_OFF + off) / BigInt(BS);
/** Index in `sent` of the first host WRITE into [off, off + len) of the copy; -1 if none. */
function firstWriteInto(dst: LossyLun, off: bigint, len: bigint): number {
  const a = lbaAt(off);
  const b = lbaAt(off + len);
  return dst.sent.findIndex((c) => c.op === 0x8a && c.lba! < b && c.lba! + BigInt(c.blocks!) > a);
}

describe('a copy list lost to a transport error that is not the path (docs/path-failover.md, case 2)', () => {
  beforeEach(() => clearPairCache());

  it('the reactions table: DID_TIME_OUT/ABORT/ERROR/RESET/SOFT_ERROR or an SG_IO timeout on a list command (0x83/0x84) leave its fate to be asked; a path error, a refusal at submission or a data command do not', () => {
    const te = (opcode: number, init: { hostStatus?: number; code?: string; errno?: number }) => new TransportError({ command: 'c', opcode, code: init.code ?? 'X', ...init });
    for (const h of Object.values(DID)) for (const op of [0x83, 0x84]) assert.equal(listFateUnknown(te(op, { hostStatus: h })), true, `host 0x${h.toString(16)} op 0x${op.toString(16)}`);
    assert.equal(listFateUnknown(te(0x83, { code: 'ETIMEDOUT' })), true, 'SG_IO timeout');
    assert.equal(listFateUnknown(te(0x8a, { hostStatus: DID.ERROR })), false, 'WRITE(16): no list');
    for (const h of [0x01, 0x0e, 0x0f]) assert.equal(listFateUnknown(te(0x83, { hostStatus: h })), false, `path host 0x${h.toString(16)}`);
    assert.equal(listFateUnknown(te(0x83, { code: 'ENXIO', errno: 6 })), false, 'refused at submission (path)');
    assert.equal(listFateUnknown(te(0x83, { code: 'EINVAL', errno: 22 })), false, 'refused at submission');
    assert.equal(classify(new ListUnconfirmedError('WRITE USING TOKEN', 7, '/dev/sg1', 'x', te(0x83, { hostStatus: DID.ERROR }))), 'unconfirmed');
  });

  for (const [what, loss] of [
    ['DID_ERROR', { hostStatus: DID.ERROR }],
    ['DID_TRANSPORT_DISRUPTED on a path that still runs', { hostStatus: PATH.TRANSPORT_DISRUPTED, pathRunning: true }],
  ] as const) {
    it(`odx: WRITE USING TOKEN lost after it reached the target (${what}), its list still running: RRTI on the same nexus until it ended, its count confirmed; nothing rewritten; completes offloaded`, async () => {
      const { r, err, dst, want, got } = await run('odx', { ...WUT, nth: 2, ...loss, reached: true }, { knobs: { inProgressPolls: 3 } });
      assert.equal(err, undefined, String(err));
      assert.ok(r);
      assert.ok(got().equals(want));
      assert.equal(r.byMethod.odx, LEN, 'the lost list wrote its chunk; the nexus said so');
      assert.equal(r.byMethod.host, 0n);
      assert.deepEqual(r.fallbacks, []);
      const lost = dst.sent.findIndex((c) => c.lost);
      const polls = dst.sent.slice(lost + 1).filter((c) => c.op === 0x84 && c.listId === dst.lostListId);
      assert.ok(polls.length >= 3, `asked until it was no longer in progress (${polls.length} polls)`);
      assert.equal(dst.sent.filter((c) => c.op === 0x83 && c.sa === 0x11 && c.listId !== undefined).length, Number(LEN / CHUNK), 'no WRITE USING TOKEN again');
    });
  }

  it('odx: WRITE USING TOKEN lost before it reached the target (DID_ABORT): the nexus answers "no such list", then the host copies the chunk from its start; dst == src', async () => {
    const { r, err, dst, want, got } = await run('odx', { ...WUT, nth: 2, hostStatus: DID.ABORT, reached: false });
    assert.equal(err, undefined, String(err));
    assert.ok(r);
    assert.ok(got().equals(want));
    assert.deepEqual(r.fallbacks.map((f) => [f.offset, f.length, f.from]), [[CHUNK, CHUNK, 'odx']]);
    assert.equal(r.byMethod.host, CHUNK);
    const lost = dst.sent.findIndex((c) => c.lost);
    const asked = dst.sent.findIndex((c, i) => i > lost && c.op === 0x84 && c.listId === dst.lostListId);
    assert.ok(asked > lost, 'the nexus was asked');
    assert.ok(firstWriteInto(dst, CHUNK, CHUNK) > asked, 'the host wrote the range only after the nexus answered');
  });

  it('odx: WRITE USING TOKEN timed out (DID_TIME_OUT) with its list running: COPY OPERATION ABORT, RRTI until it ended, then the host re-drives from the confirmed offset', async () => {
    const { r, err, dst, dstLun, want, got } = await run('odx', { ...WUT, nth: 3, hostStatus: DID.TIME_OUT, reached: true }, { knobs: { inProgressPolls: 50 } });
    assert.equal(err, undefined, String(err));
    assert.ok(r);
    assert.ok(got().equals(want));
    const lost = dst.sent.findIndex((c) => c.lost);
    const coa = dst.sent.findIndex((c, i) => i > lost && c.op === 0x83 && c.sa === 0x1c && c.listId === dst.lostListId);
    const ended = dst.sent.findIndex((c, i) => i > coa && c.op === 0x84 && c.listId === dst.lostListId);
    assert.ok(coa > lost && ended > coa, 'aborted, then asked');
    assert.ok(firstWriteInto(dst, 2n * CHUNK, CHUNK) > ended, 'rewritten only after the list was seen stopped');
    assert.deepEqual(r.fallbacks.map((f) => [f.offset, f.length]), [[2n * CHUNK, CHUNK]]);
    assert.equal(dstLun.ops('COA').length, 1);
  });

  it('odx: the status poll (RRTI) lost (DID_RESET) twice more while asking: asked again until it answers; the count confirmed, nothing rewritten', async () => {
    // RRTI #4 is the second chunk's WRITE USING TOKEN status (each chunk: POPULATE's, then the write's).
    const { r, err, dst, want, got } = await run('odx', { ...RRTI, nth: 4, hostStatus: DID.RESET, reached: false, statusLost: 2 });
    assert.equal(err, undefined, String(err));
    assert.ok(r);
    assert.ok(got().equals(want));
    assert.equal(r.byMethod.odx, LEN);
    assert.equal(dst.sent.filter((c) => c.lost).length, 3, 'the lost poll and two more');
  });

  it('odx: the nexus never says (its status polls keep failing) within the bound: the range is unconfirmed, never rewritten; the other chunks go on; PATH_UNCONFIRMED, exit 35, one line, the exact account', async () => {
    const { r, err, dst, dstLun, want, got } = await run('odx', { ...WUT, nth: 2, hostStatus: DID.ERROR, reached: true, statusLost: Infinity }, { settleMs: 300 });
    assert.equal(r, undefined);
    assert.ok(err instanceof CopyError, String(err));
    assert.equal(err.code, 'PATH_UNCONFIRMED');
    assert.equal(cliExitCode(err), 35);
    assert.ok(!err.message.includes('\n'));
    assert.match(err.message, new RegExp(`WRITE USING TOKEN list ${dst.lostListId} on ${dstLun.path} was lost \\(.*0x7.*\\) and its status could not be learned within 300 ms .*; ${CHUNK} bytes from \\+${CHUNK} are unconfirmed and were not rewritten`));
    const res = err.result;
    assert.equal(res.bytes, LEN - CHUNK);
    assert.deepEqual(res.extents.map((e) => [e.offset, e.length]), [
      [0n, CHUNK],
      [2n * CHUNK, LEN - 2n * CHUNK],
    ]);
    assert.deepEqual(res.unconfirmed, [{ offset: CHUNK, length: CHUNK, node: dstLun.path }]);
    assert.equal(firstWriteInto(dst, CHUNK, CHUNK), -1, 'no host WRITE into the unconfirmed range');
    assert.equal(dstLun.ops('WUT').filter((w) => w.lba === lbaAt(CHUNK)).length, 1, 'and no WRITE USING TOKEN again');
    for (const e of res.extents) assert.ok(got().subarray(Number(e.offset), Number(e.offset + e.length)).equals(want.subarray(Number(e.offset), Number(e.offset + e.length))));
  });

  for (const [what, loss] of [
    ['DID_SOFT_ERROR', { hostStatus: DID.SOFT_ERROR }],
    ['DID_TRANSPORT_DISRUPTED on a path that still runs', { hostStatus: PATH.TRANSPORT_DISRUPTED, pathRunning: true }],
  ] as const) {
    it(`xcopy (list id kept): EXTENDED COPY lost after it reached the target (${what}): RECEIVE COPY STATUS says it completed; its segments counted, nothing rewritten`, async () => {
      const { r, err, dst, want, got } = await run('xcopy', { ...XCOPY, nth: 2, ...loss, reached: true });
      assert.equal(err, undefined, String(err));
      assert.ok(r);
      assert.ok(got().equals(want));
      assert.equal(r.byMethod.xcopy, LEN);
      assert.deepEqual(r.fallbacks, []);
      assert.ok(dst.sent.some((c) => c.op === 0x84 && c.sa === 0x00 && c.listId === dst.lostListId), 'asked by its list id');
    });
  }

  it('xcopy (list id kept): lost before it reached the target: "no such list"; the host copies the chunk after the answer', async () => {
    const { r, err, dst, want, got } = await run('xcopy', { ...XCOPY, nth: 3, hostStatus: DID.ERROR, reached: false });
    assert.equal(err, undefined, String(err));
    assert.ok(r);
    assert.ok(got().equals(want));
    assert.deepEqual(r.fallbacks.map((f) => [f.offset, f.length]), [[2n * CHUNK, CHUNK]]);
    const asked = dst.sent.findIndex((c) => c.op === 0x84 && c.listId === dst.lostListId);
    assert.ok(asked >= 0 && firstWriteInto(dst, 2n * CHUNK, CHUNK) > asked);
  });

  it('xcopy without a list id (LIST ID USAGE 11b): nothing to ask; the range is unconfirmed, the other chunks go on; PATH_UNCONFIRMED', async () => {
    const { r, err, dst } = await run('xcopy', { ...XCOPY, nth: 2, hostStatus: DID.ERROR, reached: true }, { listIdUsage: 'none' });
    assert.equal(r, undefined);
    assert.ok(err instanceof CopyError, String(err));
    assert.equal(err.code, 'PATH_UNCONFIRMED');
    assert.match(err.message, /EXTENDED COPY list \(no id\) .* cannot be asked about/);
    assert.deepEqual(err.result.unconfirmed?.map((u) => [u.offset, u.length]), [[CHUNK, CHUNK]]);
    assert.equal(err.result.bytes, LEN - CHUNK);
    assert.equal(firstWriteInto(dst, CHUNK, CHUNK), -1);
  });
});

describe('a path-class error on a path that still runs (docs/path-failover.md): the nexus is asked as in case 2', () => {
  beforeEach(() => clearPairCache());

  it('the reactions table: DID_TRANSPORT_DISRUPTED/FAILFAST on a list command leave its fate to be asked only while the path runs; DID_NO_CONNECT/ENXIO on a list opener never reached the target', () => {
    const te = (opcode: number, init: { hostStatus?: number; code?: string; errno?: number }) => new TransportError({ command: 'c', opcode, code: init.code ?? 'X', ...init });
    const unused = async (): Promise<never> => {
      throw new Error('not sent');
    };
    const running = { path: '/dev/fake', command: unused, pathRunning: () => true };
    const failed = { path: '/dev/fake', command: unused, pathRunning: () => false };
    for (const h of [PATH.TRANSPORT_DISRUPTED, PATH.TRANSPORT_FAILFAST]) {
      for (const op of [0x83, 0x84]) {
        assert.equal(listFateUnknown(te(op, { hostStatus: h }), running), true, `host 0x${h.toString(16)} op 0x${op.toString(16)}, path running`);
        assert.equal(listFateUnknown(te(op, { hostStatus: h }), failed), false, `host 0x${h.toString(16)} op 0x${op.toString(16)}, path failed`);
        assert.equal(listFateUnknown(te(op, { hostStatus: h })), false, 'a transport that cannot tell its path state');
      }
    }
    assert.equal(listFateUnknown(te(0x83, { hostStatus: PATH.NO_CONNECT }), running), false, 'a list opener refused before it was sent: no list');
    assert.equal(listFateUnknown(te(0x83, { code: 'ENXIO', errno: 6 }), running), false, 'refused by SG_IO: no list');
    assert.equal(listFateUnknown(te(0x84, { hostStatus: PATH.NO_CONNECT }), running), true, 'a status poll not sent: the list exists');
    assert.equal(listFateUnknown(te(0x8a, { hostStatus: PATH.TRANSPORT_DISRUPTED }), running), false, 'WRITE(16): no list');
  });

  it('odx: the same loss before the list reached the target: "no such list", then the host copies the chunk, only after the answer', async () => {
    const { r, err, dst, want, got } = await run('odx', { ...WUT, nth: 3, hostStatus: PATH.TRANSPORT_FAILFAST, reached: false, pathRunning: true });
    assert.equal(err, undefined, String(err));
    assert.ok(r);
    assert.ok(got().equals(want));
    assert.deepEqual(r.fallbacks.map((f) => [f.offset, f.length, f.from]), [[2n * CHUNK, CHUNK, 'odx']]);
    const asked = dst.sent.findIndex((c) => c.op === 0x84 && c.listId === dst.lostListId);
    assert.ok(asked >= 0 && firstWriteInto(dst, 2n * CHUNK, CHUNK) > asked, 'the host wrote the range only after the nexus answered');
  });

  it('the path fails while its list is asked about: the original path error goes back to path failover (not LIST_UNCONFIRMED); another transport error keeps being asked until the bound', async () => {
    const lost = new TransportError({ command: 'WRITE USING TOKEN', opcode: 0x83, serviceAction: 0x11, hostStatus: PATH.TRANSPORT_DISRUPTED, code: 'host 0xe', message: 'lost' });
    const gone = new TransportError({ command: 'RRTI', opcode: 0x84, serviceAction: 0x07, hostStatus: PATH.NO_CONNECT, code: 'host 0x1', message: 'gone' });
    let asked = 0;
    const t = {
      path: '/dev/fake',
      async command(): Promise<never> {
        asked++;
        throw gone;
      },
    };
    await assert.rejects(settleTokenList(t, 7, 0x11, 'WRITE USING TOKEN', lost, { boundMs: 2000 }), (e: unknown) => e === lost);
    assert.equal(asked, 1, 'one query: the path is gone');
    const other = new TransportError({ command: 'WRITE USING TOKEN', opcode: 0x83, serviceAction: 0x11, hostStatus: DID.ERROR, code: 'host 0x7', message: 'lost' });
    await assert.rejects(settleTokenList(t, 7, 0x11, 'WRITE USING TOKEN', other, { boundMs: 2000 }), (e: unknown) => e instanceof ListUnconfirmedError && /its path failed while it was asked/.test(e.message));
  });
});
