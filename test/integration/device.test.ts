// The foundation against real kernel SCSI targets: identity, VPD and capacity as LIO,
// tcmu-runner and scsi_debug serve them (cross-checked with sg3_utils), READ/WRITE round
// trips against the backing files, the device layer's sysfs mapping and retry policy, and the
// native handle's draining close on a real sg node (the kernel's SCSI trace as witness).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ScsiDevice } from '../../lib/device/device';
import * as cmds from '../../lib/scsi/commands';
import { DeviceError } from '../../lib/errors';
import { loadNative, type NativeExecuteResult, type NativeHandle } from '../../lib/native';
import { backing, lun, pattern, tool, toolRaw, topology, type LabLun } from './lab';

const opened: ScsiDevice[] = [];
async function open(p: string, exclusive = false): Promise<ScsiDevice> {
  const d = await ScsiDevice.open(p, { exclusive });
  opened.push(d);
  return d;
}
after(() => Promise.all(opened.map((d) => d.close())));

/** The serial boot.sh gave the LUN (LIO and tcmu-runner derive the NAA-6 from it). */
const serialOf = (l: LabLun) => l.serial;

describe('lab topology', () => {
  it('has every LUN kind the issue names, each with existing device nodes', () => {
    const kinds = new Set(topology().luns.map((l) => l.kind));
    for (const k of ['lio-fileio', 'lio-iblock', 'tcmu-qcow', 'scsi-debug']) assert.ok(kinds.has(k as never), `no ${k} LUN`);
    for (const l of topology().luns) {
      assert.ok(fs.statSync(l.sg).isCharacterDevice(), `${l.name} sg`);
      assert.ok(fs.statSync(l.sd).isBlockDevice(), `${l.name} sd`);
    }
  });
});

describe('device layer on real LUNs', function () {
  for (const name of ['fio0', 'fio4k', 'iblk0', 'tcmu0', 'sdebug0', 'xnex0']) {
    describe(name, () => {
      it('maps sd <-> sg through sysfs, from either node', async () => {
        const l = lun(name);
        const a = await open(l.sg);
        const b = await open(l.sd);
        assert.equal(a.nodes.sd, l.sd);
        assert.equal(b.nodes.sg, l.sg);
        assert.equal(a.nodes.address, l.address);
        assert.equal(b.commandNode, l.sg, 'commands go through the sg node');
      });

      it('reads identity as sg_inq / sg_vpd print it', async () => {
        const l = lun(name);
        const d = await open(l.sg);
        const id = await d.identity();
        const inq = tool('sg_inq', [l.sg]);
        assert.match(inq, new RegExp(`Vendor identification: ${id.vendor}\\s*\\n`));
        assert.match(inq, new RegExp(`Product identification: ${id.product.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\n`));
        assert.equal(id.threePC, /3PC=1/.test(inq), '3PC bit');
        if (l.kind !== 'scsi-debug') {
          assert.equal(id.serial, serialOf(l));
          assert.ok(id.copyDesignator, 'an LU designator usable in a CSCD descriptor');
          assert.equal(id.copyDesignator!.designator.length, 16, 'LIO/tcmu serve a 16-byte NAA-6');
          assert.equal(id.copyDesignator!.designator[0] >> 4, 6);
        }
        // Every designator we decoded must stand in the page as sg_vpd fetches it (raw).
        const page = toolRaw('sg_vpd', ['-p', 'di', '-r', l.sg]);
        assert.ok(id.designators.length > 0 || l.kind === 'scsi-debug');
        for (const desc of id.designators) {
          assert.ok(page.includes(desc.designator), `designator ${desc.designator.toString('hex')} in sg_vpd's page`);
        }
      });

      it('reads capacity as sg_readcap prints it and as the topology says', async () => {
        const l = lun(name);
        const d = await open(l.sg);
        const cap = await d.capacity();
        assert.equal(cap.blockSize, l.blockSize);
        assert.equal(cap.bytes, BigInt(l.bytes));
        const rc = tool('sg_readcap', ['-l', l.sg]);
        assert.match(rc, new RegExp(`Last LBA=${cap.blocks - 1n} `));
        assert.match(rc, new RegExp(`Logical block length=${cap.blockSize} bytes`));
      });
    });
  }

  it('follows symlinks (as /dev/disk/by-id links are)', async () => {
    const l = lun('fio1');
    const link = path.join(os.tmpdir(), 'odxcp-by-id-fio1');
    fs.rmSync(link, { force: true });
    fs.symlinkSync(l.sd, link);
    const d = await open(link);
    assert.equal(d.nodes.sg, l.sg);
    assert.equal((await d.identity()).serial, serialOf(l));
  });

  it('holds the block node exclusively, so a second exclusive open is refused', async () => {
    const l = lun('fio2');
    const d = await open(l.sg, true);
    assert.ok(d.exclusive);
    await assert.rejects(ScsiDevice.open(l.sd, { exclusive: true }), (e: unknown) => e instanceof DeviceError && /in use|busy/i.test((e as Error).message));
    await d.close();
    const again = await ScsiDevice.open(l.sd, { exclusive: true });
    assert.ok(again.exclusive);
    await again.close(); // later specs use fio2 as a destination
  });

  it('runs many commands concurrently on one device, on the addon\'s own threads', async () => {
    const l = lun('fio0');
    const d = await open(l.sg);
    const bs = l.blockSize;
    const reads = Array.from({ length: 32 }, (_, i) => cmds.read16(d, { lba: i * 64, blocks: 64, blockSize: bs }));
    const bufs = await Promise.all(reads);
    bufs.forEach((b, i) => assert.ok(b.equals(backing(l, i * 64 * bs, 64 * bs)), `read ${i}`));
    assert.ok(loadNative().threadStats().threads >= 2, 'more than one addon thread served them');
  });
});

