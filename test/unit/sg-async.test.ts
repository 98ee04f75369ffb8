// The sg driver's asynchronous interface (native/sg_async.cc) without a device: the handle of
// native.testing.adoptPeer writes its sg_io_hdrs into a socketpair whose other end this spec
// plays the driver on. It reads each header as the sg driver would get it from write() and
// writes back completed headers, in any order, as read() would return them. The lab spec
// (test/integration/sg-async.test.ts) runs the same path on real /dev/sgN nodes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadNative, type NativeExecuteRequest, type NativeHandle, type NativeSystemError } from '../../lib/native';

const native = loadNative();
const HDR = native.sgIoHdrSize;
const SG_DXFER_FROM_DEV = -3;
const nativeJs = path.resolve(__dirname, '..', '..', 'lib', 'native.js');

/** struct sg_io_hdr on x86_64 (include/scsi/sg.h): the fields this spec reads or writes. */
interface Hdr {
  raw: Buffer;
  interfaceId: number;
  direction: number;
  cmdLen: number;
  dxferLen: number;
  timeout: number;
  packId: number;
  usrPtr: bigint;
}
function parse(raw: Buffer): Hdr {
  return {
    raw,
    interfaceId: raw.readInt32LE(0),
    direction: raw.readInt32LE(4),
    cmdLen: raw[8]!,
    dxferLen: raw.readUInt32LE(12),
    timeout: raw.readUInt32LE(40),
    packId: raw.readInt32LE(48),
    usrPtr: raw.readBigUInt64LE(56),
  };
}

/** The driver's side: take one written header (blocks until the addon wrote one). */
function take(peer: number): Hdr {
  const b = Buffer.alloc(HDR + 8);
  const n = fs.readSync(peer, b, 0, b.length, null);
  assert.equal(n, HDR, 'one sg_io_hdr per write()');
  return parse(b.subarray(0, HDR));
}

/** Complete `h` as read() would: status, sense length written, resid, duration. */
function complete(peer: number, h: Hdr, o: { status?: number; senseLen?: number; resid?: number; hostStatus?: number; packId?: number; usrPtr?: bigint } = {}): void {
  const b = Buffer.from(h.raw);
  b[64] = o.status ?? 0;
  b[67] = o.senseLen ?? 0;
  b.writeUInt16LE(o.hostStatus ?? 0, 68);
  b.writeInt32LE(o.resid ?? 0, 72);
  b.writeUInt32LE(7, 76);
  if (o.packId !== undefined) b.writeInt32LE(o.packId, 48);
  if (o.usrPtr !== undefined) b.writeBigUInt64LE(o.usrPtr, 56);
  assert.equal(fs.writeSync(peer, b), HDR);
}

const req = (i: number): NativeExecuteRequest => ({ cdb: Buffer.alloc(16, i), direction: 'from-device', data: Buffer.alloc(512), timeoutMs: 1000 + i });
const linkOf = (fd: number) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
};

