// Issue 14, "what admins expect": list/scan, -v/-vv/-vvv at the transport, --dry-run, -q, the
// help's defaults and examples, and the man page and completions generated from the same
// commander tree as --help (every option of every command in both).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { DeviceInfo } from '../../lib/cli/describe';
import { groupCopyManagers, targetIdentities } from '../../lib/cli/list';
import { scanLuns, scanMultipath } from '../../lib/device/scan';
import type { NativeExecuteRequest, NativeExecuteResult } from '../../lib/native';
import * as cmds from '../../lib/scsi/commands';
import { tracing } from '../../lib/scsi/trace';
import { runCommand } from '../../lib/scsi/transport';
import { DeviceError } from '../../lib/errors';
import { fixedSense } from './helpers/fake-lun';
import { harness, run, type Harness } from './helpers/cli-harness';

/**
 * The environment for tools this spec runs (bash, groff, zsh): without the sanitizer runtime
 * that `npm run test:asan` preloads into node, which those programs would inherit and trip on.
 */
function toolEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) delete env[k];
  return env;
}

function info(p: string, o: Partial<DeviceInfo> = {}): DeviceInfo {
  return {
    path: p,
    sg: p,
    sd: null,
    address: '0:0:1:0',
    vendor: 'LIO-ORG',
    product: 'odx',
    revision: '1',
    serial: 'x',
    naa: '6001405',
    blockSize: 512,
    blocks: 131072n,
    bytes: 64n << 20n,
    physicalBlockSize: 512,
    threePC: true,
    tokenCopy: { supported: true, reason: 'VPD 0x8F advertises token copy', limits: { maximumRangeDescriptors: 8, maximumInactivityTimeout: 600, defaultInactivityTimeout: 60, maximumTokenTransferSize: 16384n, optimalTransferCount: 0n, maximumTokenLifetime: 0, rodTypesOut: [], rodTypesIn: [] } },
    xcopyLid1: { supported: false, reason: 'no' },
    blockLimits: null,
    methods: ['odx', 'host'],
    zeroMethods: ['write-same', 'write'],
    probeErrors: [],
    targetIds: [],
    ...o,
  };
}

const lun = (address: string, sg: string | null, o: { type?: number } = {}) => ({ address, type: o.type ?? 0, vendor: 'LIO-ORG', product: 'FILEIO', revision: '4.0', sg, sd: null, blockSize: 512, bytes: 1n << 26n });

