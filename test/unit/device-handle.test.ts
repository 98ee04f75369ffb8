// The device handle's contract (lib/native.ts NativeHandle), on handles over regular files
// from the test-only native.testing.adopt: SG_IO on them fails with ENOTTY, which is all the
// queue and the close need. The witness for "which file did a command run on" is that errno:
// the descriptors opened to take free numbers are O_PATH ones, on which SG_IO fails EBADF,
// as it does on a closed number. /proc/self/fd shows which file a number refers to.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { loadNative, type NativeExecuteRequest, type NativeSystemError } from '../../lib/native';
import { makeTempDir } from './helpers/host-nodes';

const native = loadNative();
const raw = native as unknown as Record<string, (...a: unknown[]) => unknown>;
const O_PATH = 0o10000000; // Linux; not in fs.constants
const req: NativeExecuteRequest = { cdb: Buffer.alloc(16), direction: 'from-device', data: Buffer.alloc(512), timeoutMs: 1000 };

/** What /proc/self/fd/N refers to, or undefined when N is not open. */
function linkOf(fd: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

const codeOf = (e: unknown) => (e as NativeSystemError).code;
const immediate = () => new Promise<void>((r) => setImmediate(r));

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`${what}: not reached in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('native device handle', () => {
  let dir: string;
  let file: string; // what the handles adopt
  let other: string; // what the O_PATH takers open
  before(() => {
    dir = makeTempDir('odxcp-handle-');
    file = path.join(dir, 'device');
    other = path.join(dir, 'other');
    fs.writeFileSync(file, 'device');
    fs.writeFileSync(other, 'other');
    file = fs.realpathSync(file); // as /proc/self/fd shows it
    other = fs.realpathSync(other);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const adopt = (kind: 'sg' | 'block' = 'sg') => native.testing.adopt(file, { kind });

  it('close() with commands queued and in flight: the fd stays open on its file until the last one settled, and none ran on a reused number', async () => {
    const h = adopt();
    const n = h.fd;
    assert.equal(linkOf(n), file);
    let settled = 0;
    // At each settlement: commands still outstanding on the handle, and whether n is its file.
    const seen: Array<{ outstanding: number; open: boolean }> = [];
    const results = Array.from({ length: 40 }, () =>
      native.execute(h, req).then(
        () => 'resolved',
        (e) => {
          settled++;
          seen.push({ outstanding: h.inFlight + h.queued, open: linkOf(n) === file });
          return codeOf(e);
        },
      ),
    );
    assert.deepEqual([h.inFlight, h.queued], [16, 24]);
    const closed = native.close(h);
    let settledAtClose = -1;
    void closed.then(() => (settledAtClose = settled));
    assert.equal(h.state, 'closing');
    // In the same tick, take free descriptor numbers as any concurrent open would.
    const takers = Array.from({ length: 8 }, () => fs.openSync(other, O_PATH));
    try {
      assert.ok(!takers.includes(n), `an open took number ${n} while its handle was still draining`);
      assert.equal(linkOf(n), file, 'the number still refers to the handle\'s file');
      const codes = await Promise.all(results);
      assert.deepEqual(codes, Array(40).fill('ENOTTY'), 'every command ran on the handle\'s file (EBADF: on an O_PATH taker or a closed number)');
      const pending = seen.filter((x) => x.outstanding > 0);
      assert.ok(pending.length >= 20, `seen with commands outstanding: ${pending.length}`);
      assert.ok(pending.every((x) => x.open), 'n referred to the handle\'s file whenever commands were outstanding');
      await closed;
      assert.equal(settledAtClose, 40, 'close() resolved after every command had settled');
      assert.equal(h.state, 'closed');
      assert.equal(h.fd, -1);
      assert.notEqual(linkOf(n), file, 'closed once drained');
    } finally {
      takers.forEach((t) => fs.closeSync(t));
    }
  });

  it('execute after close() is refused with ECLOSED without reaching a thread or a descriptor, while closing and once closed', async () => {
    const h = adopt();
    const n = h.fd;
    const queued = Array.from({ length: 20 }, () => native.execute(h, req).catch(codeOf));
    const closed = native.close(h);
    const threads = native.threadStats().inFlight;
    const refused = native.execute(h, req);
    assert.equal(native.threadStats().inFlight, threads, 'nothing reached the threads');
    assert.deepEqual([h.inFlight, h.queued], [16, 4], 'nothing joined the handle\'s queue');
    await assert.rejects(refused, (e: NativeSystemError) => {
      assert.equal(e.code, 'ECLOSED');
      assert.equal(e.errno, 0);
      assert.equal(e.syscall, 'execute');
      assert.equal(e.message, `ECLOSED: device handle is closed, execute (fd ${n})`);
      return true;
    });
    assert.deepEqual(await Promise.all(queued), Array(20).fill('ENOTTY'), 'what was accepted before close() still ran');
    await closed;
    // Closed: whatever now holds the number must not see the handle's commands.
    const taker = fs.openSync(other, O_PATH);
    try {
      const before = native.threadStats().inFlight;
      const late = native.execute(h, req);
      assert.equal(native.threadStats().inFlight, before, 'nothing reached the threads');
      await assert.rejects(late, (e: NativeSystemError) => e.code === 'ECLOSED');
      assert.equal(linkOf(taker), other, 'the descriptor that took a number is untouched');
    } finally {
      fs.closeSync(taker);
    }
  });

  it('close() of anything but a live handle is an error and closes nothing: numbers, look-alikes, a second close', async () => {
    const h = adopt();
    const n = h.fd;
    const proto = Object.getPrototypeOf(h) as object;
    const notHandles: unknown[] = [n, 0, 2147483647, -1, '3', null, undefined, {}, { fd: n, kind: 'sg', state: 'open' }, Object.create(proto), Object.defineProperty(Object.create(proto), 'fd', { value: n })];
    for (const v of notHandles) {
      assert.throws(() => raw.close(v), (e: Error) => e instanceof TypeError && /^close: handle must be a device handle from open\(\) \(got /.test(e.message), `close(${String(v)})`);
    }
    assert.equal(linkOf(n), file, 'the handle\'s fd is untouched');
    fs.fstatSync(0); // so is stdin
    // Only the addon makes handles: the class cannot be called, nor subclassed into one.
    const Ctor = h.constructor as new (...a: unknown[]) => object;
    assert.throws(() => new Ctor(), (e: Error) => e instanceof TypeError && /made by open\(\), not by new/.test(e.message));
    class Sub extends Ctor {}
    assert.throws(() => new Sub(n), TypeError);
    // The read-only properties on something else throw instead of reading a stray pointer.
    assert.throws(() => Object.getOwnPropertyDescriptor(proto, 'fd')!.get!.call({}));
    assert.throws(() => {
      (h as unknown as { fd: number }).fd = 0;
    }, TypeError); // strict mode: a getter-only property
    assert.equal(h.fd, n);
    // A second close while the first drains, and one after it: ECLOSED, nothing closed twice.
    void native.execute(h, req).catch(codeOf);
    const first = native.close(h);
    await assert.rejects(native.close(h), (e: NativeSystemError) => e.code === 'ECLOSED' && e.message === `ECLOSED: device handle is closed, close (fd ${n})`);
    await first;
    const taker = fs.openSync(other, O_PATH); // likely number n again
    try {
      await assert.rejects(native.close(h), (e: NativeSystemError) => e.code === 'ECLOSED' && e.syscall === 'close');
      assert.equal(linkOf(taker), other, 'a third close did not close whatever took the number');
    } finally {
      fs.closeSync(taker);
    }
  });

  it('an idle handle closes at once', async () => {
    const h = adopt();
    const n = h.fd;
    const closed = native.close(h);
    assert.equal(h.state, 'closed', 'nothing to drain: closed in the call');
    assert.notEqual(linkOf(n), file);
    await closed;
  });

  it('at most 16 commands of an sg handle reach the threads; the 17th waits in the handle\'s FIFO; a block handle takes 32', async () => {
    for (const [kind, bound] of [['sg', 16], ['block', 32]] as const) {
      const h = adopt(kind);
      const base = native.threadStats().inFlight;
      const order: number[] = [];
      const inFlightAtSettle: number[] = [];
      const results = Array.from({ length: 40 }, (_, i) =>
        native.execute(h, req).catch((e) => {
          order.push(i);
          inFlightAtSettle.push(h.inFlight);
          return codeOf(e);
        }),
      );
      assert.deepEqual([h.maxInFlight, h.inFlight, h.queued], [bound, bound, 40 - bound], kind);
      assert.equal(native.threadStats().inFlight - base, bound, `${kind}: only ${bound} reached the threads`);
      assert.deepEqual(await Promise.all(results), Array(40).fill('ENOTTY'));
      assert.ok(Math.max(...inFlightAtSettle) <= bound, `${kind}: in flight never above ${bound}`);
      // FIFO: the j-th settlement can only be one of the first j + bound commands.
      order.forEach((i, j) => assert.ok(i < j + bound, `${kind}: command ${i} settled ${j}th, before its turn`));
      assert.deepEqual([h.inFlight, h.queued], [0, 0]);
      await native.close(h);
    }
  });

  // A handle no JS variable refers to; only its commands' promises are returned.
  function submitAndDrop(count: number): { n: number; results: Array<Promise<unknown>> } {
    const h = adopt();
    return { n: h.fd, results: Array.from({ length: count }, () => native.execute(h, req).catch(codeOf)) };
  }

  it('is not collected while commands are outstanding; collected when idle, it closes its fd', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    // 200 commands take at least 13 round trips through the threads (16 at a time); node runs
    // wrap finalizers on a later turn of the loop, long before the last of them completes.
    const { n, results } = submitAndDrop(200);
    gc();
    const codes: unknown[] = [];
    let timer: NodeJS.Timeout | undefined;
    const never = new Promise((r) => (timer = setTimeout(r, 5000, 'unsettled')));
    try {
      for (const r of results) {
        const code = await Promise.race([r, never]);
        assert.notEqual(code, 'unsettled', `command ${codes.length} never settled: the handle was collected with commands queued`);
        codes.push(code);
        if (codes.length % 20 === 0) {
          gc();
          await immediate();
        }
      }
    } finally {
      clearTimeout(timer);
    }
    assert.deepEqual(codes, Array(200).fill('ENOTTY'), 'every command ran on the handle\'s open fd');
    await waitFor(
      () => {
        gc();
        return linkOf(n) !== file;
      },
      10000,
      'the unreachable idle handle closed its fd',
    );
  });
});