describe('sg asynchronous interface (a socketpair plays the sg driver)', () => {
  let handle: NativeHandle;
  let peer: number;
  beforeEach(() => ({ handle, peer } = native.testing.adoptPeer()));
  afterEach(async () => {
    if (handle.state === 'open') await native.close(handle);
    fs.closeSync(peer);
  });

  it('16 written, the rest in the FIFO, no thread involved; completions in any order settle the command they name', async () => {
    const threads = native.threadStats().inFlight;
    const results = Array.from({ length: 40 }, (_, i) => native.execute(handle, req(i)));
    assert.deepEqual([handle.inFlight, handle.queued], [16, 24]);
    assert.equal(native.threadStats().inFlight, threads, 'nothing went to the addon\'s threads');
    const seen: Hdr[] = [];
    while (seen.length < 40) {
      // Every answered command has been read back, so what is in flight is written, untaken.
      const batch = Array.from({ length: handle.inFlight }, () => take(peer));
      assert.ok(batch.length > 0, 'commands in flight');
      seen.push(...batch);
      // Reverse order; resid carries the request's own number (from its timeout) back.
      for (const h of batch.reverse()) complete(peer, h, { resid: h.timeout - 1000 });
      const settledAll = () => 40 - handle.queued - handle.inFlight === seen.length;
      for (let i = 0; i < 500 && !settledAll(); i++) await new Promise((r) => setTimeout(r, 2));
      assert.ok(settledAll(), 'the answered commands were read');
    }
    const got = await Promise.all(results);
    got.forEach((r, i) => assert.equal(r.resid, i, `command ${i} got its own completion`));
    for (const h of seen) {
      assert.equal(h.interfaceId, 'S'.charCodeAt(0));
      assert.equal(h.direction, SG_DXFER_FROM_DEV);
      assert.deepEqual([h.cmdLen, h.dxferLen], [16, 512]);
      assert.ok(h.packId >= 0 && h.packId < 16, `pack_id ${h.packId} is a slot`);
      assert.notEqual(h.usrPtr, 0n);
    }
    assert.equal(new Set(seen.slice(0, 16).map((h) => h.packId)).size, 16, 'the first 16 in distinct slots');
    assert.deepEqual([handle.inFlight, handle.queued], [0, 0]);
  });

  it('lean results: one shared empty sense Buffer when none was written, the sense bytes when some were', async () => {
    const a = native.execute(handle, req(1));
    const b = native.execute(handle, req(2));
    const c = native.execute(handle, req(3));
    const [ha, hb, hc] = [take(peer), take(peer), take(peer)];
    complete(peer, ha);
    complete(peer, hb);
    complete(peer, hc, { status: 2, senseLen: 18 });
    const [ra, rb, rc] = await Promise.all([a, b, c]);
    assert.equal(ra.sense.length, 0);
    assert.equal(ra.sense, rb.sense, 'the same empty Buffer');
    assert.deepEqual(Object.keys(ra), ['status', 'hostStatus', 'driverStatus', 'sense', 'resid', 'durationMs', 'info']);
    assert.deepEqual(Object.keys(rc), Object.keys(ra), 'one shape');
    assert.equal(rc.status, 2);
    assert.equal(rc.sense.length, 18);
    assert.equal(ra.durationMs, 7);
  });

  it('completions that arrive together settle in one callback, before the next turn of the loop', async () => {
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const turns: number[] = [];
    const results = Array.from({ length: 16 }, (_, i) => native.execute(handle, req(i)).then(() => turns.push(turn)));
    const hs = Array.from({ length: 16 }, () => take(peer));
    hs.forEach((h) => complete(peer, h));
    await Promise.all(results);
    ticking = false;
    assert.equal(new Set(turns).size, 1, `settled in turns ${[...new Set(turns)].join(',')}`);
  });

  it('a completion naming no outstanding command (wrong slot or tag) is ignored; the real one still settles its command', async () => {
    const p = native.execute(handle, req(5));
    const h = take(peer);
    let settled = false;
    void p.then(() => (settled = true));
    complete(peer, h, { packId: (h.packId + 1) % 16, resid: 99 });
    complete(peer, h, { usrPtr: h.usrPtr + 8n, resid: 98 });
    complete(peer, h, { packId: -1 });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false, 'no stray completion settled it');
    assert.equal(handle.inFlight, 1);
    complete(peer, h, { resid: 5 });
    assert.equal((await p).resid, 5);
  });

  it('close() with commands written and queued: the fd stays open until the last completion was read', async () => {
    const n = handle.fd;
    const target = linkOf(n);
    let settled = 0;
    const results = Array.from({ length: 20 }, (_, i) => native.execute(handle, req(i)).then((r) => (settled++, r.resid)));
    const closed = native.close(handle);
    let settledAtClose = -1;
    void closed.then(() => (settledAtClose = settled));
    assert.equal(handle.state, 'closing');
    await assert.rejects(native.execute(handle, req(0)), (e: NativeSystemError) => e.code === 'ECLOSED');
    for (let i = 0; i < 20; i++) {
      const h = take(peer); // the last 4 are written only as the first complete
      assert.equal(linkOf(n), target, 'still open while commands are outstanding');
      complete(peer, h, { resid: h.timeout - 1000 });
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(results), Array.from({ length: 20 }, (_, i) => i));
    await closed;
    assert.equal(settledAtClose, 20);
    assert.equal(handle.state, 'closed');
    assert.notEqual(linkOf(n), target);
  });

  it('a command the driver refuses at write() rejects with its errno and never counts as in flight', async () => {
    fs.closeSync(peer);
    peer = fs.openSync('/dev/null', 'r'); // for afterEach
    await assert.rejects(native.execute(handle, req(1)), (e: NativeSystemError) => {
      assert.equal(e.code, 'EPIPE');
      assert.equal(e.syscall, 'write sg_io_hdr');
      return true;
    });
    assert.deepEqual([handle.inFlight, handle.queued], [0, 0]);
  });
});

