// The CLI in-process with the engine, the devices and the token/zero library stubbed: what
// each command line hands to the library (argv -> CopyOptions and friends), what it prints
// (text, --json, NDJSON progress), how errors and signals become one line and an exit status.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliExitCode } from '../../lib/cli/context';
import { exitCodesMarkdown } from '../../lib/cli/exit-codes';
import { progressRecord, renderBar } from '../../lib/cli/progress';
import type { DeviceInfo } from '../../lib/cli/describe';
import { CopyError } from '../../lib/engine';
import type { CopyOptions, CopyProgress } from '../../lib/engine/types';
import { AbortedError, DeviceError, OdxcpError, UsageError } from '../../lib/errors';
import { EXIT_CODES } from '../../lib/cli/exit-status';
import { ROD_TYPE } from '../../lib/scsi/rod-token';
import { encodeTokenFile, type PopulateTokenFileOptions, type WriteTokenFileOptions } from '../../lib/tokens/token-file';
import { TokenWriteError } from '../../lib/tokens/token-ops';
import { ZeroError, type ZeroOptions, type ZeroResult } from '../../lib/tokens/zero';
import { Capture, copyAborted, harness, oneLineError, result, run } from './helpers/cli-harness';

describe('odxcp copy: arguments -> CopyOptions', () => {
  it('defaults: whole source, auto mode, fallback on; a signal and a progress callback are passed', async () => {
    const h = harness();
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2'), 0);
    assert.equal(h.copies.length, 1);
    const o = h.copies[0] as CopyOptions;
    assert.equal(o.src, '/dev/sg1');
    assert.equal(o.dst, '/dev/sg2');
    assert.equal(o.mode, 'auto');
    assert.equal(o.fallback, true);
    assert.equal(o.srcOffset, undefined);
    assert.equal(o.dstOffset, undefined);
    assert.equal(o.length, undefined, 'the engine takes the rest of the source');
    assert.equal(o.verify, undefined);
    assert.ok(o.signal instanceof AbortSignal);
    assert.equal(typeof o.onProgress, 'function');
    assert.equal(h.signals.size, 0, 'signal handlers removed after the copy');
  });

  it('every option, sizes resolved with each device\'s block size', async () => {
    const h = harness();
    const code = await run(h, 'copy', '/dev/sg1', '/dev/sg4k', '--src-offset', '2048b', '--dst-offset', '8b', '--length', '1M', '--mode', 'odx', '--no-fallback', '--verify', '--max-in-flight', '8', '--token-size', '8M', '--timeout', '30');
    assert.equal(code, 0, h.stderr.text);
    const o = h.copies[0] as CopyOptions;
    assert.equal(o.srcOffset, 2048n * 512n);
    assert.equal(o.dstOffset, 8n * 4096n);
    assert.equal(o.length, 1n << 20n);
    assert.equal(o.mode, 'odx');
    assert.equal(o.fallback, false);
    assert.equal(o.verify, true);
    assert.equal(o.maxInFlight, 8);
    assert.equal(o.tokenSize, 8n << 20n);
    assert.equal(o.timeoutMs, 30000);
    assert.deepEqual(h.geometryCalls, ['/dev/sg1', '/dev/sg4k']);
  });

  it('--length in blocks counts source blocks; =value forms work', async () => {
    const h = harness();
    assert.equal(await run(h, 'copy', '/dev/sg4k', '/dev/sg1', '--length=16b', '--mode=host', '--src-offset=4k'), 0, h.stderr.text);
    assert.equal(h.copies[0]?.length, 16n * 4096n);
    assert.equal(h.copies[0]?.srcOffset, 4096n);
    assert.equal(h.copies[0]?.mode, 'host');
  });

  const bad: [string[], RegExp][] = [
    [['--src-offset', '1000'], /--src-offset: 1000 bytes .* not a multiple of the 512-byte logical block of SRC \/dev\/sg1/],
    [['--dst-offset', '512'], /--dst-offset: 512 bytes .* 4096-byte logical block of DST/],
    [['--length', '12Q'], /--length: bad size suffix in '12Q'/],
    [['--length', '-1M'], /--length: size must not be negative/],
    [['--length', '2.5b'], /--length: '2.5b' is not a whole number/],
    [['--length', '0'], /--length: must be more than 0/],
    [['--length', '65M'], /--length: 0\+68157440 runs past the end of \/dev\/sg1/],
    [['--src-offset', '63M', '--length', '2M'], /--length: .* runs past the end of \/dev\/sg1/],
    [['--src-offset', '65M'], /--src-offset: .* past the end of \/dev\/sg1/],
    [['--mode', 'fast'], /--mode: 'fast' is not one of auto, odx, xcopy, host/],
    [['--progress', 'dots'], /--progress: 'dots' is not one of/],
    [['--max-in-flight', '0'], /--max-in-flight: 0 is out of range/],
    [['--timeout', 'soon'], /--timeout: 'soon' is not a number of seconds/],
    [['--token-size', '1000'], /--token-size: 1000 bytes .* not a multiple/],
    [['--bogus'], /unknown option '--bogus'/],
    [['--dst-offset', '1M'], /--length: the rest of \/dev\/sg1 \(67108864 bytes\) does not fit in \/dev\/sg4k after offset 1048576 .*; give --length/],
    [['--lenght', '5'], /unknown option '--lenght' \(Did you mean --length\?\)/],
  ];
  for (const [args, re] of bad) {
    it(`refuses ${args.join(' ')} with one line, exit 1, nothing copied`, async () => {
      const h = harness();
      const dst = args[0] === '--dst-offset' ? '/dev/sg4k' : '/dev/sg2';
      assert.equal(await run(h, 'copy', '/dev/sg1', dst, ...args), 1);
      oneLineError(h, re);
      assert.equal(h.copies.length, 0);
      assert.equal(h.stdout.text, '');
    });
  }

  it('a missing device argument is a usage error; a missing device node exits 15', async () => {
    let h = harness();
    assert.equal(await run(h, 'copy', '/dev/sg1'), 1);
    oneLineError(h, /missing required argument 'dst'/);
    h = harness();
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/nope'), 15);
    oneLineError(h, /\/dev\/nope: no such device/);
  });
});