describe('odxcp list / scan', () => {
  it('with no SCSI device: the header alone (text) or [] (--json), exit 0', async () => {
    for (const json of [false, true]) {
      const h = harness();
      h.ctx.scan = () => ({ luns: [], multipath: [] });
      assert.equal(await run(h, json ? 'scan' : 'list', ...(json ? ['--json'] : [])), 0);
      if (json) assert.deepEqual(JSON.parse(h.stdout.text), []);
      else assert.deepEqual(h.stdout.lines(), ['[H:C:T:L]  type  sg  sd  vendor  product  size  block  3PC  token copy  EXTENDED COPY  copy manager']);
      assert.equal(h.stderr.text, '');
    }
  });

  it('this host (no SCSI stack): the real sysfs scan lists nothing and exits 0', async function () {
    if (fs.existsSync('/sys/bus/scsi/devices') && fs.readdirSync('/sys/bus/scsi/devices').some((n) => /^\d+:/.test(n))) this.skip();
    const h = harness();
    assert.equal(await run(h, 'list', '--json'), 0);
    assert.deepEqual(JSON.parse(h.stdout.text), []);
  });

  it('groups LUNs by copy manager, marks a LUN that cannot be probed, lists non-disks unprobed', async () => {
    const h = harness();
    const probed: string[] = [];
    h.ctx.scan = () => ({
      luns: [lun('0:0:1:0', '/dev/sg0'), lun('0:0:1:1', '/dev/sg1'), lun('0:0:1:2', '/dev/sg2'), lun('2:0:0:0', '/dev/sg3'), lun('3:0:0:0', '/dev/sg4', { type: 5 }), lun('4:0:0:0', '/dev/sg5')],
      multipath: [{ dm: 'dm-0', name: 'mpatha', wwid: '36001405abc', paths: ['/dev/sdb', '/dev/sdc'], bytes: 1n << 26n }],
    });
    h.ctx.describeDevice = async (p) => {
      probed.push(p);
      if (p === '/dev/sg5') throw new DeviceError({ path: p, code: 'EACCES', message: `${p}: permission denied` });
      if (p === '/dev/sg2') return info(p, { threePC: false, tokenCopy: { supported: false, reason: '3PC=0' } });
      if (p === '/dev/sg3') return info(p, { targetIds: ['target-port:SCSI name string:6e61612e'] });
      return info(p);
    };
    assert.equal(await run(h, 'list', '--json'), 0);
    const rows = JSON.parse(h.stdout.text) as { kind: string; address?: string; copyManager?: string | null; targetIds?: string[]; probeError?: string | null; name?: string }[];
    assert.deepEqual(probed, ['/dev/sg0', '/dev/sg1', '/dev/sg2', '/dev/sg3', '/dev/sg5'], 'the CD-ROM (type 5) is not probed');
    const by = (a: string) => rows.find((r) => r.address === a);
    assert.equal(by('0:0:1:0')?.copyManager, 'cm0');
    assert.equal(by('0:0:1:1')?.copyManager, 'cm0', 'same SCSI target, no designators: one copy manager');
    assert.deepEqual(by('0:0:1:0')?.targetIds, ['scsi-target:0:0:1']);
    assert.equal(by('0:0:1:2')?.copyManager, null, '3PC=0: no copy manager');
    assert.equal(by('2:0:0:0')?.copyManager, 'cm1');
    assert.match(String(by('4:0:0:0')?.probeError), /permission denied/);
    assert.equal(rows.at(-1)?.kind, 'multipath');
    assert.equal(rows.at(-1)?.name, 'mpatha');

    const t = harness();
    t.ctx.scan = h.ctx.scan;
    t.ctx.describeDevice = h.ctx.describeDevice;
    assert.equal(await run(t, 'list'), 0);
    assert.match(t.stdout.text, /\[0:0:1:0\]\s+disk\s+\/dev\/sg0\s+-\s+LIO-ORG\s+FILEIO\s+64 MiB\s+512\s+yes\s+yes 8 MiB\/token\s+no\s+cm0/);
    assert.match(t.stdout.text, /^cm0: \[0:0:1:0\] \[0:0:1:1\] \(scsi-target:0:0:1\)$/m);
    assert.match(t.stdout.text, /^cm1: \[2:0:0:0\] \(scsi-target:2:0:0, target-port:SCSI name string:6e61612e\)$/m);
    assert.match(t.stdout.text, /^multipath mpatha \(\/dev\/dm-0, wwid 36001405abc, 64 MiB\): \/dev\/sdb, \/dev\/sdc$/m);
    assert.match(t.stdout.text, /\[4:0:0:0\]: not probed: \/dev\/sg5: permission denied/);
  });

  it('the copy-manager rule: same H:C:T, target port or target device, transitively; none without 3PC', () => {
    assert.deepEqual(targetIdentities('1:0:2:3', { threePC: true, targetIds: ['target-port:NAA:01'] }), ['scsi-target:1:0:2', 'target-port:NAA:01']);
    assert.deepEqual(targetIdentities('1:0:2:3', { threePC: false, targetIds: ['target-port:NAA:01'] }), []);
    const ids = [
      ['scsi-target:0:0:1', 'target-port:P1'], // a LIO LUN naming its port
      ['scsi-target:0:0:1'], // a tcmu LUN behind the same port that names none
      ['scsi-target:0:0:2', 'target-port:P2'], // the other port
      ['scsi-target:5:0:0', 'target-port:P1'], // P1 again, through another initiator port (multipath)
      ['scsi-target:6:0:0', 'target-device:D'],
      ['scsi-target:7:0:0', 'target-device:D'], // one device, two ports without port designators
      [], // no 3PC
    ];
    assert.deepEqual(groupCopyManagers(ids), ['cm0', 'cm0', 'cm1', 'cm0', 'cm2', 'cm2', null]);
  });

  it('scans a sysfs tree: H:C:T:L in numeric order, sg/sd nodes, size and block size, multipath maps', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-scan-'));
    const mk = (p: string, content?: string) => {
      const f = path.join(root, p);
      fs.mkdirSync(content === undefined ? f : path.dirname(f), { recursive: true });
      if (content !== undefined) fs.writeFileSync(f, `${content}\n`);
    };
    for (const [addr, sg, sd] of [['0:0:10:0', 'sg1', 'sdb'], ['0:0:2:0', 'sg0', 'sda'], ['1:0:0:0', 'sg2', undefined]] as const) {
      const d = `sys/bus/scsi/devices/${addr}`;
      mk(`${d}/type`, addr === '1:0:0:0' ? '5' : '0');
      mk(`${d}/vendor`, 'LIO-ORG ');
      mk(`${d}/model`, 'FILEIO');
      mk(`${d}/rev`, '4.0');
      mk(`${d}/scsi_generic/${sg}`);
      if (sd) {
        mk(`${d}/block/${sd}`);
        mk(`sys/block/${sd}/size`, '131072');
        mk(`sys/block/${sd}/queue/logical_block_size`, sd === 'sdb' ? '4096' : '512');
      }
    }
    mk('sys/bus/scsi/devices/host0'); // not a LUN
    mk('sys/block/dm-0/dm/uuid', 'mpath-36001405aa');
    mk('sys/block/dm-0/dm/name', 'mpatha');
    mk('sys/block/dm-0/size', '131072');
    mk('sys/block/dm-0/slaves/sda');
    mk('sys/block/dm-0/slaves/sdb');
    mk('sys/block/dm-1/dm/uuid', 'LVM-xyz'); // not multipath
    const roots = { sys: path.join(root, 'sys'), proc: '/proc', dev: '/dev' };
    const luns = scanLuns(roots);
    assert.deepEqual(luns.map((l) => l.address), ['0:0:2:0', '0:0:10:0', '1:0:0:0']);
    assert.deepEqual(luns[1], { address: '0:0:10:0', type: 0, vendor: 'LIO-ORG', product: 'FILEIO', revision: '4.0', sg: '/dev/sg1', sd: '/dev/sdb', blockSize: 4096, bytes: 64n << 20n });
    assert.equal(luns[2]?.sd, null);
    assert.equal(luns[2]?.type, 5);
    assert.deepEqual(scanMultipath(roots), [{ dm: 'dm-0', name: 'mpatha', wwid: '36001405aa', paths: ['/dev/sda', '/dev/sdb'], bytes: 64n << 20n }]);
    fs.rmSync(root, { recursive: true });
  });
});

