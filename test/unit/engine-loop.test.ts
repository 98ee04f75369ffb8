// The chunk loop's policy with scripted methods (pure logic: fallback from the exact offset,
// whole-copy vs chunk fallback, bounded retries, the account when even the host path fails,
// abort). The lab suite proves the same paths against real targets and the ODX handler.
import { strict as assert } from 'node:assert';
import { Account } from '../../lib/engine/account';
import { CopyError, runPlanned } from '../../lib/engine/copy';
import { classify } from '../../lib/engine/reactions';
import { MethodError, type CopyMethodImpl, type MethodContext, type Range } from '../../lib/engine/methods/context';
import { clearPairCache, knownFailure } from '../../lib/engine/pair-cache';
import type { OpenedPair, PlanDetails } from '../../lib/engine/plan';
import type { CopyMethod } from '../../lib/engine/types';
import { ScsiError, TransportError } from '../../lib/scsi/errors';
import { decodeSense } from '../../lib/scsi/sense';
import type { EncodedCommand } from '../../lib/native';

const MiB = 1n << 20n;

function scsiErr(key: number, asc: number, ascq: number): ScsiError {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key;
  b[7] = 10;
  b[12] = asc;
  b[13] = ascq;
  const sense = decodeSense(b);
  return new ScsiError({ command: 'WRITE USING TOKEN', opcode: 0x83, status: 2, category: 'ILLEGAL_REQ', sense, rawSense: b });
}

/** A method that copies (records) until a scripted failure point. */
class Scripted implements CopyMethodImpl {
  calls: Range[] = [];
  constructor(
    readonly name: CopyMethod,
    private readonly fail: (r: Range, call: number) => { after: bigint; error: unknown } | undefined = () => undefined,
  ) {}
  async run(r: Range, ctx: MethodContext): Promise<void> {
    this.calls.push(r);
    const f = this.fail(r, this.calls.length);
    if (!f) {
      ctx.account.record(r.offset, r.length, this.name);
      return;
    }
    if (f.after > 0n) ctx.account.record(r.offset, f.after, this.name);
    throw new MethodError(this.name, f.after, f.error);
  }
}

function details(length: bigint, chunk: bigint, method: CopyMethod = 'odx', maxInFlight = 1): PlanDetails {
  const dev = { path: '/dev/x', vendor: 'V', product: 'P', blockSize: 512, bytes: 1n << 40n };
  return {
    plan: { src: { ...dev, path: '/dev/src' }, dst: { ...dev, path: '/dev/dst' }, srcOffset: 0n, dstOffset: 0n, length, method, verdicts: { odx: { usable: true, reason: '' }, xcopy: { usable: false, reason: '' } }, chunkBytes: chunk, hostTransferBytes: 1 << 20, maxInFlight },
    srcCaps: {} as never,
    dstCaps: {} as never,
    srcKey: 'naa.src',
    dstKey: 'naa.dst',
    tokenBytes: chunk,
    inactivityTimeout: 60,
    tokenLifetime: 0,
    hostDepth: 2,
  };
}
/** A pair whose command paths answer GOOD and remember what they were sent (the flush). */
function fakePair(refuse: (cdb: Buffer) => unknown = () => undefined) {
  const sent: Array<{ dev: string; op: number; cdb: Buffer }> = [];
  const dev = (path: string) => ({
    path,
    async command(cmd: EncodedCommand) {
      sent.push({ dev: path, op: cmd.cdb[0] as number, cdb: cmd.cdb });
      const err = refuse(cmd.cdb);
      if (err) throw err;
      return { data: Buffer.alloc(0), resid: 0, durationMs: 0, raw: {} as never };
    },
  });
  return { pair: { src: dev('/dev/src'), dst: dev('/dev/dst'), close() {} } as unknown as OpenedPair, sent };
}
const pair = fakePair().pair;

