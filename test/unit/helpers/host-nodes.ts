// Device nodes on the build host for the transport's error-path tests: which non-SCSI block
// devices and partitions exist, temporary nodes made with mknod, a loop device with a
// partition, and running node as an unprivileged user. Every helper returns undefined when the
// host cannot provide the thing, so the caller can mark that one test pending with a reason.
import { execFileSync, spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

function isBlockNode(p: string): boolean {
  try {
    return fs.statSync(p).isBlockDevice();
  } catch {
    return false;
  }
}

/** Can this process open the node read-only at all (some sandboxes refuse even root)? */
function openable(p: string): boolean {
  try {
    fs.closeSync(fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    return true;
  } catch {
    return false;
  }
}

/** Has a SCSI midlayer behind it (sd, sr): /sys/block/X/device/scsi_device exists. */
function isScsiDisk(name: string): boolean {
  return fs.existsSync(`/sys/block/${name}/device/scsi_device`) || fs.existsSync(`/sys/block/${name}/device/scsi_disk`);
}

/** A whole-disk block node without SCSI behind it (virtio-blk, loop, zram, nvme) that opens. */
export function findNonScsiBlockDevice(): string | undefined {
  let names: string[];
  try {
    names = fs.readdirSync('/sys/block').sort();
  } catch {
    return undefined;
  }
  // Prefer a real disk (vd*, nvme*) over loop/zram, which exist on most Linux hosts anyway.
  const rank = (n: string) => (/^(vd|nvme|xvd)/.test(n) ? 0 : 1);
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  for (const name of names) {
    const node = `/dev/${name}`;
    if (!isScsiDisk(name) && isBlockNode(node) && openable(node)) return node;
  }
  return undefined;
}

/** An existing partition node that this process can open. */
export function findPartition(): string | undefined {
  let names: string[];
  try {
    names = fs.readdirSync('/sys/class/block').sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    const node = `/dev/${name}`;
    if (fs.existsSync(`/sys/class/block/${name}/partition`) && isBlockNode(node) && openable(node)) return node;
  }
  return undefined;
}

function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** A fresh 0755 directory (mkdtemp makes 0700, which an unprivileged child cannot enter). */
export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** mknod a node (root only); undefined when the host refuses. */
export function mknod(file: string, type: 'c' | 'b', major: number, minor: number, mode: number): string | undefined {
  if (!isRoot()) return undefined;
  const ok = tryRun('mknod', ['-m', mode.toString(8), file, type, String(major), String(minor)]);
  return ok === undefined ? undefined : file;
}

export interface TempPartition {
  /** The partition's block node. */
  node: string;
  cleanup(): void;
}

/**
 * A 2 MiB loop device with one partition added through BLKPG (addpart), which works even
 * when the kernel has no partition-table parsers. Root, losetup and addpart are needed.
 */
export function makeLoopPartition(dir: string): TempPartition | undefined {
  if (!isRoot()) return undefined;
  const image = path.join(dir, 'disk.img');
  fs.writeFileSync(image, Buffer.alloc(0));
  fs.truncateSync(image, 2 * 1024 * 1024);
  const loop = tryRun('losetup', ['--find', '--show', '--partscan', image]);
  if (!loop) return undefined;
  const detach = () => {
    tryRun('delpart', [loop, '1']);
    tryRun('losetup', ['--detach', loop]);
  };
  // partition 1: start sector 64, 1024 sectors
  if (tryRun('addpart', [loop, '1', '64', '1024']) === undefined) {
    detach();
    return undefined;
  }
  const name = `${path.basename(loop)}p1`;
  let node = `/dev/${name}`;
  if (!isBlockNode(node)) {
    // no devtmpfs/udev node: make one from the kernel's dev numbers
    const dev = tryRun('cat', [`/sys/class/block/${name}/dev`]);
    const [major, minor] = (dev ?? '').split(':').map(Number);
    const made = Number.isInteger(major) ? mknod(path.join(dir, name), 'b', major, minor, 0o600) : undefined;
    if (!made) {
      detach();
      return undefined;
    }
    node = made;
  }
  return { node, cleanup: detach };
}

/** Run `node -e script` as uid/gid 65534 (nobody) with no supplementary groups. */
export function runAsNobody(script: string, env: NodeJS.ProcessEnv): SpawnSyncReturns<string> | undefined {
  if (!isRoot() || tryRun('setpriv', ['--version']) === undefined) return undefined;
  return spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e', script],
    { env, encoding: 'utf8', timeout: 30000 },
  );
}
