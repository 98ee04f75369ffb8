// An in-process model of LUNs behind one copy manager, for fast unit tests of the token layer,
// zeroing and the engine's methods. It decodes the real encoders' CDBs and parameter lists
// (reference 4.2-4.3, 5.2-5.11, 6.3, 7.1-7.4) and answers as a target would: READ/WRITE(16),
// SYNCHRONIZE CACHE(16)/(10), WRITE SAME(16), EXTENDED COPY(LID1) with RECEIVE COPY RESULTS,
// POPULATE TOKEN / WRITE USING TOKEN with RRTI and RECEIVE COPY STATUS(LID4), COPY OPERATION
// ABORT. Knobs make it truncate, refuse, expire tokens, report busy list ids, fail part-way or
// stay "in progress" until aborted. The lab suite is the proof against real kernel targets;
// this is the fast check of the logic.
import { strict as assert } from 'node:assert';
import type { EncodedCommand, NativeExecuteResult } from '../../../lib/native';
import type { Capabilities } from '../../../lib/device/capabilities';
import { ScsiError, scsiErrorFromResult } from '../../../lib/scsi/errors';
import { ROD_TYPE } from '../../../lib/scsi/rod-token';
import type { CommandOptions, CommandResult } from '../../../lib/scsi/transport';
import type { TokenTarget } from '../../../lib/tokens/token-ops';

export function fixedSense(key: number, asc: number, ascq: number): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key;
  b[7] = 0x0a;
  b[12] = asc;
  b[13] = ascq;
  return b;
}

export function checkCondition(name: string, cdb: Buffer, key: number, asc: number, ascq: number): ScsiError {
  const r: NativeExecuteResult = { status: 2, hostStatus: 0, driverStatus: 8, sense: fixedSense(key, asc, ascq), resid: 0, durationMs: 0, info: 1 };
  return scsiErrorFromResult(name, cdb, r) as ScsiError;
}

interface ListState {
  sa: number;
  /** COPY OPERATION STATUS once done (reference 7.1). */
  status: number;
  bytes: number;
  token?: Buffer;
  sense?: Buffer;
  /** Polls left that report "in progress"; the work is applied when they run out. */
  pollsLeft: number;
  /** The work the list does when it finishes (or what it did before an abort stops it). */
  finish?: () => void;
}

export interface FakeKnobs {
  blockSize?: number;
  blocks?: number;
  /** Blocks one WRITE USING TOKEN writes at most (a truncating target). */
  wutMaxBlocks?: number;
  /** Every Nth WRITE USING TOKEN (1-based) writes half of what it was asked (rounded down, at least 1 block). */
  truncEvery?: number;
  /** TRANSFER COUNT UNITS in RRTI: 0xF1 blocks (FreeBSD) or 0x00 bytes. */
  units?: number;
  /** ROD types accepted (VPD 0x8F TOKEN_IN). */
  rodTypesIn?: number[];
  tokenCopy?: boolean;
  maxTokenBlocks?: bigint;
  maxWriteSameBlocks?: bigint;
  /** Refuse these opcodes with ILLEGAL REQUEST 20/00. */
  invalidOps?: number[];
  /** The Nth WRITE USING TOKEN (1-based) fails with COPY ABORTED 0D/01 after writing `afterBlocks`. */
  failWut?: { nth: number; afterBlocks: number };
  /** RRTI reports this many blocks for POPULATE TOKEN (a truncated token). */
  populateBlocks?: number;
  /** WRITE SAME of more blocks than this fails with 24/00 (an unadvertised limit). */
  writeSameLimit?: number;
  /** Status polls that report "in progress" before a list finishes (Infinity: until aborted). */
  inProgressPolls?: number;
  /** The first N commands that open a list answer ILLEGAL REQUEST 00/16 (the id is in use). */
  busyListIds?: number;
  /** A token dies (WRITE USING TOKEN: 23/07) once this many bytes were written from it. */
  expireAfterBytes?: number;
  /** EXTENDED COPY fails with COPY ABORTED 0D/01 after this many segments. */
  failXcopyAfterSegments?: number;
  /** WRITE USING TOKEN refuses IMMED=1 with 26/00. */
  refuseImmed?: boolean;
  /**
   * Thin provisioning (LBPME=1): a mapped state per block (all mapped at first; `deallocate`
   * makes holes), GET LBA STATUS, UNMAP and WRITE SAME(16) with UNMAP deallocating, writes
   * mapping. A deallocated block reads as zeros with LBPRZ (the default), else as 0xdd.
   */
  thin?: {
    lbprz?: boolean;
    lbpu?: boolean;
    lbpws?: boolean;
    /** GET LBA STATUS answers ILLEGAL REQUEST 24/00 (LBPME=1 yet no GET LBA STATUS). */
    refuseGetLbaStatus?: boolean;
    /** UNMAP deallocates only whole granules of this many blocks (aligned to 0). */
    unmapGranularity?: number;
    /** Descriptors per GET LBA STATUS reply at most (default 2, so the map takes several). */
    descriptorsPerReply?: number;
  };
}

