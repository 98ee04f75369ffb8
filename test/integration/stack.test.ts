// Copies through the block stack the kernel builds, in the lab: GPT partitions made with
// sfdisk, a 2-segment dm-linear volume (an LVM-like uuid), a dm-multipath map over a LUN with
// a kpartx-like partition on it, all made with dmsetup (a test tool here; odxcp reads the
// tables itself through the dm ioctls). Four ODX handler LUNs of a runtime target of their own.
// Every copy is checked against the backing files: the destination's bytes where its extents
// say, nothing else changed. Refusals: dm-crypt and dm-zero by name, a mounted partition, a
// map held by a partition map; members held by dm are not a refusal.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { copy, clearPairCache } from '../../lib/engine';
import { DeviceError } from '../../lib/errors';
import { splitDev } from '../../lib/device/sysfs';
import { pattern, RuntimeOdxTarget, sleep, writeBacking, type LabLun } from './lab';

const MiB = 1024 * 1024;
const SECTOR = 512;
const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
const ENV = { ...process.env, DM_DISABLE_UDEV: '1' };

function sh(cmd: string, input?: string): string {
  return execFileSync('sh', ['-c', cmd], { encoding: 'utf8', env: ENV, input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
}
function odxcp(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const majmin = (dev: string) => {
  const d = splitDev(fs.statSync(dev).rdev);
  return `${d.major}:${d.minor}`;
};
async function waitFor(p: string): Promise<void> {
  for (let i = 0; i < 200 && !fs.existsSync(p); i++) await sleep(50);
  assert.ok(fs.existsSync(p), `${p} appeared`);
}
const file = (l: LabLun) => fs.readFileSync(l.file as string);

/** The destination's backing file equals `before` except [at, at + want.length), which holds `want`. */
function assertLanded(l: LabLun, before: Buffer, at: number, want: Buffer): void {
  const after = file(l);
  assert.ok(after.subarray(at, at + want.length).equals(want), 'the range holds the source bytes');
  assert.ok(after.subarray(0, at).equals(before.subarray(0, at)), 'nothing before the range changed');
  assert.ok(after.subarray(at + want.length).equals(before.subarray(at + want.length)), 'nothing after the range changed');
}

// GPT on A and B: partition 1 at 1 MiB, partition 2 at 18 MiB, 16 MiB each.
const P1 = 2048 * SECTOR;
const P2 = 36864 * SECTOR;
// first-lba given: sfdisk otherwise aligns the first partition to the LUN's optimal transfer size.
const GPT = 'label: gpt\nfirst-lba: 34\nstart=2048, size=32768\nstart=36864, size=32768\n';
// The volume on C: 4 MiB at LUN byte 40 MiB, then 4 MiB at 36 MiB (placed before it).
const SEG0 = 40 * MiB;
const SEG1 = 36 * MiB;

describe('copies through partitions, dm-linear volumes and multipath maps (lab)', function () {
  this.timeout(300000);
  let t: RuntimeOdxTarget | undefined;
  let A: LabLun, B: LabLun, C: LabLun, D: LabLun;
  const maps: string[] = [];
  let mounted: string | undefined;
  const dm = (name: string, uuid: string | undefined, table: string) => {
    sh(`dmsetup create ${name}${uuid ? ` --uuid ${uuid}` : ''}`, table);
    maps.push(name);
  };

  before(async () => {
    clearPairCache();
    sh('modprobe dm_mod && modprobe dm_multipath && modprobe dm_round_robin && modprobe dm_crypt && modprobe dm_zero');
    t = new RuntimeOdxTarget('naa.50014050000005a1', 'naa.50014050000005b1');
    A = await t.add('stka', { sizeMb: 64 });
    B = await t.add('stkb', { sizeMb: 64 });
    C = await t.add('stkc', { sizeMb: 64 });
    D = await t.add('stkd', { sizeMb: 64 });
    for (const [l, seed] of [[A, 3], [B, 5], [C, 7], [D, 11]] as const) writeBacking(l, 0, pattern(64 * MiB, seed));
    for (const l of [A, B]) {
      sh(`sfdisk -q ${l.sd}`, GPT);
      await waitFor(`${l.sd}1`);
      await waitFor(`${l.sd}2`);
    }
    const c = majmin(C.sd);
    dm('stklv', 'LVM-odxcpstacklabvg0000000000000000lv1', `0 8192 linear ${c} ${SEG0 / SECTOR}\n8192 8192 linear ${c} ${SEG1 / SECTOR}\n`);
    dm('stkmpath', 'mpath-odxcpstacklab', `0 ${(64 * MiB) / SECTOR} multipath 0 0 1 1 round-robin 0 1 1 ${majmin(D.sd)} 1\n`);
    for (const m of maps) await waitFor(`/dev/mapper/${m}`);
  });

  after(() => {
    if (mounted) spawnSync('umount', [mounted]);
    for (const m of maps.reverse()) spawnSync('dmsetup', ['remove', m], { env: ENV });
    t?.remove();
  });

  it('partition → partition, token copy: offsets translated by the partitions\' sysfs starts', async () => {
    const before = file(B);
    const r = await copy({ src: `${A.sd}1`, dst: `${B.sd}2`, srcOffset: MiB, dstOffset: 2 * MiB, length: 8 * MiB });
    assert.equal(r.method, 'odx');
    assert.equal(r.hostBytes, 0n);
    assert.equal(r.bytes, BigInt(8 * MiB));
    assertLanded(B, before, P2 + 2 * MiB, file(A).subarray(P1 + MiB, P1 + 9 * MiB));
  });

  it('partition → partition, EXTENDED COPY, and the range check is the partition\'s size', async () => {
    const before = file(A);
    const r = await copy({ src: `${B.sd}1`, dst: `${A.sd}2`, dstOffset: 4 * MiB, length: 12 * MiB, mode: 'xcopy', fallback: false });
    assert.equal(r.method, 'xcopy');
    assertLanded(A, before, P2 + 4 * MiB, file(B).subarray(P1, P1 + 12 * MiB));
    const unchanged = file(A);
    // 8 + 12 MiB is past the 16 MiB partition though well inside the LUN.
    await assert.rejects(copy({ src: `${B.sd}1`, dst: `${A.sd}2`, dstOffset: 8 * MiB, length: 12 * MiB }), /past the end of/);
    assert.ok(file(A).equals(unchanged));
  });

  it('2-segment volume → partition across the segment boundary (token copy), and partition → volume (EXTENDED COPY)', async () => {
    const beforeB = file(B);
    const r = await copy({ src: '/dev/mapper/stklv', dst: `${B.sd}1`, srcOffset: 2 * MiB, length: 4 * MiB, tokenSize: 4 * MiB });
    assert.equal(r.method, 'odx');
    assert.equal(r.hostBytes, 0n);
    const c = file(C);
    assertLanded(B, beforeB, P1, Buffer.concat([c.subarray(SEG0 + 2 * MiB, SEG0 + 4 * MiB), c.subarray(SEG1, SEG1 + 2 * MiB)]));
    assert.ok((r.commands['POPULATE TOKEN'] ?? 0) >= 2, 'one token per segment at least');

    const beforeC = file(C);
    const x = await copy({ src: `${A.sd}1`, dst: '/dev/mapper/stklv', length: 8 * MiB, mode: 'xcopy', fallback: false });
    assert.equal(x.method, 'xcopy');
    const a = file(A);
    const after = file(C);
    assert.ok(after.subarray(SEG0, SEG0 + 4 * MiB).equals(a.subarray(P1, P1 + 4 * MiB)), 'segment 0');
    assert.ok(after.subarray(SEG1, SEG1 + 4 * MiB).equals(a.subarray(P1 + 4 * MiB, P1 + 8 * MiB)), 'segment 1');
    // Outside the two segments, C is as it was.
    const outside = (b: Buffer) => Buffer.concat([b.subarray(0, SEG1), b.subarray(SEG1 + 4 * MiB, SEG0), b.subarray(SEG0 + 4 * MiB)]);
    assert.ok(outside(after).equals(outside(beforeC)), 'nothing outside the volume changed');
  });

  it('a multipath map and a partition map on it: copies land on the LUN through the path\'s sg node; the member held by dm is no refusal', async () => {
    let before = file(D);
    const r = await copy({ src: `${A.sd}2`, dst: '/dev/mapper/stkmpath', srcOffset: 0, dstOffset: 40 * MiB, length: 8 * MiB });
    assert.equal(r.method, 'odx');
    assertLanded(D, before, 40 * MiB, file(A).subarray(P2, P2 + 8 * MiB));
    // A kpartx-style partition map on the multipath map (from now on it holds the map).
    dm('stkmpath-part1', 'part1-mpath-odxcpstacklab', `0 32768 linear ${majmin('/dev/mapper/stkmpath')} 2048\n`);
    await waitFor('/dev/mapper/stkmpath-part1');
    before = file(D);
    const x = await copy({ src: '/dev/mapper/stklv', dst: '/dev/mapper/stkmpath-part1', dstOffset: MiB, length: 8 * MiB, mode: 'xcopy', fallback: false });
    assert.equal(x.method, 'xcopy');
    const c = file(C);
    assertLanded(D, before, 2048 * SECTOR + MiB, Buffer.concat([c.subarray(SEG0, SEG0 + 4 * MiB), c.subarray(SEG1, SEG1 + 4 * MiB)]));
  });

  it('a path the multipath map failed (dmsetup message fail_path) carries nothing: the map is refused until it is reinstated', async () => {
    const path0 = majmin(D.sd);
    const before = file(D);
    sh(`dmsetup message stkmpath 0 "fail_path ${path0}"`);
    try {
      await assert.rejects(copy({ src: `${A.sd}1`, dst: '/dev/mapper/stkmpath', length: MiB }), (e: unknown) => {
        assert.ok(e instanceof DeviceError && e.code === 'NO_PATH', String(e));
        assert.match(e.message, new RegExp(`^/dev/mapper/stkmpath: no path to LUN naa\\.[0-9a-f]+ can carry commands \\(${D.sd} running[^;]*, failed in the map\\)$`));
        return true;
      });
    } finally {
      sh(`dmsetup message stkmpath 0 "reinstate_path ${path0}"`);
    }
    assert.ok(file(D).equals(before));
    const r = odxcp('info', '--json', '/dev/mapper/stkmpath');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).stack.luns[0].paths[0].dmState, 'active');
  });

  it('odxcp info shows the chain of a volume, a partition, a multipath map (text and JSON)', () => {
    const lv = odxcp('info', '/dev/mapper/stklv');
    assert.equal(lv.status, 0, lv.stderr);
    assert.match(lv.stdout, /chain: \/dev\/mapper\/stklv → dm-\d+ stklv \(LVM linear, 2 segments\) → sd[a-z]+ → LUN naa\.[0-9a-f]+/);
    const part = odxcp('info', `${A.sd}1`);
    assert.equal(part.status, 0, part.stderr);
    assert.ok(part.stdout.includes(`chain: ${A.sd}1 → ${path.basename(A.sd)}1 (partition at ${P1}) → ${path.basename(A.sd)} → LUN naa.`), part.stdout);
    const mp = odxcp('info', '--json', '/dev/mapper/stkmpath-part1');
    assert.equal(mp.status, 0, mp.stderr);
    const j = JSON.parse(mp.stdout);
    assert.match(j.stack.chain, /stkmpath-part1 \(dm-\d+\) \(partition at 1048576\) → stkmpath \(dm-\d+, 1 path, 1 up.*\) → LUN naa\./);
    assert.equal(j.stack.luns[0].chosen.sg, D.sg);
    assert.equal(j.sg, D.sg);
    assert.equal(j.stack.bytes, 16 * MiB);
    assert.deepEqual(j.stack.extents, [{ offset: 0, length: 16 * MiB, lun: 0, lunOffset: MiB }]);
  });

  it('refuses the map under a partition map (held), a mounted partition, dm-crypt and dm-zero, one line each, nothing written', async () => {
    const beforeD = file(D);
    await assert.rejects(copy({ src: `${A.sd}1`, dst: '/dev/mapper/stkmpath', length: MiB }), (e: unknown) => {
      assert.ok(e instanceof DeviceError && e.code === 'MOUNTED', String(e));
      assert.match(e.message, /held by dm-\d+ \(stkmpath-part1\)/);
      return true;
    });
    assert.ok(file(D).equals(beforeD));

    // Read-only and without journal replay: the mounted file system itself writes nothing, so
    // any change to the backing file would be odxcp's.
    sh(`mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 ${B.sd}2 && sync && mkdir -p /mnt/stk && mount -o ro,noload ${B.sd}2 /mnt/stk`);
    mounted = '/mnt/stk';
    const beforeB = file(B);
    const m = odxcp('copy', `${A.sd}1`, `${B.sd}2`, '--length', '1M');
    assert.equal(m.status, 15, m.stderr);
    assert.match(m.stderr, new RegExp(`^odxcp: ${B.sd}2: refusing to write: ${B.sd}2 is mounted on /mnt/stk\\n$`));
    assert.ok(file(B).equals(beforeB));

    const c = majmin(C.sd);
    dm('stkcrypt', undefined, `0 8192 crypt aes-xts-plain64 ${'ab'.repeat(64)} 0 ${c} 100000\n`);
    dm('stkzero', undefined, '0 8192 zero\n');
    await waitFor('/dev/mapper/stkcrypt');
    const beforeC = file(C);
    const cr = odxcp('copy', `${A.sd}1`, '/dev/mapper/stkcrypt', '--length', '1M');
    assert.equal(cr.status, 15, cr.stderr);
    assert.match(cr.stderr, /^odxcp: \/dev\/mapper\/stkcrypt: dm-\d+ \(stkcrypt\): dm-crypt: data is encrypted above the LUN; copy offload would copy ciphertext to a different key's volume\n$/);
    assert.ok(file(C).equals(beforeC));
    const z = odxcp('info', '/dev/mapper/stkzero');
    assert.equal(z.status, 15);
    assert.match(z.stderr, /^odxcp: \/dev\/mapper\/stkzero: dm-\d+ \(stkzero\): dm-zero: no LUN holds these bytes\n$/);
  });
});