describe('READ(16) / WRITE(16) round trips against the backing files', () => {
  for (const name of ['fio1', 'fio4k', 'iblk0', 'tcmu0']) {
    it(`${name}: what WRITE(16) sends is what the backing file holds, and READ(16) returns it`, async () => {
      const l = lun(name);
      const d = await open(l.sg);
      const bs = l.blockSize;
      const lba = 37; // an odd, unaligned-looking LBA
      const data = pattern(8 * bs, lba + bs);
      const before = backing(l, (lba - 1) * bs, bs);
      const afterRange = backing(l, (lba + 8) * bs, bs);
      await cmds.write16(d, { lba, data, blockSize: bs });
      await cmds.synchronizeCache16(d);
      assert.ok(backing(l, lba * bs, 8 * bs).equals(data), 'backing file has the written bytes');
      assert.ok(backing(l, (lba - 1) * bs, bs).equals(before), 'block before untouched');
      assert.ok(backing(l, (lba + 8) * bs, bs).equals(afterRange), 'block after untouched');
      const back = await cmds.read16(d, { lba, blocks: 8, blockSize: bs });
      assert.ok(back.equals(data));
    });
  }

  it('device.data: READ/WRITE data goes through the block node (writes only on the exclusive hold), bytes right both ways', async () => {
    const l = lun('fio2');
    const bs = l.blockSize;
    const src = await open(l.sg);
    try {
      assert.equal(src.dataNode, l.sd, 'a source reads through its block node');
      const back = await cmds.read16(src.data, { lba: 100, blocks: 4, blockSize: bs });
      assert.ok(back.equals(backing(l, 100 * bs, 4 * bs)));
    } finally {
      await src.close();
    }
    const dst = await open(l.sg, true);
    try {
      assert.equal(dst.dataNode, l.sd);
      assert.equal(dst.data.path, l.sd);
      const data = pattern(4 * bs, 4242);
      const before = dst.stats.commands;
      await cmds.write16(dst.data, { lba: 200, data, blockSize: bs });
      assert.equal(dst.stats.commands, before + 1, 'counted with the device');
      assert.ok(backing(l, 200 * bs, 4 * bs).equals(data), 'written through the exclusive block node fd');
    } finally {
      await dst.close();
    }
    const viaSg = await ScsiDevice.open(l.sg, { dataNode: 'command' });
    try {
      assert.equal(viaSg.dataNode, l.sg, "dataNode: 'command' keeps data on the sg node");
    } finally {
      await viaSg.close();
    }
  });

  it('fio0: READ(16) returns what the backing file holds (data placed behind the target)', async () => {
    const l = lun('fio0');
    const d = await open(l.sg);
    const got = await cmds.read16(d, { lba: 1000, blocks: 16, blockSize: 512 });
    assert.ok(got.equals(backing(l, 1000 * 512, 16 * 512)));
  });

  it('sdebug0: a written pattern reads back', async () => {
    const l = lun('sdebug0');
    const d = await open(l.sg);
    const data = pattern(4 * 512, 99);
    await cmds.write16(d, { lba: 5, data, blockSize: 512 });
    assert.ok((await cmds.read16(d, { lba: 5, blocks: 4, blockSize: 512 })).equals(data));
  });

  it('WRITE SAME(16) writes one block pattern over a range', async () => {
    const l = lun('fio1');
    const d = await open(l.sg);
    const block = pattern(512, 7);
    await cmds.writeSame16(d, { lba: 4096, blocks: 16, block });
    for (let i = 0; i < 16; i++) assert.ok(backing(l, (4096 + i) * 512, 512).equals(block), `block ${i}`);
  });
});

