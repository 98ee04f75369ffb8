// The block stack under a device path: partitions, dm-linear (LVM, kpartx) and dm-multipath
// down to SCSI LUNs, from sysfs and the device-mapper tables alone (no command sent). The
// result names each LUN by its designator (VPD 0x83 as sysfs caches it) with every path to it,
// and maps the device's bytes onto LUN bytes (extents). Any other layer is refused with a line
// naming it. The sysfs root and the table source are parameters, for tests on a built tree.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeviceError } from '../errors';
import { decodeVpdDeviceIdentification } from '../scsi/spc';
import { kernelDmTable, multipathPathStates, parseLinear, unsupportedTarget, type DmTableSource } from './dm';
import { DEFAULT_ROOTS, listSorted as list, readTrim as read, splitDev, SG_MAJOR, type Roots } from './sysfs';
import { choosePath, type StackPath } from './paths';

export type { StackPath } from './paths';

export interface StackLun {
  /** "naa.<hex>", "eui.<hex>", or "scsi.<H:C:T:L>" when the LUN names no designator. */
  id: string;
  /** Every path (a multipath map's members; a plain disk: itself). */
  paths: StackPath[];
  /** The path commands go through (undefined when none is up). */
  chosen: StackPath | undefined;
  bytes: bigint;
  blockSize: number;
}

/** Device bytes [offset, offset+length) are LUN `lun`'s bytes from lunOffset. */
export interface Extent {
  offset: bigint;
  length: bigint;
  lun: number;
  lunOffset: bigint;
}

export type LayerKind = 'partition' | 'lvm' | 'linear' | 'multipath' | 'disk';

export interface Layer {
  kind: LayerKind;
  /** Kernel name: sda1, dm-3, sdb. */
  node: string;
  /** dm name (vg0-lv1, mpatha), when a map. */
  name?: string;
  /** Partition start, bytes. */
  start?: bigint;
  segments?: number;
  /** Multipath/disk: index into `luns`. */
  lun?: number;
  /** The layers this one sits on (several for an LV over several LUNs). */
  below: Layer[];
}

export interface Stack {
  given: string;
  /** The block node at the top (what a user mounts; opened O_EXCL for writing), or the sg node. */
  top: string;
  topName: string;
  topKind: 'block' | 'sg';
  chain: Layer;
  luns: StackLun[];
  extents: Extent[];
  bytes: bigint;
  blockSize: number;
  /** True for a plain SCSI disk or sg node: the device is one whole LUN, with no layer above it. */
  plain: boolean;
}

export interface StackOptions {
  roots?: Roots;
  dmTable?: DmTableSource;
}

function realpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

function sectors(dir: string, file: string): bigint | undefined {
  const v = read(path.join(dir, file));
  return v !== undefined && /^\d+$/.test(v) ? BigInt(v) * 512n : undefined;
}

/** Rebase the extents covering [start, start+length) of a lower device to offset 0. */
export function sliceExtents(extents: readonly Extent[], start: bigint, length: bigint): Extent[] {
  const out: Extent[] = [];
  const end = start + length;
  for (const e of extents) {
    const a = e.offset > start ? e.offset : start;
    const b = e.offset + e.length < end ? e.offset + e.length : end;
    if (a >= b) continue;
    out.push({ offset: a - start, length: b - a, lun: e.lun, lunOffset: e.lunOffset + (a - e.offset) });
  }
  return out;
}

/** Join neighbours that continue each other on the same LUN. */
export function mergeExtents(extents: readonly Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of [...extents].sort((x, y) => (x.offset < y.offset ? -1 : x.offset > y.offset ? 1 : 0))) {
    const last = out[out.length - 1];
    if (last && last.lun === e.lun && last.offset + last.length === e.offset && last.lunOffset + last.length === e.lunOffset) last.length += e.length;
    else out.push({ ...e });
  }
  return out;
}

/** The target port group of the port a path's vpd_pg83 was read through (association 1, type 5). */
export function targetPortGroupFromVpd(page: Buffer | undefined): number | undefined {
  if (!page || page.length < 4) return undefined;
  try {
    const d = decodeVpdDeviceIdentification(page).descriptors.find((x) => x.association === 1 && x.designatorType === 5);
    return d && d.decoded.kind === 'target-port-group' ? d.decoded.targetPortGroup : undefined;
  } catch {
    return undefined;
  }
}

