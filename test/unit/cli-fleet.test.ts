// The fleet commands' command line: `copy SRC DST1 DST2...`, `batch JOBFILE`, `resume FILE`,
// `--journal`, through the real main() with the engine stubbed (the lab proves the engine).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseJobFile } from '../../lib/cli/fleet';
import type { BatchEntry, BatchOptions, CopyManyOptions } from '../../lib/engine';
import { copyAborted, harness, result, run } from './helpers/cli-harness';
import { CopyError } from '../../lib/engine/copy';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-fleet-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('CLI: copy SRC DST1 DST2 ...', () => {
  it('hands every destination with its checked offset to copyMany, prints one account each and a summary; exit 0 when all complete', async () => {
    const h = harness({ geometry: { '/dev/sg1': { blockSize: 512, bytes: 64n << 20n }, '/dev/sg2': { blockSize: 512, bytes: 64n << 20n }, '/dev/sg3': { blockSize: 512, bytes: 64n << 20n } } });
    let got: CopyManyOptions | undefined;
    h.ctx.copyMany = async (o) => {
      got = o;
      return { src: '/dev/sg1', length: 1048576n, results: [{ dst: '/dev/sg2', dstOffset: 4096n, result: result({ dst: '/dev/sg2' }) }, { dst: '/dev/sg3', dstOffset: 4096n, result: result({ dst: '/dev/sg3' }) }], summary: { destinations: 2, complete: 2, failed: 0, populateTokens: 1, elapsedMs: 5 } };
    };
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '/dev/sg3', '--dst-offset', '8b', '--length', '1M', '--json'), 0, h.stderr.text);
    assert.deepEqual(got?.dsts, [{ dst: '/dev/sg2', dstOffset: 4096n }, { dst: '/dev/sg3', dstOffset: 4096n }]);
    assert.equal(got?.length, 1048576n);
    const j = JSON.parse(h.stdout.text);
    assert.equal(j.destinations.length, 2);
    assert.equal(j.summary.populateTokens, 1);
  });

  it('one destination failing: the others\' accounts are printed and the exit status is the failing one\'s', async () => {
    const h = harness({ geometry: { '/dev/sg1': { blockSize: 512, bytes: 64n << 20n }, '/dev/sg2': { blockSize: 512, bytes: 64n << 20n }, '/dev/sg3': { blockSize: 512, bytes: 64n << 20n } } });
    let failFast: boolean | undefined;
    h.ctx.copyMany = async (o) => {
      failFast = o.failFast;
      const bad = new CopyError('copy failed: the first 0 bytes are copied; 0 of 1048576 bytes in all: WRITE USING TOKEN: COPY ABORTED 0D/01', 'COPY_ABORTED', result({ bytes: 0n, extents: [] }), copyAborted());
      return { src: '/dev/sg1', length: 1048576n, results: [{ dst: '/dev/sg2', dstOffset: 0n, result: result() }, { dst: '/dev/sg3', dstOffset: 0n, error: bad, result: bad.result }], summary: { destinations: 2, complete: 1, failed: 1, populateTokens: 1, elapsedMs: 5 } };
    };
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '/dev/sg3', '--length', '1M', '--fail-fast'), 10);
    assert.equal(failFast, true);
    assert.match(h.stdout.text, /^\/dev\/sg2: complete$/m);
    assert.match(h.stdout.text, /^\/dev\/sg3: FAILED \(exit 10\): copy failed/m);
    assert.match(h.stdout.text, /1 of 2 destinations complete; 1 POPULATE TOKEN for all of them/);
  });

  it('--journal goes to the engine with one destination and with several (copyMany journals each)', async () => {
    const h = harness();
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '--length', '1M', '--journal', path.join(tmp, 'j')), 0, h.stderr.text);
    assert.equal(h.copies[0]?.journal, path.join(tmp, 'j'));
    const m = harness({ geometry: { '/dev/sg1': { blockSize: 512, bytes: 64n << 20n }, '/dev/sg2': { blockSize: 512, bytes: 64n << 20n }, '/dev/sg3': { blockSize: 512, bytes: 64n << 20n } } });
    let got: CopyManyOptions | undefined;
    m.ctx.copyMany = async (o) => {
      got = o;
      return { src: '/dev/sg1', length: 1048576n, results: [{ dst: '/dev/sg2', dstOffset: 0n, result: result({ dst: '/dev/sg2' }) }, { dst: '/dev/sg3', dstOffset: 0n, result: result({ dst: '/dev/sg3' }) }], summary: { destinations: 2, complete: 2, failed: 0, populateTokens: 1, elapsedMs: 5 } };
    };
    assert.equal(await run(m, 'copy', '/dev/sg1', '/dev/sg2', '/dev/sg3', '--length', '1M', '--journal', 'x', '--sparse', 'never'), 0, m.stderr.text);
    assert.equal(got?.journal, 'x');
    assert.equal(got?.sparse, 'never');
  });
});