describe('sg asynchronous interface: teardown', () => {
  it('an idle handle does not keep the process alive; one with an unanswered command keeps it alive (the poll is active)', function () {
    this.timeout(60000);
    const idle = spawnSync(process.execPath, ['-e', `const b = require(${JSON.stringify(nativeJs)}).loadNative(); globalThis.h = b.testing.adoptPeer();`], { timeout: 20000 });
    assert.equal(idle.status, 0, `idle handle: exit ${idle.status} ${idle.stderr}`);
    const busy = spawnSync(
      process.execPath,
      ['-e', `const b = require(${JSON.stringify(nativeJs)}).loadNative(); const { handle } = b.testing.adoptPeer(); b.execute(handle, { cdb: Buffer.alloc(6), direction: 'none', timeoutMs: 1000 });`],
      { timeout: 3000 },
    );
    assert.equal(busy.signal, 'SIGTERM', 'a command in flight keeps the loop alive (the poll is active)');
    const answered = spawnSync(
      process.execPath,
      ['-e', `const fs = require('fs'); const b = require(${JSON.stringify(nativeJs)}).loadNative(); const { handle, peer } = b.testing.adoptPeer(); const p = b.execute(handle, { cdb: Buffer.alloc(6), direction: 'none', timeoutMs: 1000 }); const h = Buffer.alloc(b.sgIoHdrSize); fs.readSync(peer, h, 0, h.length, null); fs.writeSync(peer, h); p.then((r) => process.stdout.write('status ' + r.status));`],
      { timeout: 20000, encoding: 'utf8' },
    );
    assert.equal(answered.status, 0, `answered: exit ${answered.status} signal ${answered.signal}`);
    assert.equal(answered.stdout, 'status 0', 'once its command is answered the handle no longer holds the loop');
  });

  it('Workers terminated with commands written, queued and a close pending exit cleanly (async cleanup hook), the main thread is unaffected', function () {
    this.timeout(120000);
    const script = `
      const { Worker } = require('worker_threads');
      const nativeJs = ${JSON.stringify(nativeJs)};
      const code = \`
        const { parentPort, workerData } = require('worker_threads');
        const fs = require('fs');
        const b = require(workerData.nativeJs).loadNative();
        const hs = [b.testing.adoptPeer(), b.testing.adoptPeer(), b.testing.adoptPeer()];
        const data = Buffer.alloc(65536);
        for (let i = 0; i < 40; i++) for (const { handle } of hs.slice(0, 2)) b.execute(handle, { cdb: Buffer.alloc(16), direction: 'from-device', data, timeoutMs: 1000 }).catch(() => {});
        b.close(hs[1].handle).catch(() => {});
        // Answer a few of the first handle's commands so some completions are pending too.
        const hdr = Buffer.alloc(b.sgIoHdrSize);
        for (let i = 0; i < 4; i++) { fs.readSync(hs[0].peer, hdr, 0, hdr.length, null); fs.writeSync(hs[0].peer, hdr); }
        parentPort.postMessage([hs[0].handle.inFlight, hs[0].handle.queued, hs[1].handle.state]);
        setInterval(() => {}, 1000);
      \`;
      (async () => {
        for (let round = 0; round < 3; round++) {
          const ws = Array.from({ length: 3 }, () => new Worker(code, { eval: true, workerData: { nativeJs } }));
          const ms = await Promise.all(ws.map((w) => new Promise((r, j) => { w.once('message', r); w.once('error', j); })));
          for (const m of ms) if (m[0] !== 16 || m[1] !== 24 || m[2] !== 'closing') throw new Error('unexpected state ' + JSON.stringify(m));
          await Promise.all(ws.map((w) => w.terminate()));
        }
        const b = require(nativeJs).loadNative();
        const { handle, peer } = b.testing.adoptPeer();
        const p = b.execute(handle, { cdb: Buffer.alloc(6), direction: 'none', timeoutMs: 1000 });
        const fs = require('fs');
        const hdr = Buffer.alloc(b.sgIoHdrSize);
        fs.readSync(peer, hdr, 0, hdr.length, null);
        fs.writeSync(peer, hdr);
        await p;
        await b.close(handle);
        const fds = fs.readdirSync('/proc/self/fd').length;
        process.stdout.write('ok ' + fds + '\\n');
      })().catch((e) => { console.error(e); process.exit(3); });
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 100000 });
    assert.equal(r.status, 0, `child: status ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^ok \d+/);
  });
});
