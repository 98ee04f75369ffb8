// The CLI harness the unit suites share: main() with the engine, the devices and the streams
// stubbed, recording what reached the library and what was printed.
import { strict as assert } from 'node:assert';
import { main } from '../../../lib/cli/main';
import type { CliContext, Geometry } from '../../../lib/cli/context';
import type { CopyOptions, CopyPlan, CopyResult } from '../../../lib/engine/types';
import { DeviceError } from '../../../lib/errors';
import { ScsiError, scsiErrorFromResult } from '../../../lib/scsi/errors';

export class Capture {
  text = '';
  isTTY = false;
  columns = 100;
  write(s: string) {
    this.text += s;
    return true;
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
}

export function copyAborted(): ScsiError {
  const sense = Buffer.alloc(18);
  sense[0] = 0x70;
  sense[2] = 0x0a;
  sense[7] = 10;
  sense[12] = 0x0d;
  sense[13] = 0x01;
  return scsiErrorFromResult('WRITE USING TOKEN', Buffer.from('8311000000010000022800 00'.replace(/ /g, ''), 'hex'), {
    status: 2,
    hostStatus: 0,
    driverStatus: 8,
    sense,
    resid: 0,
    durationMs: 0,
    info: 1,
  }) as ScsiError;
}

export function result(o: Partial<CopyResult> = {}): CopyResult {
  return {
    src: '/dev/sg1',
    dst: '/dev/sg2',
    srcOffset: 0n,
    dstOffset: 0n,
    bytes: 1048576n,
    length: 1048576n,
    copiedBytes: 1048576n,
    zeroedBytes: 0n,
    skippedBytes: 0n,
    sparse: { mode: 'auto', used: false, reason: 'the source does not report logical block provisioning (LBPME=0)' },
    offloadedBytes: 786432n,
    hostBytes: 262144n,
    byMethod: { odx: 786432n, xcopy: 0n, host: 262144n },
    method: 'mixed',
    plannedMethod: 'odx',
    fallbacks: [{ offset: 786432n, length: 262144n, from: 'odx', reason: 'COPY ABORTED 0D/01', wholeCopy: true }],
    pathSwitches: [],
    extents: [
      { offset: 0n, length: 786432n, method: 'odx' },
      { offset: 786432n, length: 262144n, method: 'host' },
    ],
    commands: { 'POPULATE TOKEN': 1 },
    hostDataBytes: 524288n,
    elapsedMs: 250,
    truncations: 0,
    synced: true,
    contiguousBytes: 1048576n,
    ...o,
  };
}

export interface Harness {
  ctx: Partial<CliContext>;
  stdout: Capture;
  stderr: Capture;
  copies: CopyOptions[];
  plans: CopyOptions[];
  geometryCalls: string[];
  signals: Map<string, () => void>;
  exits: number[];
}

export function harness(o: { copy?: (opts: CopyOptions) => Promise<CopyResult>; geometry?: Record<string, Geometry>; env?: Record<string, string> } = {}): Harness {
  const stdout = new Capture();
  const stderr = new Capture();
  const copies: CopyOptions[] = [];
  const plans: CopyOptions[] = [];
  const geometryCalls: string[] = [];
  const signals = new Map<string, () => void>();
  const exits: number[] = [];
  const geo = o.geometry ?? { '/dev/sg1': { blockSize: 512, bytes: 64n << 20n }, '/dev/sg2': { blockSize: 512, bytes: 64n << 20n }, '/dev/sg4k': { blockSize: 4096, bytes: 64n << 20n } };
  const ctx: Partial<CliContext> = {
    stdout,
    stderr,
    env: o.env ?? {},
    copy: async (opts) => {
      copies.push(opts);
      return o.copy ? o.copy(opts) : result({ src: String(opts.src), dst: String(opts.dst) });
    },
    planCopy: async (opts) => {
      plans.push(opts);
      return plan();
    },
    geometry: async (p) => {
      geometryCalls.push(p);
      const g = geo[p];
      if (!g) throw new DeviceError({ path: p, code: 'ENOENT', message: `${p}: no such device` });
      return g;
    },
    onSignal: (sig, fn) => {
      signals.set(sig, fn);
      return () => signals.delete(sig);
    },
    exit: (c) => {
      exits.push(c);
    },
    now: () => new Date(1_700_000_060_000),
  };
  return { ctx, stdout, stderr, copies, plans, geometryCalls, signals, exits };
}

export const run = (h: Harness, ...args: string[]) => main(['node', 'odxcp', ...args], h.ctx);

export function plan(): CopyPlan {
  const dev = (p: string) => ({ path: p, vendor: 'LIO-ORG', product: 'odx', blockSize: 512, bytes: 64n << 20n });
  return {
    src: dev('/dev/sg1'),
    dst: dev('/dev/sg2'),
    srcOffset: 0n,
    dstOffset: 0n,
    length: 64n << 20n,
    method: 'xcopy',
    verdicts: { odx: { usable: false, reason: 'no Third-Party Copy VPD page (0x8F)' }, xcopy: { usable: true, reason: 'both LUNs behind one copy manager' } },
    chunkBytes: 32n << 20n,
    hostTransferBytes: 1048576,
    maxInFlight: 4,
  };
}

/** Exactly one stderr line, `odxcp: ...`, matching `re`. */
export function oneLineError(h: Harness, re: RegExp): void {
  const lines = h.stderr.lines();
  assert.equal(lines.length, 1, `one line on stderr, got: ${JSON.stringify(h.stderr.text)}`);
  assert.match(lines[0] as string, /^odxcp: /);
  assert.match(lines[0] as string, re);
}

