// Per-command overhead through odxcp, as a process of its own (the bench runs it like
// sg_read): COUNT small commands on one sg node, awaited one after another (or CONCURRENCY at
// a time), and the loop's time per command. Prints one JSON object.
//   node dist/bench/percmd.js --dev /dev/sgN --count 20000 --kind read1|read0|tur
//        [--via addon|addon-threads|device|uvpool] [--concurrency N]
// --via addon: loadNative().execute() on a handle (the addon and nothing else): on an sg node
//   the sg driver's asynchronous interface once the addon has it (sgAsync, its default);
// --via addon-threads: the same with sgAsync: false, SG_IO on the addon's threads;
// The output says which of the two ran (`path`): a command that the addon hands to a thread
// shows in threadStats().inFlight the moment execute() returns, one on the event loop does not.
// --via device: ScsiDevice.command() (the path the engine uses: retry policy, typed errors).
// --via uvpool: no SCSI at all, a 1-byte fs.read of /dev/zero per "command": the cost of
//   handing work to another thread and getting the answer back to the event loop (libuv's
//   pool), the floor for any asynchronous design.
import * as fs from 'node:fs';
import { loadNative, type NativeExecuteRequest } from '../lib/native';
import { ScsiDevice } from '../lib/device/device';

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  if (dflt === undefined) throw new Error(`--${name} is required`);
  return dflt;
}

/** READ(16) of `blocks` blocks at LBA 0 (0 blocks: a command with no data phase). */
function read16Cdb(blocks: number): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x88;
  cdb.writeUInt32BE(blocks, 10);
  return cdb;
}

type Native = ReturnType<typeof loadNative>;

/**
 * 'threads' when a command handed to execute() is in the addon's thread count at once (SG_IO
 * on a thread), 'event loop' when none of 20 is (the sg driver's asynchronous interface).
 */
async function whichPath(native: Native, handle: Parameters<Native['execute']>[0], req: NativeExecuteRequest): Promise<string> {
  let onThreads = 0;
  for (let i = 0; i < 20; i++) {
    const p = native.execute(handle, req);
    if (native.threadStats().inFlight > 0) onThreads++;
    await p.then(() => undefined, () => undefined);
  }
  return onThreads > 0 ? `threads (${onThreads}/20 seen on them)` : 'event loop (sg async)';
}

/**
 * The same for ScsiDevice.command(), which reaches execute() a few microtasks after the call:
 * the thread count is looked at on each of the next 10 microtask turns (no I/O runs between).
 */
async function deviceWhichPath(one: () => Promise<unknown>): Promise<string> {
  const native = loadNative();
  let onThreads = 0;
  for (let i = 0; i < 20; i++) {
    const p = one();
    let seen = false;
    for (let t = 0; t < 10 && !seen; t++) {
      seen = native.threadStats().inFlight > 0;
      await Promise.resolve();
    }
    if (seen) onThreads++;
    await p.then(() => undefined, () => undefined);
  }
  return onThreads > 0 ? `threads (${onThreads}/20 seen on them)` : 'event loop (sg async)';
}

async function main(): Promise<void> {
  const dev = arg('dev');
  const count = Number(arg('count', '20000'));
  const kind = arg('kind', 'read1');
  const via = arg('via', 'addon');
  const conc = Math.max(1, Number(arg('concurrency', '1')));
  const bs = Number(arg('bs', '512'));

  const req: NativeExecuteRequest =
    kind === 'tur'
      ? { cdb: Buffer.alloc(6), direction: 'none', timeoutMs: 60_000 }
      : kind === 'read0'
        ? { cdb: read16Cdb(0), direction: 'none', timeoutMs: 60_000 }
        : { cdb: read16Cdb(1), direction: 'from-device', timeoutMs: 60_000 };
  if (!['tur', 'read0', 'read1'].includes(kind)) throw new Error(`--kind: ${kind}`);

  let one: (buf: Buffer) => Promise<unknown>;
  let path = via === 'uvpool' ? 'libuv pool' : via === 'device' ? 'ScsiDevice' : '?';
  let close: () => Promise<void> | void;
  if (via === 'uvpool') {
    const fd = fs.openSync('/dev/zero', 'r');
    one = (buf) => new Promise((res, rej) => fs.read(fd, buf, 0, 1, null, (e) => (e ? rej(e) : res(undefined))));
    close = () => fs.closeSync(fd);
  } else if (via === 'addon' || via === 'addon-threads') {
    const native = loadNative();
    // sgAsync is ignored by an addon that predates it (its open() reads only what it knows).
    const { handle } = await native.open(dev, { write: true, exclusive: false, sgAsync: via === 'addon' } as Parameters<typeof native.open>[1]);
    path = await whichPath(native, handle, { ...req, ...(kind === 'read1' ? { data: Buffer.alloc(bs) } : {}) });
    one = async (buf) => {
      const r = await native.execute(handle, kind === 'read1' ? { ...req, data: buf } : req);
      if (r.status !== 0 || r.hostStatus !== 0 || r.driverStatus !== 0) throw new Error(`status ${r.status}/${r.hostStatus}/${r.driverStatus}`);
    };
    close = () => native.close(handle);
  } else {
    const d = await ScsiDevice.open(dev);
    const cmd = { cdb: req.cdb, direction: req.direction };
    path = await deviceWhichPath(() => d.command(cmd, kind === 'read1' ? { data: Buffer.alloc(bs) } : {}));
    one = (buf) => d.command(cmd, kind === 'read1' ? { data: buf } : {});
    close = () => d.close();
  }

  const run = async (n: number) => {
    let next = 0;
    const worker = async () => {
      const buf = Buffer.alloc(bs); // one buffer per worker, reused, as sg_read does
      while (next < n) {
        next++;
        await one(buf);
      }
    };
    await Promise.all(Array.from({ length: conc }, worker));
  };
  // A fresh nexus answers its first command with UNIT ATTENTION: let it be reported here.
  for (let i = 0; i < 5; i++) await one(Buffer.alloc(bs)).then(() => undefined, () => undefined);
  await run(Math.min(200, count)); // warm-up: worker threads started, code compiled
  const t0 = process.hrtime.bigint();
  await run(count);
  const loopMs = Number(process.hrtime.bigint() - t0) / 1e6;
  await close();
  process.stdout.write(`${JSON.stringify({ dev, kind, via, path, concurrency: conc, count, loopMs, usPerCommand: (loopMs * 1000) / count })}\n`);
}

main().catch((e) => {
  process.stderr.write(`percmd: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
