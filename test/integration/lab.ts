// What the integration specs know about the lab: the topology file the guest wrote
// (test/lab/guest/boot.sh) and small helpers to compare devices with their backing files
// and with what sg3_utils prints for the same LUN.
import * as fs from 'node:fs';
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { copy, type CopyOptions, type CopyResult } from '../../lib/engine';

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
  /** The SAN block stack (test/lab/guest/stack.sh), once a spec has asked for it with stackUp(). */
  stack?: StackEntry[];
}

// ---------------------------------------------------------------------------------------------
// The SAN block stack: LIO iSCSI on two loopback portals, open-iscsi, dm-multipath maps over
// both sessions, GPT partitions, LVM and dm-crypt (test/lab/guest/stack.sh). Set up on demand.

export interface StackPathEntry {
  sd: string;
  sg: string;
  transport: 'iscsi';
  portal: string;
  tpgt: number;
  address: string;
  /** ALUA access state when the path was set up (sysfs access_state). */
  state: string;
  /** Shell commands that fail / restore this path's port (every path through that portal). */
  fail: string;
  restore: string;
}

/** An iSCSI LUN under the stack (its sg/sd are the portal-1 path's). */
export type StackLun = LabLun & { lun: number };
export interface MultipathEntry {
  name: string;
  kind: 'multipath';
  dev: string;
  dm: string;
  wwid: string;
  paths: StackPathEntry[];
  over: string;
  bytes: number;
  blockSize: number;
}
export interface PartitionEntry {
  name: string;
  kind: 'partition';
  dev: string;
  dm?: string;
  over: string;
  startBytes: number;
  bytes: number;
  blockSize: number;
}
export interface LvmEntry {
  name: string;
  kind: 'lvm';
  dev: string;
  dm: string;
  vg: string;
  over: string[];
  segments: Array<{ over: string; startBytes: number; bytes: number }>;
  bytes: number;
  blockSize: number;
}
export interface CryptEntry {
  name: string;
  kind: 'crypt';
  dev: string;
  dm: string;
  over: string;
  bytes: number;
  blockSize: number;
}
export type StackEntry = StackLun | MultipathEntry | PartitionEntry | LvmEntry | CryptEntry;

const STACK_SH = `${__dirname}/../../../test/lab/guest/stack.sh`;

/** Bring the SAN stack up (once per VM) and return the topology with its entries. */
export function stackUp(): Topology {
  const t = topology();
  if (t.stack) return t;
  execFileSync('bash', [STACK_SH, 'up'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600000 });
  topo = undefined;
  return topology();
}

/** Tear the SAN stack down (boot.sh does it too, before the targets go). */
export function stackDown(): void {
  execFileSync('bash', [STACK_SH, 'down'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300000 });
  const t = topology();
  delete t.stack;
}

export function stackEntry<K extends StackEntry['kind']>(name: string, kind: K): Extract<StackEntry, { kind: K }> {
  const e = (topology().stack ?? []).find((x) => x.name === name);
  if (!e) throw new Error(`lab stack has no entry named ${name} (stackUp() first)`);
  if (e.kind !== kind) throw new Error(`lab stack entry ${name} is a ${e.kind}, not a ${kind}`);
  return e as Extract<StackEntry, { kind: K }>;
}

