// The retry policy of lib/scsi/transport.ts, driven by a scripted executor (pure logic; the
// lab suite shows the same policy against real unit attentions).
import { strict as assert } from 'node:assert';
import type { EncodedCommand, NativeExecuteRequest, NativeExecuteResult } from '../../lib/native';
import { runCommand, DEFAULT_RETRY, type Executor, type RetryStats } from '../../lib/scsi/transport';
import { ScsiError, TransportError } from '../../lib/scsi/errors';

/** Fixed-format sense (reference 2.1): key in byte 2, ASC/ASCQ in 12/13, additional length 10. */
function fixedSense(key: number, asc: number, ascq: number): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key;
  b[7] = 10;
  b[12] = asc;
  b[13] = ascq;
  return b;
}

const GOOD: NativeExecuteResult = { status: 0, hostStatus: 0, driverStatus: 0, sense: Buffer.alloc(0), resid: 0, durationMs: 1, info: 0 };
const check = (key: number, asc: number, ascq: number): NativeExecuteResult => ({ ...GOOD, status: 2, driverStatus: 8, sense: fixedSense(key, asc, ascq), info: 1 });

class Scripted implements Executor {
  readonly path = '/dev/sg-test';
  calls: NativeExecuteRequest[] = [];
  constructor(private readonly script: Array<NativeExecuteResult | Error>) {}
  async execute(r: NativeExecuteRequest): Promise<NativeExecuteResult> {
    this.calls.push(r);
    const next = this.script.length > 1 ? this.script.shift()! : this.script[0];
    if (next instanceof Error) throw next;
    return next;
  }
}

const TUR: EncodedCommand = { cdb: Buffer.alloc(6), direction: 'none' };
const READ: EncodedCommand = { cdb: Buffer.from([0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]), direction: 'from-device', allocationLength: 512 };
const fast = { ...DEFAULT_RETRY, busyDelayMs: 1, notReadyDelayMs: 1, transportDelayMs: 1 };
const zeroStats = (): RetryStats => ({ unitAttentions: 0, busy: 0, notReady: 0, transport: 0 });

describe('retry policy (lib/scsi/transport.ts)', () => {
  it('retries a UNIT ATTENTION (not executed, SAM) and reports it', async () => {
    const ex = new Scripted([check(6, 0x3f, 0x0e), GOOD]);
    const seen: string[] = [];
    const stats = zeroStats();
    await runCommand(ex, TUR, {}, fast, { onUnitAttention: (e) => seen.push(e.ascName ?? '') }, stats);
    assert.equal(ex.calls.length, 2);
    assert.equal(stats.unitAttentions, 1);
    assert.equal(seen.length, 1);
    assert.match(seen[0], /reported luns data has changed/i);
  });

  it('gives up after the bound and throws the UNIT ATTENTION as a ScsiError', async () => {
    const ex = new Scripted([check(6, 0x29, 0x00)]);
    await assert.rejects(runCommand(ex, TUR, {}, fast), (e: unknown) => e instanceof ScsiError && e.category === 'UNIT_ATTENTION');
    assert.equal(ex.calls.length, fast.unitAttention + 1);
  });

  it('backs off on BUSY and TASK SET FULL, then succeeds', async () => {
    const busy = { ...GOOD, status: 0x08 };
    const full = { ...GOOD, status: 0x28 };
    const ex = new Scripted([busy, full, GOOD]);
    const stats = zeroStats();
    await runCommand(ex, TUR, {}, fast, {}, stats);
    assert.equal(stats.busy, 2);
  });

  it('waits out NOT READY 04/01 but not NOT READY 04/02', async () => {
    const ex = new Scripted([check(2, 4, 1), GOOD]);
    await runCommand(ex, TUR, {}, fast);
    assert.equal(ex.calls.length, 2);
    const ex2 = new Scripted([check(2, 4, 2), GOOD]);
    await assert.rejects(runCommand(ex2, TUR, {}, fast), (e: unknown) => e instanceof ScsiError && e.asc === 4 && e.ascq === 2);
    assert.equal(ex2.calls.length, 1);
  });

  it('never retries ILLEGAL REQUEST', async () => {
    const ex = new Scripted([check(5, 0x20, 0), GOOD]);
    await assert.rejects(runCommand(ex, TUR, {}, fast), (e: unknown) => e instanceof ScsiError && e.category === 'INVALID_OP');
    assert.equal(ex.calls.length, 1);
  });

  it('retries a transport hiccup (DID_BUS_BUSY) only for idempotent commands', async () => {
    const hiccup = { ...GOOD, hostStatus: 0x02 };
    const ex = new Scripted([hiccup, GOOD]);
    await runCommand(ex, READ, { idempotent: true }, fast);
    assert.equal(ex.calls.length, 2);
    const ex2 = new Scripted([hiccup, GOOD]);
    await assert.rejects(runCommand(ex2, READ, {}, fast), (e: unknown) => e instanceof TransportError && e.hostStatus === 2);
    assert.equal(ex2.calls.length, 1);
  });

  it('turns an SG_IO errno into a TransportError that says what to do', async () => {
    const eperm = Object.assign(new Error('ioctl SG_IO: EPERM'), { code: 'EPERM', errno: 1, syscall: 'ioctl SG_IO' });
    const ex = new Scripted([eperm]);
    await assert.rejects(runCommand(ex, TUR, {}, fast), (e: unknown) => {
      assert.ok(e instanceof TransportError);
      assert.equal(e.code, 'EPERM');
      assert.match(e.message, /CAP_SYS_RAWIO/);
      assert.match(e.message, /\/dev\/sg-test/);
      return true;
    });
  });

  it('trims data-in by the residual and passes the timeout for copy-out commands', async () => {
    const ex = new Scripted([{ ...GOOD, resid: 100 }]);
    const r = await runCommand(ex, READ, { data: Buffer.alloc(512) }, fast);
    assert.equal(r.data.length, 412);
    const pt: EncodedCommand = { cdb: Buffer.from([0x83, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 32, 0, 0]), direction: 'to-device', data: Buffer.alloc(32) };
    const ex2 = new Scripted([GOOD]);
    await runCommand(ex2, pt, {}, fast);
    assert.equal(ex2.calls[0].timeoutMs, 600_000, 'reference 7.5: 600 s for 0x83');
    assert.equal(ex2.calls[0].data, pt.data);
  });
});
