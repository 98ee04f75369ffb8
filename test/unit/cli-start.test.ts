// Issue 12, a fast start: what a process running `odxcp --version` or `--help` loads. Node's
// own record (process.moduleLoadList for its built-in modules, Module._load for files,
// process.dlopen for addons) is taken in the child itself by a preloaded hook.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'odxcp');
const BUNDLE = path.join(ROOT, 'dist', 'lib', 'odxcp-cli.js');
const MAIN = path.join(ROOT, 'dist', 'lib', 'cli', 'main.js');

/** Built-in modules that have no business on the start path (commander pulls in the first). */
const HEAVY = /^NativeModule (child_process|crypto|zlib)$/;

const HOOK = `
const Module = require('module');
const files = [];
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try { files.push(Module._resolveFilename(request, parent, isMain)); } catch {}
  return load.apply(this, arguments);
};
const dlopen = process.dlopen;
const addons = [];
process.dlopen = function (m, file) { addons.push(file); return dlopen.apply(this, arguments); };
process.on('exit', () => {
  require('fs').writeFileSync(process.env.ODXCP_LOADS_OUT, JSON.stringify({ builtins: process.moduleLoadList, files, addons }));
});
`;

interface Loads {
  status: number | null;
  stdout: string;
  stderr: string;
  builtins: string[];
  files: string[];
  addons: string[];
}

let dir = '';

function loads(args: string[]): Loads {
  const out = path.join(dir, 'loads.json');
  fs.rmSync(out, { force: true });
  const r = spawnSync(process.execPath, ['-r', path.join(dir, 'hook.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ODXCP_LOADS_OUT: out, ODXCP_DEBUG: '' },
  });
  const rec = JSON.parse(fs.readFileSync(out, 'utf8')) as Omit<Loads, 'status' | 'stdout' | 'stderr'>;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ...rec };
}

const rel = (files: string[]) => files.filter((f) => path.isAbsolute(f)).map((f) => path.relative(ROOT, f));
const heavy = (l: Loads) => l.builtins.filter((b) => HEAVY.test(b));
/** The engine proper: what a copy runs (the CLI's option defaults may read engine/plan's constants). */
const engineFiles = (l: Loads) => rel(l.files).filter((f) => /^dist\/lib\/(engine\/(index|copy|fanout|batch|resume|journal)|engine\/methods\/)/.test(f));

describe('cli start path (issue 12)', () => {
  before(function () {
    this.timeout(60_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-start-'));
    fs.writeFileSync(path.join(dir, 'hook.js'), HOOK);
    // The bundle is a build product (npm run build:ts); make it here when tsc ran alone.
    const stale = !fs.existsSync(BUNDLE) || fs.statSync(BUNDLE).mtimeMs < fs.statSync(MAIN).mtimeMs;
    if (stale) {
      const r = spawnSync(process.execPath, [path.join(ROOT, 'tools', 'bundle-cli.js')], { encoding: 'utf8' });
      assert.equal(r.status, 0, `tools/bundle-cli.js failed: ${r.stderr}`);
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const flag of ['--version', '-V']) {
    it(`odxcp ${flag} reads package.json and loads no module of odxcp's, no addon, no child_process/crypto/zlib`, () => {
      const l = loads([BIN, flag]);
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
      assert.equal(l.status, 0, l.stderr);
      assert.equal(l.stdout, `${pkg.version}\n`);
      assert.deepEqual(heavy(l), []);
      assert.deepEqual(l.addons, []);
      assert.deepEqual(rel(l.files).filter((f) => f.startsWith('dist/')), []);
    });
  }

  it('odxcp --version to a full stdout: one line on stderr and status 120, as every command', function () {
    if (!fs.existsSync('/dev/full')) this.skip();
    const fd = fs.openSync('/dev/full', 'w');
    try {
      for (const args of [['--version'], ['--help']]) {
        const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', stdio: ['ignore', fd, 'pipe'] });
        assert.equal(r.status, 120, `${args[0]}: ${r.stderr}`);
        assert.equal(r.stderr, 'odxcp: stdout: ENOSPC: output lost (the command itself completed); exit status 120\n');
      }
    } finally {
      fs.closeSync(fd);
    }
  });

  it('odxcp --help runs from the bundle, without child_process/crypto/zlib, the engine or the addon', () => {
    const l = loads([BIN, '--help']);
    assert.equal(l.status, 0, l.stderr);
    assert.match(l.stdout, /^Usage: odxcp /);
    assert.ok(rel(l.files).includes('dist/lib/odxcp-cli.js'), `the bundle was not used: ${rel(l.files).join(' ')}`);
    assert.equal(rel(l.files).filter((f) => f.startsWith('dist/')).length, 1, 'one file of odxcp loaded');
    assert.deepEqual(heavy(l), []);
    assert.deepEqual(l.addons, []);
  });

  it('a subcommand help and a usage error do not load the engine or the addon either (plain modules)', () => {
    for (const args of [['copy', '--help'], ['token', 'populate', '--help'], ['info'], ['copy', '/dev/sgA']]) {
      const l = loads(['-e', `require(${JSON.stringify(MAIN)}).main(['node', 'odxcp', ...${JSON.stringify(args)}]).then((c) => { process.exitCode = c; })`]);
      assert.ok(l.status === 0 || l.status === 1, `${args.join(' ')}: ${l.stderr}`);
      assert.deepEqual(engineFiles(l), [], `${args.join(' ')} loaded the engine`);
      assert.deepEqual(l.addons, [], `${args.join(' ')} loaded the addon`);
      assert.deepEqual(heavy(l).filter((b) => !/child_process/.test(b)), [], `${args.join(' ')}: crypto/zlib`);
    }
  });

  it('the bundle and the plain modules say the same thing (help, a usage error and its status)', () => {
    for (const args of [['--help'], ['token', 'write', '--help'], ['copy', '/dev/sgA'], ['frobnicate'], ['exit-codes', '--json']]) {
      const viaBundle = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
      const plain = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(MAIN)}).main(['node', 'odxcp', ...${JSON.stringify(args)}]).then((c) => { process.exitCode = c; })`], { encoding: 'utf8' });
      assert.deepEqual([viaBundle.status, viaBundle.stdout, viaBundle.stderr], [plain.status, plain.stdout, plain.stderr], args.join(' '));
    }
  });

  it('bin/odxcp falls back to the plain modules when the bundle is older than them', () => {
    const then = fs.statSync(BUNDLE);
    const past = new Date(fs.statSync(MAIN).mtimeMs - 60_000);
    fs.utimesSync(BUNDLE, past, past);
    try {
      const l = loads([BIN, '--help']);
      assert.equal(l.status, 0, l.stderr);
      assert.ok(!rel(l.files).includes('dist/lib/odxcp-cli.js'), 'a stale bundle ran');
      assert.ok(rel(l.files).includes('dist/lib/cli/main.js'));
    } finally {
      fs.utimesSync(BUNDLE, then.atime, then.mtime);
    }
  });
});
