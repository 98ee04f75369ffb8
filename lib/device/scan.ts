// Every SCSI logical unit on the host and every device-mapper multipath map, from sysfs alone
// (no command sent), the way lsscsi finds them: /sys/bus/scsi/devices/H:C:T:L with their sg
// and sd nodes, and /sys/block/dm-N whose dm/uuid starts with "mpath-".
import * as path from 'node:path';
import { DEFAULT_ROOTS, listSorted as list, readTrim as read, type Roots } from './sysfs';

export interface ScannedLun {
  /** H:C:T:L */
  address: string;
  /** SCSI peripheral device type (0 disk, 5 CD/DVD, 0x0d enclosure, ...). */
  type: number;
  vendor: string;
  product: string;
  revision: string;
  sg: string | null;
  sd: string | null;
  /** From the block device's queue (absent without an sd node). */
  blockSize: number | null;
  bytes: bigint | null;
}

export interface ScannedMultipath {
  /** dm-N */
  dm: string;
  /** The map's name (/dev/mapper/NAME). */
  name: string;
  /** dm/uuid without its "mpath-" prefix: the WWID multipathd built the map from. */
  wwid: string;
  /** /dev/sdX of each path. */
  paths: string[];
  bytes: bigint | null;
}

/** H:C:T:L in numeric order (1:0:10:0 after 1:0:2:0). */
export function compareAddresses(a: string, b: string): number {
  const x = a.split(':').map(Number);
  const y = b.split(':').map(Number);
  for (let i = 0; i < 4; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** 512-byte sectors in /sys/block/X/size, as bytes. */
function blockBytes(dir: string): bigint | null {
  const v = read(path.join(dir, 'size'));
  return v !== undefined && /^\d+$/.test(v) ? BigInt(v) * 512n : null;
}

export function scanLuns(roots: Roots = DEFAULT_ROOTS): ScannedLun[] {
  const base = path.join(roots.sys, 'bus', 'scsi', 'devices');
  const out: ScannedLun[] = [];
  for (const address of list(base).filter((n) => /^\d+:\d+:\d+:\d+$/.test(n))) {
    const dir = path.join(base, address);
    const sgName = list(path.join(dir, 'scsi_generic'))[0];
    const sdName = list(path.join(dir, 'block'))[0];
    const bs = sdName ? read(path.join(roots.sys, 'block', sdName, 'queue', 'logical_block_size')) : undefined;
    const type = Number(read(path.join(dir, 'type')) ?? 'NaN');
    out.push({
      address,
      type: Number.isInteger(type) ? type : -1,
      vendor: read(path.join(dir, 'vendor')) ?? '',
      product: read(path.join(dir, 'model')) ?? '',
      revision: read(path.join(dir, 'rev')) ?? '',
      sg: sgName ? path.join(roots.dev, sgName) : null,
      sd: sdName ? path.join(roots.dev, sdName) : null,
      blockSize: bs !== undefined && /^\d+$/.test(bs) ? Number(bs) : null,
      bytes: sdName ? blockBytes(path.join(roots.sys, 'block', sdName)) : null,
    });
  }
  return out.sort((a, b) => compareAddresses(a.address, b.address));
}

export function scanMultipath(roots: Roots = DEFAULT_ROOTS): ScannedMultipath[] {
  const out: ScannedMultipath[] = [];
  for (const dm of list(path.join(roots.sys, 'block')).filter((n) => n.startsWith('dm-'))) {
    const dir = path.join(roots.sys, 'block', dm);
    const uuid = read(path.join(dir, 'dm', 'uuid')) ?? '';
    if (!uuid.startsWith('mpath-')) continue;
    out.push({
      dm,
      name: read(path.join(dir, 'dm', 'name')) ?? dm,
      wwid: uuid.slice('mpath-'.length),
      paths: list(path.join(dir, 'slaves')).map((s) => path.join(roots.dev, s)),
      bytes: blockBytes(dir),
    });
  }
  return out;
}
