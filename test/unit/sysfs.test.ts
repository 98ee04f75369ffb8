// sysfs/procfs logic of lib/device/sysfs.ts against a tree built in a temp dir (layout of
// reference 1.7), plus node classification on this machine's real nodes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectNode, scsiNodesOf, splitDev, usersOf, queueLimits, type Roots } from '../../lib/device/sysfs';
import { DeviceError } from '../../lib/errors';

function tree(): Roots {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-sysfs-'));
  const sys = path.join(root, 'sys');
  const proc = path.join(root, 'proc');
  const mk = (p: string, content?: string) => {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (content !== undefined) fs.writeFileSync(p, content);
    else fs.mkdirSync(p, { recursive: true });
  };
  const dev = path.join(sys, 'devices', 'platform', 'host0', 'target0:0:1', '0:0:1:3');
  mk(path.join(dev, 'scsi_generic', 'sg7'));
  mk(path.join(dev, 'block', 'sdq'));
  mk(path.join(sys, 'bus', 'scsi'));
  fs.symlinkSync(path.join(sys, 'bus', 'scsi'), path.join(dev, 'subsystem'));
  mk(path.join(sys, 'class', 'scsi_generic', 'sg7'));
  fs.symlinkSync(dev, path.join(sys, 'class', 'scsi_generic', 'sg7', 'device'));
  const blk = path.join(sys, 'block', 'sdq');
  mk(blk);
  fs.symlinkSync(dev, path.join(blk, 'device'));
  mk(path.join(blk, 'dev'), '65:0\n');
  mk(path.join(blk, 'sdq1', 'partition'), '1\n');
  mk(path.join(blk, 'sdq1', 'dev'), '65:1\n');
  mk(path.join(blk, 'sdq2', 'partition'), '2\n');
  mk(path.join(blk, 'sdq2', 'dev'), '65:2\n');
  mk(path.join(blk, 'sdq2', 'holders', 'dm-3'));
  mk(path.join(blk, 'queue', 'max_sectors_kb'), '1280\n');
  mk(path.join(blk, 'queue', 'max_hw_sectors_kb'), '32767\n');
  mk(path.join(blk, 'queue', 'max_segments'), '128\n');
  mk(path.join(blk, 'queue', 'logical_block_size'), '4096\n');
  mk(path.join(proc, 'self', 'mountinfo'), '22 27 0:21 / /proc rw - proc proc rw\n40 27 65:1 / /mnt/data rw - ext4 /dev/sdq1 rw\n');
  mk(path.join(proc, 'swaps'), 'Filename Type Size Used Priority\n');
  return { sys, proc, dev: '/dev' };
}

describe('sysfs mapping (reference 1.7)', () => {
  const roots = tree();

  it('maps sg -> sd and sd -> sg through the SCSI device directory', () => {
    const sg = scsiNodesOf({ given: '/dev/sg7', real: '/dev/sg7', kind: 'sg', major: 21, minor: 7, name: 'sg7' }, roots);
    assert.deepEqual(sg, { address: '0:0:1:3', sg: '/dev/sg7', sd: '/dev/sdq' });
    const sd = scsiNodesOf({ given: '/dev/sdq', real: '/dev/sdq', kind: 'block', major: 65, minor: 0, name: 'sdq' }, roots);
    assert.deepEqual(sd, { address: '0:0:1:3', sg: '/dev/sg7', sd: '/dev/sdq' });
  });

  it('reports mounts and holders of the disk and its partitions', () => {
    const why = usersOf('sdq', roots);
    assert.ok(why.includes('/dev/sdq1 is mounted on /mnt/data'), why.join('; '));
    assert.ok(why.includes('/dev/sdq2 is held by dm-3'), why.join('; '));
    assert.equal(why.length, 2);
  });

  it('reads the queue limits in bytes', () => {
    assert.deepEqual(queueLimits('sdq', roots), { maxSectorsBytes: 1280 * 1024, maxHwSectorsBytes: 32767 * 1024, maxSegments: 128, logicalBlockSize: 4096 });
  });

  it('splits a dev_t as glibc does, including large minors', () => {
    assert.deepEqual(splitDev(0x0811), { major: 8, minor: 0x11 });
    // major 259, minor 0x12345: minor low byte in bits 0-7, the rest from bit 20
    const dev = (0x45) | (259 << 8) | (0x123 << 20);
    assert.deepEqual(splitDev(dev), { major: 259, minor: 0x12345 });
  });
});

describe('node classification on this machine', () => {
  it('refuses a missing path, a regular file and a non-SCSI char device with one-line reasons', () => {
    const f = path.join(os.tmpdir(), `odxcp-regular-${process.pid}`);
    fs.writeFileSync(f, 'x');
    for (const [p, code] of [['/nonexistent/odxcp', 'ENOENT'], [f, 'NOT_SCSI'], ['/dev/null', 'NOT_SCSI']] as const) {
      assert.throws(() => inspectNode(p), (e: unknown) => e instanceof DeviceError && e.code === code && !e.message.includes('\n'));
    }
  });

  it('says a virtio/NVMe disk is not SCSI (it has a device link, on another bus)', function () {
    const disk = fs.readdirSync('/sys/block').find((n) => !/^(loop|zram|ram|sd|sr)/.test(n) && fs.existsSync(`/dev/${n}`));
    if (!disk) return this.skip();
    const node = inspectNode(`/dev/${disk}`);
    assert.equal(node.kind, 'block');
    assert.throws(() => scsiNodesOf(node), (e: unknown) => e instanceof DeviceError && e.code === 'NOT_SCSI' && /bus/.test(e.message));
  });
});
