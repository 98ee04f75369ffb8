// The CLI defects of issue 14, one test each: crashes on odd token files and on outputs that
// fail, signals, narrow terminals, usage errors found only after the devices were opened, token
// file validation and statuses, token populate's output check, sg_xcopy form details, messages,
// and --json / --progress json on failures. Each of these failed before the fix.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import type { DeviceInfo } from '../../lib/cli/describe';
import { renderBar } from '../../lib/cli/progress';
import { CopyError } from '../../lib/engine';
import type { CopyOptions } from '../../lib/engine/types';
import { DeviceError } from '../../lib/errors';
import { ROD_TYPE } from '../../lib/scsi/rod-token';
import { encodeTokenFile, type PopulateTokenFileResult } from '../../lib/tokens/token-file';
import { harness, oneLineError, result, run } from './helpers/cli-harness';
import { makeTempDir, mknod, runAsNobody } from './helpers/host-nodes';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'odxcp');
const FAKE = path.join(__dirname, 'fixtures', 'cli-fake-engine.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-defects-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function odxcp(args: string[], o: { stdout?: number | 'pipe' } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ODXCP_DEBUG: '' }, stdio: ['ignore', o.stdout ?? 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr };
}

function assertOneLine(stderr: string, re: RegExp): void {
  const lines = stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one stderr line: ${JSON.stringify(stderr)}`);
  assert.match(lines[0] as string, /^odxcp: /);
  assert.match(lines[0] as string, re);
}

/** A valid ROD token (access upon reference) for `bytes` of `bs`-byte blocks. */
function rodToken(bytes: bigint, bs = 512): Buffer {
  const t = Buffer.alloc(512);
  t.writeUInt32BE(ROD_TYPE.ACCESS_UPON_REFERENCE, 0);
  t.writeUInt16BE(0x1f8, 6);
  t.writeBigUInt64BE(0x0102030405060708n, 8);
  t.writeBigUInt64BE(bytes, 56);
  t.writeUInt32BE(bs, 96);
  t.fill(0xa5, 200);
  return t;
}

const META = { blockSize: 512, lba: 0n, bytes: 8192n, createdAt: new Date(1_700_000_000_000), inactivityTimeout: 60 };

/** A token file with `patch` applied to its header, and the CRC recomputed (so only the field is wrong). */
function tokenFile(name: string, patch: (b: Buffer) => void = () => undefined, token = rodToken(META.bytes)): string {
  const b = encodeTokenFile(META, token);
  patch(b);
  b.writeUInt32BE(crc32(b.subarray(64), crc32(b.subarray(0, 48))) >>> 0, 48);
  const f = path.join(tmp, name);
  fs.writeFileSync(f, b);
  return f;
}

/** A stream that fails like process.stdout on a full disk or a closed pipe: the error comes on a later tick. */
class FailingStream extends EventEmitter {
  text = '';
  writes = 0;
  isTTY = false;
  constructor(
    private readonly code: string,
    private readonly okWrites = 0,
  ) {
    super();
  }
  write(s: string): boolean {
    this.writes++;
    if (this.writes <= this.okWrites) {
      this.text += s;
      return true;
    }
    const e = Object.assign(new Error(`${this.code}: write failed`), { code: this.code, errno: this.code === 'EPIPE' ? -32 : -28, syscall: 'write' });
    process.nextTick(() => this.emit('error', e));
    return false;
  }
}

describe('issue 14: token info of odd files', () => {
  it('a valid CRC around a creation time of 0xFFFF... is a corrupt file (exit 15), not a RangeError (exit 99)', async () => {
    const f = tokenFile('future-max.tok', (b) => b.writeBigUInt64BE(0xffffffffffffffffn, 32));
    const h = harness();
    assert.equal(await run(h, 'token', 'info', f), 15);
    oneLineError(h, /corrupt token file \(creation time 18446744073709551615 ms after 1970 is not a valid time\)/);
    assert.doesNotMatch(h.stderr.text, /RangeError/);
  });

  it('corrupt, truncated and wrong-version files exit 15, like a missing one', async () => {
    const good = fs.readFileSync(tokenFile('good.tok'));
    const cases: [string, Buffer, RegExp][] = [
      ['truncated.tok', good.subarray(0, 300), /truncated token file \(300 of 576 bytes\)/],
      ['v9.tok', Buffer.from(good).fill(9, 9, 10), /token file version 9 is not supported/],
      ['flipped.tok', Buffer.from(good).fill(0x77, 400, 401), /corrupt token file \(CRC-32/],
      ['long.tok', Buffer.concat([good, Buffer.alloc(4)]), /corrupt token file \(580 bytes, expected 576\)/],
    ];
    for (const [name, bytes, re] of cases) {
      const f = path.join(tmp, name);
      fs.writeFileSync(f, bytes);
      const h = harness();
      assert.equal(await run(h, 'token', 'info', f), 15, name);
      oneLineError(h, re);
      const w = harness();
      assert.equal(await run(w, 'token', 'write', '/dev/sg2', '--in', f), 15, `token write ${name}`);
    }
  });

  it('512 random bytes are "not a ROD token" (exit 15), not "represents 115182432095712395264 EiB"', async () => {
    const f = path.join(tmp, 'random.bin');
    const b = Buffer.alloc(512);
    for (let i = 0; i < 512; i++) b[i] = (i * 131 + 17) & 0xff;
    b.writeUInt32BE(0x12345678, 0);
    fs.writeFileSync(f, b);
    const h = harness();
    assert.equal(await run(h, 'token', 'info', f), 15);
    oneLineError(h, /not a ROD token \(ROD type 0x12345678 is reserved\)/);
    assert.equal(h.stdout.text, '');
  });

  it('validates the token length, the block size, the byte count and the header against the token', async () => {
    const cases: [string, Buffer, RegExp][] = [
      ['len', Buffer.from(rodToken(8192n)).fill(0, 6, 8), /not a ROD token \(ROD TOKEN LENGTH is 0x0000, not 0x01F8/],
      ['bs', (() => { const t = rodToken(8192n); t.writeUInt32BE(3, 96); return t; })(), /not a ROD token \(its block device data gives a logical block length of 3 bytes\)/],
      ['huge', (() => { const t = rodToken(0n); t.writeBigUInt64BE(0x63n, 48); return t; })(), /not a ROD token \(it claims to represent \d+ bytes, more than any LUN holds\)/],
      ['odd', rodToken(1000n), /not a ROD token \(it represents 1000 bytes, not a whole number of its 512-byte blocks\)/],
    ];
    for (const [name, tok, re] of cases) {
      const f = path.join(tmp, `raw-${name}.tok`);
      fs.writeFileSync(f, tok);
      const h = harness();
      assert.equal(await run(h, 'token', 'info', f), 15, name);
      oneLineError(h, re);
    }
    const mismatch: [string, string, (b: Buffer) => void, Buffer | undefined, RegExp][] = [
      ['header bs', 'hbs.tok', (b) => b.writeUInt32BE(4096, 12), undefined, /the header does not match the token \(4096-byte blocks in the header, 512 in the token\)/],
      ['header bytes', 'hbytes.tok', (b) => b.writeBigUInt64BE(16384n, 24), undefined, /the header does not match the token \(16384 bytes in the header, 8192 in the token\)/],
      ['header bs 0', 'hbs0.tok', (b) => b.writeUInt32BE(0, 12), rodToken(0n, 0), /corrupt token file \(block size 0 in the header\)/],
    ];
    for (const [what, name, patch, token, re] of mismatch) {
      const h = harness();
      assert.equal(await run(h, 'token', 'info', tokenFile(name, patch, token)), 15, what);
      oneLineError(h, re);
    }
  });

  it('a creation time in the future is flagged (text and --json)', async () => {
    const f = tokenFile('future.tok', (b) => b.writeBigUInt64BE(1_700_000_060_000n + 3_600_000n, 32));
    const h = harness(); // now() is 1_700_000_060_000
    assert.equal(await run(h, 'token', 'info', f), 0, h.stderr.text);
    assert.match(h.stdout.text, /\(3600 s in the future\)/);
    assert.match(h.stdout.text, /warning: the creation time is 3600 s in the future: this host's clock or the creating host's is wrong/);
    const j = harness();
    assert.equal(await run(j, 'token', 'info', f, '--json'), 0);
    const o = JSON.parse(j.stdout.text);
    assert.equal(o.inFuture, true);
    assert.equal(o.futureSeconds, 3600);
    assert.equal(o.warnings.length, 1);
  });
});

describe('issue 14: stdout and stderr that fail', () => {
  it('odxcp --help > /dev/full: no stack trace, exit 120 (output lost), one line on stderr', () => {
    const fd = fs.openSync('/dev/full', 'w');
    try {
      const r = odxcp(['--help'], { stdout: fd });
      assert.equal(r.status, 120, r.stderr);
      assertOneLine(r.stderr, /^odxcp: stdout: ENOSPC: output lost \(the command itself completed\); exit status 120$/);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('copy --json > /dev/full after a successful copy: the copy completed, exit 120', () => {
    const fd = fs.openSync('/dev/full', 'w');
    const done = path.join(tmp, 'full.done');
    try {
      const r = spawnSync(process.execPath, [FAKE, 'copy', '/dev/sgA', '/dev/sgB', '--json'], { encoding: 'utf8', stdio: ['ignore', fd, 'pipe'], env: { ...process.env, FAKE_DONE: done, FAKE_STEPS: '3' } });
      assert.equal(r.status, 120, r.stderr);
      assert.ok(fs.existsSync(done), 'the copy ran to the end');
      assertOneLine(r.stderr, /stdout: ENOSPC: output lost/);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('--progress json into a pipe closed after 2 lines (| head -2): the copy finishes, exit 120', async () => {
    const done = path.join(tmp, 'pipe.done');
    const child = spawn(process.execPath, [FAKE, 'copy', '/dev/sgA', '/dev/sgB', '--progress', 'json'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FAKE_DONE: done, FAKE_STEPS: '40' } });
    let got = '';
    const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    child.stderr.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.split('\n').length > 2) child.stderr.destroy(); // what head -2 does
    });
    const status = await exited;
    assert.ok(got.split('\n').length > 2, 'progress lines arrived first');
    assert.ok(fs.existsSync(done), 'the copy was not stopped by EPIPE');
    assert.equal(status, 120);
  });

  it('in-process: a stderr that fails mid-copy (EPIPE) drops the progress, not the copy; a stdout that fails (ENOSPC) after it exits 120', async () => {
    let finished = false;
    const h = harness({
      copy: async (o) => {
        for (let i = 0; i < 5; i++) {
          o.onProgress?.({ bytesDone: BigInt(i), totalBytes: 5n, byMethod: { odx: 0n, xcopy: 0n, host: 0n }, elapsedMs: i, method: 'odx' });
          await new Promise((r) => setImmediate(r));
        }
        finished = true;
        return result();
      },
    });
    const stderr = new FailingStream('EPIPE', 2);
    h.ctx.stderr = stderr;
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '--progress', 'json'), 120);
    assert.ok(finished);
    assert.equal(stderr.text.split('\n').filter(Boolean).length, 2);
    assert.match(h.stdout.text, /^copied 1048576 of 1048576 bytes/);

    const j = harness();
    j.ctx.stdout = new FailingStream('ENOSPC');
    assert.equal(await run(j, 'copy', '/dev/sg1', '/dev/sg2', '--json'), 120);
    assert.equal(j.copies.length, 1);
    oneLineError(j, /^odxcp: stdout: ENOSPC: output lost/);
  });

  it('a failed command keeps its own status when its output is lost too', async () => {
    const h = harness({
      copy: async () => {
        throw new CopyError('COPY ABORTED', 'COPY_ABORTED', result({ bytes: 0n }), (await import('./helpers/cli-harness')).copyAborted());
      },
    });
    h.ctx.stdout = new FailingStream('ENOSPC');
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '--json'), 10);
  });
});

describe('issue 14: signals', () => {
  const pending = (h: ReturnType<typeof harness>) => (o: CopyOptions) =>
    new Promise<never>((_res, rej) => {
      o.onProgress?.({ bytesDone: 4096n, totalBytes: 1048576n, byMethod: { odx: 4096n, xcopy: 0n, host: 0n }, elapsedMs: 5, method: 'odx' });
      o.signal?.addEventListener('abort', () => rej(new CopyError('copy aborted', 'ABORTED', result({ bytes: 4096n, offloadedBytes: 4096n, hostBytes: 0n }), o.signal?.reason)));
      void h;
    });

  it('SIGHUP stops the copy like SIGINT: the account is printed, exit 129', async () => {
    const h = harness();
    h.ctx.copy = pending(h);
    const p = run(h, 'copy', '/dev/sg1', '/dev/sg2');
    await new Promise((r) => setImmediate(r));
    assert.ok(h.signals.has('SIGHUP'), 'a SIGHUP handler is installed');
    h.signals.get('SIGHUP')?.();
    assert.equal(await p, 129);
    oneLineError(h, /^odxcp: aborted by SIGHUP: 4096 of 1048576 bytes copied/);
  });

  it('a second SIGINT leaves at once but says so, with the last progress; --progress json gets its done record, --json its object', async () => {
    const h = harness({ copy: (o) => new Promise(() => o.onProgress?.({ bytesDone: 8192n, totalBytes: 1048576n, byMethod: { odx: 8192n, xcopy: 0n, host: 0n }, elapsedMs: 5, method: 'odx' })) });
    void run(h, 'copy', '/dev/sg1', '/dev/sg2', '--progress', 'json', '--json');
    await new Promise((r) => setImmediate(r));
    h.signals.get('SIGINT')?.();
    h.signals.get('SIGINT')?.();
    assert.deepEqual(h.exits, [130]);
    const lines = h.stderr.lines();
    const done = JSON.parse(lines[lines.length - 2] as string);
    assert.equal(done.event, 'done');
    assert.equal(done.ok, false);
    assert.equal(done.bytes, 8192);
    assert.match(lines[lines.length - 1] as string, /^odxcp: SIGINT again: leaving without waiting for the commands in flight; at least 8192 of 1048576 bytes were copied/);
    const j = JSON.parse(h.stdout.text);
    assert.equal(j.complete, false);
    assert.equal(j.error.exitCode, 130);
  });
});

describe('issue 14: a terminal that reports 0 columns', () => {
  it('gets a percentage, not only carriage returns', async () => {
    const h = harness({
      copy: async (o) => {
        o.onProgress?.({ bytesDone: 262144n, totalBytes: 1048576n, byMethod: { odx: 262144n, xcopy: 0n, host: 0n }, elapsedMs: 50, method: 'odx' });
        return result();
      },
    });
    h.stderr.isTTY = true;
    h.stderr.columns = 0;
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2'), 0);
    assert.match(h.stderr.text, /^\r\[#+-+\] +25\.0%/, JSON.stringify(h.stderr.text));
    assert.equal(renderBar({ bytesDone: 1n, totalBytes: 4n, elapsedMs: 1 }, 12), '25.0%');
  });
});

describe('issue 14: usage errors before any device is opened', () => {
  const cases: [string[], RegExp][] = [
    [['copy', '/dev/nope1', '/dev/nope2', '--length', '0'], /--length: must be more than 0/],
    [['copy', '/dev/nope1', '/dev/nope2', '--length', '0b'], /--length: must be more than 0/],
    [['copy', '/dev/nope1', '/dev/nope2', '--token-size', '0'], /--token-size: must be more than 0/],
    [['zero', '/dev/nope1', '--length', '0'], /--length: must be more than 0/],
    [['if=/dev/nope1', 'of=/dev/nope2', '--length', '1M'], /--length: not with if=\/of=; use count=/],
    [['if=/dev/nope1', 'of=/dev/nope2', 'count=0'], /count=0: nothing to copy/],
    [['token', 'populate', '/dev/nope1', '--length', '0', '--out', 'x.tok'], /--length: must be more than 0/],
    [['token', 'write', '/dev/nope1', '--in', 'x.tok', '--length', '0'], /--length: must be more than 0/],
    [['info', ''], /DEVICE: empty device path/],
    [['copy', '', '/dev/nope2'], /SRC: empty device path/],
    [['zero', '', '--length', '1M'], /DEVICE: empty device path/],
  ];
  for (const [args, re] of cases) {
    it(`${args.map((a) => (a === '' ? "''" : a)).join(' ')}: exit 1, no device touched`, async () => {
      const h = harness();
      h.ctx.describeDevice = async (p) => {
        throw new DeviceError({ path: p, code: 'ENOENT', message: `${p}: no such device` });
      };
      assert.equal(await run(h, ...args), 1);
      oneLineError(h, re);
      assert.deepEqual(h.geometryCalls, []);
      assert.equal(h.copies.length, 0);
    });
  }

  it('bin/odxcp info \'\' exits 1', () => {
    const r = odxcp(['info', '']);
    assert.equal(r.status, 1);
    assertOneLine(r.stderr, /DEVICE: empty device path/);
  });
});

describe('issue 14: device paths', () => {
  it('a stale sg node (mknod c 21 N with no device) exits 15 with a message, not a raw lstat ENOENT (52)', function () {
    const node = mknod(path.join(tmp, 'stale-sg'), 'c', 21, 4000, 0o600);
    if (!node) this.skip(); // needs root; the lab suite proves it on a real kernel as well
    const r = odxcp(['info', node as string]);
    assert.equal(r.status, 15, r.stderr);
    assertOneLine(r.stderr, /stale-sg: no device behind this node \(char 21:4000 is not in sysfs: a stale node, or the device was removed\)/);
  });

  it('a symlink loop says what to do, not a bare ELOOP', () => {
    const a = path.join(tmp, 'loop-a');
    const b = path.join(tmp, 'loop-b');
    fs.symlinkSync(b, a);
    fs.symlinkSync(a, b);
    const r = odxcp(['info', a]);
    assert.equal(r.status, 15);
    assertOneLine(r.stderr, /loop-a: too many levels of symbolic links \(a symlink loop\?\): give the device node itself/);
  });

  it('a path through a directory the user cannot search says what to do, not a bare EACCES', function () {
    const dir = makeTempDir('odxcp-eacces-');
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const locked = path.join(dir, 'locked');
    fs.mkdirSync(locked, { mode: 0o700 });
    const script = `require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'cli', 'main.js'))}).main(['node', 'odxcp', 'info', ${JSON.stringify(path.join(locked, 'sg0'))}]).then((c) => { process.exitCode = c; })`;
    const r = runAsNobody(script, { PATH: process.env.PATH ?? '' });
    if (!r) this.skip(); // needs root and setpriv to drop to nobody
    assert.equal(r?.status, 15, r?.stderr);
    assertOneLine(r?.stderr as string, /locked\/sg0: permission denied while looking the path up: a directory on the way is not searchable by this user \(check its permissions, or run as root\)/);
  });

  it('a path with a newline keeps its reason on the one line', () => {
    const r = odxcp(['info', '/dev/odxcp\nnope']);
    assert.equal(r.status, 15);
    assertOneLine(r.stderr, /^odxcp: \/dev\/odxcp\\nnope: no such device$/);
  });
});

describe('issue 14: token populate checks its output first', () => {
  const populated: PopulateTokenFileResult = {
    file: 'x',
    format: 'odxcp',
    device: '/dev/sg1',
    blockSize: 512,
    lba: 0n,
    offset: 0n,
    requestedBytes: 4096n,
    bytes: 4096n,
    truncated: false,
    inactivityTimeout: 0,
    createdAt: new Date(),
    listId: 1,
    token: {} as PopulateTokenFileResult['token'],
  };

  it('an --out in a missing directory exits 15 before POPULATE TOKEN is sent', async () => {
    const h = harness();
    let calls = 0;
    h.ctx.populateTokenFile = async () => {
      calls++;
      return populated;
    };
    assert.equal(await run(h, 'token', 'populate', '/dev/sg1', '--length', '4k', '--out', path.join(tmp, 'no-such-dir', 'x.tok')), 15);
    oneLineError(h, /x\.tok: cannot write the token file: directory .*no-such-dir does not exist/);
    assert.equal(calls, 0);
    const d = harness();
    assert.equal(await run(d, 'token', 'populate', '/dev/sg1', '--length', '4k', '--out', tmp, '--force'), 15);
    oneLineError(d, /cannot write the token file: not a regular file/);
  });
});

describe('issue 14: sg_xcopy form', () => {
  for (const [flag, re] of [
    ['iflag=excl', /iflag=: flag 'excl' is not supported by odxcp \(odxcp opens the source shared/],
    ['iflag=null', /iflag=: flag 'null' is not supported/],
    ['oflag=null', /oflag=: flag 'null' is not supported/],
    ['iflag=excl,null', /iflag=: flag 'excl'/],
  ] as const) {
    it(`${flag} is refused`, async () => {
      const h = harness();
      assert.equal(await run(h, 'if=/dev/sg1', 'of=/dev/sg2', flag), 1);
      oneLineError(h, re);
    });
  }

  it('oflag=excl is accepted: odxcp opens the destination exclusively anyway', async () => {
    const h = harness();
    assert.equal(await run(h, 'if=/dev/sg1', 'of=/dev/sg2', 'oflag=excl'), 0, h.stderr.text);
  });

  it('-V and --version print the version, as sg_xcopy does', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const v of ['-V', '--version']) {
      const h = harness();
      assert.equal(await run(h, 'if=/dev/sg1', 'of=/dev/sg2', v), 0, h.stderr.text);
      assert.equal(h.stdout.text, `${pkg.version}\n`);
      assert.equal(h.copies.length, 0);
    }
  });

  it('count= past the end is said in blocks, naming count=', async () => {
    let h = harness();
    assert.equal(await run(h, 'if=/dev/sg1', 'of=/dev/sg2', 'skip=131000', 'count=100'), 1);
    oneLineError(h, /^odxcp: count=100: skip=131000 \+ count=100 runs past the end of if=\/dev\/sg1 \(131072 blocks\)$/);
    h = harness();
    assert.equal(await run(h, 'if=/dev/sg1', 'of=/dev/sg2', 'seek=131000', 'count=100'), 1);
    oneLineError(h, /^odxcp: count=100: seek=131000 \+ 100 blocks runs past the end of of=\/dev\/sg2 \(131072 blocks\)$/);
    assert.equal(h.copies.length, 0);
  });

  it('time=1 prints one rate (sg_xcopy\'s MB/sec), not MiB/s as well', async () => {
    const h = harness();
    assert.equal(await run(h, 'if=/dev/sg1', 'of=/dev/sg2', 'time=1'), 0);
    assert.match(h.stderr.text, /MB\/sec/);
    assert.doesNotMatch(h.stdout.text, /\/s\b/);
  });

  it('the help says what b means in operands and in options', async () => {
    const h = harness();
    assert.equal(await run(h, '--help'), 0);
    assert.match(h.stdout.text, /a b suffix\s+multiplies by 512 as in sg3_utils \(in --options, Nb means N logical blocks instead\)/);
    const c = harness();
    assert.equal(await run(c, 'copy', '--help'), 0);
    assert.match(c.stdout.text, /Nb = N logical blocks of SRC/);
  });
});

describe('issue 14: options and words not understood', () => {
  it('a repeated --mode (or any option with a value) is refused', async () => {
    for (const args of [
      ['copy', '/dev/sg1', '/dev/sg2', '--mode', 'odx', '--mode', 'host'],
      ['copy', '/dev/sg1', '/dev/sg2', '--mode=odx', '--mode=odx'],
      ['if=/dev/sg1', 'of=/dev/sg2', '--mode', 'odx', '--mode', 'host'],
      ['zero', '/dev/sg1', '--length', '1M', '--length', '2M'],
    ]) {
      const h = harness();
      assert.equal(await run(h, ...args), 1, args.join(' '));
      oneLineError(h, /--(mode|length): given twice \('.*' and '.*'\); give it once/);
      assert.equal(h.copies.length, 0);
    }
  });

  it('a word too many is named', async () => {
    const h = harness();
    // (copy takes several destinations, so a word too many is shown on zero, which takes one)
    assert.equal(await run(h, 'zero', '/dev/sg1', 'extra', '--length', '1M'), 1);
    oneLineError(h, /^odxcp: zero: 'extra' not understood \(zero takes DEVICE; options start with --\)$/);
    const d = harness();
    assert.equal(await run(d, 'if=/dev/sg1', 'of=/dev/sg2', 'stray'), 1);
    oneLineError(d, /'stray' not understood: not an sg_xcopy operand/);
  });

  it('help foo says foo is not a command', async () => {
    const h = harness();
    assert.equal(await run(h, 'help', 'foo'), 1);
    oneLineError(h, /^odxcp: help: 'foo' is not a command \(commands: copy, info, token, zero, batch, resume, list, completion, exit-codes\)$/);
    assert.equal(h.stdout.text, '');
    const ok = harness();
    assert.equal(await run(ok, 'help', 'copy'), 0);
    assert.match(ok.stdout.text, /Usage: odxcp copy/);
  });
});

describe('issue 14: --json and --progress json on failures', () => {
  it('an error before the copy starts still prints one JSON object', async () => {
    for (const [args, code, re] of [
      [['copy', '/dev/nope', '/dev/sg2', '--json'], 15, /no such device/],
      [['copy', '/dev/sg1', '/dev/sg2', '--json', '--length', '12Q'], 1, /bad size suffix/],
      [['copy', '/dev/sg1', '/dev/sg2', '--json', '--frob'], 1, /unknown option '--frob'/],
      [['if=/dev/sg1', 'of=/dev/nope', '--json'], 15, /no such device/],
      [['zero', '/dev/nope', '--length', '1M', '--json'], 15, /no such device/],
    ] as [string[], number, RegExp][]) {
      const h = harness();
      h.ctx.zeroRange = async (o) => {
        throw new DeviceError({ path: String(o.device), code: 'ENOENT', message: `${String(o.device)}: no such device` });
      };
      assert.equal(await run(h, ...args), code, args.join(' '));
      const j = JSON.parse(h.stdout.text);
      assert.equal(j.complete, false);
      assert.equal(j.error.exitCode, code);
      assert.match(j.error.message, re);
    }
  });

  it('--progress json ends with a done record even when the copy never started', async () => {
    const h = harness();
    assert.equal(await run(h, 'copy', '/dev/nope', '/dev/sg2', '--progress', 'json'), 15);
    const last = JSON.parse(h.stderr.lines().pop() as string);
    assert.deepEqual({ event: last.event, ok: last.ok, exitCode: last.exitCode }, { event: 'done', ok: false, exitCode: 15 });
    assert.match(h.stderr.lines()[0] as string, /^odxcp: \/dev\/nope: no such device/);
  });

  it('info A B --json prints what it learned about A when B fails', async () => {
    const h = harness();
    h.ctx.describeDevice = async (p) => {
      if (p === '/dev/sg2') throw new DeviceError({ path: p, code: 'EBUSY', message: `${p}: busy` });
      return { path: p, blockSize: 512, bytes: 1024n } as DeviceInfo;
    };
    assert.equal(await run(h, 'info', '/dev/sg1', '/dev/sg2', '--json'), 15);
    const j = JSON.parse(h.stdout.text);
    assert.equal(j.src.path, '/dev/sg1');
    assert.equal(j.dst, null);
    assert.equal(j.complete, false);
    assert.match(j.error.message, /busy/);
    oneLineError(h, /\/dev\/sg2: busy/);
  });
});
