// bin/odxcp as a user runs it: every bad input gives exactly one line `odxcp: ...` on stderr
// naming the argument, no stack trace, nothing on stdout, and the documented exit status.
// These fail before any SCSI device is opened, so they run on a host without one.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp');

function odxcp(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ODXCP_DEBUG: '', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-errors-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const garbage = path.join(tmp, 'garbage.tok');
fs.writeFileSync(garbage, 'not a token\n');

const CASES: [string, string[], number, RegExp][] = [
  ['unknown option', ['copy', '/dev/sg1', '/dev/sg2', '--frobnicate'], 1, /unknown option '--frobnicate'/],
  ['misspelt option (commander suggestion kept on the same line)', ['copy', '/dev/sg1', '/dev/sg2', '--lenght', '1M'], 1, /unknown option '--lenght' \(Did you mean --length\?\)$/],
  ['bad size suffix', ['copy', '/dev/sg1', '/dev/sg2', '--length', '12Q'], 1, /--length: bad size suffix in '12Q'/],
  ['negative size', ['copy', '/dev/sg1', '/dev/sg2', '--src-offset', '-512'], 1, /--src-offset: size must not be negative/],
  ['non-integer block count', ['copy', '/dev/sg1', '/dev/sg2', '--length', '1.5b'], 1, /--length: '1\.5b' is not a whole number/],
  ['bad mode', ['copy', '/dev/sg1', '/dev/sg2', '--mode', 'turbo'], 1, /--mode: 'turbo' is not one of/],
  ['bad timeout', ['copy', '/dev/sg1', '/dev/sg2', '--timeout', '0'], 1, /--timeout: 0 s is out of range/],
  ['missing device argument', ['copy', '/dev/sg1'], 1, /missing required argument 'dst'/],
  ['missing device node', ['copy', '/dev/odxcp-no-such-lun', '/dev/odxcp-no-such-lun2'], 15, /\/dev\/odxcp-no-such-lun: no such device/],
  ['not a device', ['info', '/etc/hostname'], 15, /\/etc\/hostname: not a device node/],
  ['unknown command', ['frobnicate'], 1, /unknown command 'frobnicate'/],
  ['sg_xcopy form: unknown operand', ['if=/dev/sg1', 'of=/dev/sg2', 'blocks=5'], 1, /unknown operand 'blocks=5'/],
  ['sg_xcopy form: bad count', ['if=/dev/sg1', 'of=/dev/sg2', 'count=1.5'], 1, /count=: '1\.5' is not a whole number/],
  ['sg_xcopy form: missing of=', ['if=/dev/sg1', 'count=5'], 1, /of=: missing destination/],
  ['sg_xcopy form: bad id_usage', ['if=/dev/sg1', 'of=/dev/sg2', 'id_usage=keep'], 1, /id_usage=: 'keep'/],
  ['sg_xcopy form: unknown option', ['if=/dev/sg1', 'of=/dev/sg2', '--frob'], 1, /unknown option '--frob'/],
  ['token: no subcommand', ['token'], 1, /token: missing subcommand/],
  ['token populate without --out', ['token', 'populate', '/dev/sg1', '--length', '1M'], 1, /--out: missing/],
  ['token info of a non-token file (a file problem, as a missing one)', ['token', 'info', garbage], 15, /not a token file/],
  ['token info of a missing file', ['token', 'info', path.join(tmp, 'nope.tok')], 15, /cannot read the token file: ENOENT/],
  ['zero without --length', ['zero', '/dev/sg1'], 1, /--length: missing/],
  ['zero with a bad method', ['zero', '/dev/sg1', '--length', '1M', '--method', 'unmap'], 1, /--method: 'unmap'/],
];

describe('bin/odxcp: one-line errors and exit statuses', () => {
  for (const [what, args, status, re] of CASES) {
    it(`${what}: exit ${status}`, () => {
      const r = odxcp(args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `exactly one stderr line: ${JSON.stringify(r.stderr)}`);
      assert.match(lines[0] as string, /^odxcp: /);
      assert.match(lines[0] as string, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(r.stdout, '');
    });
  }

  it('ODXCP_DEBUG=1 adds the stack trace after the line', () => {
    const r = odxcp(['copy', '/dev/odxcp-no-such-lun', '/dev/x'], { ODXCP_DEBUG: '1' });
    assert.equal(r.status, 15);
    assert.match(r.stderr, /^odxcp: \/dev\/odxcp-no-such-lun: no such device\n/);
    assert.match(r.stderr, /\n\s+at /);
  });

  it('--help and --version exit 0 on stdout', () => {
    const h = odxcp(['copy', '--help']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /--src-offset <size>/);
    const v = odxcp(['--version']);
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