/** The odxcp command of this checkout, run to its end: status and output. */
export function runOdxcp(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.resolve(__dirname, '..', '..', '..', 'bin', 'odxcp'), ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A LUN of the SAN stack (its backing file behind the iSCSI target), by name; the stack comes up first. */
export function stackLun(name: string): LabLun {
  const e = (stackUp().stack ?? []).find((x: StackEntry) => x.name === name);
  if (!e || !('file' in e)) throw new Error(`no stack LUN ${name}`);
  return e as LabLun;
}

/** Run a path's fail/restore command in the guest. */
export function shell(cmd: string): string {
  return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', env: { ...process.env, DM_DISABLE_UDEV: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** Copy, then check the destination's backing file byte for byte, in and out of the range. */
export async function copyChecked(src: LabLun, dst: LabLun, o: Omit<CopyOptions, 'src' | 'dst'> & { srcOffset: number; dstOffset: number; length: number }): Promise<CopyResult> {
  const before = fs.readFileSync(dst.file!);
  const r = await copy({ src: src.sg, dst: dst.sg, ...o });
  const after = fs.readFileSync(dst.file!);
  const want = backing(src, o.srcOffset, o.length);
  assert.ok(after.subarray(o.dstOffset, o.dstOffset + o.length).equals(want), 'destination range equals the source range');
  assert.ok(after.subarray(0, o.dstOffset).equals(before.subarray(0, o.dstOffset)), 'nothing before the destination range changed');
  assert.ok(after.subarray(o.dstOffset + o.length).equals(before.subarray(o.dstOffset + o.length)), 'nothing after the destination range changed');
  assertComplete(r, o.length);
  return r;
}

/** The account of a completed copy covers the range exactly, without gaps or overlaps. */
export function assertComplete(r: CopyResult, length: number): void {
  assert.equal(r.bytes, BigInt(length));
  assert.equal(r.offloadedBytes + r.hostBytes, BigInt(length));
  let end = 0n;
  for (const e of r.extents) {
    assert.equal(e.offset, end, 'extents are contiguous');
    end += e.length;
  }
  assert.equal(end, BigInt(length));
}

// ---------------------------------------------------------------------------------------------
// ODX handler LUNs made at run time, for specs that need knobs the standard topology lacks.
// They sit in a tcm_loop target of their own (its own SCSI host and I_T nexus), so the unit
// attentions their arrival raises (3F/0E) reach only each other, never the standard LUNs the
// other specs drive with sg3_utils. Tokens still cross: they are valid across the whole
// tcmu-runner process.

const CFG = '/sys/kernel/config/target';
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface RuntimeOdxLunOptions {
  sizeMb: number;
  blockSize?: number;
  /** Handler knobs, `a=1&b=2` (test/targets/odx/README.md). */
  knobs?: string;
}

export class RuntimeOdxTarget {
  private readonly tpg: string;
  private readonly made: Array<{ lunDir: string; link: string; backstore: string; file: string }> = [];
  private nextLun = 0;

  /** WWNs distinct from the standard topology's (test/lab/guest/boot.sh uses ...a01/a02). */
  constructor(
    private readonly wwn = 'naa.5001405000000a03',
    initiator = 'naa.5001405000000b03',
  ) {
    this.tpg = `${CFG}/loopback/${wwn}/tpgt_1`;
    fs.mkdirSync(this.tpg, { recursive: true });
    fs.writeFileSync(`${this.tpg}/nexus`, initiator);
  }

  /** Create an odx LUN with these knobs and wait for its sg and sd nodes. */
  async add(name: string, o: RuntimeOdxLunOptions): Promise<LabLun> {
    const bs = o.blockSize ?? 512;
    const bytes = o.sizeMb * 1024 * 1024;
    const file = `/lab/${name}.img`;
    fs.writeFileSync(file, '');
    fs.truncateSync(file, bytes);
    const backstore = `${CFG}/core/user_0/${name}`;
    fs.mkdirSync(backstore, { recursive: true });
    const cfg = `odx/${file}?block_size=${bs}${o.knobs ? `&${o.knobs}` : ''}`;
    if (cfg.length > 250 || cfg.includes(',')) throw new Error(`${name}: handler config too long or has a comma: ${cfg}`);
    const lun = this.nextLun++;
    // Serials: distinct hex digits (the NAA-6 designator is built from them), unlike the lab's.
    const serial = `odxknob${name}-e${lun.toString(16).padStart(2, '0')}`;
    fs.writeFileSync(`${backstore}/control`, `dev_config=${cfg}`);
    fs.writeFileSync(`${backstore}/control`, `dev_size=${bytes}`);
    fs.writeFileSync(`${backstore}/control`, `hw_block_size=${bs}`);
    fs.writeFileSync(`${backstore}/control`, `hw_max_sectors=${(1024 * 1024) / bs}`); // as lio_user in guest/lib.sh
    fs.writeFileSync(`${backstore}/wwn/vpd_unit_serial`, serial);
    fs.writeFileSync(`${backstore}/enable`, '1');
    const lunDir = `${this.tpg}/lun/lun_${lun}`;
    fs.mkdirSync(lunDir);
    const link = `${lunDir}/${name}`;
    fs.symlinkSync(backstore, link);
    this.made.push({ lunDir, link, backstore, file });
    const address = `${fs.readFileSync(`${this.tpg}/address`, 'utf8').trim()}:${lun}`;
    const sg = await nodeOf(address, 'scsi_generic');
    const sd = await nodeOf(address, 'block');
    const options: Record<string, string | number> = { block_size: bs };
    for (const kv of (o.knobs ?? '').split('&').filter(Boolean)) {
      const [k, v] = kv.split('=') as [string, string];
      options[k] = /^\d+$/.test(v) ? Number(v) : v;
    }
    return { name, kind: 'odx', sg, sd, file, blockSize: bs, bytes, tpg: 'tpg3', address, serial, options };
  }

  /** Remove every LUN made here (LUN before backstore, as the lab's teardown does), then the target. */
  remove(): void {
    for (const m of this.made.reverse()) {
      fs.rmSync(m.link, { force: true });
      if (fs.existsSync(m.lunDir)) fs.rmdirSync(m.lunDir);
    }
    for (const m of this.made) {
      if (fs.existsSync(m.backstore)) fs.rmdirSync(m.backstore);
      fs.rmSync(m.file, { force: true });
    }
    this.made.length = 0;
    if (fs.existsSync(this.tpg)) {
      try {
        fs.writeFileSync(`${this.tpg}/nexus`, 'NULL');
      } catch {
        // already without a nexus
      }
      fs.rmdirSync(this.tpg);
      fs.rmdirSync(`${CFG}/loopback/${this.wwn}`);
    }
  }
}

/** Wait (udev-less, devtmpfs) for the /dev node of a SCSI address. */
async function nodeOf(address: string, kind: 'scsi_generic' | 'block'): Promise<string> {
  const dir = `/sys/bus/scsi/devices/${address}/${kind}`;
  for (let i = 0; i < 300; i++) {
    if (fs.existsSync(dir)) {
      for (const n of fs.readdirSync(dir)) if (fs.existsSync(`/dev/${n}`)) return `/dev/${n}`;
    }
    await sleep(50);
  }
  throw new Error(`no ${kind} node for ${address} after 15 s`);
}

// ---------------------------------------------------------------------------------------------
// The kernel's own record of the commands dispatched to a LUN (the scsi:scsi_dispatch_cmd_start
// trace event), a witness odxcp did not write.

const TRACING = '/sys/kernel/tracing';
const EVENT = `${TRACING}/events/scsi/scsi_dispatch_cmd_start`;

export interface Dispatched {
  cdb: Buffer;
  /** H:C:T:L the command went to. */
  address: string;
}

/** The kernel's record of the commands dispatched to one LUN (H:C:T:L), or to several (paths of one LU). */
export class CommandTrace {
  private constructor(private readonly addresses: string[]) {}

  static start(l: LabLun | { address: string }): CommandTrace {
    return CommandTrace.ofAddresses([l.address]);
  }

  static ofAddresses(addresses: string[]): CommandTrace {
    if (!fs.existsSync(`${TRACING}/trace`)) {
      fs.mkdirSync(TRACING, { recursive: true });
      execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACING]);
    }
    fs.writeFileSync(`${TRACING}/tracing_on`, '0');
    fs.writeFileSync(`${TRACING}/buffer_size_kb`, '4096');
    fs.writeFileSync(`${TRACING}/trace`, '');
    const one = (a: string) => {
      const [h, c, t, u] = a.split(':');
      return `(host_no == ${h} && channel == ${c} && id == ${t} && lun == ${u})`;
    };
    fs.writeFileSync(`${EVENT}/filter`, addresses.map(one).join(' || '));
    fs.writeFileSync(`${EVENT}/enable`, '1');
    fs.writeFileSync(`${TRACING}/tracing_on`, '1');
    return new CommandTrace(addresses);
  }

  /** What was dispatched so far (tracing goes on). */
  read(): Dispatched[] {
    const out: Dispatched[] = [];
    const wants = this.addresses.map((a) => {
      const [h, c, t, u] = a.split(':');
      return { a, want: `host_no=${h} channel=${c} id=${t} lun=${u} ` };
    });
    for (const line of fs.readFileSync(`${TRACING}/trace`, 'utf8').split('\n')) {
      if (!line.includes('scsi_dispatch_cmd_start:')) continue;
      const w = wants.find((x) => line.includes(x.want));
      if (!w) continue;
      const m = /raw=([0-9a-f ]+)\)/.exec(line);
      if (m) out.push({ cdb: Buffer.from(m[1]!.replace(/ /g, ''), 'hex'), address: w.a });
    }
    return out;
  }

  stop(): Dispatched[] {
    fs.writeFileSync(`${TRACING}/tracing_on`, '0');
    const cmds = this.read();
    fs.writeFileSync(`${EVENT}/enable`, '0');
    fs.writeFileSync(`${EVENT}/filter`, '0');
    return cmds;
  }
}