/** The SCSI designator sysfs caches for a LUN (vpd_pg83): NAA first, then EUI-64. */
export function lunIdFromVpd(page: Buffer | undefined): string | undefined {
  if (!page || page.length < 4) return undefined;
  let descs;
  try {
    descs = decodeVpdDeviceIdentification(page).descriptors;
  } catch {
    return undefined;
  }
  for (const [type, prefix] of [
    [3, 'naa'],
    [2, 'eui'],
  ] as const) {
    const d = descs.find((x) => x.association === 0 && x.designatorType === type);
    if (d) return `${prefix}.${d.designator.toString('hex')}`;
  }
  return undefined;
}

class Resolver {
  readonly luns: StackLun[] = [];
  private readonly byId = new Map<string, number>();

  constructor(
    private readonly given: string,
    private readonly roots: Roots,
    private readonly dmTable: DmTableSource,
  ) {}

  fail(code: string, why: string): never {
    throw new DeviceError({ path: this.given, code, message: `${this.given}: ${why}` });
  }

  /** The sysfs directory of a block device number. */
  blockDir(devnum: string): string {
    const d = realpath(path.join(this.roots.sys, 'dev', 'block', devnum));
    if (!d) this.fail('ENXIO', `block device ${devnum} is not in sysfs (removed?)`);
    return d;
  }

  /** One path of a SCSI disk: its sysfs facts. */
  pathOf(sdDir: string): { path: StackPath; id: string | undefined; bytes: bigint; blockSize: number } | undefined {
    const devDir = realpath(path.join(sdDir, 'device'));
    if (!devDir) return undefined;
    const bus = path.basename(realpath(path.join(devDir, 'subsystem')) ?? '');
    if (bus !== 'scsi') return undefined;
    const sd = path.basename(sdDir);
    const sg = list(path.join(devDir, 'scsi_generic'))[0];
    const address = path.basename(devDir);
    let vpd: Buffer | undefined;
    try {
      vpd = fs.readFileSync(path.join(devDir, 'vpd_pg83'));
    } catch {
      vpd = undefined;
    }
    const host = /\/(host\d+)\//.exec(devDir)?.[1];
    const transport = /\/session\d+\//.test(devDir)
      ? 'iscsi'
      : /\/rport-/.test(devDir)
        ? 'fc'
        : /\/end_device-/.test(devDir)
          ? 'sas'
          : (host && read(path.join(this.roots.sys, 'class', 'scsi_host', host, 'proc_name'))) || 'scsi';
    const bs = Number(read(path.join(sdDir, 'queue', 'logical_block_size')) ?? '512');
    return {
      path: {
        sd: path.join(this.roots.dev, sd),
        sg: sg ? path.join(this.roots.dev, sg) : undefined,
        address,
        state: read(path.join(devDir, 'state')) ?? 'unknown',
        ...aluaOf(devDir, vpd),
        transport,
      },
      id: lunIdFromVpd(vpd),
      bytes: sectors(sdDir, 'size') ?? 0n,
      blockSize: Number.isInteger(bs) && bs > 0 ? bs : 512,
    };
  }

  /** Register a LUN reached by these paths (merged with one met before under the same id). */
  lun(paths: { path: StackPath; id: string | undefined; bytes: bigint; blockSize: number }[], what: string): number {
    const ids = new Set(paths.map((p) => p.id ?? `scsi.${p.path.address}`));
    if (ids.size > 1) this.fail('MIXED_PATHS', `${what}: its paths name different LUNs (${[...ids].join(', ')})`);
    const id = [...ids][0] as string;
    let i = this.byId.get(id);
    if (i === undefined) {
      i = this.luns.length;
      this.byId.set(id, i);
      this.luns.push({ id, paths: [], chosen: undefined, bytes: paths[0]?.bytes ?? 0n, blockSize: paths[0]?.blockSize ?? 512 });
    }
    const lun = this.luns[i] as StackLun;
    for (const p of paths) if (!lun.paths.some((q) => q.sd === p.path.sd)) lun.paths.push(p.path);
    lun.chosen = choosePath(lun.paths);
    return i;
  }

  /** The extents of the block device in `dir` and the layers from it down. */
  resolve(dir: string, depth = 0): { extents: Extent[]; layer: Layer; bytes: bigint } {
    if (depth > 16) this.fail('TOO_DEEP', 'more than 16 layers of block devices (a loop in sysfs?)');
    const name = path.basename(dir);
    const bytes = sectors(dir, 'size') ?? 0n;
    if (fs.existsSync(path.join(dir, 'partition'))) {
      const start = sectors(dir, 'start');
      if (start === undefined) this.fail('ENXIO', `${name}: partition with no start in sysfs`);
      const parent = this.resolve(path.dirname(dir), depth + 1);
      if (start + bytes > parent.bytes) this.fail('BAD_TABLE', `${name}: partition ends past its disk ${parent.layer.node}`);
      return { extents: sliceExtents(parent.extents, start, bytes), layer: { kind: 'partition', node: name, start, below: [parent.layer] }, bytes };
    }
    if (fs.existsSync(path.join(dir, 'dm'))) return this.resolveDm(dir, name, bytes, depth);
    const p = this.pathOf(dir);
    if (p) {
      const lun = this.lun([p], name);
      return { extents: [{ offset: 0n, length: bytes, lun, lunOffset: 0n }], layer: { kind: 'disk', node: name, lun, below: [] }, bytes };
    }
    return this.fail('UNSUPPORTED_LAYER', refusalOf(name));
  }

