// The sg driver's asynchronous interface on real /dev/sgN nodes (native/sg_async.cc): the
// commands of an sg handle are write()s of sg_io_hdr to its O_NONBLOCK fd and read()s of their
// completions, with no thread of the addon involved. Witnesses: the kernel's fdinfo (flags),
// its trace of dispatched commands, the LUN's backing file, /proc/self/fd, and sg_inq.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadNative, type NativeExecuteRequest, type NativeHandle } from '../../lib/native';
import { backing, CommandTrace, lun, pattern, toolRaw, writeBacking } from './lab';

const native = loadNative();
const nativeJs = path.resolve(__dirname, '..', '..', 'lib', 'native.js');
const KiB = 1024;
const O_NONBLOCK = 0o4000;

function read16(lba: number, blocks: number, data: Buffer): NativeExecuteRequest {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x88;
  cdb.writeBigUInt64BE(BigInt(lba), 2);
  cdb.writeUInt32BE(blocks, 10);
  return { cdb, direction: 'from-device', data, timeoutMs: 30_000 };
}
function write16(lba: number, data: Buffer): NativeExecuteRequest {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x8a;
  cdb.writeBigUInt64BE(BigInt(lba), 2);
  cdb.writeUInt32BE(data.length / 512, 10);
  return { cdb, direction: 'to-device', data, timeoutMs: 30_000 };
}
/** The open flags of one of this process's fds, as the kernel reports them. */
function fdFlags(fd: number): number {
  const m = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(m, 'fdinfo has flags');
  return parseInt(m[1]!, 8);
}
const linkOf = (fd: number) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
};
const good = (r: { status: number; hostStatus: number; driverStatus: number; resid: number }) => r.status === 0 && r.hostStatus === 0 && r.driverStatus === 0 && r.resid === 0;

