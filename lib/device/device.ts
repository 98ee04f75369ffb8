// A logical unit as odxcp uses it: opened by any path (/dev/sdX, /dev/sgN, /dev/disk/by-*
// links), commands sent through its sg node when there is one, identity/capacity/copy
// capabilities probed once and cached, and the retry policy applied to every command.
import { loadNative, type EncodedCommand, type NativeExecuteRequest, type NativeExecuteResult, type NativeHandle } from '../native';
import { ScsiError } from '../scsi/errors';
import { DeviceError } from '../errors';
import { DEFAULT_RETRY, runCommand, type CommandOptions, type CommandResult, type RetryPolicy, type RetryStats, type ScsiTransport } from '../scsi/transport';
import * as cmds from '../scsi/commands';
import { inspectNode, queueLimits, scsiNodesOf, usersOf, type NodeInfo, type QueueLimits, type ScsiNodes } from './sysfs';
import { probeCapabilities, type Capabilities } from './capabilities';
import { pickCopyDesignator } from '../scsi/spc';
import * as fs from 'node:fs';
import { multipathHolderOf, resolveStack, usersOfTop, type Extent, type Stack, type StackPath } from './stack';
import { choosePath, type PathFailover, type PathMove } from './paths';
import * as path from 'node:path';
import { encodeReportTargetPortGroups, refineWithRtpg } from './alua';
import { decodeReportTargetPortGroups, type ReportTargetPortGroups } from '../scsi/alua';

/**
 * Where a layered device's bytes sit on its LUNs (a partition, a dm-linear volume, a multipath
 * map, nested): the resolved stack and the extents, in device order (`lun` indexes `stack.luns`).
 * The device of one LUN of a volume over several (`ScsiDevice.parts`) has that LUN's extents only.
 */
export interface DeviceLayout {
  stack: Stack;
  extents: Extent[];
  /** The device's size: what offsets and lengths given for it are checked against. */
  bytes: bigint;
}

export interface OpenOptions {
  /**
   * Hold the disk's block node open with O_EXCL for the life of the device: the kernel then
   * refuses mounts and other exclusive openers, and the open fails when the disk is mounted
   * or held (device-mapper, md). Use it for a copy destination.
   */
  exclusive?: boolean;
  retry?: RetryPolicy;
  /**
   * Where READ/WRITE data goes (`device.data`): 'block' (default) sends it through the
   * disk's block node, whose SG_IO maps the caller's pages; 'command' keeps it on the sg
   * node, whose driver copies every byte through its own buffer (measured 1.8x slower for
   * a 1 GiB host copy in the lab). Falls back to the command node when there is no block node.
   */
  dataNode?: 'block' | 'command';
  /**
   * Accept a layered device (partition, dm volume, multipath map): `layout` then says where
   * its bytes sit on the LUN, and the caller must translate every offset through it (the copy
   * engine does). Without it such a path is refused, so no LUN-offset caller writes at the
   * wrong place.
   */
  layered?: boolean;
}

export type StandardInquiry = Awaited<ReturnType<typeof cmds.inquiry>>;
export type DeviceIdentification = Awaited<ReturnType<typeof cmds.vpdDeviceIdentification>>;
export type Designation = DeviceIdentification['descriptors'][number];
export type ReadCapacity = Awaited<ReturnType<typeof cmds.readCapacity16>>;

export interface DeviceIdentity {
  vendor: string;
  product: string;
  revision: string;
  peripheralDeviceType: number;
  /** INQUIRY byte 5 bit 3: the LU has a copy manager. */
  threePC: boolean;
  /** VPD 0x80, when served. */
  serial?: string;
  /** Every designation descriptor of VPD 0x83. */
  designators: Designation[];
  /** The LU designator an 0xE4 CSCD descriptor names this LU by (16-byte NAA-6 preferred). */
  copyDesignator?: Designation;
  /** Hex of the first NAA LU designator, the usual "WWN" of a LUN. */
  naa?: string;
}

