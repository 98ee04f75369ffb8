// The odxcp binary inside the lab: version, `info` on LUNs of each kind (the capability
// decisions a copy will be based on), and one-line errors with sg3_utils-style exit codes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { lun } from './lab';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');
function odxcp(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('odxcp CLI in the lab', () => {
  it('prints its version', () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
    const r = odxcp('--version');
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it('info --json: LIO fileio offers EXTENDED COPY LID1 with LIO\'s limits, not token copy', () => {
    const l = lun('fio0');
    const r = odxcp('info', '--json', l.sd);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.sg, l.sg);
    assert.equal(j.blockSize, 512);
    assert.equal(j.bytes, l.bytes);
    assert.equal(j.serial, l.serial);
    assert.equal(j.xcopyLid1.supported, true);
    assert.equal(j.xcopyLid1.limits.maximumSegmentDescriptorCount, 1);
    assert.equal(j.xcopyLid1.limits.snlid, true);
    assert.equal(j.tokenCopy.supported, false);
    assert.match(j.tokenCopy.reason, /0x8F/);
  });

  it('info: scsi_debug has no copy offload, and says why', () => {
    const r = odxcp('info', lun('sdebug0').sg);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /token copy \(ODX\): no - no copy manager \(INQUIRY 3PC=0\)/);
    assert.match(r.stdout, /EXTENDED COPY LID1: no - no copy manager/);
  });

  it('a partition, a missing node and a non-device give one-line errors with exit 15', () => {
    for (const p of ['/dev/nonexistent-odxcp', '/etc/hostname']) {
      const r = odxcp('info', p);
      assert.equal(r.status, 15, `${p}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^odxcp: /);
    }
  });
});
