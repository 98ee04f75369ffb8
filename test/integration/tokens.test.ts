// odxcp token populate / write / info and odxcp zero on real targets in the lab: token files
// handed from one ODX LUN to another (checked in the backing files, in and out of the range),
// a truncating target, the decoded token, each zero method, and the one-line errors.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ScsiDevice } from '../../lib/device/device';
import * as cmds from '../../lib/scsi/commands';
import { backing, lun, pattern, writeBacking, type LabLun } from './lab';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
const MiB = 1024 * 1024;

function odxcp(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ODXCP_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(r: { status: number | null; stdout: string; stderr: string }, status = 0): Record<string, unknown> {
  assert.equal(r.status, status, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function oneLine(r: { stderr: string }, re: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] as string, /^odxcp: /);
  assert.match(lines[0] as string, re);
}

/** The whole backing file, to check that nothing outside a range changed. */
const whole = (l: LabLun) => fs.readFileSync(l.file as string);

function assertOnlyRangeChanged(before: Buffer, after: Buffer, offset: number, length: number): void {
  assert.ok(after.subarray(0, offset).equals(before.subarray(0, offset)), 'nothing before the range changed');
  assert.ok(after.subarray(offset + length).equals(before.subarray(offset + length)), 'nothing after the range changed');
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-lab-tokens-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('odxcp token: files between ODX LUNs', () => {
  const src = 3 * MiB + 7 * 512;
  const len = 5 * MiB + 3 * 512;
  const file = path.join(tmp, 'odx0.tok');

  before(() => writeBacking(lun('odx0'), src, pattern(len, 0x70c3)));

  it('populate on odx0 writes a 0600 token file for the range', () => {
    const j = json(odxcp('token', 'populate', lun('odx0').sg, '--offset', String(src), '--length', `${len / 512}b`, '--out', file, '--json'));
    assert.equal(j.bytes, len);
    assert.equal(j.truncated, false);
    assert.equal(j.blockSize, 512);
    assert.equal(j.lba, src / 512);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(file).size, 576);
    const again = odxcp('token', 'populate', lun('odx0').sg, '--length', '1M', '--out', file);
    assert.equal(again.status, 1);
    oneLine(again, /exists \(use --force/);
  });

  it('token info decodes the real token: AUR, bytes represented, creator LU = odx0, block data', () => {
    const info = json(odxcp('info', '--json', lun('odx0').sg));
    const t = json(odxcp('token', 'info', '--json', file));
    assert.equal(t.format, 'odxcp');
    assert.equal(t.rodType, 0x00010000);
    assert.equal(t.rodTypeName, 'access upon reference');
    assert.equal(t.rodTokenLength, 0x1f8);
    assert.equal(t.bytes, len);
    assert.equal(t.numberOfBytesRepresented, len);
    const creator = t.creatorLogicalUnit as { designator: string; diskBlockLength: number };
    assert.equal(creator.designator, info.naa, 'the creator LU descriptor names odx0');
    assert.equal(creator.diskBlockLength, 512);
    assert.equal((t.blockDevice as { blockLength: number }).blockLength, 512);
    const text = odxcp('token', 'info', file);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /ROD type 0x00010000 \(access upon reference\)/);
    assert.match(text.stdout, new RegExp(`represents ${len} bytes`));
  });

  it('write on odx1 at another offset: the range equals the source, nothing else changed', () => {
    const dst = 9 * MiB + 512;
    const before = whole(lun('odx1'));
    const j = json(odxcp('token', 'write', lun('odx1').sg, '--in', file, '--offset', `${dst / 512}b`, '--json'));
    assert.equal(j.bytesWritten, len);
    assert.equal(j.complete, true);
    const after = whole(lun('odx1'));
    assert.ok(after.subarray(dst, dst + len).equals(backing(lun('odx0'), src, len)), 'destination equals the source range');
    assertOnlyRangeChanged(before, after, dst, len);
  });

  it('write with --rod-offset and --length writes that part of the token', () => {
    const dst = 20 * MiB;
    const before = whole(lun('odx1'));
    const r = odxcp('token', 'write', lun('odx1').sg, '--in', file, '--offset', String(dst), '--rod-offset', '1M', '--length', '2M');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^wrote 2097152 bytes \(2 MiB\) to /);
    const after = whole(lun('odx1'));
    assert.ok(after.subarray(dst, dst + 2 * MiB).equals(backing(lun('odx0'), src + MiB, 2 * MiB)));
    assertOnlyRangeChanged(before, after, dst, 2 * MiB);
  });

  it('on a truncating target (odxflaky: 1 MiB per WRITE USING TOKEN) it re-drives until all is written, or says exactly how much was', () => {
    const tok = path.join(tmp, 'four.tok');
    writeBacking(lun('odx0'), 30 * MiB, pattern(4 * MiB, 0x4444));
    json(odxcp('token', 'populate', lun('odx0').sg, '--offset', '30M', '--length', '4M', '--out', tok, '--json'));
    const dst = 2 * MiB;
    const before = whole(lun('odxflaky'));
    const r = odxcp('token', 'write', lun('odxflaky').sg, '--in', tok, '--offset', String(dst), '--json');
    const said = `status ${r.status}, stdout ${r.stdout.trim()}, stderr ${r.stderr.trim()}`;
    const j = JSON.parse(r.stdout) as { bytesWritten: number; truncations?: number; commands?: number; exact?: boolean };
    const after = whole(lun('odxflaky'));
    const want = backing(lun('odx0'), 30 * MiB, 4 * MiB);
    if (r.status === 0) {
      assert.equal(j.bytesWritten, 4 * MiB, said);
      assert.ok((j.truncations ?? 0) >= 3, `truncated transfers re-driven: ${said}`);
      assert.ok(after.subarray(dst, dst + 4 * MiB).equals(want));
      assertOnlyRangeChanged(before, after, dst, 4 * MiB);
    } else {
      // The knob fails every 7th WRITE USING TOKEN (counted over the LUN's life, so any of this
      // write's) with COPY ABORTED after 256 KiB. A last piece of 256 KiB or less is written
      // whole before it fails: the target's count then covers the whole range, and odxcp still
      // reports the failure with that exact count.
      assert.equal(r.status, 10, said);
      oneLine(r, /COPY ABORTED.*bytes written/);
      assert.equal(j.exact, true, said);
      assert.ok(j.bytesWritten > 0 && j.bytesWritten <= 4 * MiB, said);
      assert.ok(after.subarray(dst, dst + j.bytesWritten).equals(want.subarray(0, j.bytesWritten)), 'what it says it wrote is there');
      assert.ok(after.subarray(0, dst).equals(before.subarray(0, dst)));
      assert.ok(after.subarray(dst + 4 * MiB).equals(before.subarray(dst + 4 * MiB)));
    }
  });

  it('a token for 512-byte blocks is refused for a 4096-byte LUN before anything is sent', () => {
    const r = odxcp('token', 'write', lun('odx4k').sg, '--in', file);
    assert.equal(r.status, 1);
    oneLine(r, /512-byte blocks, .* has 4096-byte blocks/);
  });
});

