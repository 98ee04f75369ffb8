// Path failover over the lab's real iSCSI multipath stack, beyond one copy (issue #11,
// docs/path-failover.md): a fan-out and a batch whose destinations lose their active port
// mid-way complete on the other port; and a list made unconfirmed for real (the active path's
// SCSI device set offline through sysfs right after a WRITE USING TOKEN returned, its iSCSI
// session still logged in, so the list's status poll is refused by the kernel) ends only that
// chunk: the copy goes on, ends PATH_UNCONFIRMED with the range out of the account, and resume
// finishes it. A path that will not open (its sg node gone) stops the copy NO_PATH with the
// account. The witnesses are the backing files and sysfs.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clearPairCache, copy, copyMany, CopyError, resume, runBatch, type CopyResult } from '../../lib/engine';
import { ScsiDevice } from '../../lib/device/device';
import { resolveStack } from '../../lib/device/stack';
import { cliExitCode } from '../../lib/cli/context';
import { CommandTrace, lun, pattern, stackLun, shell, stackDown, stackEntry, stackUp, writeBacking, type LabLun, type MultipathEntry } from './lab';

const MiB = 1024 * 1024;
const file = (l: LabLun) => fs.readFileSync(l.file as string);
// The kernel takes a state written to sysfs only with its newline (as `echo` writes it).
const stateFile = (sd: string) => `/sys/block/${path.basename(sd)}/device/state`;
const sdState = (sd: string) => fs.readFileSync(stateFile(sd), 'utf8').trim();
/** The map's paths as sysfs has them now (a port's failure and return may renumber its devices). */
const pathsNow = (dev: string) => resolveStack(dev).luns[0]!.paths.map((p) => ({ sd: p.sd, sg: p.sg as string }));
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));

/** A map opened for a copy: its command path, that path's sd, and the other path's sg, as sysfs has them now. */
async function openMap(m: MultipathEntry): Promise<{ dst: ScsiDevice; first: string; firstSd: string; other: string }> {
  const dst = await ScsiDevice.open(m.dev, { exclusive: true, layered: true });
  const first = dst.commandNode;
  const now = pathsNow(m.dev);
  const firstSd = now.find((p) => p.sg === first)?.sd;
  const other = now.find((p) => p.sg !== first)?.sg;
  assert.ok(firstSd && other && fs.existsSync(other), `${m.name}'s paths: ${json(now)}`);
  return { dst, first, firstSd, other };
}

/** `dst`'s backing file holds `src`'s bytes over the range, and nothing outside it changed. */
function assertCopied(src: LabLun, srcOff: number, dst: LabLun, dstOff: number, len: number, before: Buffer): void {
  const a = file(src).subarray(srcOff, srcOff + len);
  const b = file(dst);
  assert.ok(b.subarray(dstOff, dstOff + len).equals(a), `${dst.name}: the range holds ${src.name}'s bytes`);
  assert.ok(b.subarray(0, dstOff).equals(before.subarray(0, dstOff)), `${dst.name}: nothing before the range changed`);
  assert.ok(b.subarray(dstOff + len).equals(before.subarray(dstOff + len)), `${dst.name}: nothing after the range changed`);
}

/**
 * The destination's switch off portal 1 onto portal 2, once, before its copy's end: past its start
 * too when `started` (a fan-out's destinations move together; a batch's second pair may not have
 * confirmed its first chunk yet when the port fails, and then switches at +0).
 */
function assertSwitched(r: CopyResult, m: MultipathEntry, len: number, started = true): void {
  const sw = r.pathSwitches.filter((x) => x.side === 'dst');
  assert.equal(sw.length, 1, `one switch of ${m.name}: ${json(r.pathSwitches)}`);
  assert.deepEqual([sw[0]!.from, sw[0]!.to], [m.paths[0]!.sg, m.paths[1]!.sg], m.name);
  assert.ok((started ? sw[0]!.atOffset > 0n : sw[0]!.atOffset >= 0n) && sw[0]!.atOffset < BigInt(len), `${m.name} switched at +${sw[0]!.atOffset}`);
}

/**
 * Fails portal 1 (every path through it, `m`'s first among them) from a copy's progress callback,
 * synchronously, once `at` bytes are done; `restore()` brings it back if it was failed.
 */
