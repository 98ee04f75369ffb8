// The copy methods (token, EXTENDED COPY, host) and the chunk loop around them, against the
// in-process model of LUNs behind one copy manager (helpers/fake-lun.ts): truncation, dead
// tokens, busy list ids, partial counts, refusals, IMMED refusal, slow lists and aborts. Fast
// checks of the logic; the lab specs prove the same against real kernel targets.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Account } from '../../lib/engine/account';
import { CopyError, runPlanned } from '../../lib/engine/copy';
import { classify } from '../../lib/engine/reactions';
import * as cmds from '../../lib/scsi/commands';
import { awaitCompletion, StillInProgressError } from '../../lib/tokens/token-ops';
import { HostMethod } from '../../lib/engine/methods/host';
import { MethodError, type MethodContext } from '../../lib/engine/methods/context';
import { TokenMethod, WriteCeiling } from '../../lib/engine/methods/token';
import { XcopyMethod } from '../../lib/engine/methods/xcopy';
import { TokenCache } from '../../lib/engine/fanout';
import { createJournalSet, gaps, JournalWriter, readJournal, readJournalSet } from '../../lib/engine/journal';
import { resume } from '../../lib/engine/resume';
import { clearPairCache } from '../../lib/engine/pair-cache';
import type { OpenedPair, PlanDetails } from '../../lib/engine/plan';
import type { CopyMethod, CopyOptions } from '../../lib/engine/types';
import { ScsiError } from '../../lib/scsi/errors';
import { AbortedError } from '../../lib/errors';
import { checkCondition, FakeLun, fillPattern, type FakeKnobs } from './helpers/fake-lun';

const KiB = 1024n;
const BS = 512;

function lunPair(srcKnobs: FakeKnobs = {}, dstKnobs: FakeKnobs = {}) {
  const src = new FakeLun({ blocks: 8192, ...srcKnobs });
  const dst = new FakeLun({ blocks: 8192, ...dstKnobs });
  fillPattern(src.mem, 11);
  const before = Buffer.from(dst.mem);
  return { src, dst, before };
}

function ctxOf(src: FakeLun, dst: FakeLun, signal = new AbortController().signal, account = new Account()): MethodContext {
  return { src, dst, srcData: src, dstData: dst, srcBase: 0n, dstBase: 0n, srcBlockSize: BS, dstBlockSize: BS, account, signal };
}

function tokenMethod(tokenBytes: bigint) {
  return new TokenMethod({ tokenBytes, inactivityTimeout: 0, effectiveInactivitySeconds: 60 });
}

function details(method: CopyMethod, length: bigint, chunk: bigint, maxInFlight: number, extra: Partial<PlanDetails> = {}): PlanDetails {
  const dev = { path: '/dev/fake', vendor: 'V', product: 'P', blockSize: BS, bytes: 8192n * 512n };
  return {
    plan: { src: dev, dst: dev, srcOffset: 0n, dstOffset: 0n, length, method, verdicts: { odx: { usable: true, reason: '' }, xcopy: { usable: true, reason: '' } }, chunkBytes: chunk, hostTransferBytes: 64 * 1024, maxInFlight },
    srcCaps: {} as never,
    dstCaps: {} as never,
    srcKey: 'naa.fake-src',
    dstKey: 'naa.fake-dst',
    tokenBytes: chunk,
    inactivityTimeout: 60,
    tokenLifetime: 0,
    hostDepth: 2,
    ...extra,
  };
}

const pairOf = (src: FakeLun, dst: FakeLun) => ({ src, dst, close() {} }) as unknown as OpenedPair;

/** The destination holds the source's bytes in [dstOff, dstOff+len) and nothing else changed. */
function assertCopied(src: FakeLun, dst: FakeLun, before: Buffer, srcOff: number, dstOff: number, len: number): void {
  assert.ok(dst.mem.subarray(dstOff, dstOff + len).equals(src.mem.subarray(srcOff, srcOff + len)), 'destination range holds the source bytes');
  assert.ok(dst.mem.subarray(0, dstOff).equals(before.subarray(0, dstOff)), 'nothing before the range changed');
  assert.ok(dst.mem.subarray(dstOff + len).equals(before.subarray(dstOff + len)), 'nothing after the range changed');
}

