// Issue 14, what admins expect, on real kernel SCSI devices: `odxcp list` against sysfs and
// the topology, `-v` against the kernel's own record of dispatched commands (the
// scsi_dispatch_cmd_start trace event), `--dry-run` writing nothing (the trace and the backing
// file), and ROD token files exchanged with ddpt 0.97's ddptctl in both directions, the bytes
// compared in the backing files.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { backing, CommandTrace, lun, pattern, toolStatus, topology, writeBacking, type LabLun } from './lab';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
const MiB = 1024 * 1024;

function odxcp(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ODXCP_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sha = (l: LabLun) => createHash('sha256').update(fs.readFileSync(l.file as string)).digest('hex');

/** The CDBs the kernel dispatched to one LUN while `fn` ran (lab.ts's CommandTrace). */
function dispatched<T>(l: LabLun, fn: () => T): { result: T; cdbs: string[] } {
  const trace = CommandTrace.start(l);
  let cmds: { cdb: Buffer }[] = [];
  let result: T;
  try {
    result = fn();
  } finally {
    cmds = trace.stop();
  }
  return { result, cdbs: cmds.map((c) => [...c.cdb].map((b) => b.toString(16).padStart(2, '0')).join(' ')) };
}

/** Opcodes that change a LUN's data or its cache state. */
const WRITING = new Set([0x0a, 0x2a, 0x8a, 0xaa, 0x2e, 0x8e, 0x41, 0x93, 0x83, 0x35, 0x91, 0x89, 0x42]);

describe('odxcp list in the lab', () => {
  it('lists every LUN the topology made, with the nodes, identity, size and block size sysfs gives', () => {
    const r = odxcp('list', '--json');
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Record<string, any>[];
    for (const l of topology().luns) {
      const row = rows.find((x) => x.kind === 'lun' && x.address === l.address);
      assert.ok(row, `${l.name} (${l.address}) listed`);
      assert.equal(row.sg, l.sg, l.name);
      assert.equal(row.sd, l.sd, l.name);
      assert.equal(row.blockSize, l.blockSize, l.name);
      assert.equal(BigInt(row.bytes), BigInt(l.bytes), l.name);
      const dev = `/sys/bus/scsi/devices/${l.address}`;
      assert.equal(row.vendor, fs.readFileSync(`${dev}/vendor`, 'utf8').trim(), l.name);
      assert.equal(row.product, fs.readFileSync(`${dev}/model`, 'utf8').trim(), l.name);
      assert.equal(row.probeError, null, `${l.name}: ${row.probeError}`);
    }
    // Every SCSI device sysfs knows is listed, and nothing else.
    const sysfs = fs.readdirSync('/sys/bus/scsi/devices').filter((n) => /^\d+:\d+:\d+:\d+$/.test(n)).sort();
    assert.deepEqual(rows.filter((x) => x.kind === 'lun').map((x) => x.address).sort(), sysfs);
  });

  it('copy offload per LUN and copy managers: the copy TPG shares one, the second TPG has its own, scsi_debug none', () => {
    const rows = JSON.parse(odxcp('list', '--json').stdout) as Record<string, any>[];
    const of = (name: string) => rows.find((x) => x.address === lun(name).address) as Record<string, any>;
    assert.equal(of('odx0').tokenCopy.supported, true);
    assert.equal(of('fio0').tokenCopy.supported, false);
    assert.equal(of('fio0').xcopyLid1.supported, true);
    assert.equal(of('sdebug0').threePC, false);
    assert.equal(of('sdebug0').copyManager, null);
    const tpg1 = topology().luns.filter((l) => l.tpg === 'tpg1').map((l) => of(l.name).copyManager);
    assert.ok(tpg1.length >= 3 && tpg1.every((cm) => cm !== null && cm === tpg1[0]), `one copy manager for the copy TPG: ${tpg1.join(', ')}`);
    assert.notEqual(of('xnex0').copyManager, tpg1[0], 'the LUN behind the other target port is apart');
    assert.notEqual(of('xnex0').copyManager, null);
    const text = odxcp('list');
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^\\[${lun('odx0').address}\\]\\s+disk\\s+${lun('odx0').sg}\\s+${lun('odx0').sd}\\s+`, 'm'));
    // LIO's fileio LUNs name their target port in VPD 0x83, the tcmu-runner LUNs do not: the
    // shared H:C:T joins them, the port designator names the group.
    assert.match(text.stdout, new RegExp(`^cm\\d+: (\\[[\\d:]+\\] ?)+ \\(scsi-target:${lun('odx0').address.split(':').slice(0, 3).join(':')}, target-port:`, 'm'));
  });
});

describe('-v in the lab: the trace is what the kernel dispatched', () => {
  it('info -v prints each CDB the kernel sent to the LUN, in order, with its status', () => {
    const l = lun('odx0');
    const { result: r, cdbs } = dispatched(l, () => odxcp('info', l.sg, '-v'));
    assert.equal(r.status, 0, r.stderr);
    const printed = [...r.stderr.matchAll(/^ {4}.+ cdb: ([0-9a-f ]+?) {2}\[/gm)].map((m) => m[1]);
    assert.ok(printed.length >= 5, r.stderr);
    assert.deepEqual(printed, cdbs);
    assert.equal((r.stderr.match(/^ {6}-> /gm) ?? []).length, printed.length, 'one status line per command');
    assert.match(r.stderr, /INQUIRY cdb: 12 00 00/);
    assert.match(r.stderr, /-> GOOD, \d+ bytes in/);
  });

  it('-vv shows a refused command: the sense decoded and raw (WRITE USING TOKEN of a deleted token)', () => {
    const f = path.join(os.tmpdir(), `odxcp-vv-${process.pid}.tok`);
    try {
      assert.equal(odxcp('token', 'populate', lun('odx0').sg, '--length', '64k', '--out', f, '--force').status, 0);
      const first = odxcp('token', 'write', lun('odx1').sg, '--in', f, '--offset', '40M', '--delete-token');
      assert.equal(first.status, 0, first.stderr);
      const { result: r, cdbs } = dispatched(lun('odx1'), () => odxcp('token', 'write', lun('odx1').sg, '--in', f, '--offset', '40M', '-vv'));
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /WRITE USING TOKEN cdb: 83 11 /);
      assert.match(r.stderr, /parameter list out \(\d+ bytes\):\n {8}0000  /);
      assert.match(r.stderr, /-> CHECK CONDITION/);
      assert.match(r.stderr, /sense: ILLEGAL REQUEST, .*\(23\/[0-9a-f]{2}\)/i);
      assert.match(r.stderr, /sense bytes: 7[0-3] /);
      const printed = [...r.stderr.matchAll(/^ {4}.+ cdb: ([0-9a-f ]+?) {2}\[/gm)].map((m) => m[1]);
      // A writable block node closing may make udev re-read the disk afterwards: compare what odxcp sent.
      assert.deepEqual(cdbs.slice(0, printed.length), printed, 'the trace is what the kernel dispatched');
    } finally {
      fs.rmSync(f, { force: true });
    }
  });
});

describe('--dry-run in the lab writes nothing', () => {
  before(() => writeBacking(lun('odx0'), 0, pattern(4 * MiB, 0xd1)));

  for (const [what, args] of [
    ['copy --dry-run', (s: LabLun, d: LabLun) => ['copy', s.sg, d.sg, '--length', '2M', '--dry-run']],
    ['the sg_xcopy form with --dry-run', (s: LabLun, d: LabLun) => [`if=${s.sg}`, `of=${d.sg}`, 'count=4096', '--dry-run']],
    ['zero --dry-run', (_s: LabLun, d: LabLun) => ['zero', d.sg, '--length', '2M', '-n']],
  ] as const) {
    it(`${what}: plans, prints, and the destination gets no writing command`, () => {
      const [src, dst] = [lun('odx0'), lun('odx1')];
      const before = sha(dst);
      const { result: r, cdbs } = dispatched(dst, () => odxcp(...args(src, dst)));
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^dry run: nothing is written$/m);
      assert.match(r.stdout, /(copy|zero) plan /);
      assert.ok(cdbs.length > 0, 'the destination was opened and probed');
      const writes = cdbs.filter((c) => WRITING.has(parseInt(c.slice(0, 2), 16)));
      assert.deepEqual(writes, [], 'no writing command reached the destination');
      assert.equal(sha(dst), before, 'the backing file is unchanged');
    });
  }

  it('copy --dry-run --json names the method the copy would use', () => {
    const r = odxcp('copy', lun('odx0').sg, lun('odx1').sg, '--length', '1M', '--dry-run', '--json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { dryRun: boolean; plan: { method: string } };
    assert.equal(j.dryRun, true);
    assert.equal(j.plan.method, 'odx');
  });
});

describe('ROD token files with ddptctl (ddpt 0.97)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-ddpt-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  before(() => writeBacking(lun('odx0'), 0, pattern(8 * MiB, 0xdd97)));

  /**
   * ddpt 0.97 writes each range descriptor one byte early (reference 8.3; test/targets/odx/
   * README.md): the target reads LBA << 8 and NUM << 8. Ask ddptctl for a 1-block token at LBA 0
   * and see what it got, so the specs below address the range they mean with either ddpt.
   */
  function ddptShift(): number {
    const out = toolStatus('ddptctl', ['--pt=0,1', '--list_id=4700', `--rtf=${path.join(dir, 'probe.bin')}`, lun('odx0').sg]);
    assert.equal(out.status, 0, out.stderr);
    const n = Number(/transfer count of (\d+)/.exec(out.stdout + out.stderr)?.[1]);
    assert.ok(n === 256 || n === 1, `ddptctl --pt=0,1 made a token of ${n} blocks`);
    return n === 256 ? 8 : 0;
  }

  it('odxcp populate --format raw and raw-len: ddptctl --rtf --info decodes both', () => {
    for (const format of ['raw', 'raw-len']) {
      const f = path.join(dir, `odxcp.${format}`);
      const p = odxcp('token', 'populate', lun('odx0').sg, '--offset', '3M', '--length', '1M', '--out', f, '--format', format);
      assert.equal(p.status, 0, p.stderr);
      assert.equal(fs.statSync(f).size, format === 'raw' ? 512 : 520);
      const info = toolStatus('ddptctl', ['--info', `--rtf=${f}`]);
      assert.equal(info.status, 0, `${format}: ${info.stderr}`);
      assert.match(info.stdout, /Number of bytes represented: 1048576/, format);
      assert.match(info.stdout, /block size: 512/, format);
    }
  });

  it('a token odxcp populated (raw) is written by ddptctl --wut: the bytes arrive in the backing file', () => {
    const shift = ddptShift();
    const [src, dst] = [lun('odx0'), lun('odx1')];
    writeBacking(dst, 20 * MiB, Buffer.alloc(MiB, 0xee));
    const f = path.join(dir, 'for-ddpt.raw');
    const p = odxcp('token', 'populate', src.sg, '--offset', '3M', '--length', '1M', '--out', f, '--format', 'raw');
    assert.equal(p.status, 0, p.stderr);
    const lba = (20 * MiB) / 512; // 40960 = 160 << 8
    const gl = shift ? `${lba >> shift},${2048 >> shift}` : `${lba},2048`;
    const w = toolStatus('ddptctl', [`--wut=${gl}`, '--list_id=4701', `--rtf=${f}`, dst.sg]);
    assert.equal(w.status, 0, w.stderr);
    assert.ok(backing(dst, 20 * MiB, MiB).equals(backing(src, 3 * MiB, MiB)), 'odx1 [20M, +1M) equals odx0 [3M, +1M)');
  });

  it('a token ddptctl populated is written by odxcp token write: the bytes arrive in the backing file', () => {
    const shift = ddptShift();
    const [src, dst] = [lun('odx0'), lun('odx1')];
    const f = path.join(dir, 'from-ddpt.bin');
    const srcLba = 6144; // 3 MiB
    const gl = shift ? `${srcLba >> shift},${2048 >> shift}` : `${srcLba},2048`;
    const pt = toolStatus('ddptctl', [`--pt=${gl}`, '--list_id=4702', `--rtf=${f}`, src.sg]);
    assert.equal(pt.status, 0, pt.stderr);
    assert.match(pt.stdout + pt.stderr, /transfer count of 2048/);
    assert.equal(fs.statSync(f).size, 512);
    const info = odxcp('token', 'info', f, '--json');
    assert.equal(info.status, 0, info.stderr);
    const i = JSON.parse(info.stdout) as { format: string; bytes: number; blockSize: number };
    assert.equal(i.format, 'raw');
    assert.equal(i.bytes, MiB);
    assert.equal(i.blockSize, 512);
    writeBacking(dst, 30 * MiB, Buffer.alloc(MiB, 0x11));
    const before = fs.readFileSync(dst.file as string);
    const w = odxcp('token', 'write', dst.sg, '--in', f, '--offset', '30M', '--json');
    assert.equal(w.status, 0, w.stderr);
    assert.equal((JSON.parse(w.stdout) as { bytesWritten: number }).bytesWritten, MiB);
    const after = fs.readFileSync(dst.file as string);
    assert.ok(after.subarray(30 * MiB, 31 * MiB).equals(backing(src, 3 * MiB, MiB)), 'odx1 [30M, +1M) equals odx0 [3M, +1M)');
    assert.ok(after.subarray(0, 30 * MiB).equals(before.subarray(0, 30 * MiB)) && after.subarray(31 * MiB).equals(before.subarray(31 * MiB)), 'nothing else changed');
  });
});