function portalFailure(m: MultipathEntry, at: number) {
  const state = { failed: false };
  return {
    state,
    onProgress: (p: { bytesDone: bigint }) => {
      if (!state.failed && p.bytesDone >= BigInt(at)) {
        state.failed = true;
        shell(m.paths[0]!.fail);
      }
    },
    restore: () => {
      if (state.failed) shell(m.paths[0]!.restore);
    },
  };
}

/** Each pair completed across the port failure: every byte, one switch onto portal 2, its range copied and nothing else. */
function assertEachSwitched(what: string, done: Array<{ result?: CopyResult }>, pairs: Array<{ src: LabLun; m: MultipathEntry; l: LabLun; before: Buffer }>, soff: number, doff: number, len: number, started = true): void {
  for (const [i, { src, m, l, before }] of pairs.entries()) {
    const r = done[i]!.result;
    assert.ok(r, m.name);
    console.log(`      ${what} ${m.name}: ${r.bytes} bytes in ${r.elapsedMs} ms; switches ${json(r.pathSwitches)}`);
    assert.equal(r.bytes, BigInt(len));
    assertSwitched(r, m, len, started);
    assertCopied(src, soff, l, doff, len, before);
  }
}

describe('path failover over the iSCSI multipath stack: fan-out, batch, an unconfirmed list (lab)', function () {
  this.timeout(900000);
  let d0: MultipathEntry;
  let d1: MultipathEntry;

  before(() => {
    clearPairCache();
    stackUp();
    d0 = stackEntry('mpodx0', 'multipath');
    d1 = stackEntry('mpodx1', 'multipath');
    for (const m of [d0, d1]) for (const p of m.paths) assert.equal(sdState(p.sd), 'running', `${m.name} ${p.sd} up before the spec`);
  });

  beforeEach(() => clearPairCache());

  after(() => {
    stackDown();
  });

  it('fan-out: one odx LUN to two multipath maps, portal 1 failed mid-way: both complete on portal 2, bytes equal, each switch in its account', async () => {
    const src = lun('odx0');
    const LEN = 40 * MiB;
    const SOFF = 4 * MiB;
    const DOFF = 16 * MiB;
    writeBacking(src, SOFF, pattern(LEN, 41));
    const l0 = stackLun(d0.over);
    const l1 = stackLun(d1.over);
    const before = [file(l0), file(l1)];
    // With 8 of 80 MiB done neither destination can have finished (each has 28 MiB to go).
    const port = portalFailure(d0, 8 * MiB);
    let r: Awaited<ReturnType<typeof copyMany>>;
    try {
      r = await copyMany({ src: src.sg, dsts: [d0.dev, d1.dev], srcOffset: SOFF, dstOffset: DOFF, length: LEN, mode: 'odx', tokenSize: 4 * MiB, maxInFlight: 1, progressIntervalMs: 0, onProgress: port.onProgress });
    } finally {
      port.restore();
    }
    assert.ok(port.state.failed, 'portal 1 was failed during the fan-out');
    assert.equal(r.summary.complete, 2, json(r.results.map((x) => String(x.error ?? 'ok'))));
    for (const e of r.results) assert.equal(e.result?.unconfirmed, undefined);
    assertEachSwitched('fan-out', r.results, [
      { src, m: d0, l: l0, before: before[0]! },
      { src, m: d1, l: l1, before: before[1]! },
    ], SOFF, DOFF, LEN);
    for (const m of [d0, d1]) assert.equal(sdState(m.paths[0]!.sd), 'running', 'portal 1 is back');
  });

  it('batch: two pairs (odx LUN → multipath map) at once, portal 1 failed mid-way: both complete on portal 2, bytes equal, each switch in its account', async () => {
    const s0 = lun('odx0');
    const s1 = lun('odx1');
    const LEN = 40 * MiB;
    const SOFF = 8 * MiB;
    const DOFF = 64 * MiB;
    writeBacking(s0, SOFF, pattern(LEN, 43));
    writeBacking(s1, SOFF, pattern(LEN, 47));
    const l0 = stackLun(d0.over);
    const l1 = stackLun(d1.over);
    const before = [file(l0), file(l1)];
    // With 8 of 80 MiB done neither pair can have finished (each has 28 MiB to go).
    const port = portalFailure(d0, 8 * MiB);
    let r: Awaited<ReturnType<typeof runBatch>>;
    try {
      r = await runBatch(
        [
          { src: s0.sg, dst: d0.dev, srcOffset: SOFF, dstOffset: DOFF, length: LEN, mode: 'odx' },
          { src: s1.sg, dst: d1.dev, srcOffset: SOFF, dstOffset: DOFF, length: LEN, mode: 'odx' },
        ],
        { jobs: 2, tokenSize: 4 * MiB, maxInFlight: 1, progressIntervalMs: 0, onProgress: port.onProgress },
      );
    } finally {
      port.restore();
    }
    assert.ok(port.state.failed, 'portal 1 was failed during the batch');
    assert.equal(r.summary.complete, 2, json(r.entries.map((x) => String(x.error ?? 'ok'))));
    assertEachSwitched('batch', r.entries, [
      { src: s0, m: d0, l: l0, before: before[0]! },
      { src: s1, m: d1, l: l1, before: before[1]! },
    ], SOFF, DOFF, LEN, false);
  });

  it('an unconfirmed list for real: the active path set offline right after a WRITE USING TOKEN returned (its session logged in): the copy goes on on portal 2, exit 35, the range out of the account and the journal; resume finishes it', async () => {
    const src = lun('odx1');
    const dl = stackLun(d1.over);
    const LEN = 48 * MiB;
    const TOKEN = 8 * MiB;
    const SOFF = 4 * MiB;
    const DOFF = 96 * MiB;
    writeBacking(src, SOFF, pattern(LEN, 53));
    // The destination's range holds something else first, so a byte not copied shows.
    writeBacking(dl, DOFF, pattern(LEN, 59));
    const before = file(dl);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'san-unconf-'));
    const journal = path.join(dir, 'journal');
    const dst = await ScsiDevice.open(d1.dev, { exclusive: true, layered: true });
    const first = dst.commandNode;
    const now = pathsNow(d1.dev);
    const firstSd = now.find((p) => p.sg === first)?.sd;
    assert.ok(firstSd, `the command path ${first} is one of ${d1.name}'s: ${json(now)}`);
    assert.equal(sdState(firstSd), 'running');
    // The observable event: the 3rd WRITE USING TOKEN (chunk 3) has returned; its list's status
    // poll is next. Setting the device offline there makes the kernel refuse that poll
    // (DID_NO_CONNECT) while the iSCSI session stays logged in: the list's fate is unknown.
    const command = dst.command.bind(dst);
    let wuts = 0;
    let offlineAt = -1;
    const seen: string[] = [];
    dst.command = async (cmd, o) => {
      const name = `${cmd.cdb[0]!.toString(16)}/${(cmd.cdb[1]! & 0x1f).toString(16)}@${dst.commandNode}`;
      let res;
      try {
        res = await command(cmd, o);
      } catch (e) {
        seen.push(`${name}:${e instanceof Error ? e.message : String(e)}`);
        throw e;
      }
      seen.push(name);
      if (cmd.cdb[0] === 0x83 && (cmd.cdb[1]! & 0x1f) === 0x11 && ++wuts === 3) {
        try {
          fs.writeFileSync(stateFile(firstSd), 'offline\n');
          offlineAt = wuts;
          seen.push(`offline ${firstSd}: ${sdState(firstSd)}`);
        } catch (e) {
          seen.push(`the hook failed: ${String(e)}`);
        }
      }
      return res;
    };
    let err: unknown;
    try {
      await copy({ src: src.sg, dst, srcOffset: SOFF, dstOffset: DOFF, length: LEN, mode: 'odx', tokenSize: TOKEN, maxInFlight: 1, journal });
    } catch (e) {
      err = e;
    } finally {
      await dst.close();
      if (sdState(firstSd) !== 'running') fs.writeFileSync(stateFile(firstSd), 'running\n');
    }
    assert.equal(offlineAt, 3, `the path went offline after the 3rd WRITE USING TOKEN (the copy: ${err instanceof Error ? err.message : String(err)}; commands: ${seen.join(' ')})`);
    assert.ok(err instanceof CopyError, `the copy ended with an error: ${String(err)}`);
    console.log(`      unconfirmed: ${err.message}`);
    assert.equal(err.code, 'PATH_UNCONFIRMED');
    assert.equal(cliExitCode(err), 35);
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.ok(err.message.includes(`path ${first} failed with a copy list in flight`), err.message);
    assert.equal(fs.readFileSync(`/sys/class/iscsi_session/${fs.realpathSync(`/sys/block/${path.basename(firstSd)}/device`).match(/\/(session\d+)\//)![1]}/state`, 'utf8').trim(), 'LOGGED_IN', 'the session stayed logged in');
    const r = err.result;
    console.log(`      account: ${r.bytes} of ${r.length} bytes; unconfirmed ${json(r.unconfirmed)}; switches ${json(r.pathSwitches)}`);
    assert.equal(r.unconfirmed?.length, 1, json(r.unconfirmed));
    const u = r.unconfirmed[0]!;
    assert.equal(u.node, first);
    assert.ok(u.offset >= 2n * BigInt(TOKEN) && u.offset < 3n * BigInt(TOKEN) && u.offset + u.length === 3n * BigInt(TOKEN), `the unconfirmed range lies in chunk 3 and runs to its end: ${json(u)}`);
    // Every other byte was copied and accounted: the chunks after it went on on portal 2.
    assert.equal(r.bytes, BigInt(LEN) - u.length);
    assert.deepEqual(
      r.extents.map((e) => [e.offset, e.offset + e.length]),
      [
        [0n, u.offset],
        [u.offset + u.length, BigInt(LEN)],
      ],
    );
    const sw = r.pathSwitches.filter((x) => x.side === 'dst');
    assert.equal(sw.length, 1);
    assert.deepEqual([sw[0]!.from, sw[0]!.atOffset], [first, u.offset]);
    assert.notEqual(sw[0]!.to, first);
    const s = file(src);
    const after = file(dl);
    for (const e of r.extents) {
      const o = Number(e.offset);
      assert.ok(after.subarray(DOFF + o, DOFF + o + Number(e.length)).equals(s.subarray(SOFF + o, SOFF + o + Number(e.length))), `extent +${e.offset} holds the source's bytes`);
    }
    assert.ok(after.subarray(0, DOFF).equals(before.subarray(0, DOFF)) && after.subarray(DOFF + LEN).equals(before.subarray(DOFF + LEN)), 'nothing outside the range changed');
    // The user's way to finish once the array is done: resume copies what the journal lacks.
    assert.equal(sdState(firstSd), 'running', 'the path is back');
    const rr = await resume(journal);
    console.log(`      resume: copied ${rr.copiedBytes} bytes, complete ${rr.complete}`);
    assert.equal(rr.complete, true);
    assert.equal(rr.copiedBytes, u.length, 'resume copied exactly the unconfirmed range');
    assertCopied(src, SOFF, dl, DOFF, LEN, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the final SYNCHRONIZE CACHE meets its path gone offline: sent again on portal 2, the copy completes flushed, the switch at the copy\'s length; the kernel saw the flush on the other path only', async () => {
    const src = lun('odx0');
    const dl = stackLun(d0.over);
    const LEN = 16 * MiB;
    const SOFF = 4 * MiB;
    const DOFF = 200 * MiB;
    writeBacking(src, SOFF, pattern(LEN, 71));
    writeBacking(dl, DOFF, pattern(LEN, 73));
    const before = file(dl);
    const { dst, first, firstSd, other } = await openMap(d0);
    const addressOf = (sg: string) => path.basename(fs.realpathSync(`/sys/class/scsi_generic/${path.basename(sg)}/device`));
    const [firstAddr, otherAddr] = [addressOf(first), addressOf(other)];
    const isFlush = (cdb: Buffer) => cdb[0] === 0x91 || cdb[0] === 0x35;
    // The observable event: the copy's first SYNCHRONIZE CACHE is about to go out (every write
    // has returned). The path goes offline right then, so the kernel refuses the flush there.
    const command = dst.command.bind(dst);
    let hook = 'not run';
    dst.command = async (cmd, o) => {
      if (isFlush(cmd.cdb) && hook === 'not run') {
        try {
          fs.writeFileSync(stateFile(firstSd), 'offline\n');
          hook = 'ran';
        } catch (e) {
          hook = `failed: ${String(e)}`;
        }
      }
      return command(cmd, o);
    };
    const trace = CommandTrace.ofAddresses([firstAddr, otherAddr]);
    let r: CopyResult | undefined;
    let err: unknown;
    let seen: ReturnType<CommandTrace['stop']>;
    try {
      r = await copy({ src: src.sg, dst, srcOffset: SOFF, dstOffset: DOFF, length: LEN, mode: 'odx', tokenSize: 8 * MiB, maxInFlight: 1 });
    } catch (e) {
      err = e;
    } finally {
      seen = trace.stop();
      if (sdState(firstSd) !== 'running') fs.writeFileSync(stateFile(firstSd), 'running\n');
      await dst.close();
    }
    assert.equal(hook, 'ran');
    assert.equal(err, undefined, `the copy completed: ${err instanceof Error ? err.message : String(err)}`);
    assert.ok(r);
    console.log(`      flush: synced ${r.synced}; switches ${json(r.pathSwitches)}`);
    assert.equal(r.synced, true);
    assert.deepEqual(r.pathSwitches.map((x) => [x.side, x.from, x.to, x.atOffset]), [['dst', first, other, BigInt(LEN)]]);
    assert.match(r.pathSwitches[0]!.reason, /SYNCHRONIZE CACHE/);
    // The kernel's record: every write went down the first path, the flush down the other only.
    const on = (a: string, f: (c: Buffer) => boolean) => seen.filter((d) => d.address === a && f(d.cdb)).length;
    const isWut = (c: Buffer) => c[0] === 0x83 && (c[1]! & 0x1f) === 0x11;
    assert.equal(on(firstAddr, isWut), 2, 'both WRITE USING TOKENs on the first path');
    assert.equal(on(firstAddr, isFlush), 0, 'no flush reached the first path (offline: refused before dispatch)');
    assert.ok(on(otherAddr, isFlush) >= 1, 'SYNCHRONIZE CACHE dispatched on the other path');
    assertCopied(src, SOFF, dl, DOFF, LEN, before);
  });

  it('the path to switch to does not open (its sg node gone): the copy stops NO_PATH, one line naming both nodes and the errno, with the exact account', async () => {
    const src = lun('odx0');
    const dl = stackLun(d0.over);
    const LEN = 32 * MiB;
    const TOKEN = 8 * MiB;
    const SOFF = 4 * MiB;
    const DOFF = 160 * MiB;
    writeBacking(src, SOFF, pattern(LEN, 61));
    writeBacking(dl, DOFF, pattern(LEN, 67));
    const before = file(dl);
    const { dst, first, firstSd, other } = await openMap(d0);
    const away = `${other}.away`;
    // After the 2nd WRITE USING TOKEN returned: the path offline and the other path's node gone.
    const command = dst.command.bind(dst);
    let wuts = 0;
    let hook = 'not run';
    dst.command = async (cmd, o) => {
      const res = await command(cmd, o);
      if (cmd.cdb[0] === 0x83 && (cmd.cdb[1]! & 0x1f) === 0x11 && ++wuts === 2) {
        try {
          fs.renameSync(other, away);
          fs.writeFileSync(stateFile(firstSd), 'offline\n');
          hook = 'ran';
        } catch (e) {
          hook = `failed: ${String(e)}`;
        }
      }
      return res;
    };
    let err: unknown;
    try {
      await copy({ src: src.sg, dst, srcOffset: SOFF, dstOffset: DOFF, length: LEN, mode: 'odx', tokenSize: TOKEN, maxInFlight: 1 });
    } catch (e) {
      err = e;
    } finally {
      if (fs.existsSync(away)) fs.renameSync(away, other);
      if (sdState(firstSd) !== 'running') fs.writeFileSync(stateFile(firstSd), 'running\n');
      await dst.close();
    }
    assert.equal(hook, 'ran');
    assert.equal(wuts, 2, `the copy stopped after the 2nd WRITE USING TOKEN: ${String(err)}`);
    assert.ok(err instanceof CopyError, `the copy stopped: ${String(err)}`);
    console.log(`      no path: ${err.message}`);
    assert.equal(err.code, 'NO_PATH');
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.match(err.message, new RegExp(`no usable path left for the destination: ${first} failed .*path switch: cannot open ${other} \\(ENOENT\\)`));
    assert.equal(cliExitCode(err), 35, 'the failed path\'s transport error');
    const r = err.result;
    assert.ok(r.bytes > 0n && r.bytes < BigInt(LEN), `part of the copy is accounted for (${r.bytes})`);
    assert.equal(r.pathSwitches.length, 0);
    const s = file(src);
    const after = file(dl);
    let covered = 0n;
    for (const e of r.extents) {
      const o = Number(e.offset);
      assert.ok(after.subarray(DOFF + o, DOFF + o + Number(e.length)).equals(s.subarray(SOFF + o, SOFF + o + Number(e.length))), `extent +${e.offset} holds the source's bytes`);
      covered += e.length;
    }
    assert.equal(covered, r.bytes);
    assert.ok(after.subarray(0, DOFF).equals(before.subarray(0, DOFF)) && after.subarray(DOFF + LEN).equals(before.subarray(DOFF + LEN)), 'nothing outside the range changed');
  });
});
