// A multipath LUN in the in-process model: a FakeLun reached through several "sg nodes", one
// carrying commands at a time, with a knob that fails the current path on the Nth command of
// an opcode: refused at submission (ENXIO, as SG_IO answers for an offline device: the LUN never
// sees it) or lost in flight (the LUN ran it, the answer is DID_TRANSPORT_DISRUPTED), with the
// path's session ended or still logged in. It implements the engine's PathFailover as
// ScsiDevice does for a layered device. The lab proves the same over dm-multipath and iSCSI.
import type { EncodedCommand } from '../../../lib/native';
import type { PathFailover, PathMove } from '../../../lib/device/paths';
import { TransportError } from '../../../lib/scsi/errors';
import { DeviceError } from '../../../lib/errors';
import type { CommandOptions, CommandResult } from '../../../lib/scsi/transport';
import type { FakeLun } from './fake-lun';
import type { PlanDetails } from '../../../lib/engine/plan';
import type { CopyMethod } from '../../../lib/engine/types';

/** A plan of one copy between two 4 MiB LUNs of 512-byte blocks, one chunk in flight. */
export function fakePlanDetails(method: CopyMethod, o: { path: string; srcOffset: bigint; dstOffset: bigint; length: bigint; chunk: bigint }): PlanDetails {
  const dev = { path: o.path, vendor: 'V', product: 'P', blockSize: 512, bytes: 4096n * 1024n };
  return {
    plan: { src: dev, dst: dev, srcOffset: o.srcOffset, dstOffset: o.dstOffset, length: o.length, method, verdicts: { odx: { usable: true, reason: '' }, xcopy: { usable: true, reason: '' } }, chunkBytes: o.chunk, hostTransferBytes: 64 * 1024, maxInFlight: 1 },
    srcCaps: {} as never,
    dstCaps: {} as never,
    srcKey: 'naa.fake-src',
    dstKey: 'naa.fake-dst',
    tokenBytes: o.chunk,
    inactivityTimeout: 60,
    tokenLifetime: 0,
    hostDepth: 2,
  };
}

export interface PathFault {
  /** Opcode (and service action) of the command that meets the failure. */
  op: number;
  sa?: number;
  /** 1-based among the matching commands. */
  nth: number;
  /** refused: ENXIO from SG_IO; no-connect: DID_NO_CONNECT (failed before sending); in-flight: sent, answer lost. */
  how: 'refused' | 'no-connect' | 'in-flight';
  /** The failed path's session: ended (the target aborted its tasks) or still logged in. */
  session: 'ended' | 'logged-in';
  /** Fail every path, not only the current one. */
  allPaths?: boolean;
  /** Called when the fault strikes (to fail another device's path on the same port). */
  also?: () => void;
  /** The path chosen to switch to does not open (as ScsiDevice reports it: a DeviceError). */
  openFails?: boolean;
}

let nextSg = 10;

/** A FakeLun seen through a wrapper: identity, capacity and limits are the LUN's own. */
abstract class OverLun {
  constructor(readonly lun: FakeLun) {}
  get path() {
    return this.lun.path;
  }
  get cscd() {
    return this.lun.cscd;
  }
  capacity() {
    return this.lun.capacity();
  }
  capabilities() {
    return this.lun.capabilities();
  }
  queueLimits() {
    return this.lun.queueLimits();
  }
}

export class FakeMultipath extends OverLun {
  readonly sgs: string[];
  current: string;
  readonly failed = new Set<string>();
  readonly ended = new Set<string>();
  /** Which node each command went through, in order. */
  readonly sent: Array<{ node: string; op: number; sa: number }> = [];
  private matched = 0;
  readonly failover: PathFailover;

  constructor(
    lun: FakeLun,
    readonly fault?: PathFault,
    paths = 2,
  ) {
    super(lun);
    this.sgs = Array.from({ length: paths }, () => `/dev/sg${nextSg++}`);
    this.current = this.sgs[0] as string;
    const self = this;
    this.failover = {
      get commandNode() {
        return self.current;
      },
      pathFailed: () => this.failed.has(this.current),
      nexusGone: async (sg) => this.ended.has(sg),
      switchPath: async (from): Promise<PathMove | undefined> => {
        if (this.current !== from) return { from, to: this.current, switched: false };
        const next = this.sgs.find((s) => !this.failed.has(s));
        if (!next) return undefined;
        if (this.fault?.openFails) throw new DeviceError({ path: this.lun.path, code: 'ENXIO', errno: 6, message: `${this.lun.path}: path switch: cannot open ${next} (ENXIO): no device behind this node (driver not bound or device removed)` });
        this.current = next;
        return { from, to: next, switched: true };
      },
    };
  }


