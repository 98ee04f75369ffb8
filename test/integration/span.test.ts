// A volume over two LUNs (issue #11): lvspan is 8 MiB on mppv0 then 8 MiB on mppv1, two iSCSI
// LUNs behind dm-multipath (test/lab/guest/stack.sh). Copies to and from it across the LUN
// boundary, checked against the LUNs' backing files (the target's own record) with margins, the
// method of each extent from the account, and the kernel's scsi trace showing commands on both
// LUNs' paths. Resume of a journal whose gap spans the boundary, and `odxcp info` naming both LUNs.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { copy, clearPairCache, readJournal, rememberFailure, resume } from '../../lib/engine';
import { ScsiDevice } from '../../lib/device/device';
import { CommandTrace, runOdxcp, stackLun, pattern, stackDown, stackEntry, stackUp, writeBacking, type LabLun, type LvmEntry } from './lab';

const MiB = 1024 * 1024;
const odxcp = runOdxcp;
const file = (l: LabLun) => fs.readFileSync(l.file as string);
/** The LUN (backing file) under a multipath map. */
const pvLun = (map: string) => stackLun(stackEntry(map, 'multipath').over);

/** Where an LV's bytes [off, off+len) sit: one piece per segment touched, on the segment's map. */
function lvPieces(lv: LvmEntry, off: number, len: number): Array<{ map: string; at: number; length: number }> {
  const out: Array<{ map: string; at: number; length: number }> = [];
  let base = 0;
  for (const s of lv.segments) {
    const a = Math.max(off, base);
    const b = Math.min(off + len, base + s.bytes);
    if (a < b) out.push({ map: s.over, at: s.startBytes + a - base, length: b - a });
    base += s.bytes;
  }
  return out;
}

/** The LV's bytes [off, off+len) read from its maps' backing files. */
function lvBytes(lv: LvmEntry, off: number, len: number): Buffer {
  return Buffer.concat(lvPieces(lv, off, len).map((p) => file(pvLun(p.map)).subarray(p.at, p.at + p.length)));
}

/** Each map's backing file equals its `before` outside the LV range's pieces on it. */
function assertNothingElse(lv: LvmEntry, off: number, len: number, before: Map<string, Buffer>): void {
  for (const [map, was] of before) {
    const now = file(pvLun(map));
    let at = 0;
    for (const p of lvPieces(lv, off, len).filter((x) => x.map === map).sort((x, y) => x.at - y.at)) {
      assert.ok(now.subarray(at, p.at).equals(was.subarray(at, p.at)), `${map}: nothing changed in [${at}, ${p.at})`);
      at = p.at + p.length;
    }
    assert.ok(now.subarray(at).equals(was.subarray(at)), `${map}: nothing changed from ${at} on`);
  }
}

/** The LUN designator key the engine names a map's LUN by (its pair cache keys). */
async function lunKey(dev: string): Promise<string> {
  const d = await ScsiDevice.open(dev, { layered: true });
  try {
    return `naa.${(await d.identity()).naa}`;
  } finally {
    await d.close();
  }
}

