// What the integration specs know about the lab: the topology file the guest wrote
// (test/lab/guest/boot.sh) and small helpers to compare devices with their backing files
// and with what sg3_utils prints for the same LUN.
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';

export type LunKind = 'lio-fileio' | 'lio-iblock' | 'tcmu-qcow' | 'scsi-debug' | 'odx';

export interface LabLun {
  name: string;
  kind: LunKind;
  sg: string;
  sd: string;
  file: string | null;
  blockSize: number;
  bytes: number;
  tpg: string | null;
  address: string;
  /** VPD 0x80 unit serial the lab gave the LUN (null for scsi_debug). */
  serial: string | null;
  options: Record<string, string | number>;
}

export interface Topology {
  luns: LabLun[];
}

let topo: Topology | undefined;

/** The lab topology; the integration suite runs only inside the lab, so its absence is an error. */
export function topology(): Topology {
  if (topo) return topo;
  const file = process.env.ODXCP_LAB_TOPOLOGY;
  if (!file) throw new Error('ODXCP_LAB_TOPOLOGY is not set: run the integration suite with `npm run test:lab`');
  topo = JSON.parse(fs.readFileSync(file, 'utf8')) as Topology;
  return topo;
}

export function lun(name: string): LabLun {
  const l = topology().luns.find((x) => x.name === name);
  if (!l) throw new Error(`lab topology has no LUN named ${name}`);
  return l;
}

export function lunsOfKind(kind: LunKind): LabLun[] {
  return topology().luns.filter((l) => l.kind === kind);
}

/** Bytes of a LUN's backing file (what the target really stores). */
export function backing(l: LabLun, offset: number, length: number): Buffer {
  if (!l.file) throw new Error(`${l.name} has no backing file`);
  const fd = fs.openSync(l.file, 'r');
  try {
    const b = Buffer.alloc(length);
    const n = fs.readSync(fd, b, 0, length, offset);
    if (n !== length) throw new Error(`short read of ${l.file}: ${n} of ${length}`);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** Write into a LUN's backing file directly (to prepare a pattern the device must then show). */
export function writeBacking(l: LabLun, offset: number, data: Buffer): void {
  if (!l.file) throw new Error(`${l.name} has no backing file`);
  const fd = fs.openSync(l.file, 'r+');
  try {
    fs.writeSync(fd, data, 0, data.length, offset);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Run a tool (sg3_utils, ddpt) and return stdout; throws with stderr on a non-zero exit. */
export function tool(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Run a tool and return its raw stdout bytes (e.g. `sg_vpd -r`). */
export function toolRaw(cmd: string, args: string[]): Buffer {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Run a tool and return its exit status and output, without throwing. */
export function toolStatus(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    return { status: 0, stdout: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { status: err.status ?? -1, stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? '') };
  }
}

/** A deterministic pattern: every 512-byte sector carries its own number and a seed. */
export function pattern(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i + 4 <= bytes) b.writeUInt32LE(x, i);
  }
  return b;
}
