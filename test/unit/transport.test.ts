// The native transport on a host without SCSI devices: every refusal path of open(), argument
// validation of execute(), SG_IO errno rejections, the addon's own threads (and that they are
// not libuv's), process exit, and loading in worker_threads. Handles on non-SCSI files come
// from the test-only native.testing.adopt (SG_IO on them fails with ENOTTY); the handle's own
// contract (draining close, queue bound) is in device-handle.test.ts. Real SCSI commands are
// exercised by the lab suite; nothing here needs a SCSI device.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadNative, NativeBinding, NativeHandle, NativeSystemError } from '../../lib/native';
import {
  findNonScsiBlockDevice,
  findPartition,
  makeLoopPartition,
  makeTempDir,
  mknod,
  runAsNobody,
  TempPartition,
} from './helpers/host-nodes';

const native: NativeBinding = loadNative();
const raw = native as unknown as Record<string, (...a: unknown[]) => unknown>;
// The compiled loader, for child processes and workers (they honour ODXCP_NATIVE too).
const nativeJs = path.resolve(__dirname, '..', '..', 'lib', 'native.js');
const BAD_FD = 2147483647; // a valid fd number no process has open
const RO = { write: false, exclusive: false };
/** A handle on /dev/null: SG_IO on it fails with ENOTTY whatever the request. */
const adoptNull = (kind: 'sg' | 'block' = 'sg'): NativeHandle => native.testing.adopt('/dev/null', { kind });

function pending(ctx: Mocha.Context, reason: string): never {
  ctx.test!.title += ` [pending: ${reason}]`;
  ctx.skip();
}

async function openError(p: string, options = RO): Promise<NativeSystemError> {
  try {
    const r = await native.open(p, options);
    await native.close(r.handle);
  } catch (e) {
    return e as NativeSystemError;
  }
  assert.fail(`open(${p}) resolved; expected a rejection`);
}

function assertSystemError(e: NativeSystemError, code: string, syscall: string, p?: string): void {
  assert.ok(e instanceof Error, 'an Error object');
  assert.equal(e.code, code, `code (message: ${e.message})`);
  assert.equal(e.syscall, syscall, `syscall (message: ${e.message})`);
  const errnoNumber = (os.constants.errno as Record<string, number>)[code];
  assert.equal(e.errno, errnoNumber ?? 0, 'errno: the number for a real errno, 0 for the addon codes');
  assert.ok(e.message.startsWith(`${code}: `), `message starts with the code: ${e.message}`);
  assert.ok(e.message.includes(syscall), `message names the syscall: ${e.message}`);
  if (p !== undefined) {
    assert.equal(e.path, p);
    assert.ok(e.message.includes(`'${p}'`), `message names the path: ${e.message}`);
  }
}

function workerTaskCount(): number {
  let n = 0;
  for (const t of fs.readdirSync('/proc/self/task')) {
    try {
      if (fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'odxcp-worker') n++;
    } catch {
      /* thread exited meanwhile */
    }
  }
  return n;
}

const cdb6 = () => Buffer.alloc(6);