export type FakeLogEntry = { seq: number; op: string; lba?: bigint; blocks?: number; offsetIntoRod?: bigint; listId?: number; delTkn?: boolean; immed?: boolean };

let seq = 0;
const CM_TOKENS = new Map<string, { lun: FakeLun; lba: number; blocks: number; written: number }>();
const CM_LUNS = new Map<string, FakeLun>();
let nextSerial = 1;

/** A LUN in memory behind a shared copy manager. */
export class FakeLun implements TokenTarget {
  readonly path: string;
  readonly bs: number;
  readonly mem: Buffer;
  /** Every command, in the order the model saw them (seq is global across LUNs). */
  readonly log: FakeLogEntry[] = [];
  /** The LU designator (NAA-6, 16 bytes) an 0xE4 CSCD descriptor names this LUN by. */
  readonly naa: Buffer;
  private readonly lists = new Map<number, ListState>();
  /** Per block: 1 mapped, 0 deallocated (thin LUNs only). */
  readonly mapped: Uint8Array;
  private busyLeft: number;
  private wuts = 0;

  constructor(readonly k: FakeKnobs = {}, name?: string) {
    this.bs = k.blockSize ?? 512;
    this.busyLeft = k.busyListIds ?? 0;
    this.mem = Buffer.alloc((k.blocks ?? 4096) * this.bs, 0xee);
    this.mapped = new Uint8Array(k.blocks ?? 4096).fill(1);
    const serial = nextSerial++;
    this.path = name ?? `/dev/fake${serial}`;
    this.naa = Buffer.alloc(16, 0);
    this.naa[0] = 0x60;
    this.naa.writeUInt32BE(serial, 12);
    CM_LUNS.set(this.naa.toString('hex'), this);
  }

  /** What the engine's XcopyMethod names this LUN with. */
  get cscd() {
    return { designator: { codeSet: 1, association: 0, designatorType: 3, designator: this.naa }, blockLength: this.bs };
  }

  async capacity() {
    const blocks = BigInt(this.mem.length / this.bs);
    return { blockSize: this.bs, blocks, bytes: blocks * BigInt(this.bs) };
  }

  /** Make [lba, lba + blocks) deallocated, reading as LBPRZ says (a thin LUN's hole). */
  deallocate(lba: number, blocks: number): void {
    this.mapped.fill(0, lba, lba + blocks);
    this.mem.fill(this.k.thin?.lbprz === false ? 0xdd : 0, lba * this.bs, (lba + blocks) * this.bs);
  }

  private markMapped(lba: number, blocks: number): void {
    this.mapped.fill(1, lba, lba + blocks);
  }

  /** Runs of the mapped state as [lba, blocks, mapped] (for assertions). */
  runs(): Array<[number, number, boolean]> {
    const out: Array<[number, number, boolean]> = [];
    for (let b = 0; b < this.mapped.length; b++) {
      const m = this.mapped[b] === 1;
      const last = out[out.length - 1];
      if (last && last[2] === m) last[1]++;
      else out.push([b, 1, m]);
    }
    return out;
  }