describe('engine: classify (reference 2.6 actions, bounded)', () => {
  it('sends "cannot do this" answers to the host for the whole copy, transient ones per chunk', () => {
    assert.equal(classify(scsiErr(5, 0x20, 0)), 'fallback-copy'); // invalid opcode
    assert.equal(classify(scsiErr(0xa, 0x0d, 0x02)), 'fallback-copy'); // copy target not reachable
    assert.equal(classify(scsiErr(2, 0x08, 0x00)), 'fallback-copy'); // LIO block-size mismatch
    assert.equal(classify(scsiErr(5, 0x23, 0x02)), 'fallback-copy'); // remote token usage not supported
    assert.equal(classify(scsiErr(5, 0x23, 0x04)), 'repopulate'); // token unknown
    assert.equal(classify(scsiErr(5, 0x23, 0x07)), 'repopulate'); // token expired
    assert.equal(classify(scsiErr(0xa, 0x0d, 0x01)), 'retry'); // third party device failure: once more
    assert.equal(classify(scsiErr(3, 0x11, 0x00)), 'fatal'); // unrecovered read error: host copy would hit it too
    assert.equal(classify(new TransportError({ command: 'X', code: 'DID_TIME_OUT', hostStatus: 3 })), 'fallback-chunk');
    assert.equal(classify(new Error('transfer count 0')), 'retry');
  });

  it('takes a first 26/00 to a token command as a busy list id (FreeBSD), a repeated one as a refusal', () => {
    const busy = scsiErr(5, 0x26, 0);
    Object.defineProperty(busy, 'serviceAction', { value: 0x11 });
    assert.equal(classify(busy), 'retry');
    assert.equal(classify(busy, busy), 'fallback-copy');
    const xcopy = scsiErr(5, 0x26, 0);
    Object.defineProperty(xcopy, 'opcode', { value: 0x83 });
    Object.defineProperty(xcopy, 'serviceAction', { value: 0x00 });
    assert.equal(classify(xcopy), 'fallback-copy', 'EXTENDED COPY: a designator LIO does not accept');
  });
});

describe('engine: account', () => {
  it('merges adjacent pieces of one method and finds the contiguous prefix', () => {
    const a = new Account();
    a.record(4n, 4n, 'odx');
    a.record(0n, 4n, 'odx');
    a.record(8n, 4n, 'host');
    a.record(20n, 4n, 'host');
    assert.deepEqual(a.extents(), [
      { offset: 0n, length: 8n, method: 'odx' },
      { offset: 8n, length: 4n, method: 'host' },
      { offset: 20n, length: 4n, method: 'host' },
    ]);
    assert.equal(a.contiguousFromStart(), 12n);
    assert.equal(a.bytes, 16n);
  });
});

