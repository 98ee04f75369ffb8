// A sysfs tree in a temp dir shaped like the kernel's for SCSI disks (iSCSI sessions or a
// plain host), partitions and device-mapper maps, plus the dm tables a test says the maps
// have: what lib/device/stack.ts reads, without a kernel.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DmTable, DmTableSource } from '../../../lib/device/dm';
import type { Roots } from '../../../lib/device/sysfs';

export interface DiskSpec {
  host: number;
  /** iSCSI session number; absent: a plain host (its proc_name is hostDriver). */
  session?: number;
  hostDriver?: string;
  lun?: number;
  sd: string;
  devnum: string;
  sg?: string;
  sectors: number;
  /** 16-byte NAA-6 designator as 32 hex digits. */
  naa?: string;
  state?: string;
  accessState?: string;
  /** The target port group of the port this path reaches (in vpd_pg83). */
  tpg?: number;
  blockSize?: number;
}

/** VPD page 0x83 with one binary NAA LU designator, as sysfs's vpd_pg83 holds it. */
export function vpd83(naaHex: string, targetPortGroup?: number): Buffer {
  const d = Buffer.from(naaHex, 'hex');
  const descs = [Buffer.concat([Buffer.from([0x01, 0x03, 0x00, d.length]), d])];
  // association 1 (target port), type 5 (target port group), 4 bytes: group in bytes 2-3
  if (targetPortGroup !== undefined) descs.push(Buffer.from([0x01, 0x15, 0x00, 0x04, 0x00, 0x00, targetPortGroup >> 8, targetPortGroup & 0xff]));
  const body = Buffer.concat(descs);
  return Buffer.concat([Buffer.from([0x00, 0x83, 0x00, body.length]), body]);
}

export class FakeStack {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-stack-'));
  readonly roots: Roots = { sys: path.join(this.root, 'sys'), proc: path.join(this.root, 'proc'), dev: '/dev' };
  readonly tables = new Map<string, DmTable>();
  /** Where each block device's directory is. */
  readonly dirs = new Map<string, string>();
  /** Status lines per map (DM_TABLE_STATUS without the table flag); absent: the kernel's ENXIO. */
  readonly statuses = new Map<string, DmTable>();
  readonly dmTable: DmTableSource = (major, minor, status) => {
    const t = (status ? this.statuses : this.tables).get(`${major}:${minor}`);
    if (!t) throw Object.assign(new Error('No such device or address'), { code: 'ENXIO' });
    return t;
  };

  constructor() {
    this.mk(path.join(this.roots.sys, 'bus', 'scsi'));
    this.mk(path.join(this.roots.sys, 'bus', 'nvme'));
    this.mk(path.join(this.roots.sys, 'dev', 'block'));
    this.mk(path.join(this.roots.sys, 'dev', 'char'));
    this.mk(path.join(this.roots.sys, 'block'));
    this.mk(path.join(this.roots.sys, 'class', 'block'));
  }

  private mk(p: string, content?: string | Buffer): void {
    if (content === undefined) fs.mkdirSync(p, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
    }
  }

  private link(target: string, at: string): void {
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.symlinkSync(path.relative(path.dirname(at), target), at);
  }

  private blockEntries(name: string, dir: string, devnum: string): void {
    this.dirs.set(name, dir);
    this.link(dir, path.join(this.roots.sys, 'dev', 'block', devnum));
    this.link(dir, path.join(this.roots.sys, 'class', 'block', name));
    if (!fs.existsSync(path.join(dir, 'partition'))) this.link(dir, path.join(this.roots.sys, 'block', name));
  }

