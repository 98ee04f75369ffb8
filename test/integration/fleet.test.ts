// Copies at fleet scale on real targets: one source to several token-copy destinations (each
// source range populated once, as the kernel's record on the source shows; a destination that
// fails leaves the others complete), batches of pairs across the lab's LUN kinds (checked
// whole before any starts), and a journalled 256 MiB copy killed with SIGKILL and resumed.
// Every destination is compared with its source through the backing files.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BatchRefused, clearPairCache, copyMany, readJournal, runBatch, type BatchJob, type CopyManyResult } from '../../lib/engine';
import { backing, CommandTrace, lun, pattern, RuntimeOdxTarget, sleep, writeBacking, type Dispatched, type LabLun } from './lab';

const MiB = 1024 * 1024;
const whole = (l: LabLun) => fs.readFileSync(l.file!);

function assertCopied(src: LabLun, srcOff: number, dst: LabLun, dstOff: number, len: number, before: Buffer): void {
  const after = whole(dst);
  assert.ok(after.subarray(dstOff, dstOff + len).equals(backing(src, srcOff, len)), `${dst.name}: the range holds the source's bytes`);
  assert.ok(after.subarray(0, dstOff).equals(before.subarray(0, dstOff)), `${dst.name}: nothing before the range changed`);
  assert.ok(after.subarray(dstOff + len).equals(before.subarray(dstOff + len)), `${dst.name}: nothing after the range changed`);
}