describe('copy methods against a model of a target', () => {
  beforeEach(() => clearPairCache());

  it('token: truncated writes are re-driven with OFFSET INTO ROD advanced by what was written; the account is exact', async () => {
    const { src, dst, before } = lunPair({}, { truncEvery: 2, units: 0x00 });
    const ctx = ctxOf(src, dst);
    await tokenMethod(256n * KiB).run({ offset: 0n, length: 512n * KiB }, ctx);
    assertCopied(src, dst, before, 0, 0, 512 * 1024);
    assert.equal(ctx.account.bytes, 512n * KiB);
    const wuts = dst.ops('WUT');
    assert.ok(wuts.length > 2, 'some writes were truncated and re-driven');
    // Every write of a token starts where the previous one of that token stopped.
    for (let i = 1; i < wuts.length; i++) {
      const a = wuts[i - 1]!;
      const b = wuts[i]!;
      if (b.offsetIntoRod! > 0n) assert.equal(b.lba! - a.lba!, b.offsetIntoRod! - a.offsetIntoRod!);
    }
  });

  it('token: a write that fails part-way counts exactly what the target says it wrote', async () => {
    const { src, dst } = lunPair({}, { failWut: { nth: 2, afterBlocks: 10 }, wutMaxBlocks: 100 });
    const ctx = ctxOf(src, dst);
    await assert.rejects(tokenMethod(256n * KiB).run({ offset: 0n, length: 256n * KiB }, ctx), (e: unknown) => {
      assert.ok(e instanceof MethodError);
      assert.equal(e.progress, 110n * 512n);
      assert.ok(e.cause instanceof ScsiError && e.cause.asc === 0x0d);
      return true;
    });
    assert.deepEqual(ctx.account.extents(), [{ offset: 0n, length: 110n * 512n, method: 'odx' }]);
    assert.ok(dst.mem.subarray(0, 110 * 512).equals(src.mem.subarray(0, 110 * 512)));
  });

  it('token: busy list ids (00/16) take a new id; IMMED refused (26/00) is sent again without it and remembered', async () => {
    const { src, dst, before } = lunPair({ busyListIds: 2 }, { busyListIds: 3, refuseImmed: true, wutMaxBlocks: 64 });
    const ctx = ctxOf(src, dst);
    await tokenMethod(128n * KiB).run({ offset: 0n, length: 128n * KiB }, ctx);
    assertCopied(src, dst, before, 0, 0, 128 * 1024);
    assert.equal(src.ops('BUSY').length, 2);
    assert.equal(dst.ops('BUSY').length, 3);
    assert.equal(new Set(dst.ops('BUSY', 'WUT').map((w) => w.listId)).size, dst.ops('BUSY', 'WUT').length, 'a new id each time');
    assert.equal(dst.ops('WUT REFUSED IMMED').length, 1, 'IMMED is tried once, then left off');
    assert.ok(dst.ops('WUT').every((w) => w.immed === false));
  });

  it('token: a dead token (23/07) ends the method with the exact progress; the loop re-populates and stays offloaded', async () => {
    const { src, dst, before } = lunPair({}, { expireAfterBytes: 48 * 1024, wutMaxBlocks: 32 });
    const ctx = ctxOf(src, dst);
    await assert.rejects(tokenMethod(128n * KiB).run({ offset: 0n, length: 128n * KiB }, ctx), (e: unknown) => {
      assert.ok(e instanceof MethodError);
      // The first write asked for the whole ROD with DEL_TKN and was cut short (16 KiB): that
      // token is gone, so a second one is populated; it dies after 48 KiB.
      assert.equal(e.progress, 64n * KiB);
      assert.ok(e.cause instanceof ScsiError && e.cause.asc === 0x23 && e.cause.ascq === 0x07);
      return true;
    });
    const r = await runPlanned(pairOf(src, dst), details('odx', 512n * KiB, 128n * KiB, 1), {} as CopyOptions, { methods: { offload: tokenMethod(128n * KiB), host: new HostMethod({ transferBytes: 16384, depth: 2 }) } });
    assert.equal(r.byMethod.odx, 512n * KiB, 'all offloaded');
    assert.deepEqual(r.fallbacks, []);
    assertCopied(src, dst, before, 0, 0, 512 * 1024);
  });

  it('token: chunks in flight together keep their own ceiling: DEL_TKN only on a token\'s last use, no token used after its deletion', async () => {
    const { src, dst, before } = lunPair({}, { truncEvery: 3, wutMaxBlocks: 96 });
    const r = await runPlanned(pairOf(src, dst), details('odx', 2048n * KiB, 256n * KiB, 4), {} as CopyOptions, {
      methods: { offload: tokenMethod(256n * KiB), host: new HostMethod({ transferBytes: 16384, depth: 2 }) },
    });
    assert.equal(r.byMethod.odx, 2048n * KiB);
    const deleted = new Set<number>();
    for (const w of dst.ops('WUT')) {
      const key = Number(w.lba! - w.offsetIntoRod!); // the token's first destination block
      assert.ok(!deleted.has(key), `a token was used after DEL_TKN (destination block ${key})`);
      if (w.delTkn) deleted.add(key);
    }
    assertCopied(src, dst, before, 0, 0, 2048 * 1024);
  });

  it('WriteCeiling: the largest truncated write is the ceiling; four full writes raise it; no DEL_TKN while probing', () => {
    const c = new WriteCeiling(0n);
    assert.equal(c.ask(1000n), 1000n);
    c.wrote(1000n, 400n);
    assert.equal(c.ask(1000n), 400n);
    c.wrote(400n, 200n); // a halved write does not shrink it
    assert.equal(c.ceiling, 400n);
    for (let i = 0; i < 4; i++) c.wrote(400n, 400n);
    assert.equal(c.ceiling, 800n);
    assert.equal(c.mayDelete(800n), false, 'a probe never carries DEL_TKN');
    assert.equal(c.mayDelete(400n), true);
    c.wrote(800n, 500n);
    assert.equal(c.ceiling, 500n);
    assert.equal(c.mayDelete(500n), true);
  });

  it('abort: COPY OPERATION ABORT is sent for the running list and awaited; the list has stopped when the copy returns', async () => {
    const { src, dst, before } = lunPair({}, { inProgressPolls: Infinity });
    const ac = new AbortController();
    const p = runPlanned(pairOf(src, dst), details('odx', 256n * KiB, 128n * KiB, 2), { signal: ac.signal } as CopyOptions, {
      methods: { offload: tokenMethod(128n * KiB), host: new HostMethod({ transferBytes: 16384, depth: 2 }) },
    });
    // Let both chunks reach their WRITE USING TOKEN polls, then abort.
    while (dst.ops('WUT').length < 2) await new Promise((r) => setTimeout(r, 2));
    ac.abort();
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof CopyError);
      assert.equal(e.code, 'ABORTED');
      assert.deepEqual(e.result.fallbacks, [], 'our own abort is not a target failure');
      assert.equal(e.result.byMethod.host, 0n, 'nothing rewritten by the host');
      assert.equal(e.result.bytes, 0n);
      return true;
    });
    const coas = dst.ops('COA');
    assert.equal(coas.length, 2, 'one COPY OPERATION ABORT per running list');
    assert.deepEqual(new Set(coas.map((c) => c.listId)), new Set(dst.ops('WUT').map((w) => w.listId)));
    assert.ok(dst.mem.equals(before), 'nothing was written by the aborted lists');
  });

  it('abort: a list that does not stop after COPY OPERATION ABORT is reported as still running (bounded wait)', async () => {
    const lun = new FakeLun({ inProgressPolls: Infinity });
    await cmds.populateToken(lun, { listId: 0x4242, ranges: [{ lba: 0, blocks: 8 }] });
    // This target accepts COPY OPERATION ABORT and goes on anyway.
    const orig = lun.command.bind(lun);
    lun.command = async (cmd, o) => (cmd.cdb[0] === 0x83 && (cmd.cdb[1]! & 0x1f) === 0x1c ? { data: Buffer.alloc(0), resid: 0, durationMs: 0, raw: {} as never } : orig(cmd, o));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(awaitCompletion(lun, 0x4242, 0x10, 'POPULATE TOKEN', { signal: ac.signal, abortConfirmMs: 50 }), (e: unknown) => {
      assert.ok(e instanceof StillInProgressError);
      assert.match(e.message, /list 16962 on \/dev\/fake\d+ is still in progress after COPY OPERATION ABORT/);
      return true;
    });
    assert.equal(classify(new StillInProgressError('WRITE USING TOKEN', 1, '/dev/x')), 'fatal', 'the engine never falls back over it');
  });

  it('xcopy: segments per command, the account exact; a failure part-way counts the segments the copy manager completed', async () => {
    const { src, dst, before } = lunPair();
    const xo = { commandBytes: 64n * KiB, segmentBytes: 16n * KiB, segmentsPerCommand: 4, source: src.cscd, destination: dst.cscd, on: 'dst' as const, listIdUsage: 'discard' as const };
    const ctx = ctxOf(src, dst);
    await new XcopyMethod(xo).run({ offset: 0n, length: 256n * KiB }, ctx);
    assertCopied(src, dst, before, 0, 0, 256 * 1024);
    assert.equal(dst.ops('XCOPY').length, 4);
    const bad = lunPair({}, { failXcopyAfterSegments: 3 });
    const bctx = ctxOf(bad.src, bad.dst);
    await assert.rejects(new XcopyMethod({ ...xo, source: bad.src.cscd, destination: bad.dst.cscd }).run({ offset: 0n, length: 64n * KiB }, bctx), (e: unknown) => {
      assert.ok(e instanceof MethodError);
      assert.equal(e.progress, 48n * KiB, 'three segments of 16 KiB');
      return true;
    });
  });

  it('xcopy: a fixed list id is one list at a time (the plan runs it alone) and a retry asks the list\'s status first', async () => {
    const { src, dst, before } = lunPair();
    const xo = { commandBytes: 64n * KiB, segmentBytes: 64n * KiB, segmentsPerCommand: 1, source: src.cscd, destination: dst.cscd, on: 'dst' as const, listIdUsage: 'hold' as const, listId: 7 };
    await new XcopyMethod(xo).run({ offset: 0n, length: 192n * KiB }, ctxOf(src, dst));
    assertCopied(src, dst, before, 0, 0, 192 * 1024);
    assert.deepEqual(dst.ops('XCOPY').map((x) => x.listId), [7, 7, 7]);
    assert.deepEqual(dst.ops('XCOPY', 'RCS1').map((x) => x.op), ['XCOPY', 'RCS1', 'XCOPY', 'RCS1', 'XCOPY'], 'the status of list 7 is asked before each reuse');
  });

  it('host: READ(16)/WRITE(16) in transfers; a failing write leaves the completed prefix as progress', async () => {
    const { src, dst, before } = lunPair();
    const ctx = ctxOf(src, dst);
    await new HostMethod({ transferBytes: 16384, depth: 2 }).run({ offset: 0n, length: 128n * KiB }, ctx);
    assertCopied(src, dst, before, 0, 0, 128 * 1024);
    assert.equal(ctx.account.byMethod.host, 128n * KiB);
    const bad = lunPair({}, { invalidOps: [0x8a] });
    await assert.rejects(new HostMethod({ transferBytes: 16384, depth: 2 }).run({ offset: 0n, length: 64n * KiB }, ctxOf(bad.src, bad.dst)), (e: unknown) => e instanceof MethodError && e.progress === 0n);
  });

  it('a whole copy through the loop ends with SYNCHRONIZE CACHE after the destination\'s last write, and writes nothing outside the range', async () => {
    for (const method of ['odx', 'xcopy', 'host'] as const) {
      const { src, dst, before } = lunPair();
      const d = details(method, 256n * KiB, 64n * KiB, 2);
      d.plan.srcOffset = 32n * KiB;
      d.plan.dstOffset = 1024n * KiB;
      const offload =
        method === 'odx'
          ? tokenMethod(64n * KiB)
          : method === 'xcopy'
            ? new XcopyMethod({ commandBytes: 64n * KiB, segmentBytes: 32n * KiB, segmentsPerCommand: 2, source: src.cscd, destination: dst.cscd, on: 'dst', listIdUsage: 'none' })
            : undefined;
      const r = await runPlanned(pairOf(src, dst), d, {} as CopyOptions, { methods: { offload, host: new HostMethod({ transferBytes: 16384, depth: 2 }) } });
      assert.equal(r.synced, true, method);
      assertCopied(src, dst, before, 32 * 1024, 1024 * 1024, 256 * 1024);
      const last = dst.log.at(-1)!;
      assert.deepEqual([last.op, last.lba, last.blocks], ['SC16', 2048n, 512], `${method}: the flush is the last command, over the destination range`);
      for (const w of dst.ops('W', 'WUT', 'XCOPY')) assert.ok(w.lba! >= 2048n && w.lba! < 2048n + 512n, `${method}: write at LBA ${w.lba} inside the range`);
    }
  });

  it('a failure of our own abort is an AbortedError with the list\'s final status, not a target error', async () => {
    const { src, dst } = lunPair({}, { inProgressPolls: Infinity });
    const ac = new AbortController();
    const ctx = ctxOf(src, dst, ac.signal);
    const run = tokenMethod(64n * KiB).run({ offset: 0n, length: 64n * KiB }, ctx);
    while (dst.ops('WUT').length < 1) await new Promise((r) => setTimeout(r, 2));
    ac.abort();
    await assert.rejects(run, (e: unknown) => e instanceof MethodError && e.cause instanceof AbortedError && e.progress === 0n);
  });
});