  disk(s: DiskSpec): string {
    const hctl = `${s.host}:0:0:${s.lun ?? 0}`;
    const hostDir = path.join(this.roots.sys, 'devices', 'platform', `host${s.host}`);
    const devDir = s.session !== undefined ? path.join(hostDir, `session${s.session}`, `target${s.host}:0:0`, hctl) : path.join(hostDir, `target${s.host}:0:0`, hctl);
    this.mk(path.join(this.roots.sys, 'class', 'scsi_host', `host${s.host}`, 'proc_name'), `${s.hostDriver ?? (s.session !== undefined ? 'iscsi_tcp' : 'scsi_debug')}\n`);
    this.link(path.join(this.roots.sys, 'bus', 'scsi'), path.join(devDir, 'subsystem'));
    this.mk(path.join(devDir, 'state'), `${s.state ?? 'running'}\n`);
    if (s.accessState) this.mk(path.join(devDir, 'access_state'), `${s.accessState}\n`);
    if (s.naa) this.mk(path.join(devDir, 'vpd_pg83'), vpd83(s.naa, s.tpg));
    if (s.sg) {
      this.mk(path.join(devDir, 'scsi_generic', s.sg));
      const sgDir = path.join(devDir, 'scsi_generic', s.sg);
      this.link(devDir, path.join(sgDir, 'device'));
      const minor = s.sg.replace(/^sg/, '');
      this.link(sgDir, path.join(this.roots.sys, 'dev', 'char', `21:${minor}`));
    }
    const dir = path.join(devDir, 'block', s.sd);
    this.mk(path.join(dir, 'dev'), `${s.devnum}\n`);
    this.mk(path.join(dir, 'size'), `${s.sectors}\n`);
    this.mk(path.join(dir, 'queue', 'logical_block_size'), `${s.blockSize ?? 512}\n`);
    this.mk(path.join(dir, 'holders'));
    this.link(devDir, path.join(dir, 'device'));
    this.blockEntries(s.sd, dir, s.devnum);
    return dir;
  }

  partition(parent: string, name: string, devnum: string, startSectors: number, sectors: number): string {
    const dir = path.join(this.dirs.get(parent) as string, name);
    this.mk(path.join(dir, 'partition'), `${name.replace(/^\D+/, '').replace(/^\d+p/, '')}\n`);
    this.mk(path.join(dir, 'start'), `${startSectors}\n`);
    this.mk(path.join(dir, 'size'), `${sectors}\n`);
    this.mk(path.join(dir, 'dev'), `${devnum}\n`);
    this.mk(path.join(dir, 'holders'));
    this.blockEntries(name, dir, devnum);
    return dir;
  }

  /** A map dm-N over `slaves` (names of block devices), with its table. */
  dm(name: string, devnum: string, dmName: string, uuid: string, sectors: number, slaves: string[], targets: DmTable['targets']): string {
    const dir = path.join(this.roots.sys, 'devices', 'virtual', 'block', name);
    this.mk(path.join(dir, 'dev'), `${devnum}\n`);
    this.mk(path.join(dir, 'size'), `${sectors}\n`);
    this.mk(path.join(dir, 'dm', 'name'), `${dmName}\n`);
    this.mk(path.join(dir, 'dm', 'uuid'), `${uuid}\n`);
    this.mk(path.join(dir, 'queue', 'logical_block_size'), '512\n');
    this.mk(path.join(dir, 'holders'));
    this.mk(path.join(dir, 'slaves'));
    for (const s of slaves) {
      const sdir = this.dirs.get(s) as string;
      this.link(sdir, path.join(dir, 'slaves', s));
      this.link(dir, path.join(sdir, 'holders', name));
    }
    this.blockEntries(name, dir, devnum);
    this.tables.set(devnum, { name: dmName, uuid, targets });
    return dir;
  }

  /** A block device of another kind (md, loop, NVMe): no SCSI device behind it. */
  other(name: string, devnum: string, sectors: number, bus?: string): string {
    const dir = bus ? path.join(this.roots.sys, 'devices', 'pci0000:00', 'ctrl', name) : path.join(this.roots.sys, 'devices', 'virtual', 'block', name);
    this.mk(path.join(dir, 'dev'), `${devnum}\n`);
    this.mk(path.join(dir, 'size'), `${sectors}\n`);
    if (bus) {
      this.link(path.join(this.roots.sys, 'bus', bus), path.join(path.dirname(dir), 'subsystem'));
      this.link(path.dirname(dir), path.join(dir, 'device'));
    }
    this.blockEntries(name, dir, devnum);
    return dir;
  }

  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** A dm target in sectors. */
export function target(start: number, length: number, type: string, params: string): DmTable['targets'][number] {
  return { start: BigInt(start), length: BigInt(length), type, params };
}