  private resolveDm(dir: string, name: string, bytes: bigint, depth: number): { extents: Extent[]; layer: Layer; bytes: bigint } {
    const dmName = read(path.join(dir, 'dm', 'name')) ?? name;
    const uuid = read(path.join(dir, 'dm', 'uuid')) ?? '';
    const devnum = read(path.join(dir, 'dev')) ?? '';
    const m = /^(\d+):(\d+)$/.exec(devnum);
    if (!m) this.fail('ENXIO', `${name}: no device number in sysfs`);
    let table;
    try {
      table = this.dmTable(Number(m[1]), Number(m[2]));
    } catch (e) {
      const err = e as { code?: string; message?: string };
      this.fail(err.code ?? 'EIO', `cannot read the device-mapper table of ${name} (${dmName}): ${err.message ?? String(e)}`);
    }
    const label = `${name} (${dmName})`;
    if (table.targets.length === 0) this.fail('UNSUPPORTED_LAYER', `${label}: the map has no table loaded`);
    for (const t of table.targets) {
      const why = unsupportedTarget(t.type);
      if (why) this.fail('UNSUPPORTED_LAYER', `${label}: ${why}`);
    }
    const types = new Set(table.targets.map((t) => t.type));
    if (types.has('multipath')) {
      if (table.targets.length !== 1) this.fail('UNSUPPORTED_LAYER', `${label}: a multipath map with ${table.targets.length} targets (one LUN per map expected)`);
      const members = list(path.join(dir, 'slaves'));
      if (members.length === 0) this.fail('UNSUPPORTED_LAYER', `${label}: a multipath map with no paths`);
      // The map's own path states: a path it failed carries no commands even while sysfs says running.
      let states: Map<string, 'active' | 'failed'> | undefined;
      try {
        const st = this.dmTable(Number(m[1]), Number(m[2]), true).targets[0];
        states = st && st.type === 'multipath' ? multipathPathStates(st.params) : undefined;
      } catch {
        states = undefined;
      }
      const paths = members.map((s) => {
        const sdDir = realpath(path.join(dir, 'slaves', s)) ?? '';
        const p = this.pathOf(sdDir);
        if (!p) this.fail('UNSUPPORTED_LAYER', `${label}: path ${s} is not a SCSI disk`);
        const dmState = states?.get(read(path.join(sdDir, 'dev')) ?? '');
        if (dmState) p.path.dmState = dmState;
        return p;
      });
      const lun = this.lun(paths, label);
      return {
        extents: [{ offset: 0n, length: bytes, lun, lunOffset: 0n }],
        layer: { kind: 'multipath', node: name, name: dmName, lun, below: [] },
        bytes,
      };
    }
    // Only linear targets are left.
    const extents: Extent[] = [];
    const below: Layer[] = [];
    const memo = new Map<string, { extents: Extent[]; layer: Layer; bytes: bigint }>();
    for (const t of table.targets) {
      const lin = parseLinear(t.params);
      if (!lin) this.fail('BAD_TABLE', `${label}: linear target with unreadable parameters "${t.params}"`);
      const devnumOf = /^\d+:\d+$/.test(lin.device) ? lin.device : undefined;
      if (!devnumOf) this.fail('BAD_TABLE', `${label}: linear target names ${lin.device}, not MAJ:MIN`);
      let member = memo.get(devnumOf);
      if (!member) {
        member = this.resolve(this.blockDir(devnumOf), depth + 1);
        memo.set(devnumOf, member);
        below.push(member.layer);
      }
      const from = lin.offset * 512n;
      const len = t.length * 512n;
      if (from + len > member.bytes) this.fail('BAD_TABLE', `${label}: a segment runs past the end of ${member.layer.node}`);
      for (const e of sliceExtents(member.extents, from, len)) extents.push({ ...e, offset: e.offset + t.start * 512n });
    }
    const kind: LayerKind = uuid.startsWith('LVM-') ? 'lvm' : /^part\d+-/.test(uuid) ? 'partition' : 'linear';
    const start = kind === 'partition' && table.targets.length === 1 ? (parseLinear(table.targets[0]?.params ?? '')?.offset ?? 0n) * 512n : undefined;
    return {
      extents: mergeExtents(extents),
      layer: { kind, node: name, name: dmName, segments: table.targets.length, start, below },
      bytes,
    };
  }
}