describe('fan-out: one source range populated once, written to every destination', () => {
  beforeEach(() => clearPairCache());

  async function fanOut(dstKnobs: FakeKnobs[], length: bigint, chunk: bigint) {
    const src = new FakeLun({ blocks: 8192 });
    fillPattern(src.mem, 23);
    const dsts = dstKnobs.map((k) => new FakeLun({ blocks: 8192, ...k }));
    const befores = dsts.map((d) => Buffer.from(d.mem));
    const tokens = new TokenCache(dsts.length);
    const settled = await Promise.allSettled(
      dsts.map((dst) =>
        runPlanned(pairOf(src, dst), details('odx', length, chunk, 2), {} as CopyOptions, {
          methods: { offload: new TokenMethod({ tokenBytes: chunk, inactivityTimeout: 0, effectiveInactivitySeconds: 60, tokens }), host: new HostMethod({ transferBytes: 16384, depth: 2 }) },
        }),
      ),
    );
    return { src, dsts, befores, settled };
  }

  it('three destinations: each source range gets one POPULATE TOKEN; every destination holds the source', async () => {
    const { src, dsts, befores, settled } = await fanOut([{}, { wutMaxBlocks: 100 }, {}], 1024n * KiB, 256n * KiB);
    assert.equal(src.ops('PT').length, 4, '1 MiB in 256 KiB tokens, populated once for all three');
    for (const [i, s] of settled.entries()) {
      assert.equal(s.status, 'fulfilled');
      assert.equal((s as PromiseFulfilledResult<Awaited<ReturnType<typeof runPlanned>>>).value.byMethod.odx, 1024n * KiB);
      assertCopied(src, dsts[i]!, befores[i]!, 0, 0, 1024 * 1024);
      assert.ok(dsts[i]!.ops('WUT').every((w) => w.delTkn === false), 'a shared token is never deleted by one destination');
    }
  });

  it('one destination failing (a fault knob) leaves the other two complete', async () => {
    const { src, dsts, befores, settled } = await fanOut([{}, { invalidOps: [0x83, 0x8a] }, {}], 512n * KiB, 256n * KiB);
    assert.equal(settled[1]!.status, 'rejected');
    for (const i of [0, 2]) {
      assert.equal(settled[i]!.status, 'fulfilled');
      assertCopied(src, dsts[i]!, befores[i]!, 0, 0, 512 * 1024);
    }
    assert.equal(src.ops('PT').length, 2);
  });

  it('a shared token a destination found dead is not handed out again', async () => {
    const cache = new TokenCache(2);
    let made = 0;
    const populate = async () => ({ token: Buffer.alloc(512, ++made), bytes: 512n, listId: made, status: {} as never });
    const a = await cache.get(0n, 1n, populate);
    cache.forget(0n, 1n, a.token);
    await new Promise((r) => setImmediate(r));
    const b = await cache.get(0n, 1n, populate);
    assert.notEqual(a.token, b.token);
    assert.equal(made, 2);
  });
});