export interface DeviceCapacity {
  blockSize: number;
  /** Number of logical blocks. */
  blocks: bigint;
  bytes: bigint;
  /** Physical block size (logical << LBPPBE). */
  physicalBlockSize: number;
  raw: ReadCapacity;
}

export interface DeviceStats extends RetryStats {
  commands: number;
}

function nativeOpenError(e: unknown, path: string, what: string): DeviceError {
  const err = e as { code?: string; errno?: number; message?: string };
  const code = err.code ?? 'EIO';
  const advice: Record<string, string> = {
    ENOENT: 'no such device',
    EACCES: 'permission denied: odxcp needs read-write access to the device node (e.g. group disk) or root',
    EPERM: 'operation not permitted: needs CAP_SYS_RAWIO, or read-write access to /dev/sgN (reference 1.3)',
    EBUSY: 'the device is in use (mounted, held by another driver, or opened exclusively by another program)',
    ENXIO: 'no device behind this node (driver not bound or device removed)',
    ENODEV: 'no device behind this node (driver not bound or device removed)',
    EROFS: 'the device is read-only',
    PARTITION: 'is a partition; give the whole disk',
    NOT_SCSI: 'not a SCSI device (no SG_IO on this node)',
    EPARTITION: 'is a partition; give the whole disk',
    ENOTSCSI: 'not a SCSI device (no SG_IO on this node)',
  };
  const mapped = code === 'EPARTITION' ? 'PARTITION' : code === 'ENOTSCSI' ? 'NOT_SCSI' : code;
  return new DeviceError({
    path,
    code: mapped,
    errno: err.errno,
    message: `${path}: ${what}: ${advice[code] ?? err.message ?? code}`,
    cause: e,
  });
}

/** The handle READ/WRITE data goes through when it is not the command node's. */
interface DataHandle {
  handle: NativeHandle;
  /** False when it is the exclusive hold, which is closed as that. */
  owned: boolean;
  writable: boolean;
  node: string;
}

export class ScsiDevice implements ScsiTransport {
  /** The path the caller gave. */
  readonly path: string;
  /** The command node's sysfs view (a layered device's: its current path's; it changes on a path switch). */
  node: NodeInfo;
  nodes: ScsiNodes;
  /** The node commands are sent through (the sg node when there is one; a layered device's current path). */
  commandNode: string;
  readonly stats: DeviceStats = { commands: 0, unitAttentions: 0, busy: 0, notReady: 0, transport: 0 };
  private handle: NativeHandle;
  private readonly exclusiveHandle: NativeHandle | undefined;
  private readonly retry: RetryPolicy;
  private identityP: Promise<DeviceIdentity> | undefined;
  private capacityP: Promise<DeviceCapacity> | undefined;
  private capabilitiesP: Promise<Capabilities> | undefined;
  private closeP: Promise<void> | undefined;
  private executor: { path: string; execute: (r: NativeExecuteRequest) => Promise<NativeExecuteResult> };
  /** The block node handle READ/WRITE data goes through, when it is not the command node. */
  private readonly dataHandle: NativeHandle | undefined;
  /** False when dataHandle is the exclusive hold (closed once, as that). */
  private readonly dataHandleOwned: boolean = false;
  private readonly dataWritable: boolean = false;
  /** The node READ/WRITE data goes through (`data`). */
  readonly dataNode: string;
  /**
   * A transport for READ/WRITE data: the block node when one is open for it, else the
   * command node. Writes go to the block node only when it was opened for writing (the
   * exclusive hold); a read-only source is never opened for writing (closing a writable
   * block fd makes udev re-probe the disk).
   */
  readonly data: ScsiTransport;
  /** Set when the path is a layer above the LUN: commands go to the chosen path's sg node. */
  readonly layout: DeviceLayout | undefined;
  /** O_EXCL descriptor on the top of a layered device's chain (no command goes through it). */
  private readonly holdFd: number | undefined;
  /** A layered device's path switching (docs/path-failover.md); undefined for a plain LUN. */
  readonly failover: PathFailover | undefined;
  /** Handles of paths switched away from, closing once their commands drained. */
  private readonly retired: Promise<void>[] = [];
  private switching: Promise<PathMove | undefined> | undefined;
  /** A layered device's LUN (the designator of `layout.stack.luns[i]`) its commands go to. */
  private readonly lunId: string | undefined;
  /**
   * A layered device over several LUNs: one device per LUN (indexed like `layout.stack.luns`),
   * each with its own path set, command handle and that LUN's extents. The copy engine runs each
   * LUN pair's range through these (lib/engine/span.ts); this device itself sends its commands
   * (identity, capabilities) through the first extent's LUN's handle, which it does not own.
   */
  readonly parts: ScsiDevice[] | undefined;
  private readonly ownsHandle: boolean;