/** A fake SG_IO executor: INQUIRY answers, MODE SELECT-like to-device commands fail with sense. */
function fakeExec(): { path: string; execute(r: NativeExecuteRequest): Promise<NativeExecuteResult> } {
  return {
    path: '/dev/sg9',
    execute: async (r) => {
      const ok: NativeExecuteResult = { status: 0, hostStatus: 0, driverStatus: 0, sense: Buffer.alloc(0), resid: 0, durationMs: 1, info: 0 };
      if (r.cdb[0] === 0x12 && r.data) {
        r.data.fill(0);
        r.data[4] = 31;
        r.data.write('LIO-ORG FILEIO          4.0 ', 8, 'latin1');
        return { ...ok, resid: r.data.length - 36 };
      }
      return { ...ok, status: 2, driverStatus: 8, sense: fixedSense(0x05, 0x24, 0x00) };
    },
  };
}

describe('-v / -vv / -vvv: the transport trace', () => {
  const withTrace = async (flag: string): Promise<Harness> => {
    const h = harness();
    h.ctx.describeDevice = async (p) => {
      const t = { path: '/dev/sg9', command: (c: Parameters<typeof runCommand>[1], o?: Parameters<typeof runCommand>[2]) => runCommand(fakeExec(), c, o) };
      await cmds.inquiry(t);
      await t.command({ cdb: Buffer.from([0x83, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]), direction: 'to-device', data: Buffer.from([1, 2, 3, 4]) }).catch(() => undefined);
      return info(p);
    };
    assert.equal(await run(h, 'info', '/dev/sg9', ...(flag ? [flag] : [])), 0);
    assert.equal(tracing(), false, 'the trace ends with the command');
    return h;
  };

  it('no flag: nothing on stderr', async () => {
    assert.equal((await withTrace('')).stderr.text, '');
  });

  it('-v: each CDB in hex with its status, duration and decoded sense', async () => {
    const e = (await withTrace('-v')).stderr.text;
    assert.match(e, /^ {4}INQUIRY cdb: 12 00 00 [0-9a-f]{2} [0-9a-f]{2} 00 {2}\[\/dev\/sg9\]$/m);
    assert.match(e, /-> GOOD, 36 bytes in, resid \d+, 1 ms \(kernel\), [\d.]+ ms \(host\)/);
    assert.match(e, /POPULATE TOKEN cdb: 83 10 00/);
    assert.match(e, /-> CHECK CONDITION, 4 bytes out/, 'DRIVER_SENSE alone is no transport trouble');
    assert.match(e, /sense: ILLEGAL REQUEST, INVALID FIELD IN CDB \(24\/00\)/i);
    assert.doesNotMatch(e, /parameter list out|sense bytes|data in/);
  });

  it('-vv adds the parameter list and the raw sense; -vvv the data received', async () => {
    const vv = (await withTrace('-vv')).stderr.text;
    assert.match(vv, /parameter list out \(4 bytes\):\n {8}0000  01 02 03 04/);
    assert.match(vv, /sense bytes: 70 00 05 00/);
    assert.doesNotMatch(vv, /data in/);
    const vvv = (await withTrace('-vvv')).stderr.text;
    assert.match(vvv, /data in \(36 bytes\):\n {8}0000  00 00 00 00 1f 00 00 00 4c 49 4f 2d 4f 52 47 20/);
  });

  it('a subcommand of token takes -v too (the token group itself has none to swallow it)', async () => {
    const h = harness();
    h.ctx.populateTokenFile = async () => {
      await runCommand(fakeExec(), { cdb: Buffer.from([0x12, 0, 0, 0, 36, 0]), direction: 'from-device', allocationLength: 36 });
      throw new DeviceError({ path: '/dev/sg1', code: 'EIO', message: 'stop here' });
    };
    await run(h, 'token', 'populate', '/dev/sg1', '--length', '1M', '--out', path.join(os.tmpdir(), `odxcp-v-${process.pid}`), '-vv');
    assert.match(h.stderr.text, /INQUIRY cdb: 12 00 00 00 24 00/);
  });

  it('the sg_xcopy form takes -v and verbose=N too', async () => {
    const h = harness();
    h.ctx.geometry = async () => {
      await runCommand(fakeExec(), { cdb: Buffer.from([0x12, 0, 0, 0, 36, 0]), direction: 'from-device', allocationLength: 36 });
      return { blockSize: 512, bytes: 1n << 20n };
    };
    assert.equal(await run(h, 'if=/dev/sg1', 'of=/dev/sg2', 'verbose=1', '--dry-run'), 0);
    assert.match(h.stderr.text, /INQUIRY cdb: 12 00 00 00 24 00/);
    assert.equal(tracing(), false);
  });
});