  async capabilities(): Promise<Pick<Capabilities, 'tokenCopy' | 'blockLimits' | 'provisioning'>> {
    const supported = this.k.tokenCopy !== false;
    const t = this.k.thin;
    return {
      provisioning: t ? { lbpme: true, lbprz: t.lbprz !== false, lbpu: t.lbpu !== false, lbpws: t.lbpws !== false, ancSup: false } : { lbpme: false, lbprz: false, lbpu: false, lbpws: false, ancSup: false },
      tokenCopy: supported
        ? {
            supported,
            reason: 'fake',
            limits: {
              maximumRangeDescriptors: 8,
              maximumInactivityTimeout: 600,
              defaultInactivityTimeout: 60,
              maximumTokenTransferSize: this.k.maxTokenBlocks ?? 0n,
              optimalTransferCount: 0n,
              maximumTokenLifetime: 0,
              rodTypesOut: [ROD_TYPE.ACCESS_UPON_REFERENCE],
              rodTypesIn: this.k.rodTypesIn ?? [ROD_TYPE.ACCESS_UPON_REFERENCE],
            },
          }
        : { supported: false, reason: 'fake: none' },
      blockLimits: { pageCode: 0xb0, peripheralDeviceType: 0, peripheralQualifier: 0, pageLength: 0x3c, maximumWriteSameLength: this.k.maxWriteSameBlocks ?? 0n, maximumTransferLength: 64 } as unknown as Capabilities['blockLimits'],
    };
  }

  queueLimits() {
    return { maxSectorsBytes: 16384 };
  }

  /** Commands of these names, in order. */
  ops(...names: string[]): FakeLogEntry[] {
    return this.log.filter((l) => names.includes(l.op));
  }

  private push(e: Omit<FakeLogEntry, 'seq'>): void {
    this.log.push({ seq: ++seq, ...e });
  }

  private result(data: Buffer = Buffer.alloc(0)): CommandResult {
    return { data, resid: 0, durationMs: 0, raw: { status: 0, hostStatus: 0, driverStatus: 0, sense: Buffer.alloc(0), resid: 0, durationMs: 0, info: 0 } };
  }

  /** A list opened by a command: done at once, or after `inProgressPolls` status polls. */
  private open(listId: number, l: Omit<ListState, 'pollsLeft'>): void {
    const state = Object.assign(l, { pollsLeft: this.k.inProgressPolls ?? 0 });
    this.lists.set(listId, state);
    if (state.pollsLeft === 0) this.settle(state);
  }

  private settle(l: ListState): void {
    l.finish?.();
    l.finish = undefined;
  }

  private statusReply(listId: number, cdb: Buffer, withToken: boolean): Buffer {
    const l = this.lists.get(listId);
    if (!l) throw checkCondition('RECEIVE ROD TOKEN INFORMATION', cdb, 5, 0x24, 0);
    let status = l.status;
    if (l.pollsLeft > 0) {
      l.pollsLeft--;
      status = 0x11;
      if (l.pollsLeft === 0) this.settle(l);
    }
    const units = this.k.units ?? 0xf1;
    const sense = status === 0x11 ? Buffer.alloc(0) : (l.sense ?? Buffer.alloc(0));
    const tokenPart = withToken ? (l.token && status !== 0x11 ? Buffer.concat([Buffer.from([0, 0, 0x02, 0x02, 0, 0]), l.token]) : Buffer.from([0, 0, 0, 0])) : Buffer.alloc(0);
    const b = Buffer.alloc(32 + sense.length);
    b[4] = l.sa;
    b[5] = status;
    b.writeUInt32BE(status === 0x11 ? 1 : 0xffffffff, 8);
    b[12] = l.status === 0x02 ? 2 : 0;
    b[13] = sense.length;
    b[14] = sense.length;
    b[15] = units;
    const bytes = status === 0x11 ? 0 : l.bytes;
    b.writeBigUInt64BE(units === 0xf1 ? BigInt(bytes / this.bs) : BigInt(bytes), 16);
    sense.copy(b, 32);
    const all = Buffer.concat([b, tokenPart]);
    all.writeUInt32BE(all.length - 4, 0);
    return all;
  }