describe('odxcp copy: output', () => {
  it('--json prints exactly one JSON object with the account; bigints above 2^53 as strings', async () => {
    const big = (1n << 60n) + 1n;
    const h = harness({ copy: async () => result({ bytes: big, length: big }) });
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '--json'), 0);
    const j = JSON.parse(h.stdout.text);
    for (const k of ['bytes', 'offloadedBytes', 'hostBytes', 'method', 'fallbacks', 'byMethod', 'extents', 'commands', 'elapsedMs', 'complete']) assert.ok(k in j, k);
    assert.equal(j.bytes, big.toString());
    assert.equal(j.offloadedBytes, 786432);
    assert.equal(j.hostBytes, 262144);
    assert.equal(j.method, 'mixed');
    assert.equal(j.complete, true);
    assert.deepEqual(j.fallbacks, [{ offset: 786432, length: 262144, from: 'odx', reason: 'COPY ABORTED 0D/01', wholeCopy: true }]);
    assert.equal(h.stderr.text, '', 'no progress bar with --json');
  });

  it('text: bytes, per-method accounting and each fallback', async () => {
    const h = harness();
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2'), 0);
    assert.match(h.stdout.text, /^copied 1048576 of 1048576 bytes \(1 MiB\) from \/dev\/sg1\+0 to \/dev\/sg2\+0/);
    assert.match(h.stdout.text, /method mixed \(planned odx\): offloaded 786432 bytes, host 262144 bytes/);
    assert.match(h.stdout.text, /fallback at \+786432: odx -> host for 262144 bytes \(rest of the copy\): COPY ABORTED 0D\/01/);
  });

  it('--progress=json: NDJSON on stderr, one progress object per event and a done record; stdout keeps the single result', async () => {
    const events: CopyProgress[] = [
      { bytesDone: 0n, copiedBytes: 0n, zeroedBytes: 0n, skippedBytes: 0n, totalBytes: 1048576n, byMethod: { odx: 0n, xcopy: 0n, host: 0n }, elapsedMs: 0, method: 'odx' },
      { bytesDone: 524288n, copiedBytes: 524288n, zeroedBytes: 0n, skippedBytes: 0n, totalBytes: 1048576n, byMethod: { odx: 524288n, xcopy: 0n, host: 0n }, elapsedMs: 100, method: 'odx' },
    ];
    const h = harness({
      copy: async (o) => {
        for (const e of events) o.onProgress?.(e);
        return result();
      },
    });
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '--progress=json', '--json'), 0);
    const lines = h.stderr.lines().map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[1], {
      event: 'progress',
      bytesDone: 524288,
      totalBytes: 1048576,
      percent: 50,
      elapsedMs: 100,
      bytesPerSecond: 5242880,
      method: 'odx',
      byMethod: { odx: 524288, xcopy: 0, host: 0 },
    });
    assert.equal(lines[2].event, 'done');
    assert.equal(lines[2].ok, true);
    assert.equal(lines[2].bytes, 1048576);
    assert.equal(typeof JSON.parse(h.stdout.text), 'object');
  });

  it('a bar on a terminal (auto), drawn with \\r on stderr; none when stderr is not a terminal', async () => {
    const prog = (o: CopyOptions) => {
      o.onProgress?.({ bytesDone: 262144n, copiedBytes: 262144n, zeroedBytes: 0n, skippedBytes: 0n, totalBytes: 1048576n, byMethod: { odx: 262144n, xcopy: 0n, host: 0n }, elapsedMs: 50, method: 'odx' });
      return Promise.resolve(result());
    };
    let h = harness({ copy: prog });
    (h.stderr as Capture).isTTY = true;
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2'), 0);
    assert.match(h.stderr.text, /^\r\[#{10}-{30}\] +25\.0% +256 KiB\/1 MiB/);
    assert.ok(h.stderr.text.endsWith('\n'));
    h = harness({ copy: prog });
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2'), 0);
    assert.equal(h.stderr.text, '');
  });

  it('progress helpers: the record and the bar fit their width', () => {
    const p = { bytesDone: 1n, copiedBytes: 1n, zeroedBytes: 0n, skippedBytes: 0n, totalBytes: 3n, elapsedMs: 0 };
    assert.equal(progressRecord(p).percent, 33.33);
    assert.equal(progressRecord({ bytesDone: 0n, copiedBytes: 0n, zeroedBytes: 0n, skippedBytes: 0n, totalBytes: 0n, elapsedMs: 0 }).percent, 100);
    assert.ok(renderBar({ bytesDone: 5n << 30n, totalBytes: 10n << 30n, elapsedMs: 1000, method: 'xcopy' }, 60).length <= 59);
  });
});