describe('engine: chunk loop', () => {
  beforeEach(() => clearPairCache());

  it('falls back to the host from the exact byte where the offload stopped, for that chunk only', async () => {
    const offload = new Scripted('odx', (_r, call) => (call === 2 ? { after: 3n * 512n, error: scsiErr(0xa, 0x0d, 0x01) } : undefined));
    // 0D/01 is retried twice first: make the retries fail at the same place too.
    const flaky = new Scripted('odx', (r) => (r.offset >= 8n * MiB && r.offset < 16n * MiB ? { after: r.offset === 8n * MiB ? 3n * 512n : 0n, error: scsiErr(0xa, 0x0d, 0x01) } : undefined));
    void offload;
    const host = new Scripted('host');
    const r = await runPlanned(pair, details(24n * MiB, 8n * MiB), {} as never, { methods: { offload: flaky, host } });
    assert.equal(r.bytes, 24n * MiB);
    assert.equal(r.byMethod.host, 8n * MiB - 3n * 512n);
    assert.equal(r.byMethod.odx, 16n * MiB + 3n * 512n);
    assert.equal(r.fallbacks.length, 1);
    assert.equal(r.fallbacks[0].offset, 8n * MiB + 3n * 512n);
    assert.equal(r.fallbacks[0].wholeCopy, false);
    assert.deepEqual(host.calls, [{ offset: 8n * MiB + 3n * 512n, length: 8n * MiB - 3n * 512n }]);
    // the chunk after it went back to the offload
    assert.ok(flaky.calls.some((c) => c.offset === 16n * MiB));
    assert.equal(r.method, 'mixed');
    assert.deepEqual(r.extents.map((e) => [e.offset, e.length, e.method]), [
      [0n, 8n * MiB + 3n * 512n, 'odx'],
      [8n * MiB + 3n * 512n, 8n * MiB - 3n * 512n, 'host'],
      [16n * MiB, 8n * MiB, 'odx'],
    ]);
  });

  it('re-populates a dead token as long as each attempt moved the copy on (token expired, 23/07)', async () => {
    // Every attempt copies 1 MiB and then finds its token expired: 8 attempts for one chunk.
    const offload = new Scripted('odx', (r) => (r.length > MiB ? { after: MiB, error: scsiErr(5, 0x23, 0x07) } : undefined));
    const host = new Scripted('host');
    const r = await runPlanned(pair, details(8n * MiB, 8n * MiB), {} as never, { methods: { offload, host } });
    assert.equal(r.byMethod.odx, 8n * MiB, 'all offloaded');
    assert.equal(host.calls.length, 0);
    assert.equal(offload.calls.length, 8);
    assert.deepEqual(r.fallbacks, []);
  });

  it('a token that dies before any progress uses the retry bound, then the host', async () => {
    const offload = new Scripted('odx', () => ({ after: 0n, error: scsiErr(5, 0x23, 0x07) }));
    const host = new Scripted('host');
    const r = await runPlanned(pair, details(8n * MiB, 8n * MiB), {} as never, { methods: { offload, host } });
    assert.equal(offload.calls.length, 3, 'first try and two retries');
    assert.equal(r.byMethod.host, 8n * MiB);
    assert.equal(r.fallbacks.length, 1);
    assert.equal(r.fallbacks[0].wholeCopy, false);
  });

  it('stops re-populating after 16 attempts that each moved on, and the host does the rest exactly', async () => {
    const offload = new Scripted('odx', () => ({ after: 512n, error: scsiErr(5, 0x23, 0x07) }));
    const host = new Scripted('host');
    const r = await runPlanned(pair, details(MiB, MiB), {} as never, { methods: { offload, host } });
    // 1 + 16 re-populations + 2 retries, each 512 bytes further
    assert.equal(offload.calls.length, 19);
    assert.equal(r.byMethod.odx, 19n * 512n);
    assert.equal(r.byMethod.host, MiB - 19n * 512n);
    assert.equal(r.fallbacks[0].offset, 19n * 512n);
  });

  it('sends the rest of the copy to the host after "invalid opcode", and remembers the pair', async () => {
    const offload = new Scripted('odx', () => ({ after: 0n, error: scsiErr(5, 0x20, 0) }));
    const host = new Scripted('host');
    const r = await runPlanned(pair, details(32n * MiB, 8n * MiB), {} as never, { methods: { offload, host } });
    assert.equal(r.bytes, 32n * MiB);
    assert.equal(r.byMethod.host, 32n * MiB);
    assert.equal(offload.calls.length, 1, 'no offload tried after the whole-copy fallback');
    assert.equal(r.fallbacks[0].wholeCopy, true);
    assert.match(knownFailure('naa.src', 'naa.dst', 'odx') ?? '', /invalid command operation code/);
  });

  it('retries a transient failure at most twice per chunk, then falls back', async () => {
    const offload = new Scripted('odx', () => ({ after: 0n, error: new Error('RRTI reported no progress') }));
    const host = new Scripted('host');
    const r = await runPlanned(pair, details(8n * MiB, 8n * MiB), {} as never, { methods: { offload, host } });
    assert.equal(offload.calls.length, 3);
    assert.equal(r.byMethod.host, 8n * MiB);
  });

  it('with fallback off, stops with the exact account and the target\'s error', async () => {
    const offload = new Scripted('odx', (r) => (r.offset === 8n * MiB ? { after: 512n, error: scsiErr(5, 0x20, 0) } : undefined));
    const host = new Scripted('host');
    await assert.rejects(runPlanned(pair, details(24n * MiB, 8n * MiB), { fallback: false } as never, { methods: { offload, host } }), (e: unknown) => {
      assert.ok(e instanceof CopyError);
      assert.equal(e.result.bytes, 8n * MiB + 512n);
      assert.deepEqual(e.result.extents, [{ offset: 0n, length: 8n * MiB + 512n, method: 'odx' }]);
      assert.ok(e.cause instanceof ScsiError);
      return true;
    });
    assert.equal(host.calls.length, 0);
  });

  it('when the host path fails too, reports every extent that is on the destination', async () => {
    const offload = new Scripted('odx', (r) => (r.offset === 0n ? { after: 1024n, error: scsiErr(5, 0x26, 0) } : undefined));
    const host = new Scripted('host', () => ({ after: 2048n, error: scsiErr(3, 0x0c, 0) }));
    await assert.rejects(runPlanned(pair, details(8n * MiB, 8n * MiB), {} as never, { methods: { offload, host } }), (e: unknown) => {
      assert.ok(e instanceof CopyError);
      assert.deepEqual(e.result.extents, [
        { offset: 0n, length: 1024n, method: 'odx' },
        { offset: 1024n, length: 2048n, method: 'host' },
      ]);
      assert.equal(e.result.bytes, 3072n);
      assert.match(e.message, /^copy failed: the first 3072 bytes are copied; 3072 of 8388608 bytes in all: /);
      return true;
    });
  });

  it('stops scheduling on abort and says what was copied', async () => {
    const ac = new AbortController();
    const offload = new Scripted('odx', (r) => {
      if (r.offset === 8n * MiB) ac.abort();
      return undefined;
    });
    const host = new Scripted('host');
    await assert.rejects(runPlanned(pair, details(64n * MiB, 8n * MiB), { signal: ac.signal } as never, { methods: { offload, host } }), (e: unknown) => {
      assert.ok(e instanceof CopyError);
      assert.equal(e.code, 'ABORTED');
      assert.equal(e.result.bytes, 16n * MiB);
      return true;
    });
    assert.equal(offload.calls.length, 2);
  });

  it('runs chunks concurrently up to maxInFlight', async () => {
    let inFlight = 0;
    let peak = 0;
    const offload: CopyMethodImpl = {
      name: 'odx',
      async run(r, ctx) {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((res) => setTimeout(res, 5));
        ctx.account.record(r.offset, r.length, 'odx');
        inFlight--;
      },
    };
    const r = await runPlanned(pair, details(64n * MiB, 4n * MiB, 'odx', 4), {} as never, { methods: { offload, host: new Scripted('host') } });
    assert.equal(r.bytes, 64n * MiB);
    assert.equal(peak, 4);
  });

  it('flushes the destination range after the last write: SYNCHRONIZE CACHE(16) with its LBA and blocks', async () => {
    const { pair: p, sent } = fakePair();
    const d = details(8n * MiB, 4n * MiB);
    d.plan.dstOffset = 1024n * 512n;
    const r = await runPlanned(p, d, {} as never, { methods: { offload: new Scripted('odx'), host: new Scripted('host') } });
    assert.equal(r.synced, true);
    assert.equal(r.syncForm, 'SYNCHRONIZE CACHE(16)');
    assert.deepEqual(sent.map((c) => [c.dev, c.op]), [['/dev/dst', 0x91]]);
    assert.equal(sent[0]!.cdb.readBigUInt64BE(2), 1024n, 'LBA of the destination range');
    assert.equal(sent[0]!.cdb.readUInt32BE(10), Number((8n * MiB) / 512n), 'blocks of the destination range');
  });

  it('moves down the flush ladder when a target refuses a form: (16) ranged, (10) ranged, then the whole medium', async () => {
    const refuse16 = fakePair((cdb) => (cdb[0] === 0x91 ? scsiErr(5, 0x20, 0) : undefined));
    const r = await runPlanned(refuse16.pair, details(MiB, MiB), {} as never, { methods: { offload: new Scripted('odx'), host: new Scripted('host') } });
    assert.equal(r.syncForm, 'SYNCHRONIZE CACHE(10)');
    assert.deepEqual(refuse16.sent.map((c) => c.cdb.toString('hex')), ['91000000000000000000000008000000', '35000000000000080000']);
    const rangedRefused = fakePair((cdb) => ((cdb[0] === 0x91 && cdb.readUInt32BE(10) !== 0) || (cdb[0] === 0x35 && cdb.readUInt16BE(7) !== 0) ? scsiErr(5, 0x24, 0) : undefined));
    const w = await runPlanned(rangedRefused.pair, details(MiB, MiB), {} as never, { methods: { offload: new Scripted('odx'), host: new Scripted('host') } });
    assert.equal(w.syncForm, 'SYNCHRONIZE CACHE(16) whole medium');
    assert.equal(rangedRefused.sent.length, 3);
  });

  it('sync: false sends no SYNCHRONIZE CACHE and says synced: false', async () => {
    const { pair: p, sent } = fakePair();
    const r = await runPlanned(p, details(MiB, MiB), { sync: false } as never, { methods: { offload: new Scripted('odx'), host: new Scripted('host') } });
    assert.equal(r.synced, false);
    assert.equal(sent.length, 0);
  });

  it('a failing SYNCHRONIZE CACHE is an error of the copy, with the full account', async () => {
    const { pair: p } = fakePair((cdb) => (cdb[0] === 0x91 ? scsiErr(3, 0x0c, 0) : undefined));
    await assert.rejects(runPlanned(p, details(MiB, MiB), {} as never, { methods: { offload: new Scripted('odx'), host: new Scripted('host') } }), (e: unknown) => {
      assert.ok(e instanceof CopyError);
      assert.match(e.message, /^copy written but not flushed: SYNCHRONIZE CACHE failed on \/dev\/dst/);
      assert.equal(e.result.bytes, MiB);
      assert.equal(e.result.synced, false);
      return true;
    });
  });

  it('a progress listener that throws is reported once and detached; the account stays exact', async () => {
    let calls = 0;
    const r = await runPlanned(pair, details(32n * MiB, MiB, 'odx', 4), { progressIntervalMs: 0, onProgress: () => { calls++; throw new Error('boom'); } } as never, { methods: { offload: new Scripted('odx'), host: new Scripted('host') } });
    assert.equal(calls, 1);
    assert.deepEqual(r.warnings, ['the progress listener threw and was detached: boom']);
    assert.equal(r.bytes, 32n * MiB);
    assert.equal(r.byMethod.host, 0n, 'no chunk failed because of the listener');
    assert.deepEqual(r.extents, [{ offset: 0n, length: 32n * MiB, method: 'odx' }]);
  });

  it('a failure caused by our own abort is not the target\'s: no fallback record, no pair remembered, no host rewrite', async () => {
    const ac = new AbortController();
    // The method sees the abort while the array works, and ends with the array's "terminated".
    const offload = new Scripted('odx', (r) => {
      if (r.offset !== 0n) return undefined;
      ac.abort();
      return { after: 4096n, error: scsiErr(5, 0x20, 0) };
    });
    const host = new Scripted('host');
    await assert.rejects(runPlanned(pair, details(16n * MiB, 8n * MiB), { signal: ac.signal } as never, { methods: { offload, host } }), (e: unknown) => {
      assert.ok(e instanceof CopyError);
      assert.equal(e.code, 'ABORTED');
      assert.deepEqual(e.result.fallbacks, []);
      assert.deepEqual(e.result.extents, [{ offset: 0n, length: 4096n, method: 'odx' }]);
      assert.match(e.message, /^copy aborted: the first 4096 bytes are copied; 4096 of 16777216 bytes in all$/);
      return true;
    });
    assert.equal(host.calls.length, 0);
    assert.equal(knownFailure('naa.src', 'naa.dst', 'odx'), undefined);
  });

  it('a stop after a gap names the contiguous prefix, not the byte count, so a restart cannot skip the gap', async () => {
    const offload: CopyMethodImpl = {
      name: 'odx',
      async run(r, ctx) {
        if (r.offset === 0n) {
          await new Promise((res) => setTimeout(res, 20));
          ctx.account.record(0n, 512n, 'odx');
          throw new MethodError('odx', 512n, scsiErr(5, 0x20, 0));
        }
        ctx.account.record(r.offset, r.length, 'odx');
      },
    };
    const host = new Scripted('host', () => ({ after: 0n, error: scsiErr(3, 0x0c, 0) }));
    await assert.rejects(runPlanned(pair, details(2n * MiB, MiB, 'odx', 2), {} as never, { methods: { offload, host } }), (e: unknown) => {
      assert.ok(e instanceof CopyError);
      assert.match(e.message, /^copy failed: the first 512 bytes are copied; 1049088 of 2097152 bytes in all \(1048576 more bytes after a gap; see the extents\): /);
      assert.equal(e.result.contiguousBytes, 512n);
      return true;
    });
  });
});