  /** ILLEGAL REQUEST 00/16 for the first `busyListIds` lists opened, when asked to. */
  private checkBusy(listId: number, cdb: Buffer, name: string): void {
    if (this.busyLeft <= 0) return;
    this.busyLeft--;
    this.push({ op: 'BUSY', listId });
    throw checkCondition(name, cdb, 5, 0x00, 0x16);
  }

  async command(cmd: EncodedCommand, o: CommandOptions = {}): Promise<CommandResult> {
    const cdb = cmd.cdb;
    const op = cdb[0] as number;
    if (this.k.invalidOps?.includes(op)) {
      this.push({ op: `REFUSED 0x${op.toString(16)}` });
      throw checkCondition(`op 0x${op.toString(16)}`, cdb, 5, 0x20, 0);
    }
    if (op === 0x83) return this.copyOut(cmd, o);
    if (op === 0x9e && ((cdb[1] as number) & 0x1f) === 0x12) return this.getLbaStatus(cdb);
    if (op === 0x42) return this.unmap(cmd, o);
    if (op === 0x84) {
      const sa = (cdb[1] as number) & 0x1f;
      if (sa === 0x07 || sa === 0x05) return this.result(this.statusReply(cdb.readUInt32BE(2), cdb, sa === 0x07));
      if (sa === 0x00) {
        this.push({ op: 'RCS1', listId: cdb[2] as number });
        // An unknown list id: INVALID FIELD IN CDB, as the odx handler (and FreeBSD) answer.
        if (!this.lists.has(cdb[2] as number)) throw checkCondition('RECEIVE COPY RESULTS', cdb, 5, 0x24, 0);
        return this.result(this.lid1Status(cdb[2] as number));
      }
      throw checkCondition('RECEIVE COPY RESULTS', cdb, 5, 0x24, 0);
    }
    if (op === 0x91 || op === 0x35) {
      const lba = op === 0x91 ? cdb.readBigUInt64BE(2) : BigInt(cdb.readUInt32BE(2));
      const blocks = op === 0x91 ? cdb.readUInt32BE(10) : cdb.readUInt16BE(7);
      this.push({ op: op === 0x91 ? 'SC16' : 'SC10', lba, blocks });
      return this.result();
    }
    if (op === 0x88) {
      const lba = cdb.readBigUInt64BE(2);
      const blocks = cdb.readUInt32BE(10);
      this.push({ op: 'R', lba, blocks });
      const d = o.data;
      assert.ok(d && d.length === blocks * this.bs, 'READ(16) buffer');
      this.mem.copy(d, 0, Number(lba) * this.bs, (Number(lba) + blocks) * this.bs);
      return this.result(d);
    }
    if (op === 0x93 || op === 0x8a) {
      const lba = cdb.readBigUInt64BE(2);
      const blocks = cdb.readUInt32BE(10);
      const unmapBit = op === 0x93 && ((cdb[1] as number) & 0x08) !== 0;
      this.push({ op: op === 0x93 ? (unmapBit ? 'WS UNMAP' : 'WS') : 'W', lba, blocks });
      if (op === 0x93 && this.k.writeSameLimit !== undefined && blocks > this.k.writeSameLimit) throw checkCondition('WRITE SAME(16)', cdb, 5, 0x24, 0);
      if (unmapBit && this.k.thin && this.k.thin.lbpws !== false) {
        this.deallocate(Number(lba), blocks);
        return this.result();
      }
      if (unmapBit) throw checkCondition('WRITE SAME(16)', cdb, 5, 0x24, 0);
      this.markMapped(Number(lba), blocks);
      const d = o.data ?? cmd.data;
      assert.ok(d, 'data-out');
      if (op === 0x93) {
        assert.equal(d.length, this.bs, 'WRITE SAME carries one block');
        for (let b = 0; b < blocks; b++) d.copy(this.mem, (Number(lba) + b) * this.bs);
      } else {
        assert.equal(d.length, blocks * this.bs);
        d.copy(this.mem, Number(lba) * this.bs);
      }
      return this.result();
    }
    throw checkCondition(`op 0x${op.toString(16)}`, cdb, 5, 0x20, 0);
  }