describe('a volume over two LUNs: copies across the LUN boundary (lab)', function () {
  this.timeout(900000);
  let span: LvmEntry;
  const maps = ['mppv0', 'mppv1'];

  before(() => {
    clearPairCache();
    const t = stackUp();
    let seed = 301;
    for (const e of t.stack ?? []) if ('file' in e && e.file) writeBacking(e as LabLun, MiB, pattern(Math.min(e.bytes - 2 * MiB, 62 * MiB), seed++));
    span = stackEntry('lvspan', 'lvm');
    // The lab's shape this spec relies on: one 8 MiB segment on each PV map.
    assert.deepEqual(span.segments.map((s) => [s.over, s.bytes]), [['mppv0', 8 * MiB], ['mppv1', 8 * MiB]]);
  });

  after(() => {
    clearPairCache();
    stackDown();
  });

  const snapshot = () => new Map(maps.map((m) => [m, file(pvLun(m))]));

  it('odxcp info names both LUNs: the chain, each extent\'s LUN and each LUN\'s paths (text and JSON); a pair\'s plan lists each LUN pair\'s run and method', () => {
    const wwid = (m: string) => `naa.${stackEntry(m, 'multipath').wwid.slice(1)}`;
    const t = odxcp('info', span.dev);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /chain: \/dev\/labvg\/lvspan → dm-\d+ labvg-lvspan \(LVM linear, 2 segments\) → \[mppv0 \(dm-\d+, 2 paths[^)]*\) → LUN naa\.[0-9a-f]+ \| mppv1 \(dm-\d+, 2 paths[^)]*\) → LUN naa\.[0-9a-f]+\]/);
    for (const m of maps) assert.ok(t.stdout.includes(`LUN ${wwid(m)}:`), `${m}'s LUN ${wwid(m)} listed with its paths:\n${t.stdout}`);
    assert.match(t.stdout, /device: 16777216 bytes \(16 MiB\) in 2 extents on 2 LUNs/);
    const j = odxcp('info', '--json', span.dev);
    assert.equal(j.status, 0, j.stderr);
    const s = JSON.parse(j.stdout).stack;
    assert.deepEqual(s.luns.map((l: { id: string }) => l.id), maps.map(wwid));
    assert.deepEqual(s.extents.map((e: { lun: number; length: string }) => [e.lun, Number(e.length)]), [[0, 8 * MiB], [1, 8 * MiB]]);
    for (const [i, m] of maps.entries()) assert.equal(s.luns[i].chosen.sg, stackEntry(m, 'multipath').paths[0]!.sg, `${m}: the active/optimized path is chosen`);
    // A pair's plan: one run per LUN pair, each with its method.
    const p = odxcp('info', '--json', '/dev/mapper/mpfio0', span.dev, '--dst-offset', '5M', '--length', '6M');
    assert.equal(p.status, 0, p.stderr);
    const src = `naa.${stackEntry('mpfio0', 'multipath').wwid.slice(1)}`;
    assert.deepEqual(
      JSON.parse(p.stdout).plan.runs.map((r: { offset: string; length: string; src: string; dst: string; method: string }) => [Number(r.offset), Number(r.length), r.src, r.dst, r.method]),
      [
        [0, 3 * MiB, src, wwid('mppv0'), 'xcopy'],
        [3 * MiB, 3 * MiB, src, wwid('mppv1'), 'xcopy'],
      ],
    );
    const pt = odxcp('info', '/dev/mapper/mpfio0', span.dev, '--dst-offset', '5M', '--length', '6M');
    assert.equal(pt.status, 0, pt.stderr);
    assert.ok(pt.stdout.includes(`  run +3145728 3145728 bytes: LUN ${src} -> LUN ${wwid('mppv1')}: xcopy`), pt.stdout);
  });

  it('LUN → lvspan across the boundary: EXTENDED COPY on each LUN pair, byte for byte, nothing else changed; the kernel saw the copies and the flushes on both LUNs\' paths', async () => {
    const s = stackEntry('mpfio0', 'multipath');
    const src = file(stackLun(s.over));
    const before = snapshot();
    const lunAddrs = maps.map((m) => stackEntry(m, 'multipath').paths.map((p) => p.address));
    const trace = CommandTrace.ofAddresses(lunAddrs.flat());
    // lvspan [5, 11) MiB: mppv0's last 3 MiB of the LV, then mppv1's first 3 MiB.
    const r = await copy({ src: s.dev, dst: span.dev, srcOffset: 3 * MiB, dstOffset: 5 * MiB, length: 6 * MiB });
    const cmds = trace.stop();
    assert.equal(r.bytes, BigInt(6 * MiB));
    assert.deepEqual(r.extents, [{ offset: 0n, length: BigInt(6 * MiB), method: 'xcopy' }], 'both runs by EXTENDED COPY');
    assert.deepEqual(r.fallbacks, []);
    assert.equal(r.synced, true);
    assert.ok(lvBytes(span, 5 * MiB, 6 * MiB).equals(src.subarray(3 * MiB, 9 * MiB)), 'lvspan holds the source bytes');
    assertNothingElse(span, 5 * MiB, 6 * MiB, before);
    for (const [i, m] of maps.entries()) {
      const on = cmds.filter((c) => lunAddrs[i]!.includes(c.address));
      assert.ok(on.some((c) => c.cdb[0] === 0x83 && c.cdb[1] === 0x00), `${m}: EXTENDED COPY(LID1) dispatched to its LUN`);
      assert.ok(on.some((c) => c.cdb[0] === 0x91 || c.cdb[0] === 0x35), `${m}: SYNCHRONIZE CACHE dispatched to its LUN`);
    }
  });

  it('lvspan → lvdst (LV → LV): the method per LUN pair: EXTENDED COPY from mppv0, the host path from mppv1 where the pair cache says EXTENDED COPY failed', async () => {
    const d = stackEntry('lvdst', 'lvm');
    const pv1 = await lunKey('/dev/mapper/mppv1');
    rememberFailure(pv1, pv1, 'xcopy', 'remembered for this test: the mppv1 → mppv1 pair takes the next method');
    try {
      const want = lvBytes(span, 4 * MiB, 8 * MiB);
      const before = snapshot();
      // lvspan [4, 12) MiB (across its LUN boundary at 8) → lvdst [1, 9) MiB (across its segment boundary at 8), all on mppv1.
      const r = await copy({ src: span.dev, dst: d.dev, srcOffset: 4 * MiB, dstOffset: MiB, length: 8 * MiB, verify: true });
      assert.deepEqual(r.extents, [
        { offset: 0n, length: BigInt(4 * MiB), method: 'xcopy' },
        { offset: BigInt(4 * MiB), length: BigInt(4 * MiB), method: 'host' },
      ]);
      assert.equal(r.method, 'mixed');
      assert.equal(r.verified, true);
      assert.ok(lvBytes(d, MiB, 8 * MiB).equals(want), 'lvdst holds lvspan\'s bytes');
      assertNothingElse(d, MiB, 8 * MiB, before);
    } finally {
      clearPairCache();
    }
  });

  it('resume of a journal whose gap crosses the LUN boundary copies exactly the gap, onto both LUNs', async () => {
    const s = stackEntry('mpfio1', 'multipath');
    const src = file(stackLun(s.over));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'span-j-'));
    try {
      const j = path.join(dir, 'copy.journal');
      const r = await copy({ src: s.dev, dst: span.dev, srcOffset: 2 * MiB, dstOffset: 6 * MiB, length: 4 * MiB, journal: j });
      assert.equal(r.bytes, BigInt(4 * MiB));
      assert.deepEqual(readJournal(j).extents.map((e) => [Number(e.offset), Number(e.length)]), [[0, 4 * MiB]], 'the journal speaks device offsets');
      // As if the copy had died after its first MiB: the journal confirms [0, 1) MiB, and the
      // rest of the range ([7, 10) MiB of lvspan: 1 MiB on mppv0, 2 on mppv1) holds other bytes.
      const header = fs.readFileSync(j, 'utf8').split('\n')[0];
      fs.writeFileSync(j, `${header}\n${JSON.stringify({ offset: '0', length: String(MiB), method: 'xcopy' })}\n`);
      for (const p of lvPieces(span, 7 * MiB, 3 * MiB)) writeBacking(pvLun(p.map), p.at, pattern(p.length, 999));
      assert.ok(!lvBytes(span, 7 * MiB, 3 * MiB).equals(src.subarray(3 * MiB, 6 * MiB)));
      const before = snapshot();
      const rr = await resume(j);
      assert.equal(rr.complete, true);
      assert.equal(rr.confirmedBytes, BigInt(MiB));
      assert.equal(rr.bytes, BigInt(3 * MiB), 'exactly the gap');
      assert.deepEqual(rr.runs.map((x) => [Number(x.offset), x.result.extents.map((e) => [Number(e.offset), Number(e.length), e.method])]), [[MiB, [[0, 3 * MiB, 'xcopy']]]]);
      assert.ok(lvBytes(span, 6 * MiB, 4 * MiB).equals(src.subarray(2 * MiB, 6 * MiB)), 'lvspan holds the source bytes');
      assertNothingElse(span, 7 * MiB, 3 * MiB, before);
      assert.equal(readJournal(j).done, true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