describe('sg asynchronous interface on real sg nodes', function () {
  this.timeout(120_000);
  let h: NativeHandle | undefined;
  // A fresh I_T nexus answers its first command with UNIT ATTENTION: take it here, so the
  // raw commands below (no retry policy at this level) see the LUNs ready.
  before(async () => {
    for (const name of ['fio0', 'fio2']) {
      const { handle } = await native.open(lun(name).sg, { write: true, exclusive: false });
      for (let i = 0; i < 3; i++) await native.execute(handle, { cdb: Buffer.alloc(6), direction: 'none', timeoutMs: 10_000 });
      await native.close(handle);
    }
  });
  afterEach(async () => {
    if (h && h.state === 'open') await native.close(h);
    h = undefined;
  });

  it('an sg handle is O_NONBLOCK and its commands never reach the addon\'s threads; a block handle keeps SG_IO on them', async () => {
    const sg = await native.open(lun('fio0').sg, { write: true, exclusive: false });
    h = sg.handle;
    assert.equal(h.sgAsync, true);
    assert.ok(fdFlags(h.fd) & O_NONBLOCK, 'the sg fd is O_NONBLOCK');
    const before = native.threadStats().inFlight;
    const bufs = Array.from({ length: 40 }, () => Buffer.alloc(4 * KiB));
    const all = bufs.map((b, i) => native.execute(h!, read16(i * 8, 8, b)));
    assert.deepEqual([h.inFlight, h.queued], [16, 24]);
    assert.equal(native.threadStats().inFlight, before, 'no command was handed to a thread');
    const rs = await Promise.all(all);
    assert.ok(rs.every(good));
    bufs.forEach((b, i) => assert.ok(b.equals(backing(lun('fio0'), i * 4 * KiB, 4 * KiB)), `READ ${i} holds the LUN's bytes`));
    // write() needs a descriptor open for writing: a read-only sg handle keeps SG_IO on a thread.
    const ro = await native.open(lun('fio0').sg, { write: false, exclusive: false });
    try {
      assert.equal(ro.handle.sgAsync, false);
      assert.equal(fdFlags(ro.handle.fd) & O_NONBLOCK, 0);
      const p = native.execute(ro.handle, read16(0, 1, Buffer.alloc(512)));
      assert.equal(native.threadStats().inFlight, before + 1, 'a read-only sg handle\'s command runs on a thread');
      assert.ok(good(await p));
    } finally {
      await native.close(ro.handle);
    }
    const blk = await native.open(lun('fio0').sd, { write: false, exclusive: false });
    try {
      assert.equal(blk.handle.sgAsync, false);
      assert.equal(fdFlags(blk.handle.fd) & O_NONBLOCK, 0, 'a block fd is not O_NONBLOCK');
      const p = native.execute(blk.handle, read16(0, 1, Buffer.alloc(512)));
      assert.equal(native.threadStats().inFlight, before + 1, 'a block node\'s command runs on a thread');
      assert.ok(good(await p));
    } finally {
      await native.close(blk.handle);
    }
  });

  it('INQUIRY through the async path returns what sg_inq reads', async () => {
    h = (await native.open(lun('fio0').sg, { write: true, exclusive: false })).handle;
    assert.equal(h.sgAsync, true);
    const cmd = native.encoders.inquiry({ allocationLength: 36 });
    const data = Buffer.alloc(36);
    const r = await native.execute(h, { cdb: cmd.cdb, direction: 'from-device', data, timeoutMs: 10_000 });
    assert.ok(good(r));
    const ref = toolRaw('sg_inq', ['-r', '-l', '36', lun('fio0').sg]);
    assert.ok(data.equals(ref.subarray(0, 36)), `INQUIRY ${data.toString('hex')} vs sg_inq ${ref.toString('hex')}`);
  });

  it('CHECK CONDITION: sense only when the target wrote some; GOOD results share one empty sense Buffer', async () => {
    const l = lun('fio0');
    h = (await native.open(l.sg, { write: true, exclusive: false })).handle;
    const [a, b] = await Promise.all([native.execute(h, read16(0, 1, Buffer.alloc(512))), native.execute(h, read16(1, 1, Buffer.alloc(512)))]);
    assert.equal(a.sense.length, 0);
    assert.equal(a.sense, b.sense);
    const bad = await native.execute(h, read16(l.bytes / l.blockSize, 1, Buffer.alloc(512)));
    assert.equal(bad.status, 2, 'CHECK CONDITION past the last LBA');
    assert.ok(bad.sense.length >= 8, `sense written (${bad.sense.length} bytes)`);
    const fixed = (bad.sense[0]! & 0x7f) < 0x72;
    assert.equal(fixed ? bad.sense[2]! & 0x0f : bad.sense[1]! & 0x0f, 5, 'ILLEGAL REQUEST');
    assert.equal(fixed ? bad.sense[12] : bad.sense[2], 0x21, 'LBA OUT OF RANGE');
  });

  it('many WRITEs in flight, close() right after submitting them: every one completes, the kernel dispatched each once, the backing file holds them, then the fd is closed', async () => {
    const l = lun('fio2');
    const base = l.bytes - 8 * 1024 * KiB; // the last 8 MiB, away from the other specs' ranges
    writeBacking(l, base, Buffer.alloc(8 * 1024 * KiB));
    const data = pattern(8 * 1024 * KiB, 0x5a5a);
    h = (await native.open(l.sg, { write: true, exclusive: false })).handle;
    const n = h.fd;
    const trace = CommandTrace.start(l);
    let seen;
    let rs;
    try {
      const piece = 64 * KiB;
      const all = Array.from({ length: data.length / piece }, (_, i) => native.execute(h!, write16((base + i * piece) / 512, data.subarray(i * piece, (i + 1) * piece))));
      assert.equal(h.inFlight, 16);
      const closed = native.close(h);
      assert.equal(h.state, 'closing');
      assert.ok(linkOf(n)?.startsWith('/dev/sg'), 'open while draining');
      rs = await Promise.all(all);
      await closed;
      assert.equal(h.state, 'closed');
      assert.notEqual(linkOf(n), `${l.sg}`);
    } finally {
      seen = trace.stop();
    }
    assert.deepEqual(rs.filter((r) => !good(r)), [], 'every WRITE GOOD');
    const writes = seen.filter((c) => c.cdb[0] === 0x8a).map((c) => Number(c.cdb.readBigUInt64BE(2)) * 512 - base);
    assert.deepEqual([...writes].sort((a, b) => a - b), Array.from({ length: 128 }, (_, i) => i * 64 * KiB), 'each WRITE dispatched exactly once, at its own LBA');
    assert.ok(backing(l, base, data.length).equals(data), 'the backing file holds every WRITE');
  });

  it('Workers terminated with commands in flight on sg nodes (and a close pending) tear down cleanly; their fds are closed; the node still works', function () {
    const l = lun('fio0');
    const script = `
      const { Worker } = require('worker_threads');
      const fs = require('fs');
      const nativeJs = ${JSON.stringify(nativeJs)};
      const dev = ${JSON.stringify(l.sg)};
      const code = \`
        const { parentPort, workerData } = require('worker_threads');
        const b = require(workerData.nativeJs).loadNative();
        (async () => {
          const a = (await b.open(workerData.dev, { write: true, exclusive: false })).handle;
          const c = (await b.open(workerData.dev, { write: true, exclusive: false })).handle;
          const req = (lba) => { const cdb = Buffer.alloc(16); cdb[0] = 0x88; cdb.writeUInt32BE(lba, 6); cdb.writeUInt32BE(2048, 10); return { cdb, direction: 'from-device', data: Buffer.alloc(1 << 20), timeoutMs: 30000 }; };
          for (let i = 0; i < 40; i++) { b.execute(a, req(i * 2048 % 100000)).catch(() => {}); b.execute(c, req(0)).catch(() => {}); }
          b.close(c).catch(() => {});
          parentPort.postMessage([a.inFlight, a.queued, c.state]);
          setInterval(() => {}, 1000);
        })();
      \`;
      const sgFds = () => fs.readdirSync('/proc/self/fd').filter((f) => { try { return fs.readlinkSync('/proc/self/fd/' + f) === dev; } catch { return false; } }).length;
      (async () => {
        for (let round = 0; round < 5; round++) {
          const ws = Array.from({ length: 2 }, () => new Worker(code, { eval: true, workerData: { nativeJs, dev } }));
          const ms = await Promise.all(ws.map((w) => new Promise((r, j) => { w.once('message', r); w.once('error', j); })));
          for (const m of ms) if (m[0] !== 16 || m[2] !== 'closing') throw new Error('unexpected state ' + JSON.stringify(m));
          await Promise.all(ws.map((w) => w.terminate()));
        }
        const left = sgFds();
        const b = require(nativeJs).loadNative();
        const { handle } = await b.open(dev, { write: false, exclusive: false });
        const cdb = Buffer.alloc(16); cdb[0] = 0x88; cdb.writeUInt32BE(1, 10);
        const r = await b.execute(handle, { cdb, direction: 'from-device', data: Buffer.alloc(512), timeoutMs: 10000 });
        await b.close(handle);
        process.stdout.write(JSON.stringify({ left, status: r.status }) + '\\n');
      })().catch((e) => { console.error(e); process.exit(3); });
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 100_000, env: process.env });
    assert.equal(r.status, 0, `child: status ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout.trim()), { left: 0, status: 0 }, 'no sg fd of a terminated Worker left open; the node answers');
  });
});