describe('odxcp zero: each method on a LUN that supports it', () => {
  it('block device zero token on odx0 (auto picks it: VPD 0x8F lists 0xFFFF0001)', () => {
    const l = lun('odx0');
    const off = 11 * MiB;
    writeBacking(l, off - MiB, pattern(4 * MiB, 0x2e70));
    const before = whole(l);
    const j = json(odxcp('zero', l.sg, '--offset', '11M', '--length', '2M', '--json'));
    assert.equal(j.method, 'token');
    assert.deepEqual(j.candidates, ['token', 'write-same', 'write']);
    assert.equal(j.bytes, 2 * MiB);
    const after = whole(l);
    assert.ok(after.subarray(off, off + 2 * MiB).every((b) => b === 0));
    assertOnlyRangeChanged(before, after, off, 2 * MiB);
    const forced = json(odxcp('zero', l.sg, '--offset', `${(off - MiB) / 512}b`, '--length', '512', '--method', 'token', '--json'));
    assert.equal(forced.method, 'token');
    assert.ok(backing(l, off - MiB, 512).every((b) => b === 0));
  });

  it('WRITE SAME(16) on LIO fileio fio1 (no 0x8F, so auto uses it), in chunks within LIO\'s unadvertised limit', () => {
    const l = lun('fio1');
    const off = 7 * MiB + 512;
    const len = 40 * MiB; // more than LIO's 0xFFFF-block WRITE SAME limit: several commands
    writeBacking(l, off - 512, pattern(len + 1024, 0x3e51));
    const before = whole(l);
    const j = json(odxcp('zero', l.sg, '--offset', String(off), '--length', '40M', '--json'));
    assert.equal(j.method, 'write-same', JSON.stringify(j.fallbacks));
    assert.deepEqual(j.fallbacks, []);
    assert.ok((j.commands as number) >= 2, `chunked: ${String(j.commands)} commands`);
    const after = whole(l);
    assert.ok(after.subarray(off, off + len).every((b) => b === 0));
    assertOnlyRangeChanged(before, after, off, len);
    const forced = json(odxcp('zero', l.sg, '--offset', '0', '--length', '4k', '--method', 'write-same', '--json'));
    assert.equal(forced.method, 'write-same');
  });

  it('WRITE(16) on scsi_debug sdebug0 (no offload), read back through READ(16)', async () => {
    const l = lun('sdebug0');
    const d = await ScsiDevice.open(l.sg);
    try {
      const data = pattern(3 * MiB, 0x5d5d);
      for (let i = 0; i < 3; i++) await cmds.write16(d, { lba: 4096 + i * 2048, data: data.subarray(i * MiB, (i + 1) * MiB), blockSize: 512 });
    } finally {
      await d.close();
    }
    const j = json(odxcp('zero', l.sg, '--offset', `${4096 + 2048}b`, '--length', '1M', '--method', 'write', '--json'));
    assert.equal(j.method, 'write');
    assert.equal(j.bytes, MiB);
    const r = await ScsiDevice.open(l.sg);
    try {
      const got = await cmds.read16(r, { lba: 4096, blocks: 6144, blockSize: 512 });
      const want = pattern(3 * MiB, 0x5d5d);
      assert.ok(got.subarray(0, MiB).equals(want.subarray(0, MiB)), 'before the range unchanged');
      assert.ok(got.subarray(MiB, 2 * MiB).every((b) => b === 0), 'the range is zero');
      assert.ok(got.subarray(2 * MiB).equals(want.subarray(2 * MiB)), 'after the range unchanged');
    } finally {
      await r.close();
    }
  });

  it('a forced token zero on a LUN without token copy fails with the target\'s answer and zero bytes', () => {
    const r = odxcp('zero', lun('sdebug0').sg, '--length', '4k', '--method', 'token');
    assert.equal(r.status, 9, r.stderr);
    oneLine(r, /WRITE USING TOKEN: ILLEGAL REQUEST 20\/00 .*\(0 of 4096 bytes zeroed\)$/);
  });

  it('refuses a LUN another program holds exclusively (as a mount would)', async () => {
    // Hold the first of these this process can hold (another spec may still hold one: root
    // after() hooks run at the very end of the mocha run).
    let holder: ScsiDevice | undefined;
    let held: LabLun | undefined;
    for (const name of ['fio2', 'iblk0', 'tcmu0', 'xnex0']) {
      holder = await ScsiDevice.open(lun(name).sg, { exclusive: true }).catch(() => undefined);
      if (holder) {
        held = lun(name);
        break;
      }
    }
    assert.ok(holder && held, 'a LUN to hold');
    try {
      const r = odxcp('zero', held.sg, '--length', '4k');
      assert.equal(r.status, 15);
      oneLine(r, /in use|busy|refusing/i);
    } finally {
      await holder.close();
    }
  });
});

describe('odxcp token/zero: one-line errors for missing devices', () => {
  for (const args of [
    ['zero', '/dev/sdz9', '--length', '4k'],
    ['token', 'populate', '/dev/odxcp-missing', '--length', '1M', '--out', '/tmp/odxcp-never.tok'],
    ['token', 'write', '/dev/odxcp-missing', '--in', '/etc/hostname'],
  ]) {
    it(`${args.slice(0, 2).join(' ')} ${args[2]}: exit 15, one line`, () => {
      const r = odxcp(...args);
      if (args[1] === 'write') {
        // The token file is checked first: /etc/hostname is not one (a file problem, exit 15).
        assert.equal(r.status, 15, r.stderr);
        oneLine(r, /not a token file/);
      } else {
        assert.equal(r.status, 15, r.stderr);
        oneLine(r, /no such device/);
      }
      assert.equal(r.stdout, '');
    });
  }
});
