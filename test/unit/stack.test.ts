// Device-stack resolution (lib/device/stack.ts) on sysfs trees shaped like the kernel's: two
// iSCSI LUNs behind dm-multipath with two paths each, kpartx partitions on a map, LVM volumes
// over them, a partition of a plain disk, and the layers odxcp refuses (dm-crypt, thin,
// striped, md, loop, NVMe).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chainLine, mergeExtents, multipathHolderOf, resolveStackAt, sliceExtents, usersOfTop, type Stack } from '../../lib/device/stack';
import { choosePath, type StackPath } from '../../lib/device/paths';
import { multipathPathStates } from '../../lib/device/dm';
import { encodeReportTargetPortGroups, refineWithRtpg } from '../../lib/device/alua';
import { decodeReportTargetPortGroups } from '../../lib/scsi/alua';
import { DeviceError } from '../../lib/errors';
import { FakeStack, target } from './helpers/fake-stack';
import { makeLoopPartition, makeTempDir, type TempPartition } from './helpers/host-nodes';
import { ScsiDevice } from '../../lib/device/device';

const NAA_A = '6001405aaaaaaaaaaaaaaaaaaaaaaaaa';
const NAA_B = '6001405bbbbbbbbbbbbbbbbbbbbbbbbb';
const NAA_F = '60014050ffffffffffffffffffffffff';
const NAA_G = '6001405999999999999999999999999a';
const GIB = 2097152; // sectors

/** REPORT TARGET PORT GROUPS data: [group, state, relative ports] per group. */
function rtpgData(groups: [number, number, number[]?][]): Buffer {
  const body = Buffer.concat(
    groups.map(([g, state, ports = [g]]) => {
      const d = Buffer.alloc(8 + 4 * ports.length);
      d[0] = state;
      d.writeUInt16BE(g, 2);
      d[7] = ports.length;
      ports.forEach((p, i) => d.writeUInt16BE(p, 8 + 4 * i + 2));
      return d;
    }),
  );
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
}

function build(): FakeStack {
  const f = new FakeStack();
  f.disk({ host: 2, session: 1, sd: 'sdb', devnum: '8:16', sg: 'sg2', sectors: GIB, naa: NAA_A, accessState: 'active/optimized' });
  f.disk({ host: 3, session: 2, sd: 'sdc', devnum: '8:32', sg: 'sg3', sectors: GIB, naa: NAA_A, accessState: 'active/non-optimized' });
  f.disk({ host: 2, session: 1, lun: 1, sd: 'sdd', devnum: '8:48', sg: 'sg4', sectors: GIB, naa: NAA_B, accessState: 'active/non-optimized' });
  f.disk({ host: 3, session: 2, lun: 1, sd: 'sde', devnum: '8:64', sg: 'sg5', sectors: GIB, naa: NAA_B, accessState: 'active/optimized' });
  f.dm('dm-0', '253:0', 'mpatha', `mpath-3${NAA_A}`, GIB, ['sdb', 'sdc'], [target(0, GIB, 'multipath', '0 0 1 1 service-time 0 2 1 8:16 1 8:32 1')]);
  f.dm('dm-1', '253:1', 'mpathb', `mpath-3${NAA_B}`, GIB, ['sdd', 'sde'], [target(0, GIB, 'multipath', '0 0 1 1 service-time 0 2 1 8:48 1 8:64 1')]);
  // kpartx partitions of mpatha: part1 at 1 MiB (100 MiB), part2 after it (512 MiB).
  f.dm('dm-2', '253:2', 'mpatha-part1', `part1-mpath-3${NAA_A}`, 204800, ['dm-0'], [target(0, 204800, 'linear', '253:0 2048')]);
  f.dm('dm-5', '253:5', 'mpatha-part2', `part2-mpath-3${NAA_A}`, 1048576, ['dm-0'], [target(0, 1048576, 'linear', '253:0 206848')]);
  // vg0/lv1: 4 MiB on mpathb, then 4 MiB on mpatha-part2 (two PVs).
  f.dm('dm-3', '253:3', 'vg0-lv1', 'LVM-abcdefabcdefabcdefabcdefabcdef01', 16384, ['dm-1', 'dm-5'], [target(0, 8192, 'linear', '253:1 2048'), target(8192, 8192, 'linear', '253:5 2048')]);
  // vg1/lv2: two segments on one PV, the second placed before the first.
  f.dm('dm-6', '253:6', 'vg1-lv2', 'LVM-abcdefabcdefabcdefabcdefabcdef02', 8192, ['dm-1'], [target(0, 4096, 'linear', '253:1 20480'), target(4096, 4096, 'linear', '253:1 10240')]);
  f.dm('dm-4', '253:4', 'secret', 'CRYPT-LUKS2-0123456789abcdef-secret', 65536, ['dm-1'], [target(0, 65536, 'crypt', 'aes-xts-plain64 :64:logon:cryptsetup:x 0 253:1 32768')]);
  f.dm('dm-7', '253:7', 'vg0-pool', 'LVM-pool', 8192, ['dm-1'], [target(0, 8192, 'thin-pool', '253:8 253:9 128 0')]);
  f.dm('dm-8', '253:8', 'vg0-striped', 'LVM-striped', 8192, ['dm-0', 'dm-1'], [target(0, 8192, 'striped', '2 128 253:0 0 253:1 0')]);
  f.dm('dm-9', '253:9', 'short', '', 8192, ['sdb'], [target(0, 8192, 'linear', `8:16 ${GIB - 100}`)]);
  f.disk({ host: 4, sd: 'sdf', devnum: '8:80', sg: 'sg6', sectors: 65536, naa: NAA_F });
  f.partition('sdf', 'sdf1', '8:81', 2048, 4096);
  f.other('md0', '9:0', 8192);
  f.other('loop0', '7:0', 8192);
  f.other('nvme0n1', '259:0', 8192, 'nvme');
  return f;
}