/** A path's ALUA facts from sysfs: the handler's access_state, and its port's group from vpd_pg83. */
function aluaOf(devDir: string, vpd: Buffer | undefined): Pick<StackPath, 'accessState' | 'accessSource' | 'targetPortGroup'> {
  const accessState = read(path.join(devDir, 'access_state'));
  const targetPortGroup = targetPortGroupFromVpd(vpd);
  return {
    accessState,
    ...(accessState !== undefined ? { accessSource: 'sysfs' as const } : {}),
    ...(targetPortGroup !== undefined ? { targetPortGroup } : {}),
  };
}

/** The one line saying why a non-SCSI, non-dm block device is refused, naming it. */
function refusalOf(name: string): string {
  if (/^md\d/.test(name)) return `${name}: md RAID: the data is striped or mirrored across members; offload cannot address it`;
  if (/^loop\d/.test(name)) return `${name}: a loop device: its bytes live in a file, not on a SCSI LUN`;
  if (/^zram\d/.test(name)) return `${name}: zram: a compressed RAM disk, not a SCSI LUN`;
  if (/^nvme/.test(name)) return `${name}: an NVMe namespace: odxcp offloads SCSI copies only`;
  if (/^(nbd|rbd)\d/.test(name)) return `${name}: a network block device, not a SCSI LUN`;
  return `${name}: not a SCSI disk, partition or device-mapper map (no SCSI device behind it)`;
}

/** Resolve the device with this node type and number (the part of resolveStack after stat). */
export function resolveStackAt(given: string, node: { kind: 'block' | 'sg'; major: number; minor: number; real?: string }, o: StackOptions = {}): Stack {
  const roots = o.roots ?? DEFAULT_ROOTS;
  const r: Resolver = new Resolver(given, roots, o.dmTable ?? kernelDmTable);
  let dir: string;
  if (node.kind === 'sg') {
    const sgDir = realpath(path.join(roots.sys, 'dev', 'char', `${node.major}:${node.minor}`));
    const devDir = sgDir ? realpath(path.join(sgDir, 'device')) : undefined;
    if (!sgDir || !devDir) r.fail('ENXIO', `char ${node.major}:${node.minor} is not an sg device in sysfs`);
    const sd = list(path.join(devDir, 'block'))[0];
    if (!sd) {
      // A LUN without a disk driver: commands only, no block extents to map.
      const sgName = path.basename(sgDir);
      const pth: StackPath = {
        sd: '',
        sg: path.join(roots.dev, sgName),
        address: path.basename(devDir),
        state: read(path.join(devDir, 'state')) ?? 'unknown',
        accessState: read(path.join(devDir, 'access_state')),
        transport: 'scsi',
      };
      const lun: StackLun = { id: `scsi.${pth.address}`, paths: [pth], chosen: choosePath([pth]), bytes: 0n, blockSize: 512 };
      return { given, top: pth.sg as string, topName: sgName, topKind: 'sg', chain: { kind: 'disk', node: sgName, lun: 0, below: [] }, luns: [lun], extents: [], bytes: 0n, blockSize: 512, plain: true };
    }
    dir = path.join(devDir, 'block', sd);
  } else {
    dir = r.blockDir(`${node.major}:${node.minor}`);
  }
  const res = r.resolve(dir);
  const topName = path.basename(dir);
  const bs = Number(read(path.join(dir, 'queue', 'logical_block_size')) ?? read(path.join(path.dirname(dir), 'queue', 'logical_block_size')) ?? '512');
  const plain = res.layer.kind === 'disk';
  return {
    given,
    top: node.kind === 'sg' ? (node.real ?? given) : path.join(roots.dev, topName),
    topName,
    topKind: node.kind === 'sg' ? 'sg' : 'block',
    chain: res.layer,
    luns: r.luns,
    extents: res.extents,
    bytes: res.bytes,
    blockSize: Number.isInteger(bs) && bs > 0 ? bs : 512,
    plain,
  };
}

