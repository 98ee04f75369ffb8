// Path failover mid-copy (issue #11, docs/path-failover.md) in the in-process model: a
// destination reached through two paths whose current path fails on a copy command. Refused at
// submission or with its session ended, the chunk is re-driven from its last confirmed offset on
// the other path and the account records the switch; lost in flight with the session still
// logged in, the range is not rewritten and the copy stops with the exact account; with no path
// left it stops too. The lab spec san.test.ts proves it over dm-multipath and iSCSI.
import { strict as assert } from 'node:assert';
import { CopyError, runPlanned } from '../../lib/engine/copy';
import { classify, isPathError } from '../../lib/engine/reactions';
import { TokenMethod } from '../../lib/engine/methods/token';
import { XcopyMethod } from '../../lib/engine/methods/xcopy';
import { HostMethod } from '../../lib/engine/methods/host';
import { clearPairCache } from '../../lib/engine/pair-cache';
import type { OpenedPair, PlanDetails } from '../../lib/engine/plan';
import type { CopyMethod, CopyOptions, CopyResult } from '../../lib/engine/types';
import type { DeviceLayout } from '../../lib/device/device';
import type { Stack } from '../../lib/device/stack';
import { TransportError } from '../../lib/scsi/errors';
import { copySummaryLines } from '../../lib/cli/copy';
import { cliExitCode } from '../../lib/cli/context';
import { checkCondition, FakeLun, fillPattern } from './helpers/fake-lun';
import { FakeMultipath, type PathFault } from './helpers/fake-paths';

const KiB = 1024n;
const BS = 512;
const CHUNK = 128n * KiB;
const LEN = 1024n * KiB;
const SRC_OFF = 64n * KiB;
const DST_OFF = 128n * KiB;

/** A multipath map: the whole LUN, one extent. */
function wholeLun(bytes: bigint): DeviceLayout {
  const extents = [{ offset: 0n, length: bytes, lun: 0, lunOffset: 0n }];
  return { stack: { given: '/dev/mapper/mp', extents, bytes } as unknown as Stack, extents, bytes };
}

function details(method: CopyMethod): PlanDetails {
  const dev = { path: '/dev/mapper/mp', vendor: 'V', product: 'P', blockSize: BS, bytes: 4096n * KiB };
  return {
    plan: { src: dev, dst: dev, srcOffset: SRC_OFF, dstOffset: DST_OFF, length: LEN, method, verdicts: { odx: { usable: true, reason: '' }, xcopy: { usable: true, reason: '' } }, chunkBytes: CHUNK, hostTransferBytes: 64 * 1024, maxInFlight: 1 },
    srcCaps: {} as never,
    dstCaps: {} as never,
    srcKey: 'naa.fake-src',
    dstKey: 'naa.fake-dst',
    tokenBytes: CHUNK,
    inactivityTimeout: 60,
    tokenLifetime: 0,
    hostDepth: 2,
  };
}

const WUT = { op: 0x83, sa: 0x11 };
const XCOPY = { op: 0x83, sa: 0x00 };

async function run(method: 'odx' | 'xcopy', fault: PathFault, srcFailsToo = false) {
  const srcLun = new FakeLun({ blocks: 8192 });
  const dstLun = new FakeLun({ blocks: 8192 });
  fillPattern(srcLun.mem, 3);
  fillPattern(dstLun.mem, 8);
  const before = Buffer.from(dstLun.mem);
  const src = new FakeMultipath(srcLun);
  const dst = new FakeMultipath(dstLun, srcFailsToo ? { ...fault, also: () => src.failed.add(src.current) } : fault);
  Object.assign(src, { layout: wholeLun(4096n * KiB) });
  Object.assign(dst, { layout: wholeLun(4096n * KiB) });
  const pair = { src, dst, close() {} } as unknown as OpenedPair;
  const xo = { commandBytes: CHUNK, segmentBytes: 64n * KiB, segmentsPerCommand: 2, source: srcLun.cscd, destination: dstLun.cscd, on: 'dst' as const, listIdUsage: 'none' as const, listId: 0 };
  const offload = method === 'odx' ? new TokenMethod({ tokenBytes: CHUNK, inactivityTimeout: 0, effectiveInactivitySeconds: 60 }) : new XcopyMethod(xo);
  let r: CopyResult | undefined;
  let err: unknown;
  try {
    r = await runPlanned(pair, details(method), { fallback: false } as CopyOptions, { methods: { offload, host: new HostMethod({ transferBytes: 16384, depth: 2 }) } });
  } catch (e) {
    err = e;
  }
  const want = srcLun.mem.subarray(Number(SRC_OFF), Number(SRC_OFF + LEN));
  return { r, err, src, dst, srcLun, dstLun, before, want };
}