const MiB = 1n << 20n;

describe('device stack resolution (fixture sysfs trees)', () => {
  let f: FakeStack;
  const at = (devnum: string, given = `/dev/${devnum}`): Stack => {
    const [major, minor] = devnum.split(':').map(Number) as [number, number];
    return resolveStackAt(given, { kind: 'block', major, minor }, { roots: f.roots, dmTable: f.dmTable });
  };
  const refused = (devnum: string, code: string, text: RegExp): void => {
    assert.throws(
      () => at(devnum, '/dev/x'),
      (e: unknown) => {
        assert.ok(e instanceof DeviceError, String(e));
        assert.equal(e.code, code, e.message);
        assert.match(e.message, text);
        assert.ok(!e.message.includes('\n'));
        return true;
      },
    );
  };
  beforeEach(() => {
    f = build();
  });
  afterEach(() => f.remove());

  it('a plain SCSI disk is one whole LUN, commands through its sg node', () => {
    const s = at('8:80', '/dev/sdf');
    assert.equal(s.plain, true);
    assert.equal(s.top, '/dev/sdf');
    assert.equal(s.luns.length, 1);
    assert.equal(s.luns[0]?.id, `naa.${NAA_F}`);
    assert.equal(s.luns[0]?.chosen?.sg, '/dev/sg6');
    assert.equal(s.luns[0]?.chosen?.transport, 'scsi_debug');
    assert.deepEqual(s.extents, [{ offset: 0n, length: 32n * MiB, lun: 0, lunOffset: 0n }]);
    assert.equal(chainLine(s), `/dev/sdf → sdf → LUN naa.${NAA_F}`);
  });

  it('an sg node resolves through its disk', () => {
    const s = resolveStackAt('/dev/sg6', { kind: 'sg', major: 21, minor: 6 }, { roots: f.roots, dmTable: f.dmTable });
    assert.equal(s.topKind, 'sg');
    assert.equal(s.luns[0]?.id, `naa.${NAA_F}`);
    assert.equal(s.extents[0]?.length, 32n * MiB);
  });

  it('a partition maps to the LUN from its sysfs start', () => {
    const s = at('8:81', '/dev/sdf1');
    assert.equal(s.plain, false);
    assert.equal(s.top, '/dev/sdf1');
    assert.deepEqual(s.extents, [{ offset: 0n, length: 2n * MiB, lun: 0, lunOffset: MiB }]);
    assert.equal(chainLine(s), `/dev/sdf1 → sdf1 (partition at ${MiB}) → sdf → LUN naa.${NAA_F}`);
  });

  it('a multipath map is one LUN with every member as a path; the active/optimized one carries commands', () => {
    const s = at('253:0', '/dev/mapper/mpatha');
    assert.equal(s.top, '/dev/dm-0');
    assert.equal(s.luns.length, 1);
    const lun = s.luns[0]!;
    assert.equal(lun.id, `naa.${NAA_A}`);
    assert.deepEqual(lun.paths.map((p) => [p.sd, p.sg, p.address, p.transport, p.accessState]), [
      ['/dev/sdb', '/dev/sg2', '2:0:0:0', 'iscsi', 'active/optimized'],
      ['/dev/sdc', '/dev/sg3', '3:0:0:0', 'iscsi', 'active/non-optimized'],
    ]);
    assert.equal(lun.chosen?.sg, '/dev/sg2');
    assert.deepEqual(s.extents, [{ offset: 0n, length: 1024n * MiB, lun: 0, lunOffset: 0n }]);
    assert.equal(chainLine(s), `/dev/mapper/mpatha → mpatha (dm-0, 2 paths, 2 up, 1 active/optimized) → LUN naa.${NAA_A}`);
    // mpathb lists its optimized path second: the choice follows ALUA, not order.
    assert.equal(at('253:1').luns[0]?.chosen?.sd, '/dev/sde');
  });

  it('a path that is not running is never chosen; none up leaves no choice', () => {
    const sdb = path.join(f.dirs.get('sdb')!, 'device', 'state');
    fs.writeFileSync(sdb, 'transport-offline\n');
    assert.equal(at('253:0').luns[0]?.chosen?.sd, '/dev/sdc');
    fs.writeFileSync(path.join(f.dirs.get('sdc')!, 'device', 'state'), 'offline\n');
    assert.equal(at('253:0').luns[0]?.chosen, undefined);
  });

  it('a path the multipath map has failed is not chosen, though sysfs says running', () => {
    f.statuses.set('253:0', { name: 'mpatha', uuid: '', targets: [target(0, GIB, 'multipath', '2 0 0 0 1 1 A 0 2 2 8:16 F 1 0 0 8:32 A 0 0 0')] });
    const s = at('253:0', '/dev/mapper/mpatha');
    assert.deepEqual(s.luns[0]?.paths.map((p) => p.dmState), ['failed', 'active']);
    assert.equal(s.luns[0]?.chosen?.sd, '/dev/sdc');
    assert.match(chainLine(s), /mpatha \(dm-0, 2 paths, 1 up\) → LUN/, 'the optimized path is the failed one');
  });

  it('reads dm-multipath status lines, and nothing it cannot parse', () => {
    assert.deepEqual([...multipathPathStates('2 0 0 0 2 1 A 0 1 0 8:16 A 0 E 0 1 0 8:32 F 3')!], [
      ['8:16', 'active'],
      ['8:32', 'failed'],
    ]);
    assert.deepEqual([...multipathPathStates('2 1 0 1 alua 1 1 A 0 2 1 8:16 A 0 5 8:32 A 0 7')!].length, 2);
    for (const bad of ['', '0 0 1 1 service-time 0 2 1 8:16 1 8:32 1', '2 0 0 0 1 1 A 0 2 0 8:16 A 0', '2 0 0 0 1 1 A 0 1 0 8:16 X 0', '2 0 0 0 1 1 A 0 1 0 8:16 A 0 extra']) {
      assert.equal(multipathPathStates(bad), undefined, bad);
    }
  });

  it('without an ALUA handler in sysfs, one REPORT TARGET PORT GROUPS gives each path its group\'s state', async () => {
    f.disk({ host: 5, session: 3, sd: 'sdg', devnum: '8:96', sg: 'sg7', sectors: GIB, naa: NAA_G, tpg: 1 });
    f.disk({ host: 6, session: 4, sd: 'sdh', devnum: '8:112', sg: 'sg8', sectors: GIB, naa: NAA_G, tpg: 2 });
    f.dm('dm-11', '253:11', 'mpathg', `mpath-3${NAA_G}`, GIB, ['sdg', 'sdh'], [target(0, GIB, 'multipath', '')]);
    const s = at('253:11');
    const lun = s.luns[0]!;
    assert.deepEqual(lun.paths.map((p) => [p.targetPortGroup, p.accessState]), [[1, undefined], [2, undefined]]);
    assert.equal(lun.chosen?.sd, '/dev/sdg', 'by order while nothing is known');
    const asked: string[] = [];
    await refineWithRtpg(lun, async (sg) => {
      asked.push(sg);
      return decodeReportTargetPortGroups(rtpgData([[1, 0x1], [2, 0x0]]));
    });
    assert.deepEqual(asked, ['/dev/sg7'], 'one command, through a path that is up');
    assert.deepEqual(lun.paths.map((p) => [p.accessState, p.accessSource]), [['active/non-optimized', 'rtpg'], ['active/optimized', 'rtpg']]);
    assert.equal(lun.chosen?.sd, '/dev/sdh');
    // A target without ALUA refuses the command: the choice stays as it was.
    const again = at('253:11').luns[0]!;
    await refineWithRtpg(again, async () => {
      throw new Error('ILLEGAL REQUEST');
    });
    assert.equal(again.chosen?.sd, '/dev/sdg');
    // Paths the kernel's handler already reports are not asked about.
    let sent = 0;
    await refineWithRtpg(at('253:0').luns[0]!, async () => {
      sent++;
      return decodeReportTargetPortGroups(rtpgData([]));
    });
    assert.equal(sent, 0);
  });

  it('encodes REPORT TARGET PORT GROUPS (MAINTENANCE IN 0Ah, allocation length in bytes 6-9)', () => {
    const e = encodeReportTargetPortGroups();
    assert.equal(e.cdb.toString('hex'), 'a30a00000000000010000000');
    assert.equal(e.direction, 'from-device');
    assert.equal(e.allocationLength, 4096);
    assert.equal(encodeReportTargetPortGroups(64).cdb.readUInt32BE(6), 64);
  });

  it('decodes REPORT TARGET PORT GROUPS within its buffer', () => {
    const r = decodeReportTargetPortGroups(rtpgData([[1, 0x0, [1, 2]], [2, 0x2, [3]]]));
    assert.deepEqual(r.groups.map((g) => [g.group, g.stateName, g.relativePorts]), [[1, 'active/optimized', [1, 2]], [2, 'standby', [3]]]);
    assert.equal(r.truncated, false);
    const full = rtpgData([[1, 0x0, [1, 2]], [2, 0xe, [3]]]);
    const cut = decodeReportTargetPortGroups(full.subarray(0, full.length - 6));
    assert.equal(cut.truncated, true);
    assert.deepEqual(cut.groups.map((g) => g.group), [1]);
    assert.throws(() => decodeReportTargetPortGroups(Buffer.alloc(2)), /RETURN DATA LENGTH/);
  });

  it('path choice: optimized, then non-optimized, then no ALUA; never standby or unavailable', () => {
    const p = (sd: string, state: string, accessState?: string): StackPath => ({ sd, sg: sd.replace('sd', 'sg'), address: '0:0:0:0', state, accessState, transport: 'iscsi' });
    assert.equal(choosePath([p('sda', 'running', 'standby'), p('sdb', 'running', 'active/non-optimized'), p('sdc', 'running', 'active/optimized')])?.sd, 'sdc');
    assert.equal(choosePath([p('sda', 'running', 'unavailable'), p('sdb', 'running')])?.sd, 'sdb');
    assert.equal(choosePath([p('sda', 'running', 'standby'), p('sdb', 'blocked', 'active/optimized')]), undefined);
    assert.equal(choosePath([p('sda', 'running', 'active/optimized'), p('sdb', 'running', 'active/non-optimized')], ['sda'])?.sd, 'sdb');
    assert.equal(choosePath([{ ...p('sda', 'running', 'active/optimized'), sg: undefined }]), undefined);
  });

  it('a kpartx partition of a map is offset on the LUN and names the map below it', () => {
    const s = at('253:2', '/dev/mapper/mpatha-part1');
    assert.deepEqual(s.extents, [{ offset: 0n, length: 100n * MiB, lun: 0, lunOffset: MiB }]);
    assert.equal(s.luns[0]?.paths.length, 2);
    assert.equal(chainLine(s), `/dev/mapper/mpatha-part1 → mpatha-part1 (dm-2) (partition at ${MiB}) → mpatha (dm-0, 2 paths, 2 up, 1 active/optimized) → LUN naa.${NAA_A}`);
  });

  it('a 2-segment LV over two PVs maps each segment to its own LUN range (nested: LV on partition on multipath)', () => {
    const s = at('253:3', '/dev/vg0/lv1');
    assert.deepEqual(
      s.luns.map((l) => l.id),
      [`naa.${NAA_B}`, `naa.${NAA_A}`],
    );
    assert.deepEqual(s.extents, [
      { offset: 0n, length: 4n * MiB, lun: 0, lunOffset: MiB },
      { offset: 4n * MiB, length: 4n * MiB, lun: 1, lunOffset: (206848n + 2048n) * 512n },
    ]);
    assert.equal(s.bytes, 8n * MiB);
    assert.match(chainLine(s), /^\/dev\/vg0\/lv1 → dm-3 vg0-lv1 \(LVM linear, 2 segments\) → \[mpathb .* \| mpatha-part2 \(dm-5\) \(partition at \d+\) → mpatha .*\]$/);
  });

  it('segments out of order on one PV stay two extents, in device order', () => {
    const s = at('253:6');
    assert.equal(s.luns.length, 1);
    assert.deepEqual(s.extents, [
      { offset: 0n, length: 2n * MiB, lun: 0, lunOffset: 20480n * 512n },
      { offset: 2n * MiB, length: 2n * MiB, lun: 0, lunOffset: 10240n * 512n },
    ]);
  });

  it('refuses dm-crypt, thin, striped, md, loop and NVMe with one line naming the layer', () => {
    refused('253:4', 'UNSUPPORTED_LAYER', /^\/dev\/x: dm-4 \(secret\): dm-crypt: data is encrypted above the LUN; copy offload would copy ciphertext to a different key's volume$/);
    refused('253:7', 'UNSUPPORTED_LAYER', /dm-thin-pool/);
    refused('253:8', 'UNSUPPORTED_LAYER', /dm-striped/);
    refused('9:0', 'UNSUPPORTED_LAYER', /md0: md RAID/);
    refused('7:0', 'UNSUPPORTED_LAYER', /loop0: a loop device/);
    refused('259:0', 'UNSUPPORTED_LAYER', /nvme0n1: an NVMe namespace/);
  });

  it('refuses a table that reaches past its member, a map whose paths name two LUNs, a map with no table', () => {
    refused('253:9', 'BAD_TABLE', /dm-9 \(short\): a segment runs past the end of sdb/);
    f.dm('dm-10', '253:10', 'mixed', 'mpath-x', GIB, ['sdb', 'sdd'], [target(0, GIB, 'multipath', '')]);
    refused('253:10', 'MIXED_PATHS', /paths name different LUNs/);
    f.tables.delete('253:1');
    refused('253:1', 'ENXIO', /cannot read the device-mapper table of dm-1 \(mpathb\)/);
  });

  it('names what holds or mounts the top of a chain, and the map a path belongs to', () => {
    fs.mkdirSync(path.join(f.roots.proc, 'self'), { recursive: true });
    fs.writeFileSync(path.join(f.roots.proc, 'self', 'mountinfo'), '40 27 8:81 / /mnt/data rw - ext4 /dev/sdf1 rw\n');
    assert.deepEqual(usersOfTop('dm-0', f.roots), ['/dev/dm-0 is held by dm-2 (mpatha-part1)', '/dev/dm-0 is held by dm-5 (mpatha-part2)', '/dev/dm-0 is held by dm-8 (vg0-striped)']);
    assert.deepEqual(usersOfTop('sdf1', f.roots), ['/dev/sdf1 is mounted on /mnt/data']);
    assert.deepEqual(usersOfTop('sdf', f.roots), ['/dev/sdf1 is mounted on /mnt/data']);
    assert.deepEqual(usersOfTop('dm-3', f.roots), []);
    assert.equal(multipathHolderOf('sdc', f.roots), 'mpatha');
    assert.equal(multipathHolderOf('sdf', f.roots), undefined);
  });

  it('slices and merges extents', () => {
    const e = [
      { offset: 0n, length: 100n, lun: 0, lunOffset: 1000n },
      { offset: 100n, length: 100n, lun: 1, lunOffset: 0n },
    ];
    assert.deepEqual(sliceExtents(e, 50n, 100n), [
      { offset: 0n, length: 50n, lun: 0, lunOffset: 1050n },
      { offset: 50n, length: 50n, lun: 1, lunOffset: 0n },
    ]);
    assert.deepEqual(mergeExtents([e[0]!, { offset: 100n, length: 10n, lun: 0, lunOffset: 1100n }]), [{ offset: 0n, length: 110n, lun: 0, lunOffset: 1000n }]);
  });
});

describe('layered devices on this machine\'s real nodes', () => {
  let dir: string;
  let temp: TempPartition | undefined;
  before(() => {
    dir = makeTempDir('odxcp-stack-loop-');
    temp = makeLoopPartition(dir);
  });
  after(() => {
    temp?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a partition is refused where LUN offsets are expected; with layered the kernel\'s sysfs names the loop device under it', async function () {
    if (!temp) {
      this.test!.title += ' [pending: no loop device with a partition could be made (needs root, losetup, addpart)]';
      this.skip();
    }
    await assert.rejects(ScsiDevice.open(temp.node), (e: unknown) => {
      assert.ok(e instanceof DeviceError && e.code === 'PARTITION', String(e));
      assert.match(e.message, /this command addresses LUN blocks directly/);
      return true;
    });
    await assert.rejects(ScsiDevice.open(temp.node, { layered: true, exclusive: true }), (e: unknown) => {
      assert.ok(e instanceof DeviceError && e.code === 'UNSUPPORTED_LAYER', String(e));
      assert.match(e.message, /: loop\d+: a loop device: its bytes live in a file, not on a SCSI LUN$/);
      return true;
    });
  });
});