describe('odxcp copy: failures and signals', () => {
  it('a CopyError exits with its cause\'s status (COPY ABORTED -> 10), one line with what was copied; --json still prints the account', async () => {
    const partial = result({ bytes: 524288n, offloadedBytes: 524288n, hostBytes: 0n, fallbacks: [] });
    const h = harness({
      copy: async () => {
        throw new CopyError('WRITE USING TOKEN: COPY ABORTED 0D/01 COPY TARGET DEVICE NOT REACHABLE', 'COPY_ABORTED', partial, copyAborted());
      },
    });
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2', '--no-fallback', '--json'), 10);
    oneLineError(h, /COPY ABORTED 0D\/01.*: 524288 of 1048576 bytes copied/);
    const j = JSON.parse(h.stdout.text);
    assert.equal(j.bytes, 524288);
    assert.equal(j.complete, false);
    assert.equal(j.error.exitCode, 10);
  });

  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig} aborts through the AbortSignal, prints what was copied and exits ${code}`, async () => {
      let seen: AbortSignal | undefined;
      const h = harness({
        copy: (o) =>
          new Promise((_res, rej) => {
            seen = o.signal;
            o.signal?.addEventListener('abort', () => rej(new CopyError('copy aborted', 'ABORTED', result({ bytes: 262144n, offloadedBytes: 262144n, hostBytes: 0n }), o.signal?.reason)));
          }),
      });
      const p = run(h, 'copy', '/dev/sg1', '/dev/sg2');
      await new Promise((r) => setImmediate(r));
      h.signals.get(sig)?.();
      assert.equal(await p, code);
      assert.ok(seen?.aborted);
      assert.ok(seen?.reason instanceof AbortedError);
      oneLineError(h, new RegExp(`^odxcp: aborted by ${sig}: 262144 of 1048576 bytes copied`));
      assert.deepEqual(h.exits, []);
    });
  }

  it('a second SIGINT leaves at once', async () => {
    const h = harness({ copy: () => new Promise(() => undefined) });
    void run(h, 'copy', '/dev/sg1', '/dev/sg2');
    await new Promise((r) => setImmediate(r));
    h.signals.get('SIGINT')?.();
    h.signals.get('SIGINT')?.();
    assert.deepEqual(h.exits, [130]);
  });

  it('ODXCP_DEBUG=1 adds the stacks; without it there is never a stack', async () => {
    const boom = async () => {
      throw new TypeError('boom');
    };
    let h = harness({ copy: boom });
    assert.equal(await run(h, 'copy', '/dev/sg1', '/dev/sg2'), 99);
    oneLineError(h, /^odxcp: TypeError: boom$/);
    h = harness({ copy: boom, env: { ODXCP_DEBUG: '1' } });
    await run(h, 'copy', '/dev/sg1', '/dev/sg2');
    assert.ok(h.stderr.lines().length > 2);
    assert.match(h.stderr.text, /\n\s+at /);
  });
});

describe('odxcp if= of= (sg_xcopy form) -> CopyOptions', () => {
  it('operands become the byte range and the EXTENDED COPY list settings; copy options still apply', async () => {
    const h = harness();
    const code = await run(h, 'if=/dev/sg1', 'of=/dev/sg2', 'bs=512', 'count=100', 'skip=10', 'seek=20', 'list_id=0', 'id_usage=disable', '--on_src', '--mode', 'xcopy', '--json');
    assert.equal(code, 0, h.stderr.text);
    const o = h.copies[0] as CopyOptions;
    assert.equal(o.srcOffset, 5120n);
    assert.equal(o.dstOffset, 10240n);
    assert.equal(o.length, 51200n);
    assert.equal(o.xcopyListId, 0);
    assert.equal(o.xcopyListIdUsage, 'none');
    assert.equal(o.xcopyOn, 'src');
    assert.equal(o.mode, 'xcopy');
    assert.doesNotThrow(() => JSON.parse(h.stdout.text));
  });

  it('count defaults to the rest of the source; best method unless told; time=1 reports the rate', async () => {
    const h = harness({ env: { XCOPY_TO_DST: '1' } });
    assert.equal(await run(h, 'skip=0x800', 'of=/dev/sg2', 'if=/dev/sg1', 'time=1', 'list_id=5', 'id_usage=hold'), 0, h.stderr.text);
    const o = h.copies[0] as CopyOptions;
    assert.equal(o.srcOffset, 2048n * 512n);
    assert.equal(o.dstOffset, 0n);
    assert.equal(o.length, (64n << 20n) - 2048n * 512n);
    assert.equal(o.mode, 'auto');
    assert.equal(o.xcopyOn, 'dst');
    assert.equal(o.xcopyListId, 5);
    assert.equal(o.xcopyListIdUsage, 'hold');
    assert.match(h.stderr.text, /^time to transfer data: 0\.250000 secs at 4\.19 MB\/sec\n$/);
  });

  it('--help prints the operand summary', async () => {
    const h = harness();
    assert.equal(await run(h, 'if=/dev/sg1', 'of=/dev/sg2', '--help'), 0);
    assert.match(h.stdout.text, /^sg_xcopy form/);
    assert.equal(h.copies.length, 0);
  });

  const bad: [string[], RegExp][] = [
    [['bs=4096'], /^odxcp: bs=4096: must be the logical block size of if=\/dev\/sg1 \(512\)$/],
    [['count=12Q'], /count=: bad number/],
    [['count=0'], /count=0: nothing to copy/],
    [['seek=999999999'], /seek=999999999: beyond the end/],
    [['--length', '1M'], /--length: not with if=\/of=; use count= \(in blocks\) instead/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
    [['stray'], /'stray' not understood: not an sg_xcopy operand/],
    [['prio=1'], /prio=: not supported/],
  ];
  for (const [args, re] of bad) {
    it(`refuses ${args.join(' ')}: one line, exit 1`, async () => {
      const h = harness();
      assert.equal(await run(h, 'if=/dev/sg1', 'of=/dev/sg2', ...args), 1);
      oneLineError(h, re);
      assert.equal(h.copies.length, 0);
    });
  }
});

describe('odxcp info', () => {
  const info = (p: string): DeviceInfo => ({
    path: p,
    sg: p,
    sd: '/dev/sda',
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
    tokenCopy: {
      supported: true,
      reason: 'VPD 0x8F advertises token copy',
      limits: { maximumRangeDescriptors: 64, maximumInactivityTimeout: 600, defaultInactivityTimeout: 60, maximumTokenTransferSize: 524288n, optimalTransferCount: 0n, maximumTokenLifetime: 0, rodTypesOut: [0x10000], rodTypesIn: [0x10000, ROD_TYPE.BLOCK_DEVICE_ZERO] },
    },
    xcopyLid1: { supported: true, reason: 'copy manager implements 0x02 segments and 0xE4 CSCD descriptors', limits: { maximumCscdDescriptorCount: 2, maximumSegmentDescriptorCount: 1, maximumDescriptorListLength: 1024, maximumSegmentLength: 33554432, snlid: true, heldDataLimit: 0 } },
    blockLimits: { maximumTransferLength: 8192, optimalTransferLength: 0, maximumWriteSameLength: 65535n },
    methods: ['odx', 'xcopy', 'host'],
    zeroMethods: ['token', 'write-same', 'write'],
    probeErrors: [],
    targetIds: [],
  });

  it('one LUN: limits of every method', async () => {
    const h = harness();
    h.ctx.describeDevice = async (p) => info(p);
    assert.equal(await run(h, 'info', '/dev/sg1'), 0);
    assert.match(h.stdout.text, /max token transfer 524288 blocks \(256 MiB\)/);
    assert.match(h.stdout.text, /ROD types in: 0x00010000 \(access upon reference\), 0xffff0001 \(block device zero ROD token\)/);
    assert.match(h.stdout.text, /max segment length 33554432 bytes, segments 1, CSCD descriptors 2/);
    assert.match(h.stdout.text, /max WRITE SAME 65535 blocks/);
    assert.match(h.stdout.text, /copy methods: odx, xcopy, host; zero methods: token, write-same, write/);
    assert.equal(h.plans.length, 0);
  });

  it('a pair: the plan, with why each offload would or would not be used', async () => {
    const h = harness();
    h.ctx.describeDevice = async (p) => info(p);
    assert.equal(await run(h, 'info', '/dev/sg1', '/dev/sg2', '--length', '8M'), 0, h.stderr.text);
    assert.equal(h.plans[0]?.length, 8n << 20n);
    assert.match(h.stdout.text, /token copy \(ODX\): not usable - no Third-Party Copy VPD page \(0x8F\)/);
    assert.match(h.stdout.text, /EXTENDED COPY LID1: usable - both LUNs behind one copy manager/);
    assert.match(h.stdout.text, /method: xcopy; 33554432 bytes \(32 MiB\) per EXTENDED COPY/);
    const j = harness();
    j.ctx.describeDevice = async (p) => info(p);
    assert.equal(await run(j, 'info', '--json', '/dev/sg1', '/dev/sg2'), 0);
    const parsed = JSON.parse(j.stdout.text);
    assert.equal(parsed.plan.method, 'xcopy');
    assert.equal(parsed.plan.verdicts.odx.usable, false);
    assert.equal(parsed.src.blockSize, 512);
  });

  it('plan options need a pair', async () => {
    const h = harness();
    h.ctx.describeDevice = async (p) => info(p);
    assert.equal(await run(h, 'info', '/dev/sg1', '--length', '1M'), 1);
    oneLineError(h, /only with a pair/);
  });
});

describe('odxcp token and zero: arguments -> library options', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-cli-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('token populate', async () => {
    const h = harness();
    let got: PopulateTokenFileOptions | undefined;
    h.ctx.populateTokenFile = async (o) => {
      got = o;
      const token = Buffer.alloc(512);
      token.writeUInt32BE(ROD_TYPE.ACCESS_UPON_REFERENCE, 0);
      return { file: o.out, format: o.format ?? 'odxcp', device: '/dev/sg1', blockSize: 512, lba: 2048n, offset: 1048576n, requestedBytes: 4096n, bytes: 4096n, truncated: false, inactivityTimeout: 120, createdAt: new Date(), listId: 1, token: (await import('../../lib/scsi/rod-token')).decodeRodToken(token) };
    };
    assert.equal(await run(h, 'token', 'populate', '/dev/sg1', '--offset', '2048b', '--length', '4k', '--out', 'x.tok', '--inactivity-timeout', '120', '--force', '--timeout', '5'), 0, h.stderr.text);
    assert.equal(got?.offset, 1048576n);
    assert.equal(got?.length, 4096n);
    assert.equal(got?.out, 'x.tok');
    assert.equal(got?.overwrite, true);
    assert.equal(got?.inactivityTimeout, 120);
    assert.equal(got?.timeoutMs, 5000);
    assert.match(h.stdout.text, /^wrote x\.tok: a token for 4096 bytes/);
  });

  it('token populate/write usage errors', async () => {
    for (const [args, re] of [
      [['token', 'populate', '/dev/sg1', '--length', '1M'], /--out: missing/],
      [['token', 'populate', '/dev/sg1', '--out', 'f'], /--length: missing/],
      [['token', 'populate', '/dev/sg1', '--out', 'f', '--length', '1X'], /--length: bad size suffix/],
      [['token', 'populate', '/dev/sg1', '--out', 'f', '--length', '1M', '--inactivity-timeout', 'long'], /--inactivity-timeout: 'long'/],
      [['token', 'write', '/dev/sg1'], /--in: missing/],
      [['token', 'write', '/dev/sg1', '--in', 'f', '--offset', '-1'], /--offset: size must not be negative/],
      [['token'], /token: missing subcommand/],
      [['token', 'frob'], /token: unknown subcommand 'frob'/],
      [['zero', '/dev/sg1'], /--length: missing/],
      [['zero', '/dev/sg1', '--length', '1M', '--method', 'trim'], /--method: 'trim' is not one of auto, unmap, token, write-same, write/],
    ] as [string[], RegExp][]) {
      const h = harness();
      assert.equal(await run(h, ...args), 1, args.join(' '));
      oneLineError(h, re);
    }
  });

  it('token write: options, bytes reported; a failure part-way says how much was written', async () => {
    const file = path.join(tmp, 'w.tok');
    const token = Buffer.alloc(512);
    token.writeUInt32BE(ROD_TYPE.ACCESS_UPON_REFERENCE, 0);
    token.writeUInt16BE(0x1f8, 6);
    fs.writeFileSync(file, encodeTokenFile({ blockSize: 512, lba: 0n, bytes: 1048576n, createdAt: new Date(), inactivityTimeout: 0 }, token));
    const h = harness();
    let got: WriteTokenFileOptions | undefined;
    h.ctx.writeTokenFile = async (o) => {
      got = o;
      return { device: '/dev/sg2', offset: 4096n, lba: 8n, blockSize: 512, rodOffset: 0n, requestedBytes: 1048576n, bytesWritten: 1048576n, synced: true, commands: 3, truncations: 2 };
    };
    assert.equal(await run(h, 'token', 'write', '/dev/sg2', '--in', file, '--offset', '8b', '--rod-offset', '1k', '--length', '512k', '--delete-token', '--json'), 0, h.stderr.text);
    assert.equal(got?.offset, 4096n);
    assert.equal(got?.rodOffset, 1024n);
    assert.equal(got?.length, 524288n);
    assert.equal(got?.deleteToken, true);
    assert.equal(typeof got?.token, 'object', 'the file is read and checked before the device is touched');
    const j = JSON.parse(h.stdout.text);
    assert.equal(j.bytesWritten, 1048576);
    assert.equal(j.complete, true);

    const f = harness();
    f.ctx.writeTokenFile = async () => {
      throw new TokenWriteError('WRITE USING TOKEN: COPY ABORTED 0D/01 (262144 of 1048576 bytes written)', 262144n, true, copyAborted());
    };
    assert.equal(await run(f, 'token', 'write', '/dev/sg2', '--in', file), 10);
    oneLineError(f, /262144 of 1048576 bytes written/);
  });

  it('token info decodes the file', async () => {
    const file = path.join(tmp, 'i.tok');
    const token = Buffer.alloc(512);
    token.writeUInt32BE(ROD_TYPE.ACCESS_UPON_REFERENCE, 0);
    token.writeUInt16BE(0x1f8, 6);
    token.writeBigUInt64BE(0x1122334455667788n, 8);
    fs.writeFileSync(file, encodeTokenFile({ blockSize: 512, lba: 64n, bytes: 8192n, createdAt: new Date(1_700_000_000_000), inactivityTimeout: 30 }, token));
    const h = harness();
    assert.equal(await run(h, 'token', 'info', file), 0);
    assert.match(h.stdout.text, /odxcp token file v1 \(576 bytes\)/);
    assert.match(h.stdout.text, /ROD type 0x00010000 \(access upon reference\), ROD TOKEN LENGTH 504/);
    assert.match(h.stdout.text, /copy manager token id 1122334455667788/);
    assert.match(h.stdout.text, /represents 8192 bytes \(8 KiB\) from LBA 64 of 512-byte blocks/);
    assert.match(h.stdout.text, /\(60 s ago\); inactivity timeout 30 s/);
    const j = harness();
    assert.equal(await run(j, 'token', 'info', '--json', file), 0);
    assert.equal(JSON.parse(j.stdout.text).bytes, 8192);
  });

  it('zero: options; result and fallbacks printed; ZeroError exits with its cause\'s status', async () => {
    const h = harness();
    let got: ZeroOptions | undefined;
    const r: ZeroResult = {
      device: '/dev/sg1',
      offset: 1048576n,
      length: 1048576n,
      bytes: 1048576n,
      method: 'mixed',
      byMethod: { unmap: 0n, token: 0n, 'write-same': 524288n, write: 524288n },
      synced: true,
      candidates: ['write-same', 'write'],
      fallbacks: [{ offset: 524288n, from: 'write-same', to: 'write', reason: 'WRITE SAME(16): ILLEGAL REQUEST 20/00' }],
      commands: 9,
      elapsedMs: 10,
    };
    h.ctx.zeroRange = async (o) => {
      got = o;
      return r;
    };
    assert.equal(await run(h, 'zero', '/dev/sg1', '--offset', '1M', '--length', '2048b', '--method', 'write-same', '--timeout', '2'), 0, h.stderr.text);
    assert.equal(got?.offset, 1048576n);
    assert.equal(got?.length, 1048576n);
    assert.equal(got?.method, 'write-same');
    assert.equal(got?.timeoutMs, 2000);
    assert.match(h.stdout.text, /^zeroed 1048576 of 1048576 bytes/);
    assert.match(h.stdout.text, /fallback at \+524288: write-same -> write/);

    const f = harness();
    f.ctx.zeroRange = async () => {
      throw new ZeroError('WRITE USING TOKEN: COPY ABORTED (0 of 512 bytes zeroed)', { ...r, bytes: 0n }, copyAborted());
    };
    assert.equal(await run(f, 'zero', '/dev/sg1', '--length', '512', '--json'), 10);
    oneLineError(f, /0 of 512 bytes zeroed/);
    assert.equal(JSON.parse(f.stdout.text).complete, false);
  });
});

describe('exit codes', () => {
  it('wrappers exit with their cause\'s sg3_utils status', () => {
    const r = result();
    assert.equal(cliExitCode(new UsageError('x')), 1);
    assert.equal(cliExitCode(new DeviceError({ path: 'p', code: 'ENOENT' })), 15);
    assert.equal(cliExitCode(new CopyError('x', 'C', r, copyAborted())), 10);
    assert.equal(cliExitCode(new CopyError('x', 'C', r, new AbortedError('a', { signal: 'SIGINT' }))), 130);
    assert.equal(cliExitCode(new CopyError('x', 'C', r)), 99);
    assert.equal(cliExitCode(new TokenWriteError('x', 0n, true, copyAborted())), 10);
    assert.equal(cliExitCode(new ZeroError('x', {} as ZeroResult, new DeviceError({ path: 'p', code: 'MOUNTED' }))), 15);
    assert.equal(cliExitCode(new OdxcpError('x', 'Y')), 99);
    assert.equal(cliExitCode(new Error('x')), 99);
  });

  it('`odxcp exit-codes` prints the table from EXIT_CODES, and the README carries that table', async () => {
    const h = harness();
    assert.equal(await run(h, 'exit-codes'), 0);
    assert.equal(h.stdout.text, `${exitCodesMarkdown()}\n`);
    for (const e of EXIT_CODES) assert.match(h.stdout.text, new RegExp(`^\\| ${e.code} \\| \`${e.name}\``, 'm'));
    const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    const section = /\n## Exit codes\n([\s\S]*?)(\n## |$)/.exec(readme);
    assert.ok(section, 'README has an "Exit codes" section');
    assert.ok((section[1] as string).includes(exitCodesMarkdown()), 'README table matches `odxcp exit-codes` (regenerate it)');
    const j = harness();
    await run(j, 'exit-codes', '--json');
    assert.equal(JSON.parse(j.stdout.text).length, EXIT_CODES.length);
  });
});
