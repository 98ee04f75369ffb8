// Where a device node sits in sysfs: sd <-> sg mapping, partitions, holders, mounts and
// queue limits (reference 1.5 and 1.7). Every function takes an optional sysfs/proc root
// so unit tests can point it at a tree they build.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeviceError } from '../errors';

/** The sg driver's character major (Documentation/admin-guide/devices.txt). */
export const SG_MAJOR = 21;

export interface NodeInfo {
  /** The path as given. */
  given: string;
  /** After following symlinks (/dev/disk/by-id/... -> /dev/sdX). */
  real: string;
  kind: 'sg' | 'block';
  major: number;
  minor: number;
  /** Kernel name: sdX / sgN. */
  name: string;
}

export interface ScsiNodes {
  /** H:C:T:L */
  address: string;
  /** /dev/sgN, or undefined when the sg driver is not bound. */
  sg?: string;
  /** /dev/sdX, or undefined when no disk driver is bound (e.g. a non-disk LU). */
  sd?: string;
}

export interface Roots {
  sys: string;
  proc: string;
  dev: string;
}

export const DEFAULT_ROOTS: Roots = { sys: '/sys', proc: '/proc', dev: '/dev' };

/** A sysfs attribute's value, trimmed; undefined when it cannot be read. */
export function readTrim(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** A directory's entries, sorted; none when it cannot be read. */
export function listSorted(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function firstEntry(dir: string): string | undefined {
  try {
    const names = fs.readdirSync(dir).sort();
    return names[0];
  } catch {
    return undefined;
  }
}

/** glibc's major()/minor() for a dev_t (rdev can exceed 32 bits, so no JS bit ops on it). */
export function splitDev(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

/** What to do about an errno met while looking a device path up. */
function pathAdvice(code: string): string {
  switch (code) {
    case 'ENOENT':
      return 'no such device';
    case 'EACCES':
      return 'permission denied while looking the path up: a directory on the way is not searchable by this user (check its permissions, or run as root)';
    case 'ELOOP':
      return 'too many levels of symbolic links (a symlink loop?): give the device node itself, e.g. /dev/sgN';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    default:
      return `cannot look the path up (${code})`;
  }
}

/**
 * The sysfs directory of a device number. None means the node is stale: made by hand (mknod) or
 * left behind after the device went away, with no driver behind that number.
 */
function sysfsOf(given: string, kind: 'char' | 'block', major: number, minor: number, roots: Roots): string {
  const dir = path.join(roots.sys, 'dev', kind, `${major}:${minor}`);
  try {
    return fs.realpathSync(dir);
  } catch {
    throw new DeviceError({
      path: given,
      code: 'ENXIO',
      message: `${given}: no device behind this node (${kind} ${major}:${minor} is not in sysfs: a stale node, or the device was removed)`,
    });
  }
}

/** stat a node and classify it; throws DeviceError with a one-line reason. */
export function inspectNode(given: string, roots: Roots = DEFAULT_ROOTS): NodeInfo {
  let real: string;
  try {
    real = fs.realpathSync(given);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ENOENT';
    throw new DeviceError({ path: given, code, message: `${given}: ${pathAdvice(code)}` });
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(real);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new DeviceError({ path: given, code, message: `${given}: ${pathAdvice(code)}` });
  }
  const { major, minor } = splitDev(st.rdev);
  if (st.isCharacterDevice()) {
    if (major !== SG_MAJOR) {
      throw new DeviceError({ path: given, code: 'NOT_SCSI', message: `${given}: not a SCSI generic (/dev/sgN) or SCSI disk node` });
    }
    const name = path.basename(sysfsOf(given, 'char', major, minor, roots));
    return { given, real, kind: 'sg', major, minor, name };
  }
  if (st.isBlockDevice()) {
    const sysdir = sysfsOf(given, 'block', major, minor, roots);
    if (fs.existsSync(path.join(sysdir, 'partition'))) {
      const whole = path.basename(path.dirname(fs.realpathSync(sysdir)));
      throw new DeviceError({ path: given, code: 'PARTITION', message: `${given} is a partition; give the whole disk (/dev/${whole})` });
    }
    const name = path.basename(fs.realpathSync(sysdir));
    return { given, real, kind: 'block', major, minor, name };
  }
  throw new DeviceError({ path: given, code: 'NOT_SCSI', message: `${given}: not a device node (a SCSI disk /dev/sdX or generic /dev/sgN is needed)` });
}

/** The sg and sd nodes of the SCSI device behind a node (reference 1.7). */
export function scsiNodesOf(node: NodeInfo, roots: Roots = DEFAULT_ROOTS): ScsiNodes {
  const devLink =
    node.kind === 'sg'
      ? path.join(roots.sys, 'class', 'scsi_generic', node.name, 'device')
      : path.join(roots.sys, 'block', node.name, 'device');
  let devDir: string;
  try {
    devDir = fs.realpathSync(devLink);
  } catch {
    throw new DeviceError({ path: node.given, code: 'NOT_SCSI', message: `${node.given}: not a SCSI device (no ${path.relative(roots.sys, devLink)} in sysfs)` });
  }
  // A disk of another bus (virtio-blk, NVMe) also has a device link; only the scsi bus speaks SG_IO.
  let bus = '';
  try {
    bus = path.basename(fs.realpathSync(path.join(devDir, 'subsystem')));
  } catch {
    /* no subsystem link: not a SCSI device either */
  }
  if (bus !== 'scsi') {
    throw new DeviceError({ path: node.given, code: 'NOT_SCSI', message: `${node.given}: not a SCSI device (it is on the ${bus || 'unknown'} bus)` });
  }
  const address = path.basename(devDir);
  const sgName = node.kind === 'sg' ? node.name : firstEntry(path.join(devDir, 'scsi_generic'));
  const sdName = node.kind === 'block' ? node.name : firstEntry(path.join(devDir, 'block'));
  return {
    address,
    sg: sgName ? path.join(roots.dev, sgName) : undefined,
    sd: sdName ? path.join(roots.dev, sdName) : undefined,
  };
}

export interface QueueLimits {
  /** Current per-request limit, bytes (max_sectors_kb). */
  maxSectorsBytes?: number;
  /** Hardware limit, bytes (max_hw_sectors_kb); block SG_IO rejects larger transfers with EIO. */
  maxHwSectorsBytes?: number;
  maxSegments?: number;
  logicalBlockSize?: number;
}

export function queueLimits(sdName: string, roots: Roots = DEFAULT_ROOTS): QueueLimits {
  const q = path.join(roots.sys, 'block', sdName, 'queue');
  const num = (f: string): number | undefined => {
    const v = readTrim(path.join(q, f));
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const kb = (f: string): number | undefined => {
    const v = num(f);
    return v === undefined ? undefined : v * 1024;
  };
  return {
    maxSectorsBytes: kb('max_sectors_kb'),
    maxHwSectorsBytes: kb('max_hw_sectors_kb'),
    maxSegments: num('max_segments'),
    logicalBlockSize: num('logical_block_size'),
  };
}

/**
 * Why a disk must not be written: mounted (it or a partition), or held by another driver
 * (device-mapper, md, ...). Returns one line per reason; empty when the disk looks free.
 * Opening the block node with O_EXCL is the authoritative check; this one explains it.
 */
export function usersOf(sdName: string, roots: Roots = DEFAULT_ROOTS): string[] {
  const reasons: string[] = [];
  const blockDir = path.join(roots.sys, 'block', sdName);
  const parts: string[] = [sdName];
  try {
    for (const e of fs.readdirSync(blockDir)) {
      if (e.startsWith(sdName) && fs.existsSync(path.join(blockDir, e, 'partition'))) parts.push(e);
    }
  } catch {
    /* not a disk in sysfs: nothing to report */
  }
  const devnums = new Map<string, string>();
  for (const p of parts) {
    const dir = p === sdName ? blockDir : path.join(blockDir, p);
    const dev = readTrim(path.join(dir, 'dev'));
    if (dev) devnums.set(dev, p);
    try {
      for (const h of fs.readdirSync(path.join(dir, 'holders'))) reasons.push(`/dev/${p} is held by ${h}`);
    } catch {
      /* no holders dir */
    }
  }
  const mountinfo = readTrim(path.join(roots.proc, 'self', 'mountinfo')) ?? '';
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const p = devnums.get(f[2]);
    if (p) reasons.push(`/dev/${p} is mounted on ${f[4]}`);
  }
  const swaps = readTrim(path.join(roots.proc, 'swaps')) ?? '';
  for (const line of swaps.split('\n').slice(1)) {
    const dev = line.split(/\s+/)[0];
    if (dev && parts.some((p) => dev === `/dev/${p}`)) reasons.push(`${dev} is in use as swap`);
  }
  return reasons;
}
