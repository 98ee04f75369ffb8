// The block stack SAN users have, over a real transport (issue #11): LIO's iSCSI target on two
// loopback portals, open-iscsi logged in to both, dm-multipath maps over the two sessions,
// GPT partitions (sfdisk; kpartx on a map), LVM over two maps, dm-crypt. test/lab/guest/stack.sh
// builds it when this spec asks (stackUp). First the lab is proven on its own with the kernel's
// records (sysfs, dm status, backing files); then odxcp copies through it, checked byte for byte
// against the backing files with margins.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { copy, clearPairCache, CopyError } from '../../lib/engine';
import { DeviceError } from '../../lib/errors';
import { CommandTrace, runOdxcp, stackLun, pattern, shell, stackDown, stackEntry, stackUp, writeBacking, type LabLun, type MultipathEntry } from './lab';

const MiB = 1024 * 1024;
const odxcp = runOdxcp;
const file = (l: LabLun) => fs.readFileSync(l.file as string);
const majmin = (sd: string) => fs.readFileSync(`/sys/class/block/${path.basename(sd)}/dev`, 'utf8').trim();
const sdState = (sd: string) => fs.readFileSync(`/sys/block/${path.basename(sd)}/device/state`, 'utf8').trim();

/** dm-multipath's own view: each path's major:minor and A(ctive)/F(ailed). */
function dmPaths(map: string): Map<string, string> {
  const st = shell(`dmsetup status ${map}`);
  const out = new Map<string, string>();
  for (const m of st.matchAll(/ (\d+:\d+) ([AF]) /g)) out.set(m[1]!, m[2]!);
  return out;
}

/** The destination's backing file equals `before` except [at, at + want.length), which holds `want`. */
function assertLanded(l: LabLun, before: Buffer, at: number, want: Buffer): void {
  const after = file(l);
  assert.ok(after.subarray(at, at + want.length).equals(want), `${l.name}: the range holds the source bytes`);
  assert.ok(after.subarray(0, at).equals(before.subarray(0, at)), `${l.name}: nothing before the range changed`);
  assert.ok(after.subarray(at + want.length).equals(before.subarray(at + want.length)), `${l.name}: nothing after the range changed`);
}