  async command(cmd: EncodedCommand, o?: CommandOptions): Promise<CommandResult> {
    const node = this.current;
    const op = cmd.cdb[0] as number;
    const sa = (cmd.cdb[1] as number) & 0x1f;
    this.sent.push({ node, op, sa });
    if (this.failed.has(node)) throw refused(cmd, node);
    const f = this.fault;
    if (f && op === f.op && (f.sa === undefined || f.sa === sa) && ++this.matched === f.nth) {
      for (const s of f.allPaths ? this.sgs : [node]) {
        this.failed.add(s);
        if (f.session === 'ended') this.ended.add(s);
      }
      f.also?.();
      if (f.how === 'refused') throw refused(cmd, node);
      if (f.how === 'no-connect') {
        const e = new TransportError({ command: 'copy command', opcode: op, serviceAction: sa, hostStatus: 0x01, code: 'DID_NO_CONNECT' });
        e.node = node;
        throw e;
      }
      await this.lun.command(cmd, o); // the LUN ran it; the answer never came back
      const e = new TransportError({ command: 'copy command', opcode: op, serviceAction: sa, hostStatus: 0x0e, code: 'DID_TRANSPORT_DISRUPTED' });
      e.node = node;
      throw e;
    }
    return this.lun.command(cmd, o);
  }
}

function refused(cmd: EncodedCommand, node: string): TransportError {
  const e = new TransportError({ command: 'command', opcode: cmd.cdb[0], serviceAction: (cmd.cdb[1] as number) & 0x1f, errno: 6, code: 'ENXIO', message: `SG_IO failed: ENXIO on ${node}` });
  e.node = node;
  return e;
}

/**
 * A list command (or its status poll) lost to a transport error that is not the path's: the
 * Nth command of an opcode answers `hostStatus` (DID_TIME_OUT, DID_ABORT, DID_ERROR...), after
 * the LUN ran it (`reached`) or before. Status polls for that list then fail too, `statusLost`
 * times (Infinity: the nexus never says), before they reach the LUN.
 */
export interface ListLoss {
  op: number;
  sa?: number;
  nth: number;
  hostStatus: number;
  reached: boolean;
  statusLost?: number;
  /**
   * The device's sysfs state as `pathRunning()` reads it: true for a path-class error on a path
   * that still runs; a function to change it as commands go; absent, it is not running.
   */
  pathRunning?: boolean | ((sent: number) => boolean);
  /** The status polls lost with `statusLost` fail with this host status (default: hostStatus). */
  statusHostStatus?: number;
}

/** A FakeLun on one nexus whose list command meets a ListLoss; every command is logged in order. */
export class LossyLun extends OverLun {
  readonly sent: Array<{ op: number; sa: number; listId?: number; lba?: bigint; blocks?: number; lost?: boolean }> = [];
  private matched = 0;
  /** The lost list's id, once it was lost. */
  lostListId: number | undefined;
  private statusLeft: number;

  constructor(
    lun: FakeLun,
    readonly loss: ListLoss,
  ) {
    super(lun);
    this.statusLeft = loss.statusLost ?? 0;
  }


  pathRunning(): boolean {
    const r = this.loss.pathRunning;
    return typeof r === 'function' ? r(this.sent.length) : r === true;
  }

  async command(cmd: EncodedCommand, o?: CommandOptions): Promise<CommandResult> {
    const cdb = cmd.cdb;
    const op = cdb[0] as number;
    const sa = (cdb[1] as number) & 0x1f;
    const data = (o?.data ?? cmd.data) as Buffer | undefined;
    const listId = op === 0x83 ? (sa === 0x00 ? data?.[0] : sa === 0x1c ? cdb.readUInt32BE(2) : cdb.readUInt32BE(6)) : op === 0x84 ? (sa === 0x00 ? cdb[2] : cdb.readUInt32BE(2)) : undefined;
    const entry: (typeof this.sent)[number] = { op, sa, listId };
    if (op === 0x8a || op === 0x88) Object.assign(entry, { lba: cdb.readBigUInt64BE(2), blocks: cdb.readUInt32BE(10) });
    this.sent.push(entry);
    const lostErr = (h = this.loss.hostStatus) => {
      entry.lost = true;
      return new TransportError({ command: `op 0x${op.toString(16)}`, opcode: op, serviceAction: sa, hostStatus: h, code: `host 0x${h.toString(16)}`, message: `op 0x${op.toString(16)}: transport error (host status 0x${h.toString(16)})` });
    };
    if (op === 0x84 && listId !== undefined && listId === this.lostListId && this.statusLeft > 0) {
      this.statusLeft--;
      throw lostErr(this.loss.statusHostStatus);
    }
    const l = this.loss;
    if (op === l.op && (l.sa === undefined || l.sa === sa) && ++this.matched === l.nth) {
      this.lostListId = listId;
      if (l.reached) await this.lun.command(cmd, o);
      throw lostErr();
    }
    return this.lun.command(cmd, o);
  }
}