describe('--dry-run and -q', () => {
  it('copy --dry-run plans with the resolved options and never copies', async () => {
    const h = harness();
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '--length', '1M', '--dry-run'), 0);
    assert.equal(h.copies.length, 0);
    assert.equal(h.plans.length, 1);
    assert.equal(h.plans[0]?.length, 1n << 20n);
    assert.match(h.stdout.text, /^dry run: nothing is written\ncopy plan \/dev\/sg1 -> \/dev\/sg2/);
    const j = harness();
    assert.equal(await run(j, 'copy', '/dev/sg1', '/dev/sg2', '-n', '--json'), 0);
    const out = JSON.parse(j.stdout.text) as { dryRun: boolean; plan: { method: string } };
    assert.equal(out.dryRun, true);
    assert.equal(out.plan.method, 'xcopy');
  });

  it('copy SRC DST1 DST2 --dry-run plans each pair and copies nothing', async () => {
    const h = harness();
    let copied = 0;
    h.ctx.copyMany = (async () => {
      copied++;
      throw new Error('must not run');
    }) as never;
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '/dev/sg4k', '--length', '64k', '--dry-run', '--json'), 0, h.stderr.text);
    assert.equal(copied, 0);
    assert.equal(h.copies.length, 0);
    assert.deepEqual(h.plans.map((p) => p.dst), ['/dev/sg2', '/dev/sg4k']);
    const j = JSON.parse(h.stdout.text) as { dryRun: boolean; pairs: { plan: unknown }[] };
    assert.equal(j.dryRun, true);
    assert.equal(j.pairs.length, 2);
  });

  it('a usage error still exits 1 with --dry-run, before any device', async () => {
    const h = harness();
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '--length', '0', '--dry-run'), 1);
    assert.deepEqual(h.geometryCalls, []);
  });

  it('zero --dry-run: the methods it would use, no zeroRange', async () => {
    const h = harness();
    let zeroed = 0;
    h.ctx.zeroRange = async () => {
      zeroed++;
      throw new Error('must not run');
    };
    h.ctx.describeDevice = async (p) => info(p);
    assert.equal(await run(h, 'zero', '/dev/sg1', '--length', '8b', '--dry-run'), 0);
    assert.equal(zeroed, 0);
    assert.match(h.stdout.text, /zero plan \/dev\/sg1: 4096 bytes \(4 KiB\) from \+0: write-same, then write; then SYNCHRONIZE CACHE/);
    const f = harness();
    f.ctx.describeDevice = async (p) => info(p);
    assert.equal(await run(f, 'zero', '/dev/sg1', '--length', '8b', '--method', 'write', '-n', '--json'), 0);
    assert.deepEqual((JSON.parse(f.stdout.text) as { plan: { methods: string[] } }).plan.methods, ['write']);
  });

  it('-q: nothing on stdout for a copy; --json still prints its object; errors still on stderr', async () => {
    const h = harness();
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '-q'), 0);
    assert.equal(h.copies.length, 1);
    assert.equal(h.stdout.text, '');
    assert.equal(h.stderr.text, '');
    const j = harness();
    assert.equal(await run(j, 'copy', '/dev/sg1', '/dev/sg2', '-q', '--json'), 0);
    assert.equal((JSON.parse(j.stdout.text) as { complete: boolean }).complete, true);
    const e = harness();
    assert.equal(await run(e, 'copy', '/dev/sg1', '/dev/nope', '--quiet'), 15);
    assert.match(e.stderr.text, /^odxcp: \/dev\/nope: no such device\n$/);
  });

  it('-q turns the automatic progress bar off even on a terminal', async () => {
    const h = harness({ copy: async (o) => {
      o.onProgress?.({ bytesDone: 1n, totalBytes: 2n, method: 'odx', byMethod: { odx: 1n, xcopy: 0n, host: 0n } } as never);
      const { result } = await import('./helpers/cli-harness');
      return result();
    } });
    (h.stderr as { isTTY: boolean }).isTTY = true;
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '-q'), 0);
    assert.equal(h.stderr.text, '');
  });
});