  private constructor(path: string, node: NodeInfo, nodes: ScsiNodes, commandNode: string, handle: NativeHandle, exclusiveHandle: NativeHandle | undefined, retry: RetryPolicy, data?: DataHandle, layered?: { layout: DeviceLayout; holdFd: number | undefined; lunId: string; parts?: ScsiDevice[] }) {
    this.layout = layered?.layout;
    this.holdFd = layered?.holdFd;
    this.lunId = layered?.lunId;
    this.parts = layered?.parts;
    this.ownsHandle = layered?.parts === undefined;
    // A device over several LUNs moves no data itself: its parts switch their own paths.
    this.failover = layered && !layered.parts ? this.makeFailover() : undefined;
    this.path = path;
    this.node = node;
    this.nodes = nodes;
    this.commandNode = commandNode;
    this.handle = handle;
    this.exclusiveHandle = exclusiveHandle;
    this.retry = retry;
    this.executor = this.executorOn(commandNode, handle);
    this.dataHandle = data?.handle;
    this.dataHandleOwned = data?.owned ?? false;
    this.dataWritable = data?.writable ?? false;
    this.dataNode = data?.node ?? commandNode;
    const dataExecutor = data ? this.executorOn(this.dataNode, data.handle) : this.executor;
    this.data = {
      path: this.dataNode,
      command: (cmd, options) =>
        this.dataHandle === undefined || (cmd.direction === 'to-device' && !this.dataWritable)
          ? this.command(cmd, options)
          : runCommand(dataExecutor, cmd, options, this.retry, { onUnitAttention: (e) => this.onUnitAttention(e) }, this.stats),
      // The host copy's native data lane runs READ/WRITE on the block node itself.
      ...(data && data.handle.kind === 'block' ? { lane: { handle: data.handle, writable: this.dataWritable } } : {}),
    };
  }

  /** SG_IO on one of this device's handles, counted, refused once the device is closing. */
  private executorOn(path: string, handle: NativeHandle): { path: string; execute: (r: NativeExecuteRequest) => Promise<NativeExecuteResult> } {
    const native = loadNative();
    return {
      path,
      execute: (r) => {
        if (this.closeP) return Promise.reject(Object.assign(new Error(`${this.path} is closed`), { code: 'ECLOSED' }));
        this.stats.commands++;
        return native.execute(handle, r);
      },
    };
  }