describe('CLI: batch JOBFILE', () => {
  it('job files: a JSON array or NDJSON; sizes in bytes or K/M/G; each bad field named with its pair', () => {
    assert.deepEqual(parseJobFile('[{"src":"/dev/a","dst":"/dev/b","length":"4M","mode":"odx"}]', 'f'), [{ src: '/dev/a', dst: '/dev/b', srcOffset: undefined, dstOffset: undefined, length: 4194304n, mode: 'odx' }]);
    assert.equal(parseJobFile('{"src":"/dev/a","dst":"/dev/b"}\n\n{"src":"/dev/c","dst":"/dev/d","dstOffset":512}\n', 'f')[1]?.dstOffset, 512n);
    assert.throws(() => parseJobFile('{"src":"/dev/a"}', 'f'), /f: pair 1: "dst" must be a device path/);
    assert.throws(() => parseJobFile('{"src":"/dev/a","dst":"/dev/b","lenght":1}', 'f'), /pair 1: unknown field 'lenght'/);
    assert.throws(() => parseJobFile('{"src":"/dev/a","dst":"/dev/b","length":"8b"}', 'f'), /give bytes/);
    assert.throws(() => parseJobFile('{"src":"/dev/a","dst":"/dev/b","mode":"fast"}', 'f'), /mode 'fast' is not one of/);
    assert.equal(parseJobFile('{"src":"/dev/a","dst":"/dev/b","sparse":"never"}', 'f')[0]?.sparse, 'never');
    assert.equal('sparse' in parseJobFile('{"src":"/dev/a","dst":"/dev/b"}', 'f')[0]!, false);
    assert.throws(() => parseJobFile('{"src":"/dev/a","dst":"/dev/b","sparse":"maybe"}', 'f'), /pair 1: sparse 'maybe' is not one of auto, never/);
    assert.throws(() => parseJobFile('{"src":1', 'f'), /line 1: not valid JSON/);
  });

  it('one NDJSON result per pair as it ends, then a summary; exit status: the worst pair\'s', async () => {
    const file = path.join(tmp, 'jobs.ndjson');
    fs.writeFileSync(file, '{"src":"/dev/sg1","dst":"/dev/sg2"}\n{"src":"/dev/sg1","dst":"/dev/sg3","length":"1M"}\n');
    const h = harness();
    let got: BatchOptions | undefined;
    h.ctx.runBatch = async (jobs, o) => {
      got = o;
      const e0: BatchEntry = { index: 1, job: jobs[1]!, result: result({ dst: '/dev/sg3' }) };
      const bad = new CopyError('copy failed', 'COPY_ABORTED', result({ bytes: 512n }), copyAborted());
      const e1: BatchEntry = { index: 0, job: jobs[0]!, error: bad, result: bad.result };
      o?.onResult?.(e0);
      o?.onResult?.(e1);
      return { entries: [e1, e0], summary: { pairs: 2, complete: 1, failed: 1, bytes: 1049088n, totalBytes: 2097152n, elapsedMs: 3 } };
    };
    assert.equal(await run(h, 'batch', file, '--jobs', '3', '--progress', 'none', '--journal', 'b.jnl', '--sparse', 'never'), 10);
    assert.equal(got?.jobs, 3);
    assert.equal(got?.journal, 'b.jnl');
    assert.equal(got?.sparse, 'never');
    const lines = h.stdout.lines().map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.pair ?? 'summary'), [2, 1, 'summary']);
    assert.equal(lines[1].error.exitCode, 10);
    assert.equal(lines[2].summary.exitCode, 10);
  });

  it('--dry-run: the engine checks and plans every pair and writes nothing; one NDJSON plan per pair, a dry-run summary, exit 0', async () => {
    const file = path.join(tmp, 'dry.ndjson');
    fs.writeFileSync(file, '{"src":"/dev/sg1","dst":"/dev/sg2"}\n');
    const h = harness();
    let got: BatchOptions | undefined;
    h.ctx.runBatch = async (jobs, o) => {
      got = o;
      const e: BatchEntry = { index: 0, job: jobs[0]!, plan: { method: 'odx' } as never };
      o?.onResult?.(e);
      return { entries: [e], summary: { pairs: 1, complete: 0, failed: 0, bytes: 0n, totalBytes: 1048576n, elapsedMs: 1 } };
    };
    assert.equal(await run(h, 'batch', file, '--dry-run', '--progress', 'none'), 0, h.stderr.text);
    assert.equal(got?.dryRun, true);
    const lines = h.stdout.lines().map((l) => JSON.parse(l));
    const j = harness();
    j.ctx.runBatch = async () => assert.fail('nothing may run');
    assert.equal(await run(j, 'batch', file, '--sparse', 'sometimes'), 1);
    assert.match(j.stderr.text, /^odxcp: --sparse: 'sometimes' is not one of auto, never\n$/);
    assert.deepEqual([lines[0].pair, lines[0].dryRun, lines[0].plan.method], [1, true, 'odx']);
    assert.equal(lines[1].summary.dryRun, true);
  });

  it('a missing job file or a bad one is a one-line error before anything runs', async () => {
    const h = harness();
    h.ctx.runBatch = async () => assert.fail('nothing may run');
    assert.equal(await run(h, 'batch', path.join(tmp, 'nope')), 15, 'a file problem, as for token files');
    assert.match(h.stderr.text, /cannot read the job file/);
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '[{"src":"/dev/sg1"}]');
    const b = harness();
    b.ctx.runBatch = async () => assert.fail('nothing may run');
    assert.equal(await run(b, 'batch', bad), 1);
    assert.match(b.stderr.text, /pair 1: "dst" must be a device path/);
  });
});