describe('native transport: open() refusals', () => {
  let dir: string;
  before(() => {
    dir = makeTempDir('odxcp-transport-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('sgIoHdrSize is sizeof(struct sg_io_hdr): 88 on 64-bit Linux (ref 1.1)', function () {
    if (process.arch !== 'x64' && process.arch !== 'arm64') pending(this, `no reference size for ${process.arch}`);
    assert.equal(native.sgIoHdrSize, 88);
  });

  it('a missing path: ENOENT from open', async () => {
    const p = path.join(dir, 'no-such-node');
    assertSystemError(await openError(p), 'ENOENT', 'open', p);
  });

  it('a regular file: ENOTSCSI without opening it', async () => {
    const p = path.join(dir, 'plain-file');
    fs.writeFileSync(p, 'x');
    const e = await openError(p);
    assertSystemError(e, 'ENOTSCSI', 'stat', p);
    assert.match(e.message, /not a SCSI generic or SCSI disk node \(a regular file\)/);
  });

  it('a directory: ENOTSCSI', async () => {
    assertSystemError(await openError(dir), 'ENOTSCSI', 'stat', dir);
  });

  it('a FIFO: ENOTSCSI at once (open(2) of a FIFO would block forever)', async () => {
    const p = path.join(dir, 'fifo');
    const made = spawnSync('mkfifo', [p]);
    assert.equal(made.status, 0, 'mkfifo');
    assertSystemError(await openError(p), 'ENOTSCSI', 'stat', p);
  });

  it('/dev/null: ENOTSCSI (a character device that is not sg, major 21)', async () => {
    const e = await openError('/dev/null');
    assertSystemError(e, 'ENOTSCSI', 'fstat', '/dev/null');
    assert.match(e.message, /character device 1:3/);
  });

  it('a non-SCSI block device: ENOTSCSI from SG_GET_VERSION_NUM', async function () {
    const dev = findNonScsiBlockDevice();
    if (!dev) pending(this, 'this host has no openable non-SCSI block device in /sys/block');
    this.test!.title += ` (${dev})`;
    const e = await openError(dev);
    assertSystemError(e, 'ENOTSCSI', 'ioctl SG_GET_VERSION_NUM', dev);
  });

  it('O_EXCL reaches the kernel: EBUSY on a block device held exclusively', async function () {
    const dev = findNonScsiBlockDevice();
    if (!dev) pending(this, 'this host has no openable non-SCSI block device in /sys/block');
    const held = fs.openSync(dev, fs.constants.O_RDONLY | fs.constants.O_EXCL);
    try {
      assertSystemError(await openError(dev, { write: false, exclusive: true }), 'EBUSY', 'open', dev);
      // without O_EXCL the same node gets as far as the SG_IO probe
      assert.equal((await openError(dev)).code, 'ENOTSCSI');
    } finally {
      fs.closeSync(held);
    }
  });

  describe('partitions', () => {
    let temp: TempPartition | undefined;
    let node: string | undefined;
    before(() => {
      node = findPartition();
      if (!node) {
        temp = makeLoopPartition(dir);
        node = temp?.node;
      }
    });
    after(() => temp?.cleanup());

    it('a partition: EPARTITION naming the path and the whole disk', async function () {
      if (!node) pending(this, 'no partition on this host and no loop device with a partition could be made (needs root, losetup, addpart)');
      this.test!.title += ` (${node}${temp ? ', a temporary loop partition' : ''})`;
      const e = await openError(node);
      assertSystemError(e, 'EPARTITION', 'fstat', node);
      assert.match(e.message, /is a partition/);
      assert.match(e.message, /whole-disk node/);
    });
  });

  describe('nodes made with mknod', () => {
    let sgNode: string | undefined;
    before(() => {
      // An sg-major node with a minor no sg device uses: the kernel has no driver behind it.
      sgNode = mknod(path.join(dir, 'sg-nodriver'), 'c', 21, 250, 0o600);
    });

    it('an sg-major node with no device behind it: ENXIO/ENODEV from open', async function () {
      if (!sgNode) pending(this, 'mknod is not permitted here (needs root)');
      const e = await openError(sgNode);
      assert.ok(['ENXIO', 'ENODEV'].includes(e.code), `code ${e.code}`);
      assertSystemError(e, e.code, 'open', sgNode);
    });

    it('a root-only node opened by an unprivileged user: EACCES', function () {
      if (!sgNode) pending(this, 'mknod is not permitted here (needs root)');
      const script = `
        const { loadNative } = require(${JSON.stringify(nativeJs)});
        loadNative().open(${JSON.stringify(sgNode)}, { write: true, exclusive: false }).then(
          () => console.log(JSON.stringify({ resolved: true })),
          (e) => console.log(JSON.stringify({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, uid: process.getuid() })));`;
      const r = runAsNobody(script, process.env);
      if (!r) pending(this, 'cannot run a child as nobody (needs root and setpriv)');
      assert.equal(r.status, 0, `child failed: ${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.deepEqual(out, { code: 'EACCES', errno: os.constants.errno.EACCES, syscall: 'open', path: sgNode, uid: 65534 });
    });
  });

  it('argument validation throws synchronously', () => {
    assert.throws(() => raw.open(5, RO), (e: Error) => e instanceof TypeError && /^open: path must be a string/.test(e.message));
    assert.throws(() => raw.open('', RO), (e: Error) => e instanceof TypeError && /^open: path must not be empty/.test(e.message));
    assert.throws(() => raw.open('/dev/null\0x', RO), (e: Error) => e instanceof TypeError && /NUL/.test(e.message));
    assert.throws(() => raw.open('/dev/null'), (e: Error) => e instanceof TypeError && /^open: options must be an object/.test(e.message));
    assert.throws(() => raw.open('/dev/null', { write: 1, exclusive: false }), (e: Error) => e instanceof TypeError && /^open: options\.write must be a boolean/.test(e.message));
    assert.throws(() => raw.open('/dev/null', { write: false }), (e: Error) => e instanceof TypeError && /^open: options\.exclusive must be a boolean/.test(e.message));
  });
});

describe('native transport: execute() and close()', () => {
  const ok = { cdb: cdb6(), direction: 'none', timeoutMs: 1000 };

  it('argument validation throws TypeError/RangeError synchronously', async () => {
    const h = adoptNull();
    const cases: Array<[unknown[], typeof TypeError | typeof RangeError, RegExp]> = [
      [['3', ok], TypeError, /^execute: handle must be a device handle from open\(\) \(got a string\)/],
      [[3, ok], TypeError, /^execute: handle must be a device handle from open\(\) \(got 3\)/],
      [[-1, ok], TypeError, /^execute: handle must be a device handle/],
      [[{ fd: 3, kind: 'sg' }, ok], TypeError, /^execute: handle must be a device handle from open\(\) \(got an object\)/],
      [[undefined, ok], TypeError, /^execute: handle must be a device handle from open\(\) \(got undefined\)/],
      [[h, null], TypeError, /^execute: request must be an object/],
      [[h, { ...ok, cdb: [0, 0, 0, 0, 0, 0] }], TypeError, /^execute: request\.cdb must be a Buffer of 6\.\.252 bytes/],
      [[h, { ...ok, cdb: Buffer.alloc(5) }], RangeError, /request\.cdb must be a Buffer of 6\.\.252 bytes \(got 5 bytes\)/],
      [[h, { ...ok, cdb: Buffer.alloc(253) }], RangeError, /request\.cdb must be a Buffer of 6\.\.252 bytes \(got 253 bytes\)/],
      [[h, { ...ok, direction: 'both' }], RangeError, /^execute: request\.direction must be one of 'none' 'to-device' 'from-device'/],
      [[h, { ...ok, direction: -1 }], TypeError, /request\.direction must be one of/],
      [[h, { ...ok, data: Buffer.alloc(4) }], TypeError, /request\.data must be absent when request\.direction is 'none'/],
      [[h, { ...ok, direction: 'to-device' }], TypeError, /^execute: request\.data must be a Buffer/],
      [[h, { ...ok, direction: 'from-device', data: 'x' }], TypeError, /request\.data must be a Buffer/],
      [[h, { ...ok, timeoutMs: 0 }], RangeError, /^execute: request\.timeoutMs must be an integer in 1\.\.4294967295/],
      [[h, { ...ok, timeoutMs: 2 ** 32 }], RangeError, /request\.timeoutMs must be an integer in 1\.\.4294967295/],
      [[h, { ...ok, timeoutMs: 10.5 }], RangeError, /request\.timeoutMs/],
      [[h, { ...ok, timeoutMs: '1000' }], TypeError, /request\.timeoutMs/],
      [[h, { cdb: cdb6(), direction: 'none' }], TypeError, /request\.timeoutMs/],
    ];
    for (const [args, cls, re] of cases) {
      assert.throws(
        () => raw.execute(...args),
        (e: Error) => e instanceof cls && re.test(e.message),
        `execute(${JSON.stringify(args[1] ?? null, (_k, v) => (v?.type === 'Buffer' ? `Buffer(${v.data.length})` : v))})`,
      );
    }
    assert.equal(native.threadStats().inFlight, 0, 'nothing was queued by the refused calls');
    assert.deepEqual([h.inFlight, h.queued], [0, 0]);
    await native.close(h);
  });

  it('testing.adopt validates its arguments and reports open(2) errors like open()', () => {
    const adopt = native.testing.adopt as unknown as (...a: unknown[]) => unknown;
    assert.throws(() => adopt(5, { kind: 'sg' }), (e: Error) => e instanceof TypeError && /^testing\.adopt: path must be a string/.test(e.message));
    assert.throws(() => adopt('/dev/null'), (e: Error) => e instanceof TypeError && /^testing\.adopt: options must be an object/.test(e.message));
    assert.throws(() => adopt('/dev/null', { kind: 'nvme' }), (e: Error) => e instanceof RangeError && /kind must be one of 'sg' 'block'/.test(e.message));
    const p = path.join(os.tmpdir(), 'odxcp-no-such-file');
    assert.throws(() => adopt(p, { kind: 'sg' }), (e: NativeSystemError) => {
      assertSystemError(e, 'ENOENT', 'open', p);
      return true;
    });
  });

  it('SG_IO on non-SCSI descriptors (/dev/null, a FIFO, a regular file) rejects ENOTTY/EINVAL for every direction', async () => {
    const dir = makeTempDir('odxcp-nonscsi-');
    const fifo = path.join(dir, 'p');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    const handles = ['/dev/null', fifo, path.join(dir, 'f')].map((p) => native.testing.adopt(p, { kind: 'sg' }));
    try {
      const requests = [
        { cdb: cdb6(), direction: 'none' as const, timeoutMs: 1000 },
        { cdb: Buffer.from('120000002400', 'hex'), direction: 'from-device' as const, data: Buffer.alloc(36), timeoutMs: 1000 },
        { cdb: Buffer.alloc(16, 0x8a), direction: 'to-device' as const, data: Buffer.alloc(4096, 1), timeoutMs: 60000 },
        { cdb: Buffer.alloc(252), direction: 'from-device' as const, data: Buffer.alloc(0), timeoutMs: 0xffffffff },
      ];
      for (const h of handles) {
        for (const req of requests) {
          await assert.rejects(native.execute(h, req), (e: NativeSystemError) => {
            assert.ok(['ENOTTY', 'EINVAL'].includes(e.code), `${e.code}: ${e.message}`);
            assert.equal(e.syscall, 'ioctl SG_IO');
            assert.match(e.message, new RegExp(`\\(fd ${h.fd}\\)$`));
            return true;
          });
        }
      }
    } finally {
      await Promise.all(handles.map((h) => native.close(h)));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('native transport: addon-owned threads', () => {
  it('concurrent executes run on odxcp-worker threads the addon starts, counted by threadStats', async () => {
    const h = adoptNull('block'); // 32 at once: all 24 go to the threads
    try {
      const n = 24;
      const promises = Array.from({ length: n }, () => native.execute(h, { cdb: cdb6(), direction: 'none', timeoutMs: 1000 }));
      const during = native.threadStats();
      assert.equal(during.inFlight, n, 'every request counted in flight until its promise settles');
      assert.ok(during.threads >= 1 && during.threads <= 128, `threads ${during.threads}`);
      const results = await Promise.allSettled(promises);
      assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as NativeSystemError).code === 'ENOTTY'));
      const after = native.threadStats();
      assert.equal(after.inFlight, 0);
      assert.ok(after.threads >= 1, 'threads stay for reuse');
      // The addon's threads are real, named threads of this process (not libuv's "libuv-worker").
      assert.equal(workerTaskCount(), after.threads, 'threads named odxcp-worker in /proc/self/task');
      // A finished worker waits idle for the next command.
      await waitFor(() => native.threadStats().idle === native.threadStats().threads, 2000);
      assert.equal(workerTaskCount(), native.threadStats().threads);
    } finally {
      await native.close(h);
    }
  });

  it('keeps working while the libuv pool (UV_THREADPOOL_SIZE=1) is blocked', function () {
    const dir = makeTempDir('odxcp-uv-');
    const fifo = path.join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    // The child parks libuv's only pool thread in open(2) of a FIFO with no writer, queues an
    // fs.stat behind it, then runs addon work. Addon work must finish while fs.stat cannot.
    const script = `
      const fs = require('fs');
      const { loadNative } = require(${JSON.stringify(nativeJs)});
      const b = loadNative();
      const fifo = ${JSON.stringify(fifo)};
      const events = [];
      const release = () => fs.closeSync(fs.openSync(fifo, 'r+')); // satisfies the parked reader
      fs.open(fifo, 'r', (err, fd) => { events.push('fifo-open'); if (!err) fs.closeSync(fd); });
      fs.stat('/', () => { events.push('fs-stat'); console.log(JSON.stringify({ events, stats })); });
      const nullHandle = b.testing.adopt('/dev/null', { kind: 'sg' });
      let stats;
      const guard = setTimeout(() => { events.push('addon-timeout'); release(); }, 10000);
      Promise.allSettled([
        b.open(fifo + '-missing', { write: false, exclusive: false }),
        b.execute(nullHandle, { cdb: Buffer.alloc(6), direction: 'none', timeoutMs: 1000 }),
      ]).then((r) => {
        events.push('addon:' + r.map((x) => x.reason && x.reason.code).join(','));
        stats = b.threadStats();
        clearTimeout(guard);
        setTimeout(release, 100); // give a misbehaving fs.stat the chance to overtake
      });`;
    try {
      const r = spawnSync(process.execPath, ['-e', script], {
        env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
        encoding: 'utf8',
        timeout: 30000,
      });
      assert.equal(r.status, 0, `child failed: ${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.deepEqual(out.events, ['addon:ENOENT,ENOTTY', 'fifo-open', 'fs-stat']);
      assert.ok(out.stats.threads >= 1, 'the work ran on addon threads');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an idle addon does not keep the process alive; neither does a finished request', function () {
    const script = `
      const { loadNative } = require(${JSON.stringify(nativeJs)});
      const b = loadNative();
      const h = b.testing.adopt('/dev/null', { kind: 'sg' }); // never closed: exit must not wait for it
      b.execute(h, { cdb: Buffer.alloc(6), direction: 'none', timeoutMs: 1000 })
        .catch((e) => console.log('settled ' + e.code));`;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { env: process.env, encoding: 'utf8', timeout: 15000 });
    assert.equal(r.signal, null, 'the child exited by itself (not killed by the timeout)');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'settled ENOTTY');
    // idle workers linger 30 s, but must not hold the loop open
    assert.ok(Date.now() - started < 10000, `exit took ${Date.now() - started} ms`);
  });
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('native transport: worker_threads', () => {
  const workerCode = `
    const { parentPort, workerData } = require('worker_threads');
    const fs = require('fs');
    const { loadNative } = require(workerData.nativeJs);
    const b = loadNative();
    const pt = b.encoders.populateToken({ listId: 1, ranges: [{ lba: 0x10, blocks: 8 }] });
    const h = b.testing.adopt('/dev/null', { kind: 'sg' });
    Promise.allSettled([
      b.open(workerData.missing, { write: false, exclusive: false }),
      b.execute(h, { cdb: Buffer.alloc(6), direction: 'none', timeoutMs: 1000 }),
    ]).then(async (r) => {
      await b.close(h);
      parentPort.postMessage({
        cdb: pt.cdb.toString('hex'),
        data: pt.data.toString('hex'),
        open: [r[0].reason.code, r[0].reason.syscall, r[0].reason.path],
        execute: r[1].reason.code,
        stats: b.threadStats(),
      });
      if (workerData.linger) setInterval(() => {}, 1000); // stay alive until terminated
    });`;

  function runWorker(linger: boolean): {
    worker: Worker;
    message: Promise<Record<string, unknown>>;
    exited: Promise<number>;
  } {
    const worker = new Worker(workerCode, {
      eval: true,
      workerData: { nativeJs, missing: path.join(os.tmpdir(), 'odxcp-no-such-node'), linger },
    });
    // Listen for 'exit' from the start: node may deliver the last message and 'exit' in one tick.
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const message = new Promise<Record<string, unknown>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      void exited.then((code) => reject(new Error(`worker exited with ${code} before answering`)));
    });
    return { worker, message, exited };
  }

  it('loads in a Worker: encoders, open errors and its own thread pool', async () => {
    const before = native.threadStats();
    const { message, exited } = runWorker(false);
    const m = await message;
    // ref 5.8, hand-written: PT CDB with list id 1 and a 32-byte parameter list
    assert.equal(m.cdb, '83100000000000000001000000200000');
    // data length 30, flags 0, timeout 0, ROD type 0, list length 16, range LBA 0x10 x 8 blocks
    assert.equal(m.data, '001e0000000000000000000000000010' + '0000000000000010' + '00000008' + '00000000');
    assert.deepEqual(m.open, ['ENOENT', 'open', path.join(os.tmpdir(), 'odxcp-no-such-node')]);
    assert.equal(m.execute, 'ENOTTY');
    assert.equal((m.stats as { inFlight: number }).inFlight, 0);
    assert.ok((m.stats as { threads: number }).threads >= 1, 'the worker has its own pool');
    assert.equal(await exited, 0, 'the worker exits by itself');
    assert.deepEqual(native.threadStats().inFlight, before.inFlight, "the main thread's pool is separate");
  });

  it('several Workers at once, terminated while their pools hold threads (cleanup hook joins them)', async () => {
    const runs = Array.from({ length: 4 }, () => runWorker(true));
    const messages = await Promise.all(runs.map((r) => r.message));
    for (const m of messages) assert.equal(m.execute, 'ENOTTY');
    const codes = await Promise.all(runs.map((r) => r.worker.terminate()));
    assert.equal(codes.length, 4);
    // the main thread's addon still works afterwards
    const h = adoptNull();
    await assert.rejects(native.execute(h, { cdb: cdb6(), direction: 'none', timeoutMs: 1000 }), (e: NativeSystemError) => e.code === 'ENOTTY');
    await native.close(h);
    assert.equal(workerTaskCount(), native.threadStats().threads, 'no odxcp-worker thread of a terminated Worker survives');
  });
});

describe('native transport: teardown with requests in flight', () => {
  it('Workers terminated while their handles have commands queued, running or completing exit cleanly and close every fd', function () {
    // Completions that reach a Worker being terminated cannot build results (N-API calls fail
    // there); they must be dropped quietly, not abort the process. The Worker's handles are
    // finalized at teardown, after its threads are joined: each closes its fd (a busy one,
    // one closing, an idle one). Run in a child so an abort fails this test instead of killing mocha.
    this.timeout(120000);
    const dir = makeTempDir('odxcp-teardown-');
    const file = path.join(dir, 'adopted');
    fs.writeFileSync(file, 'x');
    const script = `
      const fs = require('fs');
      const { Worker } = require('worker_threads');
      const nativeJs = ${JSON.stringify(nativeJs)};
      const file = ${JSON.stringify(fs.realpathSync(file))};
      const code = \`
        const { parentPort, workerData } = require('worker_threads');
        const b = require(workerData.nativeJs).loadNative();
        const busy = b.testing.adopt(workerData.file, { kind: 'sg' });
        const closing = b.testing.adopt(workerData.file, { kind: 'block' });
        const idle = b.testing.adopt(workerData.file, { kind: 'sg' });
        const data = Buffer.alloc(65536);
        const req = { cdb: Buffer.alloc(16), direction: 'from-device', data, timeoutMs: 1000 };
        for (let i = 0; i < 400; i++) {
          b.execute(busy, req).catch(() => {});
          if (i < 100) b.execute(closing, req).catch(() => {});
          b.open('/nonexistent-odxcp-' + i, { write: false, exclusive: false }).catch(() => {});
        }
        b.close(closing).catch(() => {});
        parentPort.postMessage({ inFlight: b.threadStats().inFlight, queued: busy.queued + closing.queued, idle: idle.state });
      \`;
      const openOnFile = () => fs.readdirSync('/proc/self/fd').filter((n) => { try { return fs.readlinkSync('/proc/self/fd/' + n) === file; } catch { return false; } }).length;
      (async () => {
        let inFlight = 0, queued = 0, most = 0;
        for (let round = 0; round < 15; round++) {
          const ws = Array.from({ length: 3 }, () => new Worker(code, { eval: true, workerData: { nativeJs, file } }));
          const ms = await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
          for (const m of ms) { inFlight += m.inFlight; queued += m.queued; }
          most = Math.max(most, openOnFile());
          await Promise.all(ws.map((w) => w.terminate()));
        }
        const b = require(nativeJs).loadNative();
        await b.open('/nonexistent-odxcp-main', { write: false, exclusive: false }).catch((e) => console.log('main ' + e.code));
        console.log(JSON.stringify({ inFlight, queued, most, left: openOnFile(), stats: b.threadStats() }));
      })();`;
    try {
      const r = spawnSync(process.execPath, ['-e', script], { env: process.env, encoding: 'utf8', timeout: 110000 });
      assert.equal(r.signal, null, `child killed by ${r.signal}: ${r.stderr}`);
      assert.equal(r.status, 0, `child failed: ${r.stderr}`);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines[0], 'main ENOENT', 'the main thread still works');
      const out = JSON.parse(lines[1]);
      assert.ok(out.inFlight > 0, 'the Workers were terminated with requests in flight');
      assert.ok(out.queued > 0, 'and with commands waiting in their handles');
      assert.ok(out.most >= 3, `the handles' fds were open while the Workers ran (${out.most})`);
      assert.equal(out.left, 0, 'every fd of a terminated Worker\'s handles is closed');
      assert.equal(out.stats.inFlight, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('native transport: process exit with commands outstanding', () => {
  for (const how of ['process.exit()', 'an uncaught exception']) {
    it(`${how} with handles queued, in flight and closing ends the process cleanly`, function () {
      this.timeout(30000);
      const script = `
        const b = require(${JSON.stringify(nativeJs)}).loadNative();
        const req = { cdb: Buffer.alloc(16), direction: 'from-device', data: Buffer.alloc(65536), timeoutMs: 1000 };
        const busy = b.testing.adopt('/dev/null', { kind: 'sg' });
        const closing = b.testing.adopt('/dev/null', { kind: 'block' });
        for (let i = 0; i < 300; i++) { b.execute(busy, req).catch(() => {}); b.execute(closing, req).catch(() => {}); }
        b.close(closing).catch(() => {});
        console.log('queued ' + (busy.queued + closing.queued));
        ${how === 'process.exit()' ? 'process.exit(7);' : "throw new Error('boom');"}`;
      const r = spawnSync(process.execPath, ['-e', script], { env: process.env, encoding: 'utf8', timeout: 25000 });
      assert.equal(r.signal, null, `child killed by ${r.signal}: ${r.stderr}`);
      assert.match(r.stdout, /^queued [1-9]\d*\n$/, 'commands were still queued in the handles');
      if (how === 'process.exit()') {
        assert.equal(r.status, 7, r.stderr);
        assert.equal(r.stderr, '');
      } else {
        assert.equal(r.status, 1);
        assert.match(r.stderr, /Error: boom/);
        assert.doesNotMatch(r.stderr, /odxcp|napi|Assertion|Aborted|AddressSanitizer|runtime error/i);
      }
    });
  }
});

describe('native transport: randomized arguments never crash', () => {
  it('2000 random execute/open/close calls, random close()s included, throw TypeError/RangeError or settle with a code', async () => {
    let seed = 0x5eed;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
    const values = (): unknown =>
      pick<unknown>([
        undefined, null, 0, -1, 1.5, NaN, 2 ** 31, 2 ** 32, 'none', 'to-device', 'from-device', 'x', 1n, {}, [],
        Buffer.alloc(0), Buffer.alloc(6), Buffer.alloc(16), Buffer.alloc(253), new Uint8Array(10), () => 0, Symbol('q'),
        Object.defineProperty({}, 'cdb', { get() { throw new RangeError('getter'); } }),
      ]);
    // Handles on /dev/null only (random SG_IO there is harmless), opened and closed at random;
    // numbers, real descriptors among them (stdin, the handles' own fds), are never closeable.
    const handles: NativeHandle[] = [adoptNull()];
    const closes = new Map<NativeHandle, number>();
    const target = (): unknown => {
      if (rnd() < 0.05) handles.push(adoptNull(pick(['sg', 'block'])));
      const h = pick(handles);
      return pick<unknown>([h, h, h, h.fd, 0, 1, 2, BAD_FD, -1, 'x', { fd: h.fd, kind: h.kind, state: 'open' }, Object.create(Object.getPrototypeOf(h)), values()]);
    };
    const pending: Promise<unknown>[] = [];
    let settledWithCode = 0;
    for (let i = 0; i < 2000; i++) {
      const req: Record<string, unknown> = {};
      for (const k of ['cdb', 'direction', 'data', 'timeoutMs']) if (rnd() < 0.8) req[k] = values();
      if (rnd() < 0.5) req.cdb = Buffer.alloc(6 + Math.floor(rnd() * 12));
      if (rnd() < 0.5) req.direction = pick(['none', 'to-device', 'from-device']);
      if (rnd() < 0.5) req.timeoutMs = 1 + Math.floor(rnd() * 1000);
      const which = pick(['execute', 'execute', 'open', 'close']);
      const t = which === 'open' ? undefined : target();
      try {
        let r: unknown;
        if (which === 'execute') r = raw.execute(t, rnd() < 0.9 ? req : values());
        else if (which === 'open') r = raw.open(pick<unknown>([values(), path.join(os.tmpdir(), 'odxcp-missing')]), rnd() < 0.5 ? RO : values());
        else r = raw.close(t);
        if (r instanceof Promise) {
          pending.push(
            r.then(
              () => {
                assert.equal(which, 'close', `${which} resolved`);
                closes.set(t as NativeHandle, (closes.get(t as NativeHandle) ?? 0) + 1);
              },
              (e: NativeSystemError) => {
                const allowed = { execute: ['ENOTTY', 'ECLOSED'], open: ['ENOENT'], close: ['ECLOSED'] }[which]!;
                assert.ok(allowed.includes(e.code), `${which}: ${e.code} ${e.message}`);
                settledWithCode++;
              },
            ),
          );
        }
      } catch (e) {
        assert.ok(e instanceof TypeError || e instanceof RangeError, `${which}: ${(e as Error).message}`);
      }
    }
    await Promise.all(pending);
    assert.ok(settledWithCode > 50, `only ${settledWithCode} calls reached a handle or the threads`);
    for (const h of handles) if (h.state === 'open') await native.close(h);
    for (const h of handles) assert.equal(h.state, 'closed');
    for (const [h, n] of closes) assert.equal(n, 1, `handle (fd was ${h.fd}) closed ${n} times`);
    assert.ok(closes.size >= 1, 'some random close() closed a handle');
    // stdin/stdout/stderr, offered to close() as numbers, are still open
    for (const fd of [0, 1, 2]) fs.fstatSync(fd);
  });
});