/** One scsi_dispatch_cmd_start record: the LU's H:C:I:L, the opcode name, the LBA when the CDB has one. */
interface Dispatch {
  address: string;
  opcode: string;
  lba?: number;
}

/**
 * Record every command the SCSI midlayer dispatches to the given LUs (tracefs event
 * scsi:scsi_dispatch_cmd_start, filtered on host_no/channel/id/lun). The guest does not
 * mount tracefs; the lab kernel has it (CONFIG_EVENT_TRACING).
 */
function traceScsiDispatch(addresses: string[]): { stop(): Dispatch[] } {
  const t = '/sys/kernel/tracing';
  if (!fs.existsSync(`${t}/events`)) execFileSync('mount', ['-t', 'tracefs', 'nodev', t]);
  const ev = `${t}/events/scsi/scsi_dispatch_cmd_start`;
  const write = (f: string, v: string) => fs.writeFileSync(f, v);
  write(`${t}/tracing_on`, '0');
  write(`${t}/trace`, ''); // opened with O_TRUNC: clears the buffer
  const filter = addresses.map((a) => {
    const [h, c, i, l] = a.split(':');
    return `(host_no == ${h} && channel == ${c} && id == ${i} && lun == ${l})`;
  });
  write(`${ev}/filter`, filter.join(' || '));
  write(`${ev}/enable`, '1');
  write(`${t}/tracing_on`, '1');
  return {
    stop() {
      write(`${t}/tracing_on`, '0');
      write(`${ev}/enable`, '0');
      write(`${ev}/filter`, '0');
      const out: Dispatch[] = [];
      for (const line of fs.readFileSync(`${t}/trace`, 'utf8').split('\n')) {
        const m = /scsi_dispatch_cmd_start: host_no=(\d+) channel=(\d+) id=(\d+) lun=(\d+) .*cmnd=\((\S+) (?:lba=(\d+))?/.exec(line);
        if (m) out.push({ address: `${m[1]}:${m[2]}:${m[3]}:${m[4]}`, opcode: m[5], lba: m[6] === undefined ? undefined : Number(m[6]) });
      }
      return out;
    },
  };
}

describe('native handle on a real sg node', () => {
  it('close() with 40 READ(16)s queued and in flight: all complete with the first LUN\'s data; none reach the second LUN, opened meanwhile and then on the freed number (kernel trace)', async function () {
    const native = loadNative();
    const a = lun('fio0'); // random bytes (boot.sh)
    const b = lun('fio1');
    assert.notEqual(a.address, b.address);
    const bs = a.blockSize;
    const blocks = 64;
    const lbaOf = (i: number) => 8192 + i * blocks;
    const bufs = Array.from({ length: 40 }, () => Buffer.alloc(blocks * bs));
    const openedWhileDraining: number[] = [];
    const others: NativeHandle[] = [];
    let n = -1;
    let outcomes: Array<PromiseSettledResult<NativeExecuteResult>> = [];
    let late: unknown;
    let holder = '';
    // Raw execute has no retry policy: take a pending UNIT ATTENTION (power on, when this spec
    // runs first) through the device layer before the trace starts.
    const pre = await ScsiDevice.open(a.sg);
    try {
      await cmds.testUnitReady(pre);
    } finally {
      await pre.close();
    }
    const trace = traceScsiDispatch([a.address, b.address]);
    let dispatches: Dispatch[] | undefined;
    try {
      const { handle } = await native.open(a.sg, { write: true, exclusive: false });
      assert.equal(handle.kind, 'sg');
      n = handle.fd;
      const settled = Promise.allSettled(
        bufs.map((data, i) => native.execute(handle, { cdb: native.encoders.read16({ lba: lbaOf(i), blocks }).cdb, direction: 'from-device', data, timeoutMs: 60_000 })),
      );
      assert.deepEqual([handle.inFlight, handle.queued], [16, 24], 'the sg driver\'s 16 per fd; the rest wait in the handle');
      const closed = native.close(handle);
      assert.equal(handle.state, 'closing');
      // Open the second LUN again and again while the first handle drains.
      let drained = false;
      void closed.then(() => (drained = true));
      while (!drained && others.length < 64) {
        const h = (await native.open(b.sg, { write: true, exclusive: false })).handle;
        others.push(h);
        if (!drained) openedWhileDraining.push(h.fd);
      }
      outcomes = await settled;
      await closed;
      assert.equal(handle.state, 'closed');
      // Now the number is free: open the second LUN until it has it (unless something else of
      // this process took it first), then try the closed handle.
      const limit = others.length + 16;
      const linkOf = (fd: number): string | undefined => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return undefined;
        }
      };
      while (!others.some((h) => h.fd === n) && linkOf(n) === undefined && others.length < limit) {
        others.push((await native.open(b.sg, { write: true, exclusive: false })).handle);
      }
      holder = linkOf(n) ?? '(nothing)';
      if (others.some((h) => h.fd === n)) holder += ' (the second LUN\'s handle)';
      late = await native
        .execute(handle, { cdb: native.encoders.read16({ lba: 0, blocks: 1 }).cdb, direction: 'from-device', data: Buffer.alloc(bs), timeoutMs: 60_000 })
        .catch((e: { code?: string }) => e.code);
    } finally {
      dispatches = trace.stop();
      await Promise.all(others.map((h) => native.close(h)));
    }
    // The kernel's record first: what the midlayer dispatched to each LU.
    const onB = dispatches.filter((d) => d.address === b.address);
    assert.deepEqual(onB, [], 'nothing was dispatched to the second LUN');
    const reads = dispatches.filter((d) => d.address === a.address && d.opcode === 'READ_16');
    assert.deepEqual(
      reads.map((d) => d.lba).sort((x, y) => x! - y!),
      Array.from({ length: 40 }, (_, i) => lbaOf(i)),
      'the kernel dispatched exactly the 40 READ(16)s to the first LUN',
    );
    // Then the bytes, against the backing files.
    outcomes.forEach((o, i) => {
      assert.equal(o.status, 'fulfilled', `READ(16) ${i}: ${o.status === 'rejected' ? (o.reason as Error).message : ''}`);
      const r = (o as PromiseFulfilledResult<NativeExecuteResult>).value;
      assert.deepEqual([r.status, r.hostStatus, r.driverStatus, r.resid], [0, 0, 0, 0], `READ(16) ${i}`);
      assert.ok(bufs[i].equals(backing(a, lbaOf(i) * bs, blocks * bs)), `READ(16) ${i}: the first LUN's bytes`);
      assert.ok(!bufs[i].equals(backing(b, lbaOf(i) * bs, blocks * bs)), `READ(16) ${i}: not the second LUN's`);
    });
    // Then the numbers.
    assert.ok(openedWhileDraining.length > 0, 'the second LUN was opened while the first handle drained');
    assert.ok(!openedWhileDraining.includes(n), `a handle opened while the first drained got its number ${n}`);
    assert.ok(holder !== '(nothing)' && holder.split(' ')[0] !== fs.realpathSync(a.sg), `number ${n} was reused (${holder})`);
    assert.equal(late, 'ECLOSED', `the closed handle refused a command while ${holder} held its number`);
    this.test!.title += ` [fd ${n}; the second LUN opened ${openedWhileDraining.length}x while it drained (fds ${openedWhileDraining.join(',')}); then ${holder} took ${n}]`;
  });
});