  private getLbaStatus(cdb: Buffer): CommandResult {
    const t = this.k.thin;
    const lba = Number(cdb.readBigUInt64BE(2));
    const alloc = cdb.readUInt32BE(10);
    this.push({ op: 'GLS', lba: BigInt(lba) });
    if (!t || t.refuseGetLbaStatus) throw checkCondition('GET LBA STATUS', cdb, 5, 0x24, 0);
    if (lba >= this.mapped.length) throw checkCondition('GET LBA STATUS', cdb, 5, 0x21, 0);
    const descs: Buffer[] = [];
    let at = lba;
    while (at < this.mapped.length && descs.length < (t.descriptorsPerReply ?? 2)) {
      const m = this.mapped[at];
      let end = at;
      while (end < this.mapped.length && this.mapped[end] === m) end++;
      const d = Buffer.alloc(16);
      d.writeBigUInt64BE(BigInt(at), 0);
      d.writeUInt32BE(end - at, 8);
      d[12] = m === 1 ? 0 : 1;
      descs.push(d);
      at = end;
    }
    const all = Buffer.concat([Buffer.alloc(8), ...descs]);
    all.writeUInt32BE(all.length - 4, 0);
    return this.result(all.subarray(0, Math.min(all.length, alloc)));
  }

  private unmap(cmd: EncodedCommand, o: CommandOptions): CommandResult {
    const t = this.k.thin;
    const p = (o.data ?? cmd.data) as Buffer;
    if (!t || t.lbpu === false) throw checkCondition('UNMAP', cmd.cdb, 5, 0x20, 0);
    const g = t.unmapGranularity ?? 1;
    const n = p.readUInt16BE(2) / 16;
    for (let i = 0; i < n; i++) {
      const lba = Number(p.readBigUInt64BE(8 + 16 * i));
      const blocks = p.readUInt32BE(8 + 16 * i + 8);
      this.push({ op: 'UNMAP', lba: BigInt(lba), blocks });
      // Only whole granules are deallocated; the rest keeps its data (SBC-3 allows that).
      const a = Math.ceil(lba / g) * g;
      const b = Math.floor((lba + blocks) / g) * g;
      if (b > a) this.deallocate(a, b - a);
    }
    return this.result();
  }

  private lid1Status(listId: number): Buffer {
    const l = this.lists.get(listId);
    const b = Buffer.alloc(12);
    b.writeUInt32BE(8, 0);
    if (!l) return b;
    b[4] = l.pollsLeft > 0 ? 0x00 : l.status === 0x01 ? 0x01 : 0x02;
    if (l.pollsLeft > 0) l.pollsLeft--;
    b.writeUInt16BE(l.bytes, 5); // segments processed, kept in `bytes` for LID1 lists
    return b;
  }

