// Issue 14's CLI defects that need a real kernel: a stale sg node (sysfs is the witness that no
// device has that number), outputs that fail while a real copy runs (the backing file is the
// witness that the copy finished), SIGHUP on a real copy, and token populate refusing a bad
// --out before any token exists (REPORT ALL ROD TOKENS on the target is the witness).
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ScsiDevice } from '../../lib/device/device';
import * as cmds from '../../lib/scsi/commands';
import { backing, lun, pattern, writeBacking, type LabLun } from './lab';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
const MiB = 1024 * 1024;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-lab-defects-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function odxcp(args: string[], stdout: number | 'pipe' = 'pipe') {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ODXCP_DEBUG: '' }, stdio: ['ignore', stdout, 'pipe'] });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr };
}

const whole = (l: LabLun) => fs.readFileSync(l.file as string);

async function liveTokens(l: LabLun): Promise<number> {
  const d = await ScsiDevice.open(l.sg);
  try {
    return (await cmds.reportAllRodTokens(d)).tokens.length;
  } finally {
    await d.close();
  }
}

describe('issue 14 in the lab: device nodes', () => {
  it('a stale sg node (a minor no sg device has) exits 15 with a message, not lstat ENOENT (52)', () => {
    let minor = 200;
    while (fs.existsSync(`/sys/dev/char/21:${minor}`)) minor++;
    const node = path.join(tmp, 'stale-sg');
    const mk = spawnSync('mknod', ['-m', '600', node, 'c', '21', String(minor)], { encoding: 'utf8' });
    assert.equal(mk.status, 0, mk.stderr);
    const r = odxcp(['info', node]);
    assert.equal(r.status, 15, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^odxcp: .*stale-sg: no device behind this node \\(char 21:${minor} is not in sysfs`));
  });
});

describe('issue 14 in the lab: outputs that fail during a real copy', () => {
  before(() => writeBacking(lun('fio0'), 0, pattern(16 * MiB, 0x1414)));

  it('copy --json > /dev/full: the data is on the destination, exit 120', () => {
    const [src, dst] = [lun('fio0'), lun('fio1')];
    writeBacking(dst, 0, Buffer.alloc(8 * MiB));
    const fd = fs.openSync('/dev/full', 'w');
    let r: ReturnType<typeof odxcp>;
    try {
      r = odxcp(['copy', src.sg, dst.sg, '--length', '8M', '--json'], fd);
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(r.status, 120, r.stderr);
    assert.match(r.stderr, /^odxcp: stdout: ENOSPC: output lost \(the command itself completed\)/);
    assert.ok(backing(dst, 0, 8 * MiB).equals(backing(src, 0, 8 * MiB)), 'the copy completed');
  });

  it('--progress json into a pipe closed after 2 lines (2>&1 >/dev/null | head -2): the copy finishes, exit 120', async function () {
    this.timeout(180_000);
    // Host mode from the slow LUN (its READs take 200 ms per MiB, lab-luns.txt): about 1.6 s for
    // 8 MiB, so the copy goes on well after the pipe closes and must still write its done record.
    const [src, dst] = [lun('odxslow'), lun('odx1')];
    const before = whole(dst);
    const child = spawn(process.execPath, [BIN, 'copy', src.sg, dst.sg, '--mode', 'host', '--length', '8M', '--progress', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let got = '';
    child.stderr.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.split('\n').length > 2) child.stderr.destroy();
    });
    const status = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const [first, second] = got.split('\n').slice(0, 2).map((l) => JSON.parse(l) as { event: string; bytesDone: number });
    assert.equal(first?.event, 'progress');
    // The premise: the pipe closed while the copy still had work (else nothing was lost).
    assert.ok(second?.event === 'progress' && second.bytesDone < 8 * MiB, `the copy was under way when the pipe closed: ${got}`);
    assert.equal(status, 120, got);
    const after = whole(dst);
    assert.ok(after.subarray(0, 8 * MiB).equals(backing(src, 0, 8 * MiB)), 'all 8 MiB were copied after the pipe closed');
    assert.ok(after.subarray(8 * MiB).equals(before.subarray(8 * MiB)), 'nothing past the range changed');
  });
});

describe('issue 14 in the lab: SIGHUP', () => {
  it('stops a real copy like SIGINT: exit 129 and the account', async function () {
    this.timeout(120_000);
    const child = spawn(process.execPath, [BIN, 'copy', lun('odxslow').sg, lun('odx1').sg, '--mode', 'host', '--progress=json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      err += d;
      if (!sent && /"bytesDone":[1-9]/.test(err)) {
        sent = true;
        child.kill('SIGHUP');
      }
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.ok(sent, err);
    assert.equal(code, 129, err);
    assert.match(err.trim().split('\n').pop() as string, /^odxcp: aborted by SIGHUP: \d+ of \d+ bytes copied/);
  });
});

describe('issue 14 in the lab: token populate checks --out first', () => {
  it('a missing --out directory exits 15 and no token is made on the array', async () => {
    const l = lun('odx0');
    const before = await liveTokens(l);
    const r = odxcp(['token', 'populate', l.sg, '--length', '1M', '--out', path.join(tmp, 'no-such-dir', 't.tok')]);
    assert.equal(r.status, 15, r.stderr);
    assert.match(r.stderr, /^odxcp: .*t\.tok: cannot write the token file: directory .*no-such-dir does not exist\n$/);
    assert.equal(await liveTokens(l), before, 'REPORT ALL ROD TOKENS: no new live token');
    // The same command with a good --out does make one (so the witness can see a token).
    const ok = odxcp(['token', 'populate', l.sg, '--length', '1M', '--out', path.join(tmp, 't.tok')]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(await liveTokens(l), before + 1);
  });
});