/** The commands `odxcp --help` lists, and their subcommands, from the help text itself. */
async function helpOf(...cmd: string[]): Promise<string> {
  const h = harness();
  assert.equal(await run(h, ...cmd, '--help'), 0);
  return h.stdout.text;
}

function helpCommands(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1]?.split(/^\S/m)[0] ?? '';
  return section
    .split('\n')
    .map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined && c !== 'help');
}

function helpOptions(help: string): string[] {
  const section = help.split(/^Options:$/m)[1]?.split(/^\S/m)[0] ?? '';
  return section.split('\n').flatMap((l) => [...(/^ {2}(-\w)?(?:, )?(--[a-z][a-z0-9-_]*)?/.exec(l) ?? [])].slice(1).filter((x): x is string => x !== undefined));
}

describe('help, man page and completion from one definition', () => {
  let commands: string[][] = [];
  before(async () => {
    commands = [];
    for (const c of helpCommands(await helpOf())) {
      commands.push([c]);
      for (const s of helpCommands(await helpOf(c))) commands.push([c, s]);
    }
  });

  it('lists the new commands', () => {
    const names = commands.map((c) => c.join(' '));
    for (const n of ['copy', 'info', 'list', 'zero', 'token populate', 'token write', 'token info', 'completion', 'exit-codes']) assert.ok(names.includes(n), `${n} in --help (got ${names.join(', ')})`);
  });

  it('every command help shows -v, -q, its exit statuses, and examples; defaults of timeouts, token size and in-flight', async () => {
    for (const c of commands) {
      const help = await helpOf(...c);
      if (c.join(' ') !== 'token') {
        assert.match(help, /-v, --verbose/, c.join(' '));
        assert.match(help, /-q, --quiet/, c.join(' '));
      }
      assert.match(help, /Exit status: 0 success, 1 usage error, 15 device or file problem/, c.join(' '));
      if (c[0] !== 'token' || c.length > 1) assert.match(help, /Examples:\n {2}odxcp /, c.join(' '));
    }
    const copy = (await helpOf('copy')).replace(/\s+/g, ' ');
    assert.match(copy, /--timeout <seconds> SG_IO timeout for each command \(default: 60 s per command; 600 s for POPULATE TOKEN, WRITE USING TOKEN and EXTENDED COPY; 300 s for WRITE SAME and SYNCHRONIZE CACHE\)/);
    assert.match(copy, /--max-in-flight <n> .*\(default 4\)/);
    assert.match(copy, /--token-size <size> .*\(default: the targets' optimal or maximum ROD size, else 8 MiB\)/);
    assert.match(copy, /-n, --dry-run/);
    assert.match((await helpOf('zero')).replace(/\s+/g, ' '), /-n, --dry-run/);
  });

  it('every option of every command is in the man page and in both completions', async () => {
    const out = async (...a: string[]) => {
      const h = harness();
      assert.equal(await run(h, ...a), 0);
      return h.stdout.text;
    };
    const man = await out('man');
    const bash = await out('completion', 'bash');
    const zsh = await out('completion', 'zsh');
    let checked = 0;
    for (const c of commands) {
      const opts = helpOptions(await helpOf(...c)).filter((o) => o !== '-h' && o !== '--help');
      assert.ok(opts.length > 0 || c.join(' ') === 'token', `options of ${c.join(' ')}`);
      const roffName = c.join(' ').replace(/-/g, '\\-');
      assert.ok(man.includes(`.SS\nodxcp ${roffName} `), `man: ${c.join(' ')}`);
      const manSection = man.split(`.SS\nodxcp ${roffName} `)[1]?.split(/^\.SS/m)[0] ?? '';
      const bashCase = bash.split(`    "${c.join(' ')}")`)[1]?.split(/;;\n {4}"/)[0] ?? '';
      const zshFn = zsh.split(`_odxcp_${c.join('_')}() {`)[1]?.split('\n}')[0] ?? '';
      for (const o of opts) {
        const flagLines = manSection.split('\n').filter((l) => l.startsWith('.B '));
        assert.ok(flagLines.some((l) => l.slice(3).split(/[ ,]+/).includes(o.replace(/-/g, '\\-'))), `man page: ${c.join(' ')} ${o}`);
        assert.ok(new RegExp(`(^|[" ])${o}( |")`, 'm').test(bashCase), `bash completion: ${c.join(' ')} ${o}`);
        assert.ok(zshFn.includes(`'${o}[`), `zsh completion: ${c.join(' ')} ${o}`);
        checked++;
      }
    }
    assert.ok(checked > 60, `checked ${checked} options`);
    assert.equal(spawnSync('bash', ['-n'], { input: bash, env: toolEnv() }).status, 0, 'the bash script parses');
  });

  it('the man page renders with groff -man without a warning', async function () {
    if (spawnSync('groff', ['--version'], { env: toolEnv() }).status !== 0) this.skip(); // groff is not a dependency of the build
    const h = harness();
    assert.equal(await run(h, 'man'), 0);
    const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z'], { input: h.stdout.text, encoding: 'utf8', env: toolEnv() });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
    const text = spawnSync('groff', ['-man', '-Tascii'], { input: h.stdout.text, encoding: 'utf8', env: toolEnv() }).stdout.replace(/.\x08/g, '');
    assert.match(text.replace(/ +/g, " "), /^NAME\n odxcp - SCSI copy offload/m);
    assert.match(text, /^EXIT STATUS/m);
    assert.match(text, /^ +120 +ODXCP_OUTPUT_LOST/m);
  });

  it('the zsh script parses (zsh -n) when zsh is installed', async function () {
    if (spawnSync('zsh', ['--version'], { env: toolEnv() }).status !== 0) this.skip(); // zsh is not a dependency of the build
    const h = harness();
    assert.equal(await run(h, 'completion', 'zsh'), 0);
    const r = spawnSync('zsh', ['-n'], { input: h.stdout.text, encoding: 'utf8', env: toolEnv() });
    assert.equal(r.status, 0, r.stderr);
    assert.match(h.stdout.text, /^#compdef odxcp\n/);
  });

  it('completion of an unknown shell is a usage error', async () => {
    const h = harness();
    assert.equal(await run(h, 'completion', 'fish'), 1);
    assert.match(h.stderr.text, /completion: 'fish' is not one of bash, zsh/);
  });
});