describe('fleet: fan-out, batches, resume', function () {
  this.timeout(300_000);
  let target: RuntimeOdxTarget;
  const L: Record<string, LabLun> = {};

  before(async function () {
    clearPairCache();
    target = new RuntimeOdxTarget('naa.5001405000000a04', 'naa.5001405000000b04');
    for (const [name, mb, knobs] of [
      ['fsrc', 260, ''],
      ['fdst', 260, 'latency_ms_per_mib=40'], // 256 MiB take seconds: killed after the first checkpoint, well before the end
      ['fan1', 32, ''],
      ['fan2', 32, 'max_wut_bytes=1m'],
      ['fan3', 32, 'fail_wut=%1:3/0C/00'],
      // Arrays slow at first (1 s per MiB for the first 12 MiB each writes, then at full speed)
      // writing at most 2 MiB per WRITE USING TOKEN, one at a time (a fan-out with
      // --max-in-flight 1; a batch pair has one token, written piece by piece): a journalled copy
      // of 32 MiB confirms 2 MiB every 2 s and is killed at its first checkpoint (2-4 s), at least
      // 8 s before its slow start is over; the resume finishes the slow part and then runs fast.
      // A pair of LUNs for the fan-out, another for the batch: each starts slow.
      ['fj1', 40, 'latency_ms_per_mib=1000&latency_mib=12&max_wut_bytes=2m'],
      ['fj2', 40, 'latency_ms_per_mib=1000&latency_mib=12&max_wut_bytes=2m'],
      ['fj3', 40, 'latency_ms_per_mib=1000&latency_mib=12&max_wut_bytes=2m'],
      ['fj4', 40, 'latency_ms_per_mib=1000&latency_mib=12&max_wut_bytes=2m'],
    ] as const) {
      L[name] = await target.add(name, { sizeMb: mb, knobs: knobs || undefined });
    }
    writeBacking(L.fsrc!, 0, pattern(256 * MiB, 0xf1ee7));
    writeBacking(L.fdst!, 0, pattern(256 * MiB, 0x0dd)); // something else, so every byte must be copied
  });
  after(() => target?.remove());

  it('fan-out to three odx LUNs: each source range populated once (the kernel counts them); the failing destination leaves the other two complete', async () => {
    const dsts = [L.fan1!, L.fan2!, L.fan3!];
    const befores = dsts.map(whole);
    const trace = CommandTrace.start(L.fsrc!);
    let seen: Dispatched[] = [];
    let r: CopyManyResult;
    try {
      r = await copyMany({ src: L.fsrc!.sg, dsts: dsts.map((d) => ({ dst: d.sg, dstOffset: MiB })), srcOffset: 2 * MiB, length: 24 * MiB, tokenSize: 4 * MiB });
    } finally {
      seen = trace.stop();
    }
    const pts = seen.filter((c) => c.cdb[0] === 0x83 && (c.cdb[1]! & 0x1f) === 0x10).length;
    assert.equal(pts, 6, '24 MiB in 4 MiB tokens: six POPULATE TOKENs on the source for three destinations');
    assert.equal(r.summary.populateTokens, 6);
    assert.equal(r.summary.complete, 2);
    assert.equal(r.summary.failed, 1);
    for (const i of [0, 1]) {
      const e = r.results[i]!;
      assert.equal(e.error, undefined, String(e.error));
      assert.equal(e.result!.byMethod.odx, BigInt(24 * MiB), `${dsts[i]!.name}: all by token`);
      assertCopied(L.fsrc!, 2 * MiB, dsts[i]!, MiB, 24 * MiB, befores[i]!);
    }
    const bad = r.results[2]!;
    assert.ok(bad.error, 'fan3 failed (MEDIUM ERROR on every WRITE USING TOKEN)');
    assert.equal(bad.result?.bytes ?? 0n, 0n);
    assert.ok(whole(L.fan3!).equals(befores[2]!), 'fan3 unchanged');
  });

  it('a batch with one invalid pair is refused before anything starts; a batch of 6 pairs across the LUN kinds, 3 at a time, ends with 6 results and the right statuses', async () => {
    const lab = (n: string) => lun(n);
    const dsts = ['fio1', 'odx1', 'fio2', 'tcmu0', 'odx4k'].map(lab);
    const befores = new Map(dsts.map((d) => [d.name, whole(d)]));
    const invalid: BatchJob[] = [
      { src: lab('fio0').sg, dst: lab('fio1').sg, length: 2 * MiB },
      { src: lab('odx0').sg, dst: lab('odx1').sg, dstOffset: lab('odx1').bytes - MiB, length: 2 * MiB }, // past the end
    ];
    await assert.rejects(runBatch(invalid, { jobs: 3 }), (e: unknown) => e instanceof BatchRefused && e.index === 1 && /past the end/.test(e.message));
    for (const d of dsts) assert.ok(whole(d).equals(befores.get(d.name)!), `${d.name}: nothing written by a refused batch`);
    // A dry run of a valid batch plans every pair and writes nothing.
    const dry = await runBatch([invalid[0]!, { src: lab('odx0').sg, dst: lab('odx1').sg, length: 2 * MiB }], { dryRun: true });
    assert.deepEqual(dry.entries.map((e) => [e.plan?.method, e.result]), [['xcopy', undefined], ['odx', undefined]]);
    for (const d of dsts) assert.ok(whole(d).equals(befores.get(d.name)!), `${d.name}: nothing written by a dry run`);

    const jobs: BatchJob[] = [
      { src: lab('fio0').sg, dst: lab('fio1').sg, srcOffset: 0, dstOffset: 0, length: 4 * MiB }, // EXTENDED COPY (LIO)
      { src: lab('odx0').sg, dst: lab('odx1').sg, srcOffset: 0, dstOffset: 0, length: 4 * MiB }, // token copy
      { src: lab('fio0').sg, dst: lab('fio2').sg, srcOffset: 4 * MiB, dstOffset: 0, length: 4 * MiB, mode: 'host' },
      { src: lab('odx0').sg, dst: lab('tcmu0').sg, srcOffset: 4 * MiB, dstOffset: 0, length: 4 * MiB },
      { src: lab('fio0').sg, dst: lab('odx1').sg, srcOffset: 8 * MiB, dstOffset: 8 * MiB, length: 4 * MiB }, // LIO's copy manager onto an odx LUN
      { src: lab('odx0').sg, dst: lab('odx4k').sg, srcOffset: 0, dstOffset: 0, length: 4 * MiB }, // 512 -> 4096-byte blocks
    ];
    const order: number[] = [];
    const r = await runBatch(jobs, { jobs: 3, onResult: (x) => order.push(x.index) });
    assert.equal(r.entries.length, 6);
    assert.equal(order.length, 6, 'one result per pair as it ended');
    assert.equal(r.summary.complete, 6, JSON.stringify(r.entries.map((e) => String(e.error ?? 'ok'))));
    const want: Array<[string, number, string, number]> = [
      ['fio0', 0, 'fio1', 0],
      ['odx0', 0, 'odx1', 0],
      ['fio0', 4 * MiB, 'fio2', 0],
      ['odx0', 4 * MiB, 'tcmu0', 0],
      ['fio0', 8 * MiB, 'odx1', 8 * MiB],
      ['odx0', 0, 'odx4k', 0],
    ];
    for (const [s, so, d, dO] of want) assert.ok(whole(lab(d)).subarray(dO, dO + 4 * MiB).equals(backing(lab(s), so, 4 * MiB)), `${s} -> ${d}`);
    assert.deepEqual(r.entries.slice(0, 3).map((e) => e.result!.method), ['xcopy', 'odx', 'host'], 'LIO\'s copy manager, the ODX handler\'s tokens, the host path');
  });

  it('odxcp copy --journal of 256 MiB killed with SIGKILL mid-way, then odxcp resume: the destination equals the source, and the resumed run copied only what the journal had not confirmed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-resume-'));
    const journal = path.join(dir, 'copy.journal');
    const length = 256 * MiB;
    const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
    const child = spawn(process.execPath, [bin, 'copy', L.fsrc!.sg, L.fdst!.sg, '--length', '256M', '--token-size', '8M', '--journal', journal, '--progress=none'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<NodeJS.Signals | number | null>((res) => child.on('exit', (c, s) => res(s ?? c)));
    // Kill it once the journal confirms some extents (checkpoints come at least every 2 s).
    let killed = false;
    for (let i = 0; i < 1200; i++) {
      if (fs.existsSync(journal) && fs.readFileSync(journal, 'utf8').split('\n').filter(Boolean).length >= 3) {
        child.kill('SIGKILL');
        killed = true;
        break;
      }
      await sleep(25);
    }
    const how = await exited;
    assert.ok(killed && how === 'SIGKILL', `killed mid-way (${String(how)}): ${err}`);
    const before = readJournal(journal);
    assert.equal(before.done, false);
    const confirmed = before.extents.reduce((n, e) => n + e.length, 0n);
    assert.ok(confirmed > 0n && confirmed < BigInt(length), `the journal confirmed ${confirmed} bytes`);
    // Every confirmed extent really is on the destination (durable: flushed before journalled).
    for (const e of before.extents) {
      const o = Number(e.offset);
      const n = Number(e.length);
      assert.ok(backing(L.fdst!, o, n).equals(backing(L.fsrc!, o, n)), `journalled extent ${o}+${n} is on the destination`);
    }
    await sleep(1500); // the killed process's last commands end on the array
    const res = spawnSync(process.execPath, [bin, 'resume', journal, '--json', '--progress=none'], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const r = JSON.parse(res.stdout) as { confirmedBytes: number; copiedBytes: number; complete: boolean; synced: boolean };
    assert.equal(BigInt(r.confirmedBytes), confirmed);
    assert.equal(BigInt(r.copiedBytes), BigInt(length) - confirmed, 'only what the journal had not confirmed');
    assert.equal(r.complete, true);
    assert.equal(r.synced, true);
    assert.ok(backing(L.fdst!, 0, length).equals(backing(L.fsrc!, 0, length)), 'the destination equals the source');
    const after = readJournal(journal);
    assert.equal(after.done, true);
    assert.deepEqual(after.extents.reduce((n, e) => n + e.length, 0n), BigInt(length));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Run `odxcp ARGS --journal SET`; SIGKILL it at member `watch`'s first checkpoint (its header and an extent). */
  async function killMidway(args: string[], set: string, watch: string): Promise<void> {
    const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
    const child = spawn(process.execPath, [bin, ...args, '--journal', set, '--progress=none'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<NodeJS.Signals | number | null>((res) => child.on('exit', (c, s) => res(s ?? c)));
    let killed = false;
    for (let i = 0; i < 2400; i++) {
      if (fs.existsSync(watch) && fs.readFileSync(watch, 'utf8').split('\n').filter(Boolean).length >= 2) {
        child.kill('SIGKILL');
        killed = true;
        break;
      }
      await sleep(25);
    }
    const how = await exited;
    assert.ok(killed && how === 'SIGKILL', `killed mid-way (${String(how)}): ${err}`);
    await sleep(1500); // the killed process's last commands end on the array
  }

  /** Resume a journal set with the CLI; checks each member against its pair and returns the JSON. */
  function resumeSet(set: string, pairs: Array<{ src: LabLun; srcOff: number; dst: LabLun; dstOff: number; len: number }>) {
    const before = pairs.map((_, i) => readJournal(`${set}.${i + 1}`));
    const confirmed = before.map((j) => j.extents.reduce((n, e) => n + e.length, 0n));
    // Every confirmed extent is on its destination already (flushed before it was journalled).
    for (const [i, j] of before.entries()) {
      const p = pairs[i]!;
      for (const e of j.extents) {
        const o = Number(e.offset);
        const n = Number(e.length);
        assert.ok(backing(p.dst, p.dstOff + o, n).equals(backing(p.src, p.srcOff + o, n)), `member ${i + 1}: journalled extent ${o}+${n} is on ${p.dst.name}`);
      }
    }
    const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
    const res = spawnSync(process.execPath, [bin, 'resume', set, '--json', '--progress=none'], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr + res.stdout);
    const r = JSON.parse(res.stdout) as { complete: boolean; members: Array<{ file: string; confirmedBytes: number; copiedBytes: number; zeroedBytes: number; skippedBytes: number; complete: boolean; synced: boolean }> };
    assert.equal(r.complete, true);
    assert.equal(r.members.length, pairs.length);
    for (const [i, m] of r.members.entries()) {
      const p = pairs[i]!;
      assert.equal(m.file, `${set}.${i + 1}`);
      assert.equal(BigInt(m.confirmedBytes), confirmed[i], `member ${i + 1}: the journal's confirmed bytes`);
      assert.equal(BigInt(m.copiedBytes), BigInt(p.len) - confirmed[i]!, `member ${i + 1}: copied only what its journal had not confirmed`);
      assert.equal(BigInt(m.zeroedBytes) + BigInt(m.skippedBytes), 0n);
      assert.equal(m.complete && m.synced, true);
      assert.ok(backing(p.dst, p.dstOff, p.len).equals(backing(p.src, p.srcOff, p.len)), `${p.dst.name} equals the source range`);
      const after = readJournal(`${set}.${i + 1}`);
      assert.equal(after.done, true);
      assert.equal(after.extents.reduce((n, e) => n + e.length, 0n), BigInt(p.len));
    }
    return { confirmed, r };
  }

  it('odxcp copy SRC DST1 DST2 --journal, killed with SIGKILL mid-way, then odxcp resume: both destinations equal the source; each copied only what its journal had not confirmed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-fanout-resume-'));
    const set = path.join(dir, 'fan.journal');
    const len = 32 * MiB;
    writeBacking(L.fj1!, 0, pattern(40 * MiB, 0x51));
    writeBacking(L.fj2!, 0, pattern(40 * MiB, 0x52));
    await killMidway(['copy', L.fsrc!.sg, L.fj1!.sg, L.fj2!.sg, '--src-offset', '8M', '--dst-offset', '4M', '--length', '32M', '--token-size', '2M', '--max-in-flight', '1'], set, `${set}.1`);
    const head = JSON.parse(fs.readFileSync(set, 'utf8')) as { odxcp: string; kind: string; members: string[] };
    assert.deepEqual([head.odxcp, head.kind, head.members], ['journal-set', 'fanout', ['fan.journal.1', 'fan.journal.2']]);
    const { confirmed } = resumeSet(set, [
      { src: L.fsrc!, srcOff: 8 * MiB, dst: L.fj1!, dstOff: 4 * MiB, len },
      { src: L.fsrc!, srcOff: 8 * MiB, dst: L.fj2!, dstOff: 4 * MiB, len },
    ]);
    assert.ok(confirmed[0]! > 0n && confirmed[0]! < BigInt(len), `killed mid-way: member 1 had ${confirmed[0]} bytes confirmed`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('odxcp batch JOBFILE --journal, killed with SIGKILL mid-way, then odxcp resume: every pair complete, each copied only what its journal had not confirmed; a pair with "sparse":"never" keeps it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-batch-resume-'));
    const set = path.join(dir, 'batch.journal');
    const jobs = path.join(dir, 'jobs.ndjson');
    writeBacking(L.fj3!, 0, pattern(40 * MiB, 0x61));
    writeBacking(L.fj4!, 0, pattern(40 * MiB, 0x62));
    fs.writeFileSync(jobs, [
      JSON.stringify({ src: L.fsrc!.sg, dst: L.fj3!.sg, srcOffset: '100M', length: '32M' }),
      JSON.stringify({ src: L.fsrc!.sg, dst: L.fj4!.sg, srcOffset: '140M', dstOffset: '8M', length: '32M', sparse: 'never' }),
    ].join('\n'));
    await killMidway(['batch', jobs, '--jobs', '2'], set, `${set}.1`);
    assert.equal(readJournal(`${set}.2`).header.sparse, 'never', 'the pair\'s own sparse is in its journal');
    const { confirmed } = resumeSet(set, [
      { src: L.fsrc!, srcOff: 100 * MiB, dst: L.fj3!, dstOff: 0, len: 32 * MiB },
      { src: L.fsrc!, srcOff: 140 * MiB, dst: L.fj4!, dstOff: 8 * MiB, len: 32 * MiB },
    ]);
    assert.ok(confirmed[0]! > 0n && confirmed[0]! < BigInt(32 * MiB), `killed mid-way: pair 1 had ${confirmed[0]} bytes confirmed`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