/** Destination LBA where copy offset `off` lands. */
const lbaAt = (off: bigint) => (DST_OFF + off) / BigInt(BS);

describe('path failover mid-copy (docs/path-failover.md)', () => {
  beforeEach(() => clearPairCache());

  it('the reactions table calls transport failures of the path `path`, never a sense code or a timeout', () => {
    for (const h of [0x01, 0x02, 0x04, 0x0e, 0x0f, 0x14]) assert.equal(classify(new TransportError({ command: 'c', hostStatus: h, code: 'X' })), 'path', `host 0x${h.toString(16)}`);
    for (const c of ['ENXIO', 'ENODEV']) assert.equal(classify(new TransportError({ command: 'c', code: c })), 'path', c);
    assert.equal(classify(new TransportError({ command: 'c', hostStatus: 0x03, code: 'DID_TIME_OUT' })), 'fallback-chunk');
    assert.equal(classify(new TransportError({ command: 'c', code: 'EIO' })), 'fallback-chunk');
    const sense = checkCondition('WRITE USING TOKEN', Buffer.from([0x83, 0x11]), 0x0b, 0x47, 0);
    assert.equal(isPathError(sense), false);
    assert.notEqual(classify(sense), 'path');
  });

  for (const [method, op] of [
    ['odx', WUT],
    ['xcopy', XCOPY],
  ] as const) {
    it(`${method}: the active path refuses the 3rd copy command (ENXIO): switch, the chunk re-driven on the other path, dst == src, the switch in the account`, async () => {
      const { r, err, dst, dstLun, before, want } = await run(method, { ...op, nth: 3, how: 'refused', session: 'logged-in' });
      assert.equal(err, undefined, String(err));
      assert.ok(r);
      assert.equal(r.bytes, LEN);
      assert.equal(r.byMethod[method], LEN, 'fully offloaded');
      const at = Number(DST_OFF);
      assert.ok(dstLun.mem.subarray(at, at + Number(LEN)).equals(want), 'the destination holds the source');
      assert.ok(dstLun.mem.subarray(0, at).equals(before.subarray(0, at)), 'nothing before changed');
      assert.ok(dstLun.mem.subarray(at + Number(LEN)).equals(before.subarray(at + Number(LEN))), 'nothing after changed');
      assert.equal(r.pathSwitches.length, 1);
      const s = r.pathSwitches[0]!;
      assert.deepEqual({ side: s.side, from: s.from, to: s.to, atOffset: s.atOffset }, { side: 'dst', from: dst.sgs[0], to: dst.sgs[1], atOffset: 2n * CHUNK });
      assert.match(s.reason, /ENXIO/);
      // Every destination command after the refused one went down the new path.
      const i = dst.sent.findIndex((c) => c.node === dst.sgs[1]);
      assert.ok(i > 0);
      assert.ok(dst.sent.slice(i).every((c) => c.node === dst.sgs[1]), 'nothing on the failed path after the switch');
      assert.ok(copySummaryLines(r).some((l) => l.includes(`path switch at +${2n * CHUNK}: dst ${dst.sgs[0]} -> ${dst.sgs[1]}`)));
    });
  }

  it('odx: DID_NO_CONNECT (the midlayer refused it on an offline device): never reached the target, re-driven on the other path', async () => {
    const { r, err, dst, dstLun, want } = await run('odx', { ...WUT, nth: 5, how: 'no-connect', session: 'logged-in' });
    assert.equal(err, undefined, String(err));
    assert.ok(r);
    assert.ok(dstLun.mem.subarray(Number(DST_OFF), Number(DST_OFF + LEN)).equals(want));
    assert.deepEqual(r.pathSwitches.map((s) => [s.side, s.from, s.to, s.atOffset]), [['dst', dst.sgs[0], dst.sgs[1], 4n * CHUNK]]);
  });

  for (const method of ['odx', 'xcopy'] as const) {
    it(`${method}: one port down takes both sides' paths (the destination's write refused): both switch, the source's without a list to wait for; completes`, async () => {
      const { r, err, src, dst, dstLun, want } = await run(method, { ...(method === 'odx' ? WUT : XCOPY), nth: 3, how: 'refused', session: 'logged-in' }, true);
      assert.equal(err, undefined, String(err));
      assert.ok(r);
      assert.ok(dstLun.mem.subarray(Number(DST_OFF), Number(DST_OFF + LEN)).equals(want));
      assert.deepEqual(r.pathSwitches.map((s) => [s.side, s.from, s.to, s.atOffset]), [
        ['src', src.sgs[0], src.sgs[1], 2n * CHUNK],
        ['dst', dst.sgs[0], dst.sgs[1], 2n * CHUNK],
      ]);
    });
  }

  it('odx: the re-driven chunk gets a new token: POPULATE TOKEN again for the chunk whose write was refused', async () => {
    const { r, srcLun, dstLun } = await run('odx', { ...WUT, nth: 3, how: 'refused', session: 'logged-in' });
    assert.ok(r);
    const chunks = Number(LEN / CHUNK);
    assert.equal(srcLun.ops('PT').length, chunks + 1, 'one more POPULATE TOKEN than chunks');
    // The refused write never reached the LUN: each chunk written once.
    assert.equal(dstLun.ops('WUT').length, chunks);
  });

  it('odx: lost in flight, its session ended (the target aborted its tasks): re-driven on the other path; completes', async () => {
    const { r, err, dst, dstLun, want } = await run('odx', { ...WUT, nth: 3, how: 'in-flight', session: 'ended' });
    assert.equal(err, undefined, String(err));
    assert.ok(r);
    assert.equal(r.bytes, LEN);
    assert.ok(dstLun.mem.subarray(Number(DST_OFF), Number(DST_OFF + LEN)).equals(want));
    assert.deepEqual(r.pathSwitches.map((s) => [s.from, s.to, s.atOffset]), [[dst.sgs[0], dst.sgs[1], 2n * CHUNK]]);
    assert.equal(dstLun.ops('WUT').filter((w) => w.lba === lbaAt(2n * CHUNK)).length, 2, 'the third chunk written again on the new path');
  });

  it('odx: lost in flight with the session still logged in: the range is not rewritten; stops with the exact account and a one-line error', async () => {
    const { r, err, dst, dstLun, want } = await run('odx', { ...WUT, nth: 3, how: 'in-flight', session: 'logged-in' });
    assert.equal(r, undefined);
    assert.ok(err instanceof CopyError, String(err));
    assert.equal(err.code, 'PATH_UNCONFIRMED');
    assert.equal(cliExitCode(err), 35, 'a transport error\'s exit status');
    assert.ok(!err.message.includes('\n'));
    assert.match(err.message, new RegExp(`${dst.sgs[0]} failed with a copy list in flight`));
    const res = err.result;
    assert.equal(res.bytes, 2n * CHUNK, 'the two confirmed chunks, not the unconfirmed one');
    assert.deepEqual(res.extents.map((e) => [e.offset, e.length]), [[0n, 2n * CHUNK]]);
    assert.equal(res.pathSwitches.length, 0);
    assert.ok(dstLun.mem.subarray(Number(DST_OFF), Number(DST_OFF + 2n * CHUNK)).equals(want.subarray(0, Number(2n * CHUNK))));
    assert.equal(dstLun.ops('WUT').filter((w) => w.lba === lbaAt(2n * CHUNK)).length, 1, 'the in-flight range was not written again');
    assert.equal(dstLun.ops('WUT').length, 3, 'nothing written after the stop');
  });

  it('odx: every path failed: no path left, stops with the exact account and a one-line error naming the transport failure', async () => {
    const { r, err } = await run('odx', { ...WUT, nth: 3, how: 'refused', session: 'logged-in', allPaths: true });
    assert.equal(r, undefined);
    assert.ok(err instanceof CopyError, String(err));
    assert.ok(!err.message.includes('\n'));
    assert.match(err.message, /ENXIO/);
    assert.equal(err.result.bytes, 2n * CHUNK);
    assert.equal(err.result.pathSwitches.length, 0);
  });
});