/** Resolve any device path (symlinks followed). Throws DeviceError with a one-line reason. */
export function resolveStack(given: string, o: StackOptions = {}): Stack {
  let real: string;
  let st: fs.Stats;
  try {
    real = fs.realpathSync(given);
    st = fs.statSync(real);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ENOENT';
    throw new DeviceError({ path: given, code, message: `${given}: ${code === 'ENOENT' ? 'no such device' : `cannot look the path up (${code})`}` });
  }
  const { major, minor } = splitDev(st.rdev);
  if (st.isBlockDevice()) return resolveStackAt(given, { kind: 'block', major, minor, real }, o);
  if (st.isCharacterDevice() && major === SG_MAJOR) return resolveStackAt(given, { kind: 'sg', major, minor, real }, o);
  throw new DeviceError({ path: given, code: 'NOT_SCSI', message: `${given}: not a block device or SCSI generic (/dev/sgN) node` });
}

/** "sda", "mpatha (2 paths, 1 active/optimized)", "dm-3 (linear, 2 segments)"... */
function layerText(l: Layer, s: Stack): string {
  switch (l.kind) {
    case 'partition':
      return `${l.name ?? l.node}${l.name ? ` (${l.node})` : ''} (partition at ${l.start ?? 0n})`;
    case 'lvm':
    case 'linear':
      return `${l.node}${l.name ? ` ${l.name}` : ''} (${l.kind === 'lvm' ? 'LVM ' : ''}linear, ${l.segments} segment${l.segments === 1 ? '' : 's'})`;
    case 'multipath': {
      const lun = s.luns[l.lun ?? 0] as StackLun;
      const up = lun.paths.filter((p) => p.state === 'running' && p.dmState !== 'failed');
      const opt = up.filter((p) => p.accessState === 'active/optimized').length;
      return `${l.name ?? l.node} (${l.node}, ${lun.paths.length} path${lun.paths.length === 1 ? '' : 's'}, ${up.length} up${opt ? `, ${opt} active/optimized` : ''})`;
    }
    case 'disk':
      return l.node;
  }
}

/** The chain on one line: `/dev/vg0/lv1 → dm-3 (...) → mpatha (...) → LUN naa.6001405…`. */
export function chainLine(s: Stack): string {
  const walk = (l: Layer): string => {
    const here = layerText(l, s);
    if (l.below.length === 0) return l.lun !== undefined ? `${here} → LUN ${(s.luns[l.lun] as StackLun).id}` : here;
    if (l.below.length === 1) return `${here} → ${walk(l.below[0] as Layer)}`;
    return `${here} → [${l.below.map(walk).join(' | ')}]`;
  };
  return `${s.given} → ${walk(s.chain)}`;
}

/**
 * Why the top of a chain must not be written: mounted, used as swap, or held by another layer
 * (an LV on this map, a kpartx partition of it, md). One line each; empty when it looks free.
 * Its own members being held by dm is not a reason: that is the stack itself.
 */
export function usersOfTop(name: string, roots: Roots = DEFAULT_ROOTS): string[] {
  const dir = realpath(path.join(roots.sys, 'class', 'block', name));
  if (!dir) return [];
  const reasons: string[] = [];
  const nodes = [name, ...list(dir).filter((e) => fs.existsSync(path.join(dir, e, 'partition')))];
  const devnums = new Map<string, string>();
  for (const n of nodes) {
    const d = n === name ? dir : path.join(dir, n);
    const dev = read(path.join(d, 'dev'));
    if (dev) devnums.set(dev, n);
    for (const h of list(path.join(d, 'holders'))) {
      const hname = read(path.join(roots.sys, 'class', 'block', h, 'dm', 'name'));
      reasons.push(`/dev/${n} is held by ${h}${hname ? ` (${hname})` : ''}`);
    }
  }
  for (const line of (read(path.join(roots.proc, 'self', 'mountinfo')) ?? '').split('\n')) {
    const f = line.split(' ');
    const n = f.length >= 5 ? devnums.get(f[2] as string) : undefined;
    if (n) reasons.push(`/dev/${n} is mounted on ${f[4]}`);
  }
  for (const line of (read(path.join(roots.proc, 'swaps')) ?? '').split('\n').slice(1)) {
    const dev = line.split(/\s+/)[0];
    if (dev && nodes.some((n) => dev === `/dev/${n}`)) reasons.push(`${dev} is in use as swap`);
  }
  return reasons;
}

/** The name of the multipath map that holds this disk as a path (dm/uuid "mpath-..."), if any. */
export function multipathHolderOf(sdName: string, roots: Roots = DEFAULT_ROOTS): string | undefined {
  for (const h of list(path.join(roots.sys, 'class', 'block', sdName, 'holders'))) {
    const dir = path.join(roots.sys, 'class', 'block', h, 'dm');
    if ((read(path.join(dir, 'uuid')) ?? '').startsWith('mpath-')) return read(path.join(dir, 'name')) ?? h;
  }
  return undefined;
}