describe('journal: confirmed extents, durable before they are written down', () => {
  const tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-journal-'));
  after(() => fs.rmSync(tmpdir, { recursive: true, force: true }));
  const header = (length: bigint) => ({ odxcp: 'journal' as const, version: 1, createdAt: new Date(0).toISOString(), src: { path: '/dev/a', naa: '6001', blockSize: 512 }, dst: { path: '/dev/b', naa: '6002', blockSize: 512 }, srcOffset: 0n, dstOffset: 0n, length, mode: 'auto' as const, sparse: 'auto' as const, sync: true });

  it('a copy that stops part-way leaves exactly its confirmed extents in the journal, each flushed first', async () => {
    const { src, dst } = lunPair({}, { wutMaxBlocks: 64 });
    // After four writes the destination fails every WRITE USING TOKEN with a MEDIUM ERROR (fatal).
    const orig = dst.command.bind(dst);
    let wuts = 0;
    dst.command = async (cmd, o) => {
      if (cmd.cdb[0] === 0x83 && (cmd.cdb[1]! & 0x1f) === 0x11 && ++wuts > 4) throw checkCondition('WRITE USING TOKEN', cmd.cdb, 3, 0x0c, 0);
      return orig(cmd, o);
    };
    const file = path.join(tmpdir, 'a.journal');
    const writer = JournalWriter.create(file, header(512n * KiB));
    const r = await runPlanned(pairOf(src, dst), details('odx', 512n * KiB, 128n * KiB, 1), { fallback: false } as CopyOptions, {
      methods: { offload: tokenMethod(128n * KiB), host: new HostMethod({ transferBytes: 16384, depth: 2 }) },
      journal: { writer, base: 0n },
    }).catch((e: unknown) => (e as CopyError).result);
    await writer.close(async () => undefined);
    const j = readJournal(file);
    assert.equal(j.done, false, 'a stopped copy is not marked done');
    assert.deepEqual(j.extents, r.extents, 'the journal holds what the account says is on the destination');
    assert.equal(r.bytes, 4n * 32n * KiB, 'four writes of 64 blocks');
    // The journal's lines were appended only after a SYNCHRONIZE CACHE of the destination.
    assert.ok(dst.ops('SC16').length >= 1);
    assert.deepEqual(gaps(j.extents, 512n * KiB), [{ offset: r.bytes, length: 512n * KiB - r.bytes }]);
  });

  it('gaps: what no extent covers, in order', () => {
    const e = (offset: bigint, length: bigint) => ({ offset, length, method: 'odx' as const });
    assert.deepEqual(gaps([e(10n, 5n), e(0n, 4n), e(20n, 5n)], 30n), [
      { offset: 4n, length: 6n },
      { offset: 15n, length: 5n },
      { offset: 25n, length: 5n },
    ]);
    assert.deepEqual(gaps([], 8n), [{ offset: 0n, length: 8n }]);
    assert.deepEqual(gaps([e(0n, 8n)], 8n), []);
  });

  it('refuses to replace a journal, reads a line cut short by a crash as not written, and refuses a foreign file', () => {
    const file = path.join(tmpdir, 'b.journal');
    JournalWriter.create(file, header(1024n));
    assert.throws(() => JournalWriter.create(file, header(1024n)), /exists; resume it with `odxcp resume/);
    fs.appendFileSync(file, '{"offset":"0","length":"512","method":"host"}\n{"offset":"512","len');
    assert.deepEqual(readJournal(file).extents, [{ offset: 0n, length: 512n, method: 'host' }]);
    const other = path.join(tmpdir, 'c.journal');
    fs.writeFileSync(other, '{"hello":1}\n');
    assert.throws(() => readJournal(other), /not an odxcp journal/);
  });

  it('journal sets (fan-out, batch): the set file and every member with its header exist before a pair runs; members are named FILE.N; nothing is replaced', async () => {
    const file = path.join(tmpdir, 'set.journal');
    const h1 = { ...header(4096n), sparse: 'never' as const };
    const writers = createJournalSet(file, 'batch', [h1, header(8192n)]);
    assert.equal(writers.length, 2);
    assert.deepEqual(readJournalSet(file), { kind: 'batch', members: [`${file}.1`, `${file}.2`] });
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')).members, ['set.journal.1', 'set.journal.2'], 'names relative to the set file');
    assert.equal(readJournal(`${file}.1`).header.sparse, 'never', 'the pair\'s --sparse is recorded');
    assert.equal(readJournal(`${file}.2`).header.length, 8192n);
    assert.equal(readJournalSet(`${file}.1`), undefined, 'a member is a plain journal');
    assert.throws(() => readJournal(file), /a journal set \(fan-out or batch\): resume it as a whole/);
    writers[0]!.add(0n, 4096n, 'host');
    await writers[0]!.close(async () => undefined, { complete: true, synced: true });
    await writers[1]!.close(async () => undefined);
    assert.equal(readJournal(`${file}.1`).done, true);
    assert.throws(() => createJournalSet(file, 'batch', [h1]), /set\.journal\.1 exists/);
    fs.rmSync(`${file}.1`);
    fs.rmSync(`${file}.2`);
    assert.throws(() => createJournalSet(file, 'fanout', [h1]), /set\.journal exists; resume it with/);
    const bad = path.join(tmpdir, 'bad-set.journal');
    fs.writeFileSync(bad, '{"odxcp":"journal-set","version":1,"kind":"batch","members":["../etc/x"]}\n');
    assert.throws(() => readJournalSet(bad), /members are not file names/);
  });

  it('resume of a journal set resumes every member; one that cannot be resumed does not stop the others and the set is not complete', async () => {
    const file = path.join(tmpdir, 'set2.journal');
    const ws = createJournalSet(file, 'fanout', [header(4096n), header(4096n)]);
    for (const w of ws) await w.close(async () => undefined);
    fs.writeFileSync(`${file}.2`, '{"x":1}\n');
    const r = await resume(file);
    assert.equal(r.kind, 'fanout');
    assert.equal(r.members?.length, 2);
    assert.ok(r.members!.every((m) => 'error' in m), 'no device /dev/a here, and member 2 is not a journal');
    assert.match(String((r.members![1] as { error: Error }).error.message), /set2\.journal\.2: line 1: not an odxcp journal/);
    assert.equal(r.complete, false);
  });
});