  private copyOut(cmd: EncodedCommand, o: CommandOptions): CommandResult {
    const cdb = cmd.cdb;
    const sa = (cdb[1] as number) & 0x1f;
    const p = (o.data ?? cmd.data) as Buffer;
    if (sa === 0x1c) {
      const listId = cdb.readUInt32BE(2);
      this.push({ op: 'COA', listId });
      const l = this.lists.get(listId);
      if (!l) throw checkCondition('COPY OPERATION ABORT', cdb, 5, 0x24, 0);
      if (l.pollsLeft > 0) {
        // Stops at once: what it had done stays done (none here), and its status says so.
        l.pollsLeft = 0;
        l.finish = undefined;
        l.status = 0x60;
        l.bytes = 0;
      }
      return this.result();
    }
    if (sa === 0x00) return this.extendedCopy(cdb, p);
    const listId = cdb.readUInt32BE(6);
    if (sa === 0x10) {
      this.checkBusy(listId, cdb, 'POPULATE TOKEN');
      const n = p.readUInt16BE(14) / 16;
      assert.equal(n, 1, 'one range per POPULATE TOKEN in these tests');
      const lba = Number(p.readBigUInt64BE(16));
      const blocks = p.readUInt32BE(24);
      const got = Math.min(blocks, this.k.populateBlocks ?? blocks);
      const token = Buffer.alloc(512);
      token.writeUInt32BE(ROD_TYPE.ACCESS_UPON_REFERENCE, 0);
      token.writeUInt16BE(0x1f8, 6);
      token.writeBigUInt64BE(BigInt(listId), 8);
      token.writeBigUInt64BE(BigInt(got * this.bs), 56);
      token.writeUInt32BE(this.bs, 96);
      token.writeUInt32BE(seq + 1, 100); // distinct tokens for one list id reused
      token.fill(0x5a, 200);
      this.push({ op: 'PT', lba: BigInt(lba), blocks, listId });
      this.open(listId, { sa, status: 1, bytes: got * this.bs, token, finish: () => CM_TOKENS.set(token.toString('hex'), { lun: this, lba, blocks: got, written: 0 }) });
      return this.result();
    }
    assert.equal(sa, 0x11);
    const immed = (p[2]! & 0x01) !== 0;
    if (immed && this.k.refuseImmed) {
      this.push({ op: 'WUT REFUSED IMMED', listId });
      throw checkCondition('WRITE USING TOKEN', cdb, 5, 0x26, 0);
    }
    this.checkBusy(listId, cdb, 'WRITE USING TOKEN');
    this.wuts++;
    const delTkn = (p[2]! & 0x02) !== 0;
    const offsetIntoRod = p.readBigUInt64BE(8);
    const tokenKey = Buffer.from(p.subarray(16, 528)).toString('hex');
    const n = p.readUInt16BE(534) / 16;
    const ranges: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) ranges.push([Number(p.readBigUInt64BE(536 + 16 * i)), p.readUInt32BE(536 + 16 * i + 8)]);
    const asked = ranges.reduce((a, [, b]) => a + b, 0);
    let budget = Math.min(this.k.wutMaxBlocks ?? Number.MAX_SAFE_INTEGER, asked);
    if (this.k.truncEvery && this.wuts % this.k.truncEvery === 0) budget = Math.max(1, Math.floor(budget / 2));
    const fail = this.k.failWut && this.k.failWut.nth === this.wuts ? this.k.failWut : undefined;
    if (fail) budget = Math.min(budget, fail.afterBlocks);
    const zero = p.readUInt32BE(16) === ROD_TYPE.BLOCK_DEVICE_ZERO;
    const src = zero ? undefined : CM_TOKENS.get(tokenKey);
    this.push({ op: 'WUT', lba: BigInt(ranges[0]?.[0] ?? 0), blocks: asked, offsetIntoRod, listId, delTkn, immed });
    if (!zero && !src) {
      this.lists.set(listId, { sa, status: 2, bytes: 0, sense: fixedSense(5, 0x23, 0x04), pollsLeft: 0 });
      throw checkCondition('WRITE USING TOKEN', cdb, 5, 0x23, 0x04);
    }
    let expired = false;
    if (src && this.k.expireAfterBytes !== undefined) {
      const left = Math.floor((this.k.expireAfterBytes - src.written) / this.bs);
      if (left <= 0) {
        this.lists.set(listId, { sa, status: 2, bytes: 0, sense: fixedSense(5, 0x23, 0x07), pollsLeft: 0 });
        throw checkCondition('WRITE USING TOKEN', cdb, 5, 0x23, 0x07);
      }
      if (left < budget) {
        budget = left;
        expired = true;
      }
    }
    const work = () => {
      let written = 0;
      for (const [lba, count] of ranges) {
        const blocks = Math.min(count, budget - written);
        if (blocks <= 0) break;
        this.markMapped(lba, blocks);
        for (let b = 0; b < blocks; b++) {
          const dst = (lba + b) * this.bs;
          if (zero) this.mem.fill(0, dst, dst + this.bs);
          else {
            const s = (src!.lba + Number(offsetIntoRod) + written + b) * this.bs;
            src!.lun.mem.copy(this.mem, dst, s, s + this.bs);
          }
        }
        written += blocks;
      }
      if (src) src.written += written * this.bs;
      if (delTkn && src && written === asked) CM_TOKENS.delete(tokenKey);
      return written;
    };
    if (fail || expired) {
      const written = work();
      const sense = expired ? fixedSense(5, 0x23, 0x07) : fixedSense(0x0a, 0x0d, 0x01);
      this.lists.set(listId, { sa, status: 2, bytes: written * this.bs, sense, pollsLeft: 0 });
      if (expired) CM_TOKENS.delete(tokenKey);
      throw checkCondition('WRITE USING TOKEN', cdb, expired ? 5 : 0x0a, expired ? 0x23 : 0x0d, expired ? 0x07 : 0x01);
    }
    const state: Omit<ListState, 'pollsLeft'> = { sa, status: 1, bytes: 0 };
    state.finish = () => {
      (state as ListState).bytes = work() * this.bs;
    };
    this.open(listId, state);
    return this.result();
  }

  private extendedCopy(cdb: Buffer, p: Buffer): CommandResult {
    const listId = p[0] as number;
    const usage = ((p[1] as number) >> 3) & 0x3;
    const cscdLen = p.readUInt16BE(2);
    const segLen = p.readUInt32BE(8);
    const cscds: FakeLun[] = [];
    for (let off = 16; off < 16 + cscdLen; off += 32) {
      const len = p[off + 7] as number;
      const lun = CM_LUNS.get(p.subarray(off + 8, off + 8 + len).toString('hex'));
      if (!lun) throw checkCondition('EXTENDED COPY', cdb, 0x0a, 0x0d, 0x02); // copy target device not reachable
      cscds.push(lun);
    }
    const segs: Array<{ src: FakeLun; dst: FakeLun; blocks: number; sLba: number; dLba: number }> = [];
    for (let off = 16 + cscdLen; off < 16 + cscdLen + segLen; off += 28) {
      segs.push({ src: cscds[p.readUInt16BE(off + 4)]!, dst: cscds[p.readUInt16BE(off + 6)]!, blocks: p.readUInt16BE(off + 10), sLba: Number(p.readBigUInt64BE(off + 12)), dLba: Number(p.readBigUInt64BE(off + 20)) });
    }
    this.push({ op: 'XCOPY', listId, blocks: segs.reduce((a, s) => a + s.blocks, 0), lba: BigInt(segs[0]?.dLba ?? 0) });
    let done = 0;
    for (const s of segs) {
      if (this.k.failXcopyAfterSegments !== undefined && done >= this.k.failXcopyAfterSegments) {
        if (usage !== 3) this.lists.set(listId, { sa: 0, status: 2, bytes: done + 1, pollsLeft: 0 }); // SEGMENTS PROCESSED counts the failing one
        throw checkCondition('EXTENDED COPY', cdb, 0x0a, 0x0d, 0x01);
      }
      s.src.mem.copy(s.dst.mem, s.dLba * s.dst.bs, s.sLba * s.src.bs, (s.sLba + s.blocks) * s.src.bs);
      s.dst.mapped.fill(1, s.dLba, s.dLba + s.blocks);
      done++;
    }
    if (usage !== 3) this.lists.set(listId, { sa: 0, status: 1, bytes: done, pollsLeft: 0 });
    return this.result();
  }
}

export function fillPattern(b: Buffer, seed: number): void {
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + seed + (i >> 9)) & 0xff;
}