/** Write through a block node with O_DIRECT (dd), from a buffer. */
function ddWrite(dev: string, offset: number, data: Buffer): void {
  const tmp = `/tmp/san-dd-${process.pid}`;
  fs.writeFileSync(tmp, data);
  try {
    shell(`dd if=${tmp} of=${dev} bs=${MiB} seek=${offset}B oflag=direct,seek_bytes conv=notrunc status=none`);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
function ddRead(dev: string, offset: number, length: number): Buffer {
  const tmp = `/tmp/san-dd-${process.pid}`;
  try {
    shell(`dd if=${dev} of=${tmp} bs=${MiB} skip=${offset}B count=${length}B iflag=direct,skip_bytes,count_bytes status=none`);
    return fs.readFileSync(tmp);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

describe('SAN stack over iSCSI: multipath, partitions, LVM (lab)', function () {
  this.timeout(900000);
  let maps: MultipathEntry[];

  before(() => {
    clearPairCache();
    const t = stackUp();
    maps = (t.stack ?? []).filter((e): e is MultipathEntry => e.kind === 'multipath');
    // Every LUN under the stack gets a pattern of its own (written in the backing file: what
    // the target stores; the devices must show it), past the first MiB (GPT, LVM label and
    // metadata) and short of the last (the backup GPT).
    let seed = 101;
    for (const e of t.stack ?? []) if ('file' in e && e.file) writeBacking(e as LabLun, MiB, pattern(Math.min(e.bytes - 2 * MiB, 62 * MiB), seed++));
  });

  after(() => {
    spawnSync('umount', ['/mnt/san-lvmnt']);
    stackDown();
  });

  describe('the lab itself', () => {
    it('seven maps, each over two iSCSI paths through two portals: up in sysfs and in dm, portal 1 active/optimized, portal 2 not', () => {
      assert.deepEqual(maps.map((m) => m.name).sort(), ['mpfio0', 'mpfio1', 'mpodx0', 'mpodx1', 'mppart0', 'mppv0', 'mppv1']);
      for (const m of maps) {
        assert.equal(m.paths.length, 2, m.name);
        assert.deepEqual(m.paths.map((p) => p.portal), ['127.0.0.1:3260', '127.0.0.2:3261'], m.name);
        assert.notEqual(m.paths[0]!.sd, m.paths[1]!.sd);
        const dm = dmPaths(m.name);
        for (const p of m.paths) {
          assert.equal(sdState(p.sd), 'running', `${m.name} ${p.sd}`);
          assert.equal(dm.get(majmin(p.sd)), 'A', `${m.name}: dm says ${p.sd} is active`);
          assert.ok(fs.existsSync(p.sg), p.sg);
        }
        assert.equal(fs.readFileSync(`/sys/block/${m.dm}/dm/name`, 'utf8').trim(), m.name);
        // ALUA through the kernel's handler on the LIO fileio LUNs; the tcmu (odx) LUNs' RTPG does
        // not let scsi_dh_alua attach (their paths show no access_state)
        if (stackLun(m.over).kind === 'lio-fileio') {
          const alua = (p: MultipathEntry['paths'][number]) => fs.readFileSync(`/sys/bus/scsi/devices/${p.address}/access_state`, 'utf8').trim();
          assert.equal(alua(m.paths[0]!), 'active/optimized', `${m.name} ${m.paths[0]!.sd}`);
          assert.equal(alua(m.paths[1]!), 'active/non-optimized', `${m.name} ${m.paths[1]!.sd}`);
        }
        // one LU: both paths report the map's designator
        for (const p of m.paths) assert.equal(`3${fs.readFileSync(`/sys/bus/scsi/devices/${p.address}/wwid`, 'utf8').trim().replace(/^naa\./, '')}`, m.wwid);
      }
    });

    it('dd through a map lands on its LUN\'s backing file and reads back, nothing else changed', () => {
      const m = stackEntry('mpfio0', 'multipath');
      const l = stackLun(m.over);
      const before = file(l);
      const data = pattern(3 * MiB, 7);
      ddWrite(m.dev, 5 * MiB, data);
      assertLanded(l, before, 5 * MiB, data);
      assert.ok(ddRead(m.dev, 5 * MiB, 3 * MiB).equals(data));
    });

    it('failing portal 1 takes its paths down (sysfs offline, dm failed) and the map still reads and writes through portal 2; restore brings them back', () => {
      const m = stackEntry('mpfio1', 'multipath');
      const l = stackLun(m.over);
      const [p1, p2] = m.paths as [MultipathEntry['paths'][number], MultipathEntry['paths'][number]];
      shell(p1.fail);
      try {
        // offline, then blocked / transport-offline once the session notices the portal is gone
        assert.notEqual(sdState(p1.sd), 'running');
        assert.equal(sdState(p2.sd), 'running');
        const dm = dmPaths(m.name);
        assert.equal(dm.get(majmin(p1.sd)), 'F');
        assert.equal(dm.get(majmin(p2.sd)), 'A');
        const before = file(l);
        const data = pattern(2 * MiB, 9);
        ddWrite(m.dev, 11 * MiB, data);
        assertLanded(l, before, 11 * MiB, data);
        assert.ok(ddRead(m.dev, 0, 4 * MiB).equals(file(l).subarray(0, 4 * MiB)));
      } finally {
        shell(p1.restore);
      }
      assert.equal(sdState(p1.sd), 'running');
      assert.equal(dmPaths(m.name).get(majmin(p1.sd)), 'A');
      // (the first answers may be the unit attentions of the new I_T nexus)
      let tur = -1;
      for (let i = 0; i < 5 && tur !== 0; i++) tur = spawnSync('sg_turs', [p1.sg]).status ?? -1;
      assert.equal(tur, 0, 'TEST UNIT READY through the restored path');
    });

    it('partitions sit where the topology says: a GPT on the single-path LUN (sysfs) and on a map (kpartx); dd through one lands at its start', () => {
      const p = stackEntry('splain0p1', 'partition');
      const l = stackLun(p.over);
      assert.equal(p.startBytes, MiB);
      assert.equal(p.bytes, 20 * MiB);
      const q = stackEntry('mppart0p2', 'partition');
      assert.equal(q.over, 'mppart0');
      assert.equal(q.startBytes, 21 * MiB);
      assert.equal(shell(`dmsetup table ${path.basename(q.dev)}`).split(' ')[2], 'linear');
      const before = file(l);
      const data = pattern(MiB, 11);
      ddWrite(p.dev, 2 * MiB, data);
      assertLanded(l, before, MiB + 2 * MiB, data);
      const ql = stackLun(stackEntry(q.over, 'multipath').over);
      const beforeQ = file(ql);
      ddWrite(q.dev, 0, data);
      assertLanded(ql, beforeQ, 21 * MiB, data);
    });

    it('the LVs\' segments map onto the PV maps at the topology\'s offsets (dd across lvseg\'s boundary)', () => {
      const lv = stackEntry('lvseg', 'lvm');
      assert.equal(lv.segments.length, 2);
      assert.equal(lv.segments[0]!.over, 'mppv0');
      assert.equal(lv.segments[1]!.over, 'mppv0');
      assert.notEqual(lv.segments[0]!.startBytes + lv.segments[0]!.bytes, lv.segments[1]!.startBytes, 'the second segment does not continue the first');
      const span = stackEntry('lvspan', 'lvm');
      assert.deepEqual(span.over, ['mppv0', 'mppv1']);
      const pv = stackLun(stackEntry('mppv0', 'multipath').over);
      const before = file(pv);
      const b = lv.segments[0]!.bytes;
      const data = pattern(2 * MiB, 13);
      ddWrite(lv.dev, b - MiB, data);
      const after = file(pv);
      assert.ok(after.subarray(lv.segments[0]!.startBytes + b - MiB, lv.segments[0]!.startBytes + b).equals(data.subarray(0, MiB)), 'first MiB at the end of segment 0');
      assert.ok(after.subarray(lv.segments[1]!.startBytes, lv.segments[1]!.startBytes + MiB).equals(data.subarray(MiB)), 'second MiB at the start of segment 1');
      // nothing else on the PV changed
      const keep = (x: Buffer) => Buffer.concat([x.subarray(0, lv.segments[0]!.startBytes + b - MiB), x.subarray(lv.segments[0]!.startBytes + b, lv.segments[1]!.startBytes), x.subarray(lv.segments[1]!.startBytes + MiB)]);
      assert.ok(keep(after).equals(keep(before)));
    });

    it('dm-crypt over the plain LUN\'s second partition stores ciphertext there', () => {
      const c = stackEntry('crypt0', 'crypt');
      const p = stackEntry(c.over, 'partition');
      const l = stackLun(p.over);
      const data = pattern(MiB, 17);
      ddWrite(c.dev, 0, data);
      const stored = file(l).subarray(p.startBytes, p.startBytes + MiB);
      assert.ok(!stored.equals(data), 'the LUN holds something else than the plaintext');
      assert.ok(ddRead(c.dev, 0, MiB).equals(data), 'reads back as plaintext');
    });
  });

  describe('odxcp over the stack', () => {
    /** Third-party-copy commands (EXTENDED COPY family 0x83, RECEIVE family 0x84) per path address. */
    function tpcByAddress(cmds: Array<{ cdb: Buffer; address: string }>): Map<string, number> {
      const out = new Map<string, number>();
      for (const c of cmds) if (c.cdb[0] === 0x83 || c.cdb[0] === 0x84) out.set(c.address, (out.get(c.address) ?? 0) + 1);
      return out;
    }

    for (const [method, a, b] of [
      ['xcopy', 'mpfio0', 'mpfio1'],
      ['odx', 'mpodx0', 'mpodx1'],
    ] as const) {
      it(`${method === 'xcopy' ? 'EXTENDED COPY' : 'token copy'} between two multipath maps: fully offloaded, every copy command on portal 1's paths, none on portal 2`, async () => {
        const s = stackEntry(a, 'multipath');
        const d = stackEntry(b, 'multipath');
        const sl = stackLun(s.over);
        const dl = stackLun(d.over);
        const before = file(dl);
        const trace = CommandTrace.ofAddresses([...s.paths, ...d.paths].map((p) => p.address));
        const r = await copy({ src: s.dev, dst: d.dev, srcOffset: 3 * MiB, dstOffset: 7 * MiB, length: 24 * MiB, mode: method, fallback: false });
        const cmds = trace.stop();
        assert.equal(r.method, method);
        assert.equal(r.hostBytes, 0n);
        assert.equal(r.offloadedBytes, BigInt(24 * MiB));
        assertLanded(dl, before, 7 * MiB, file(sl).subarray(3 * MiB, 27 * MiB));
        const by = tpcByAddress(cmds);
        assert.ok([...by.values()].reduce((x, y) => x + y, 0) > 0, 'the kernel saw third-party-copy commands');
        for (const p of [s.paths[1]!, d.paths[1]!]) assert.equal(by.get(p.address) ?? 0, 0, `nothing on the non-optimized path ${p.sd}`);
      });
    }

    it('partition → partition: the single-path LUN\'s p1 onto the map\'s p1 (kpartx), offsets translated', async () => {
      const s = stackEntry('splain0p1', 'partition');
      const d = stackEntry('mppart0p1', 'partition');
      const sl = stackLun(s.over);
      const dl = stackLun(stackEntry(d.over, 'multipath').over);
      const before = file(dl);
      const r = await copy({ src: s.dev, dst: d.dev, srcOffset: MiB, dstOffset: 3 * MiB, length: 8 * MiB });
      assert.equal(r.hostBytes, 0n, `offloaded (${r.method})`);
      assertLanded(dl, before, d.startBytes + 3 * MiB, file(sl).subarray(s.startBytes + MiB, s.startBytes + 9 * MiB));
    });

    it('LV → LV over multipath maps across both LVs\' segment boundaries', async () => {
      const s = stackEntry('lvseg', 'lvm');
      const d = stackEntry('lvdst', 'lvm');
      const sl = stackLun(stackEntry('mppv0', 'multipath').over);
      const dl = stackLun(stackEntry('mppv1', 'multipath').over);
      const before = file(dl);
      // 10 MiB from 6 MiB: crosses lvseg's boundary at 12 MiB and lvdst's at 8 MiB (dst from 2 MiB)
      const r = await copy({ src: s.dev, dst: d.dev, srcOffset: 6 * MiB, dstOffset: 2 * MiB, length: 10 * MiB });
      assert.equal(r.hostBytes, 0n, `offloaded (${r.method})`);
      const src = file(sl);
      const at = (lv: typeof s, off: number, len: number, buf: Buffer): Buffer => {
        const parts: Buffer[] = [];
        let o = off;
        let left = len;
        let base = 0;
        for (const seg of lv.segments) {
          if (o < base + seg.bytes && left > 0) {
            const n = Math.min(left, base + seg.bytes - o);
            parts.push(buf.subarray(seg.startBytes + o - base, seg.startBytes + o - base + n));
            o += n;
            left -= n;
          }
          base += seg.bytes;
        }
        return Buffer.concat(parts);
      };
      const want = at(s, 6 * MiB, 10 * MiB, src);
      assert.equal(want.length, 10 * MiB);
      const after = file(dl);
      assert.ok(at(d, 2 * MiB, 10 * MiB, after).equals(want), 'the LV range holds the source LV\'s bytes');
      // outside lvdst's copied range, the PV is as it was
      const seg0 = d.segments[0]!;
      const seg1 = d.segments[1]!;
      const untouched = (x: Buffer) => Buffer.concat([x.subarray(0, seg0.startBytes + 2 * MiB), x.subarray(seg0.startBytes + seg0.bytes, seg1.startBytes), x.subarray(seg1.startBytes + 4 * MiB)]);
      assert.ok(untouched(after).equals(untouched(before)), 'nothing else on the destination PV changed');
    });

    it('refuses dm-crypt by name and a mounted LV, one line each, nothing written', async () => {
      const c = stackEntry('crypt0', 'crypt');
      const cl = stackLun(stackEntry(c.over, 'partition').over);
      const beforeC = file(cl);
      const cr = odxcp('copy', '/dev/mapper/mpfio0', c.dev, '--length', '1M');
      assert.equal(cr.status, 15, cr.stderr);
      assert.match(cr.stderr, /^odxcp: \/dev\/mapper\/labcrypt: .*dm-crypt: data is encrypted above the LUN[^\n]*\n$/);
      assert.ok(file(cl).equals(beforeC));

      const lv = stackEntry('lvmnt', 'lvm');
      shell(`mkfs.ext4 -q -F ${lv.dev} && mkdir -p /mnt/san-lvmnt && mount ${lv.dev} /mnt/san-lvmnt`);
      const pv = stackLun(stackEntry('mppv1', 'multipath').over);
      // the mounted file system writes its own LV (superblock, lazy init): compare the rest
      const seg = lv.segments[0]!;
      const outside = (b: Buffer) => Buffer.concat([b.subarray(0, seg.startBytes), b.subarray(seg.startBytes + seg.bytes)]);
      const beforePv = outside(file(pv));
      await assert.rejects(copy({ src: '/dev/mapper/mpfio0', dst: lv.dev, length: MiB }), (e: unknown) => {
        assert.ok(e instanceof DeviceError && e.code === 'MOUNTED', String(e));
        assert.match(e.message, /mounted on \/mnt\/san-lvmnt/);
        return true;
      });
      const m = odxcp('copy', '/dev/mapper/mpfio0', lv.dev, '--length', '1M');
      assert.equal(m.status, 15, m.stderr);
      assert.equal(m.stderr.split('\n').length, 2, m.stderr);
      assert.ok(outside(file(pv)).equals(beforePv), 'nothing outside the mounted LV changed');
    });

    // The odx maps take 256 MiB in 8 MiB tokens; the LIO fileio maps are 64 MiB: 48 MiB there in 2 MiB commands.
    for (const [method, a, b, mib, at, unit] of [
      ['odx', 'mpodx0', 'mpodx1', 256, 64, 8],
      ['xcopy', 'mpfio0', 'mpfio1', 48, 16, 2],
    ] as const) {
      it(`${method === 'xcopy' ? 'EXTENDED COPY' : 'token copy'}: ${mib} MiB between maps with the active path failed mid-way: switches to the other path and completes, dst == src, the switch in the account, later commands on the other path's sg`, async () => {
        const s = stackEntry(a, 'multipath');
        const d = stackEntry(b, 'multipath');
        const sl = stackLun(s.over);
        const dl = stackLun(d.over);
        const LEN = mib * MiB;
        const OFF = (method === 'odx' ? 16 : 8) * MiB;
        writeBacking(sl, OFF, pattern(LEN, method === 'odx' ? 29 : 31));
        const before = file(dl);
        const trace = CommandTrace.ofAddresses([...s.paths, ...d.paths].map((p) => p.address));
        let atFail = -1;
        let failed = false;
        let r: Awaited<ReturnType<typeof copy>> | undefined;
        try {
          r = await copy({
            src: s.dev,
            dst: d.dev,
            srcOffset: OFF,
            dstOffset: OFF,
            length: LEN,
            mode: method,
            tokenSize: unit * MiB,
            xcopySize: unit * MiB,
            maxInFlight: 1,
            progressIntervalMs: 0,
            onProgress: (p) => {
              // Synchronously, from the progress callback: the copy cannot finish meanwhile.
              if (!failed && p.bytesDone >= BigInt(at * MiB)) {
                failed = true;
                atFail = trace.read().length;
                shell(d.paths[0]!.fail);
              }
            },
          });
        } finally {
          if (failed) shell(d.paths[0]!.restore);
        }
        const cmds = trace.stop();
        assert.ok(failed, 'portal 1 was failed during the copy');
        assert.equal(r.bytes, BigInt(LEN));
        assertLanded(dl, before, OFF, file(sl).subarray(OFF, OFF + LEN));
        console.log(`      ${method}: ${r.bytes} bytes (offloaded ${r.offloadedBytes}, host ${r.hostBytes}) in ${r.elapsedMs} ms; switches ${JSON.stringify(r.pathSwitches, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
        const sw = r.pathSwitches.find((x) => x.side === 'dst');
        assert.ok(sw, `the account records the destination's switch: ${JSON.stringify(r.pathSwitches, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
        assert.equal(sw.from, d.paths[0]!.sg);
        assert.equal(sw.to, d.paths[1]!.sg);
        assert.ok(sw.atOffset >= BigInt(at * MiB) && sw.atOffset < BigInt(LEN), `switched at +${sw.atOffset}`);
        for (const x of r.pathSwitches) if (x.side === 'src') assert.deepEqual([x.from, x.to], [s.paths[0]!.sg, s.paths[1]!.sg]);
        // The kernel's record: after the failure every copy command went to portal 2's paths.
        const after = cmds.slice(atFail).filter((c) => c.cdb[0] === 0x83 || c.cdb[0] === 0x84);
        const p1 = new Set([s.paths[0]!.address, d.paths[0]!.address]);
        assert.ok(after.length > 0, 'copy commands after the failure');
        assert.deepEqual(after.filter((c) => p1.has(c.address)), [], 'nothing on the failed path after the failure');
        assert.ok(after.some((c) => c.address === d.paths[1]!.address || c.address === s.paths[1]!.address), "commands on portal 2's paths");
        if (method === 'odx') assert.ok(after.some((c) => c.address === d.paths[1]!.address && c.cdb[0] === 0x83 && (c.cdb[1]! & 0x1f) === 0x11), "WRITE USING TOKEN on the destination's other path");
        assert.equal(sdState(d.paths[0]!.sd), 'running', 'the path is back');
      });
    }

    it('256 MiB between maps with every path failed mid-way: stops with an exact account and a one-line error; the reported extents hold the source\'s bytes', async () => {
      const s = stackEntry('mpodx0', 'multipath');
      const d = stackEntry('mpodx1', 'multipath');
      const sl = stackLun(s.over);
      const dl = stackLun(d.over);
      const LEN = 256 * MiB;
      writeBacking(sl, 16 * MiB, pattern(LEN, 23));
      const before = file(dl);
      // Failed synchronously from the progress callback: the copy cannot finish meanwhile.
      const failAll = async () => {
        shell(`${d.paths[0]!.fail} && ${d.paths[1]!.fail}`);
      };
      let failing: Promise<void> | undefined;
      let err: unknown;
      try {
        await copy({
          src: s.dev,
          dst: d.dev,
          srcOffset: 16 * MiB,
          dstOffset: 16 * MiB,
          length: LEN,
          tokenSize: 8 * MiB,
          maxInFlight: 1,
          progressIntervalMs: 0,
          onProgress: (p) => {
            if (!failing && p.bytesDone >= 64n * BigInt(MiB)) failing = failAll();
          },
        });
      } catch (e) {
        err = e;
      } finally {
        await failing?.catch(() => undefined);
        for (const p of d.paths) shell(p.restore);
      }
      assert.ok(failing, 'the paths were failed during the copy');
      assert.ok(err instanceof CopyError, `the copy stopped: ${String(err)}`);
      assert.ok(!err.message.includes('\n'), 'one line');
      const r = err.result;
      assert.ok(r.bytes > 0n && r.bytes < BigInt(LEN), `part of the copy is accounted for (${r.bytes})`);
      const after = file(dl);
      const src = file(sl);
      let covered = 0n;
      for (const e of r.extents) {
        const o = 16 * MiB + Number(e.offset);
        assert.ok(after.subarray(o, o + Number(e.length)).equals(src.subarray(o, o + Number(e.length))), `extent ${e.offset}+${e.length} holds the source's bytes`);
        covered += e.length;
      }
      assert.equal(covered, r.bytes);
      assert.ok(after.subarray(0, 16 * MiB).equals(before.subarray(0, 16 * MiB)), 'nothing before the range changed');
      assert.ok(after.subarray(16 * MiB + LEN).equals(before.subarray(16 * MiB + LEN)), 'nothing after the range changed');
      // both paths are back
      for (const p of d.paths) assert.equal(sdState(p.sd), 'running');
    });

    it('odxcp info shows the chain of an LV, a partition on a map and a map (2 paths, 1 active/optimized)', () => {
      const lv = odxcp('info', '/dev/labvg/lvseg');
      assert.equal(lv.status, 0, lv.stderr);
      assert.match(lv.stdout, /chain: \/dev\/labvg\/lvseg → dm-\d+ labvg-lvseg \(LVM linear, 2 segments\) → \[?mppv0 \(dm-\d+, 2 paths[^)]*1 active\/optimized[^)]*\) → LUN naa\.[0-9a-f]+/);
      const part = odxcp('info', '/dev/mapper/mppart0p1');
      assert.equal(part.status, 0, part.stderr);
      assert.match(part.stdout, /chain: \/dev\/mapper\/mppart0p1 → .*\(partition at 1048576\) → mppart0 \(dm-\d+, 2 paths/);
      const mp = odxcp('info', '--json', '/dev/mapper/mpodx0');
      assert.equal(mp.status, 0, mp.stderr);
      const j = JSON.parse(mp.stdout);
      const m = stackEntry('mpodx0', 'multipath');
      assert.equal(j.stack.luns[0].paths.length, 2);
      assert.equal(j.stack.luns[0].chosen.sg, m.paths[0]!.sg, 'the active/optimized path is chosen');
    });
  });
});