  /** Open a LUN by any path. Throws DeviceError with a one-line reason. */
  static async open(path: string, options: OpenOptions = {}): Promise<ScsiDevice> {
    const native = loadNative();
    let node: NodeInfo;
    let nodes: ScsiNodes;
    try {
      node = inspectNode(path);
      nodes = scsiNodesOf(node);
    } catch (e) {
      // A partition or a device-mapper node: resolve the stack down to its LUN.
      if (e instanceof DeviceError && (e.code === 'PARTITION' || e.code === 'NOT_SCSI') && isBlockNode(path)) {
        if (!options.layered) {
          throw new DeviceError({ path, code: e.code, message: `${e.message}; this command addresses LUN blocks directly (odxcp copy and info map partitions and dm volumes onto their LUN)`, cause: e });
        }
        return ScsiDevice.openLayered(path, options);
      }
      throw e;
    }
    let exclusive: NativeHandle | undefined;
    if (options.exclusive) {
      if (!nodes.sd) {
        throw new DeviceError({ path, code: 'NOT_BLOCK', message: `${path}: no SCSI disk node behind it to hold exclusively (is sd loaded?)` });
      }
      try {
        exclusive = (await native.open(nodes.sd, { write: true, exclusive: true })).handle;
      } catch (e) {
        const reasons = usersOf(nodes.sd.replace(/^\/dev\//, ''));
        if ((e as { code?: string }).code === 'EBUSY' && reasons.length > 0) {
          // A path of a multipath map: the map is what to write to (odxcp resolves it to this LUN).
          const map = multipathHolderOf(nodes.sd.replace(/^\/dev\//, ''));
          const advice = map ? `; it is a path of multipath map ${map}: give /dev/mapper/${map}` : '';
          throw new DeviceError({ path, code: 'MOUNTED', message: `${path}: refusing to write: ${reasons.join('; ')}${advice}`, cause: e });
        }
        throw nativeOpenError(e, path, `cannot open ${nodes.sd} exclusively`);
      }
    }
    // sg opened read-write has no opcode filter (reference 1.3); the block node needs CAP_SYS_RAWIO for 0x83/0x84.
    const commandNode = nodes.sg ?? nodes.sd ?? node.real;
    let handle: NativeHandle;
    try {
      handle = (await native.open(commandNode, { write: true, exclusive: false })).handle;
    } catch (e) {
      // Nothing ran on the hold: its close resolves at once; the open error is the one to report.
      if (exclusive !== undefined) await native.close(exclusive).catch(() => undefined);
      throw nativeOpenError(e, path, `cannot open ${commandNode}`);
    }
    let data: DataHandle | undefined;
    if ((options.dataNode ?? 'block') === 'block' && nodes.sd && nodes.sd !== commandNode) {
      if (exclusive !== undefined) data = { handle: exclusive, owned: false, writable: true, node: nodes.sd };
      else {
        // Best effort: without the block node the data simply stays on the command node.
        const r = await native.open(nodes.sd, { write: false, exclusive: false }).catch(() => undefined);
        if (r) data = { handle: r.handle, owned: true, writable: false, node: nodes.sd };
      }
    }
    return new ScsiDevice(path, node, nodes, commandNode, handle, exclusive, options.retry ?? DEFAULT_RETRY, data);
  }

  /**
   * Open a layered device: the top of its chain held O_EXCL when writing (that is what refuses
   * a mounted or held volume; its members being held by dm is how the stack is built), commands
   * and data through each LUN's chosen path's sg node. Over several LUNs: one device per LUN
   * (`parts`), the hold on the top kept by this one.
   */
  private static async openLayered(path: string, options: OpenOptions): Promise<ScsiDevice> {
    const stack = resolveStack(path);
    // A LUN with no usable path is the reason to give, before whether the top can be held.
    const chosen: string[] = [];
    for (const lun of stack.luns) chosen.push(await ScsiDevice.chosenPath(path, lun));
    let holdFd: number | undefined;
    if (options.exclusive) {
      try {
        holdFd = fs.openSync(stack.top, fs.constants.O_RDWR | fs.constants.O_EXCL);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
        const reasons = code === 'EBUSY' ? usersOfTop(stack.topName) : [];
        if (reasons.length > 0) throw new DeviceError({ path, code: 'MOUNTED', message: `${path}: refusing to write: ${reasons.join('; ')}`, cause: e });
        throw nativeOpenError(e, path, `cannot open ${stack.top} exclusively`);
      }
    }
    const layout: DeviceLayout = { stack, extents: stack.extents, bytes: stack.bytes };
    try {
      if (stack.luns.length === 1) return await ScsiDevice.openLun(path, stack, 0, chosen[0] as string, layout, holdFd, options);
      const parts: ScsiDevice[] = [];
      try {
        for (let i = 0; i < stack.luns.length; i++) {
          parts.push(await ScsiDevice.openLun(path, stack, i, chosen[i] as string, { stack, extents: stack.extents.filter((e) => e.lun === i), bytes: stack.bytes }, undefined, options));
        }
      } catch (e) {
        await Promise.allSettled(parts.map((d) => d.close()));
        throw e;
      }
      const first = parts[stack.extents[0]?.lun ?? 0] as ScsiDevice;
      return new ScsiDevice(path, first.node, first.nodes, first.commandNode, first.handle, undefined, options.retry ?? DEFAULT_RETRY, undefined, { layout, holdFd, lunId: first.lunId as string, parts });
    } catch (e) {
      if (holdFd !== undefined) fs.closeSync(holdFd);
      throw e;
    }
  }

  /** The sg node of the path commands to this LUN go through (ALUA refined); NO_PATH when none can. */
  private static async chosenPath(path: string, lun: Stack['luns'][number]): Promise<string> {
    await refineWithRtpg(lun, rtpgThrough);
    const chosen = lun.chosen;
    if (!chosen?.sg) {
      const states = lun.paths.map((p) => `${p.sd || p.sg} ${p.state}${p.accessState ? ` ${p.accessState}` : ''}${p.dmState === 'failed' ? ', failed in the map' : ''}`).join('; ');
      throw new DeviceError({ path, code: 'NO_PATH', message: `${path}: no path to LUN ${lun.id} can carry commands (${states || 'no paths'})` });
    }
    return chosen.sg;
  }

  /** The device of LUN `i` of a resolved stack: commands and data through the sg node of its chosen path. */
  private static async openLun(path: string, stack: Stack, i: number, sg: string, layout: DeviceLayout, holdFd: number | undefined, options: OpenOptions): Promise<ScsiDevice> {
    const native = loadNative();
    const lun = stack.luns[i] as Stack['luns'][number];
    let handle: NativeHandle;
    let node: NodeInfo;
    let nodes: ScsiNodes;
    try {
      node = inspectNode(sg);
      nodes = scsiNodesOf(node);
      handle = (await native.open(sg, { write: true, exclusive: false })).handle;
    } catch (e) {
      if (e instanceof DeviceError) throw e;
      throw nativeOpenError(e, path, `cannot open ${sg}`);
    }
    return new ScsiDevice(path, node, nodes, sg, handle, undefined, options.retry ?? DEFAULT_RETRY, undefined, { layout, holdFd, lunId: lun.id });
  }

  /**
   * Whether the SCSI device commands go to still carries them (its sysfs `state`, read now, is
   * `running`): after a path-class transport error on a running path the nexus is there to be
   * asked what became of a copy list (docs/path-failover.md).
   */
  pathRunning(): boolean {
    try {
      return fs.readFileSync(`/sys/bus/scsi/devices/${this.nodes.address}/state`, 'utf8').trim() === 'running';
    } catch {
      return false;
    }
  }

  /** The path-switching view of a layered device (its commands and data all go through one sg node). */
  private makeFailover(): PathFailover {
    const self = this;
    return {
      get commandNode() {
        return self.commandNode;
      },
      pathFailed: () => sgState(this.commandNode) !== 'running',
      nexusGone: async (sg, waitMs) => {
        const until = Date.now() + waitMs;
        for (;;) {
          if (iscsiSessionEnded(sg)) return true;
          if (Date.now() >= until) return false;
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      switchPath: (from) => {
        // Serialised: workers that failed on the same path wait for the one switch.
        const run = async (): Promise<PathMove | undefined> => {
          if (this.commandNode !== from) return { from, to: this.commandNode, switched: false };
          return this.switchFrom(from);
        };
        const p = (this.switching ?? Promise.resolve(undefined)).then(run, run);
        this.switching = p.catch(() => undefined);
        return p;
      },
    };
  }

  /** Open the best other path's sg node and send every later command there; the old one closes once drained. */
  private async switchFrom(from: string): Promise<PathMove | undefined> {
    const native = loadNative();
    if (this.closeP) return undefined;
    let next: StackPath | undefined;
    try {
      const stack = resolveStack(this.path);
      const lun = stack.luns.find((l) => l.id === this.lunId);
      if (!lun) return undefined;
      await refineWithRtpg(lun, rtpgThrough).catch(() => undefined);
      next = choosePath(lun.paths, [from]);
    } catch {
      return undefined;
    }
    if (!next?.sg) return undefined;
    let node: NodeInfo;
    let nodes: ScsiNodes;
    let handle: NativeHandle;
    try {
      node = inspectNode(next.sg);
      nodes = scsiNodesOf(node);
      handle = (await native.open(next.sg, { write: true, exclusive: false })).handle;
    } catch (e) {
      // One line with the node and its errno; the copy says no usable path was left.
      const code = (e as { code?: string }).code ?? 'EIO';
      throw nativeOpenError(e, this.path, `path switch: cannot open ${next.sg} (${code})`);
    }
    const old = this.handle;
    this.handle = handle;
    this.node = node;
    this.nodes = nodes;
    this.commandNode = next.sg;
    this.executor = this.executorOn(next.sg, handle);
    // Closing an sg handle waits for what it still has in flight (the dead path fails it fast).
    this.retired.push(native.close(old).catch(() => undefined));
    return { from, to: next.sg, switched: true };
  }

  /** Run one encoded command with the retry policy; non-GOOD outcomes throw typed errors. */
  command(cmd: EncodedCommand, options?: CommandOptions): Promise<CommandResult> {
    // Over several LUNs: through the first extent's LUN's device (its path may have switched).
    const via = this.parts?.find((d) => d.lunId === this.lunId);
    if (via) return this.closeP ? Promise.reject(Object.assign(new Error(`${this.path} is closed`), { code: 'ECLOSED' })) : via.command(cmd, options);
    return runCommand(this.executor, cmd, options, this.retry, { onUnitAttention: (e) => this.onUnitAttention(e) }, this.stats);
  }

  /** A UNIT ATTENTION may mean the cached facts are stale (reference 2.6: 2A/09, 3F/03, 3F/05). */
  private onUnitAttention(e: ScsiError): void {
    if (e.asc === 0x2a) this.capacityP = undefined;
    if (e.asc === 0x3f && (e.ascq === 0x03 || e.ascq === 0x05)) {
      this.identityP = undefined;
      this.capabilitiesP = undefined;
    }
  }

  identity(): Promise<DeviceIdentity> {
    this.identityP ??= this.probeIdentity().catch((e) => {
      this.identityP = undefined;
      throw e;
    });
    return this.identityP;
  }

  private async probeIdentity(): Promise<DeviceIdentity> {
    const std = await cmds.inquiry(this);
    const pages = await cmds.vpdSupportedPages(this).catch(() => undefined);
    const has = (p: number) => pages === undefined || pages.pages.includes(p);
    let serial: string | undefined;
    if (has(0x80)) serial = (await cmds.vpdUnitSerial(this).catch(() => undefined))?.serial;
    let designators: Designation[] = [];
    if (has(0x83)) designators = (await cmds.vpdDeviceIdentification(this).catch(() => undefined))?.descriptors ?? [];
    const naa = designators.find((d) => d.association === 0 && d.designatorType === 3);
    return {
      vendor: std.vendor,
      product: std.product,
      revision: std.revision,
      peripheralDeviceType: std.peripheralDeviceType,
      threePC: std.threePC,
      serial,
      designators,
      copyDesignator: pickCopyDesignator(designators),
      naa: naa ? naa.designator.toString('hex') : undefined,
    };
  }

  capacity(): Promise<DeviceCapacity> {
    this.capacityP ??= cmds.readCapacity16(this).then(
      (rc) => ({
        blockSize: rc.blockLength,
        blocks: rc.blocks,
        bytes: rc.capacityBytes,
        physicalBlockSize: rc.physicalBlockSize,
        raw: rc,
      }),
      (e) => {
        this.capacityP = undefined;
        throw e;
      },
    );
    return this.capacityP;
  }

  /** Copy-offload capabilities (3PC, VPD 0xB0/0x8F, RCR operating parameters), probed once. */
  capabilities(): Promise<Capabilities> {
    this.capabilitiesP ??= probeCapabilities(this).catch((e) => {
      this.capabilitiesP = undefined;
      throw e;
    });
    return this.capabilitiesP;
  }

  /** Transfer limits of the kernel queue, for the buffered path (reference 1.5). */
  queueLimits(): QueueLimits | undefined {
    return this.nodes.sd ? queueLimits(this.nodes.sd.replace(/^\/dev\//, '')) : undefined;
  }

  /** True when this device is held open with O_EXCL on its block node. */
  get exclusive(): boolean {
    return this.exclusiveHandle !== undefined || this.holdFd !== undefined;
  }

  /**
   * Refuse new commands at once; resolve when every command already issued has completed and
   * every node is closed (the exclusive hold is released last, with the rest). Calling it
   * again returns the same promise. Rejects with the first close(2) error, after all closed.
   */
  close(): Promise<void> {
    this.closeP ??= (async () => {
      const native = loadNative();
      const handles = [...(this.ownsHandle ? [this.handle] : []), ...(this.dataHandleOwned && this.dataHandle ? [this.dataHandle] : []), ...(this.exclusiveHandle ? [this.exclusiveHandle] : [])];
      const results: PromiseSettledResult<void>[] = await Promise.allSettled([...handles.map((h) => native.close(h)), ...this.retired, ...(this.parts ?? []).map((d) => d.close())]);
      // The hold on a layered device's top goes last, once no command can still be running.
      const hold = this.holdFd;
      if (hold !== undefined) results.push(...(await Promise.allSettled([new Promise<void>((res, rej) => fs.close(hold, (e) => (e ? rej(e) : res())))])));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.closeP;
  }
}

/** True when the path (symlinks followed) is a block device node. */
function isBlockNode(p: string): boolean {
  try {
    return fs.statSync(p).isBlockDevice();
  } catch {
    return false;
  }
}

/** REPORT TARGET PORT GROUPS through one path's sg node (opened for this command only). */
async function rtpgThrough(sg: string): Promise<ReportTargetPortGroups> {
  const d = await ScsiDevice.open(sg);
  try {
    const r = await d.command(encodeReportTargetPortGroups(), { idempotent: true });
    return decodeReportTargetPortGroups(r.data);
  } finally {
    await d.close();
  }
}

/** The sysfs state (running, offline, blocked, transport-offline...) of an sg node's SCSI device. */
function sgState(sg: string): string {
  try {
    return fs.readFileSync(`/sys/class/scsi_generic/${path.basename(sg)}/device/state`, 'utf8').trim();
  } catch {
    return 'gone';
  }
}

/**
 * True when the sg node's device sits on an iSCSI session that is no longer logged in (or is
 * gone): at ErrorRecoveryLevel 0 a dropped connection ends the session and the target aborts
 * its tasks, so no list of that nexus can still write.
 */
function iscsiSessionEnded(sg: string): boolean {
  let real: string;
  try {
    real = fs.realpathSync(`/sys/class/scsi_generic/${path.basename(sg)}/device`);
  } catch {
    return false; // the device is gone, but nothing tells what its target still runs
  }
  const m = /\/(session\d+)\//.exec(real);
  if (!m) return false;
  try {
    return fs.readFileSync(`/sys/class/iscsi_session/${m[1]}/state`, 'utf8').trim() !== 'LOGGED_IN';
  } catch {
    return true; // the session object is gone
  }
}
