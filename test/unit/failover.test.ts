// Path failover mid-copy (issue #11, docs/path-failover.md) in the in-process model: a
// destination reached through two paths whose current path fails on a copy command. Refused at
// submission or with its session ended, the chunk is re-driven from its last confirmed offset on
// the other path and the account records the switch; lost in flight with the session still
// logged in, the range is not rewritten and the copy stops with the exact account; with no path
// left it stops too. The lab spec san.test.ts proves it over dm-multipath and iSCSI.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CopyError, runJournalled, runPlanned } from '../../lib/engine/copy';
import { gaps, JournalWriter, readJournal } from '../../lib/engine/journal';
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
import { FakeMultipath, fakePlanDetails, type PathFault } from './helpers/fake-paths';

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

const details = (method: CopyMethod): PlanDetails => fakePlanDetails(method, { path: '/dev/mapper/mp', srcOffset: SRC_OFF, dstOffset: DST_OFF, length: LEN, chunk: CHUNK });

const WUT = { op: 0x83, sa: 0x11 };
const XCOPY = { op: 0x83, sa: 0x00 };

async function run(method: 'odx' | 'xcopy', fault: PathFault, srcFailsToo = false, journal?: JournalWriter) {
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
    const methods = { offload, host: new HostMethod({ transferBytes: 16384, depth: 2 }) };
    r = journal ? await runJournalled(pair, details(method), { fallback: false } as CopyOptions, journal, { methods }) : await runPlanned(pair, details(method), { fallback: false } as CopyOptions, { methods });
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

  for (const [method, op] of [
    ['odx', WUT],
    ['xcopy', XCOPY],
  ] as const) {
    it(`${method}: lost in flight with the session still logged in: that chunk's range is not rewritten, the other chunks go on on the new path; PATH_UNCONFIRMED, exit 35, the exact account`, async () => {
      const { r, err, dst, dstLun, want } = await run(method, { ...op, nth: 3, how: 'in-flight', session: 'logged-in' });
      assert.equal(r, undefined);
      assert.ok(err instanceof CopyError, String(err));
      assert.equal(err.code, 'PATH_UNCONFIRMED');
      assert.equal(cliExitCode(err), 35, "a transport error's exit status");
      assert.ok(!err.message.includes('\n'));
      assert.match(err.message, new RegExp(`path ${dst.sgs[0]} failed with a copy list in flight .*; ${CHUNK} bytes from \\+${2n * CHUNK} are unconfirmed and were not rewritten`));
      const res = err.result;
      assert.equal(res.bytes, LEN - CHUNK, 'every chunk but the unconfirmed one');
      assert.equal(res.byMethod[method], LEN - CHUNK);
      assert.deepEqual(res.extents.map((e) => [e.offset, e.length]), [
        [0n, 2n * CHUNK],
        [3n * CHUNK, LEN - 3n * CHUNK],
      ]);
      assert.deepEqual(res.unconfirmed, [{ offset: 2n * CHUNK, length: CHUNK, node: dst.sgs[0] }]);
      assert.deepEqual(res.pathSwitches.map((s) => [s.side, s.from, s.to, s.atOffset]), [['dst', dst.sgs[0], dst.sgs[1], 2n * CHUNK]]);
      // Every byte the account calls copied is the source's.
      for (const e of res.extents) {
        const a = Number(DST_OFF + e.offset);
        assert.ok(dstLun.mem.subarray(a, a + Number(e.length)).equals(want.subarray(Number(e.offset), Number(e.offset + e.length))), `extent +${e.offset}`);
      }
      const copies = method === 'odx' ? dstLun.ops('WUT') : dstLun.ops('XCOPY');
      assert.equal(copies.filter((w) => w.lba === lbaAt(2n * CHUNK)).length, 1, 'the in-flight range was not written again');
      assert.equal(copies.length, Number(LEN / CHUNK), 'each chunk sent once');
      // The chunks after it went down the new path only.
      const i = dst.sent.findIndex((c) => c.node === dst.sgs[1]);
      assert.ok(i > 0 && dst.sent.slice(i).every((c) => c.node === dst.sgs[1]));
      assert.ok(copySummaryLines(res).some((l) => l.includes(`unconfirmed: ${CHUNK} bytes at +${2n * CHUNK}`)));
    });
  }

  it('odx: an unconfirmed range with a journal: the journal never confirms it; its one gap is the range resume re-drives', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-unconf-'));
    const file = path.join(dir, 'j');
    const dev = { path: '/dev/mapper/mp', blockSize: BS };
    const writer = JournalWriter.create(file, { odxcp: 'journal', version: 1, createdAt: new Date(0).toISOString(), src: dev, dst: dev, srcOffset: SRC_OFF, dstOffset: DST_OFF, length: LEN, mode: 'auto', sparse: 'auto', sync: true });
    const { err } = await run('odx', { ...WUT, nth: 3, how: 'in-flight', session: 'logged-in' }, false, writer);
    assert.ok(err instanceof CopyError && err.code === 'PATH_UNCONFIRMED', String(err));
    const j = readJournal(file);
    assert.equal(j.done, false, 'not marked complete');
    assert.deepEqual(j.extents.map((e) => [e.offset, e.length]), err.result.extents.map((e) => [e.offset, e.length]));
    assert.deepEqual(gaps(j.extents, LEN), [{ offset: 2n * CHUNK, length: CHUNK }]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('odx: the path chosen to switch to does not open: the copy says no usable path was left, one line naming both nodes, with the exact account', async () => {
    const { r, err, dst } = await run('odx', { ...WUT, nth: 3, how: 'refused', session: 'logged-in', openFails: true });
    assert.equal(r, undefined);
    assert.ok(err instanceof CopyError, String(err));
    assert.equal(err.code, 'NO_PATH');
    assert.ok(!err.message.includes('\n'));
    assert.match(err.message, new RegExp(`no usable path left for the destination: ${dst.sgs[0]} failed \\(.*ENXIO.*\\); .*path switch: cannot open ${dst.sgs[1]} \\(ENXIO\\)`));
    // The exit status is the failed path's transport error's (ENXIO here), as with no path up.
    assert.ok(err.cause instanceof Error && err.cause.cause instanceof TransportError);
    assert.equal(cliExitCode(err), cliExitCode(err.cause.cause));
    assert.equal(err.result.bytes, 2n * CHUNK);
    assert.deepEqual(err.result.extents.map((e) => [e.offset, e.length]), [[0n, 2n * CHUNK]]);
  });

  for (const how of ['in-flight', 'refused'] as const) {
    it(`the final SYNCHRONIZE CACHE meets a failed path (${how}): it is sent again on the other path; the copy completes flushed, the switch in the account`, async () => {
      const { r, err, dst, dstLun, want } = await run('odx', { op: 0x91, nth: 1, how, session: 'logged-in' });
      assert.equal(err, undefined, String(err));
      assert.ok(r);
      assert.equal(r.synced, true);
      assert.ok(dstLun.mem.subarray(Number(DST_OFF), Number(DST_OFF + LEN)).equals(want));
      assert.deepEqual(r.pathSwitches.map((s) => [s.side, s.from, s.to, s.atOffset]), [['dst', dst.sgs[0], dst.sgs[1], LEN]]);
      assert.match(r.pathSwitches[0]!.reason, /SYNCHRONIZE CACHE/);
      const flushes = dst.sent.filter((c) => c.op === 0x91);
      assert.equal(flushes[flushes.length - 1]?.node, dst.sgs[1], 'the last flush went down the new path');
      assert.ok(dstLun.ops('SC16').length >= 1, 'and reached the LUN');
    });
  }

  it('the final SYNCHRONIZE CACHE with every path failed: NO_PATH, the data is in the account but the copy is not flushed', async () => {
    const { r, err } = await run('odx', { op: 0x91, nth: 1, how: 'refused', session: 'logged-in', allPaths: true });
    assert.equal(r, undefined);
    assert.ok(err instanceof CopyError, String(err));
    assert.match(err.message, /^copy written but not flushed: .*no usable path left for the destination/);
    assert.equal(err.result.bytes, LEN);
    assert.equal(err.result.synced, false);
  });

  it('odx: every path failed: no path left, stops with the exact account and a one-line error naming the transport failure', async () => {
    const { r, err } = await run('odx', { ...WUT, nth: 3, how: 'refused', session: 'logged-in', allPaths: true });
    assert.equal(r, undefined);
    assert.ok(err instanceof CopyError, String(err));
    assert.ok(!err.message.includes('\n'));
    assert.match(err.message, /ENXIO/);
    assert.match(err.message, /no usable path left for the destination/);
    assert.equal(err.result.bytes, 2n * CHUNK);
    assert.equal(err.result.pathSwitches.length, 0);
  });
});
