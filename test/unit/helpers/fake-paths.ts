// A multipath LUN in the in-process model: a FakeLun reached through several "sg nodes", one
// carrying commands at a time, with a knob that fails the current path on the Nth command of
// an opcode: refused at submission (ENXIO, as SG_IO answers for an offline device: the LUN never
// sees it) or lost in flight (the LUN ran it, the answer is DID_TRANSPORT_DISRUPTED), with the
// path's session ended or still logged in. It implements the engine's PathFailover as
// ScsiDevice does for a layered device. The lab proves the same over dm-multipath and iSCSI.
import type { EncodedCommand } from '../../../lib/native';
import type { PathFailover, PathMove } from '../../../lib/device/paths';
import { TransportError } from '../../../lib/scsi/errors';
import type { CommandOptions, CommandResult } from '../../../lib/scsi/transport';
import type { FakeLun } from './fake-lun';

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
}

let nextSg = 10;

export class FakeMultipath {
  readonly sgs: string[];
  current: string;
  readonly failed = new Set<string>();
  readonly ended = new Set<string>();
  /** Which node each command went through, in order. */
  readonly sent: Array<{ node: string; op: number; sa: number }> = [];
  private matched = 0;
  readonly failover: PathFailover;

  constructor(
    readonly lun: FakeLun,
    readonly fault?: PathFault,
    paths = 2,
  ) {
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
        this.current = next;
        return { from, to: next, switched: true };
      },
    };
  }

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
