// What `odxcp info DEV` reports about one LUN: identity, size, and every copy method with the
// limits a copy would run within (the same capability decisions the engine uses). For a volume
// over several LUNs the identity and capabilities are its first extent's LUN's; the chain, the
// extents and the paths name every LUN.
import { ScsiDevice } from '../device/device';
import type { Capabilities } from '../device/capabilities';
import { rodTypeName } from '../scsi/rod-token';
import { zeroCandidates, type ZeroMethod } from '../tokens/zero';
import type { CopyPlan } from '../engine/types';
import { formatBytes } from './sizes';
import { chainLine, type Extent, type StackLun } from '../device/stack';

/** A layered device (partition, dm volume, multipath map): its chain, LUN paths and extents. */
export interface StackInfo {
  /** `/dev/vg0/lv1 → dm-3 vg0-lv1 (LVM linear, 2 segments) → mpatha (...) → LUN naa.…` */
  chain: string;
  /** The node held exclusively when the device is a destination. */
  top: string;
  /** The device's own size (the LUN's is `bytes` above). */
  bytes: bigint;
  luns: StackLun[];
  extents: Extent[];
}

export interface DeviceInfo {
  path: string;
  sg: string | null;
  sd: string | null;
  address: string;
  vendor: string;
  product: string;
  revision: string;
  serial: string | null;
  naa: string | null;
  blockSize: number;
  blocks: bigint;
  bytes: bigint;
  physicalBlockSize: number;
  threePC: boolean;
  tokenCopy: Capabilities['tokenCopy'];
  xcopyLid1: Capabilities['xcopyLid1'];
  /** VPD 0xB0 limits that bound host transfers and WRITE SAME (blocks; absent = not reported). */
  blockLimits: { maximumTransferLength?: number; optimalTransferLength?: number; maximumWriteSameLength?: bigint } | null;
  /** Copy methods this LUN can take part in (as source or destination). */
  methods: ('odx' | 'xcopy' | 'host')[];
  /** What `odxcp zero` would try, in order. */
  zeroMethods: ZeroMethod[];
  /** Probes that failed (informational). */
  probeErrors: string[];
  /**
   * VPD 0x83 designators of the target device and target port (association 2 and 1; NAA,
   * EUI-64 and SCSI name strings, not the relative port numbers), `association:type:hex`:
   * what `odxcp list` groups LUNs by copy manager with.
   */
  targetIds: string[];
  /** Set for a layered device; absent for a LUN given by its own sd/sg node. */
  stack?: StackInfo;
}

export async function describeDevice(p: string): Promise<DeviceInfo> {
  const d = await ScsiDevice.open(p, { layered: true });
  try {
    const identity = await d.identity();
    const capacity = await d.capacity();
    const caps = await d.capabilities();
    const bl = caps.blockLimits;
    return {
      path: p,
      sg: d.nodes.sg ?? null,
      sd: d.nodes.sd ?? null,
      address: d.nodes.address,
      vendor: identity.vendor,
      product: identity.product,
      revision: identity.revision,
      serial: identity.serial ?? null,
      naa: identity.naa ?? null,
      blockSize: capacity.blockSize,
      blocks: capacity.blocks,
      bytes: capacity.bytes,
      physicalBlockSize: capacity.physicalBlockSize,
      threePC: identity.threePC,
      tokenCopy: caps.tokenCopy,
      xcopyLid1: caps.xcopyLid1,
      blockLimits: bl
        ? { maximumTransferLength: bl.maximumTransferLength, optimalTransferLength: bl.optimalTransferLength, maximumWriteSameLength: bl.maximumWriteSameLength }
        : null,
      methods: [...(caps.tokenCopy.supported ? (['odx'] as const) : []), ...(caps.xcopyLid1.supported ? (['xcopy'] as const) : []), 'host'],
      zeroMethods: await zeroCandidates(d),
      probeErrors: caps.probeErrors,
      targetIds: identity.designators
        .filter((x) => (x.association === 1 || x.association === 2) && [2, 3, 8].includes(x.designatorType))
        .map((x) => `${x.association === 2 ? 'target-device' : 'target-port'}:${x.designatorTypeName}:${x.designator.toString('hex')}`),
      ...(d.layout ? { stack: { chain: chainLine(d.layout.stack), top: d.layout.stack.top, bytes: d.layout.bytes, luns: d.layout.stack.luns, extents: d.layout.extents } } : {}),
    };
  } finally {
    await d.close();
  }
}

const hexType = (t: number) => `0x${t.toString(16).padStart(8, '0')}`;
const blocksText = (n: bigint | number, bs: number) => (BigInt(n) === 0n ? 'not reported' : `${n} blocks (${formatBytes(BigInt(n) * BigInt(bs))})`);

/** The text form of `odxcp info DEV`. */
export function deviceInfoLines(i: DeviceInfo): string[] {
  const out = [
    `${i.path}: ${i.vendor} ${i.product} ${i.revision} (${i.address}, ${i.sg ?? '-'} ${i.sd ?? '-'})`,
    `  serial ${i.serial ?? '-'}  naa ${i.naa ?? '-'}`,
    ...(i.stack ? stackLines(i.stack) : []),
    `  ${i.blocks} blocks of ${i.blockSize} bytes (${i.bytes} bytes, ${formatBytes(i.bytes)})`,
    `  token copy (ODX): ${i.tokenCopy.supported ? 'yes' : 'no'} - ${i.tokenCopy.reason}`,
  ];
  const t = i.tokenCopy.limits;
  if (t) {
    out.push(
      `    max token transfer ${blocksText(t.maximumTokenTransferSize, i.blockSize)}, optimal ${blocksText(t.optimalTransferCount, i.blockSize)}`,
      `    range descriptors ${t.maximumRangeDescriptors || 'not reported'}, inactivity timeout default ${t.defaultInactivityTimeout} s max ${t.maximumInactivityTimeout} s`,
      `    ROD types out: ${t.rodTypesOut.map((r) => `${hexType(r)} (${rodTypeName(r)})`).join(', ') || 'none listed'}`,
      `    ROD types in: ${t.rodTypesIn.map((r) => `${hexType(r)} (${rodTypeName(r)})`).join(', ') || 'none listed'}`,
    );
  }
  out.push(`  EXTENDED COPY LID1: ${i.xcopyLid1.supported ? 'yes' : 'no'} - ${i.xcopyLid1.reason}`);
  const x = i.xcopyLid1.limits;
  if (x) {
    out.push(
      `    max segment length ${x.maximumSegmentLength ? `${x.maximumSegmentLength} bytes` : 'not reported'}, segments ${x.maximumSegmentDescriptorCount}, CSCD descriptors ${x.maximumCscdDescriptorCount}, descriptor list ${x.maximumDescriptorListLength} bytes`,
      `    SNLID ${x.snlid ? 'yes (LIST ID USAGE 11b)' : 'no'}, held data limit ${x.heldDataLimit}`,
    );
  }
  const b = i.blockLimits;
  out.push(
    b
      ? `  transfer limits (VPD 0xB0): max transfer ${blocksText(b.maximumTransferLength ?? 0, i.blockSize)}, optimal ${blocksText(b.optimalTransferLength ?? 0, i.blockSize)}, max WRITE SAME ${blocksText(b.maximumWriteSameLength ?? 0n, i.blockSize)}`
      : '  transfer limits (VPD 0xB0): page not served',
    `  copy methods: ${i.methods.join(', ')}; zero methods: ${i.zeroMethods.join(', ')}`,
  );
  return out;
}

/** The chain, the device's size and extents, and each LUN's paths with the one commands use. */
function stackLines(s: StackInfo): string[] {
  const several = s.luns.length > 1;
  const where = several ? `on ${s.luns.length} LUNs` : 'on the LUN';
  const out = [`  chain: ${s.chain}`, `  device: ${s.bytes} bytes (${formatBytes(s.bytes)}) in ${s.extents.length} extent${s.extents.length === 1 ? '' : 's'} ${where}`];
  for (const e of s.extents) out.push(`    bytes ${e.offset}+${e.length} at ${several ? `byte ${e.lunOffset} of LUN ${s.luns[e.lun]?.id ?? e.lun}` : `LUN byte ${e.lunOffset}`}`);
  for (const l of s.luns) {
    if (several) out.push(`  LUN ${l.id}:`);
    for (const p of l.paths) {
      const mark = p === l.chosen ? '*' : ' ';
      out.push(`  ${mark} path ${p.sd || '-'} ${p.sg ?? '-'} ${p.address} ${p.transport} ${p.state}${p.accessState ? ` ${p.accessState}` : ''}`);
    }
  }
  return out;
}

const METHOD_NAMES: Record<'odx' | 'xcopy', string> = { odx: 'token copy (ODX)', xcopy: 'EXTENDED COPY LID1' };

export function planLines(p: CopyPlan): string[] {
  const lines = [
    `copy plan ${p.src.path} -> ${p.dst.path}: ${p.length} bytes (${formatBytes(p.length)}) from +${p.srcOffset} to +${p.dstOffset}`,
  ];
  for (const m of ['odx', 'xcopy'] as const) {
    const v = p.verdicts[m];
    lines.push(`  ${METHOD_NAMES[m]}: ${v.usable ? 'usable' : 'not usable'} - ${v.reason}`);
  }
  const chunk = p.method === 'host' ? `host transfers of ${p.hostTransferBytes} bytes` : `${p.chunkBytes} bytes (${formatBytes(p.chunkBytes)}) per ${p.method === 'odx' ? 'token' : 'EXTENDED COPY'}, host transfers of ${p.hostTransferBytes} bytes if it falls back`;
  lines.push(`  method: ${p.method}; ${chunk}; ${p.maxInFlight} in flight`);
  // Over several LUNs the lines above are the first LUN pair's; each run has its own method.
  for (const r of p.runs ?? []) lines.push(`  run +${r.offset} ${r.length} bytes: LUN ${r.src} -> LUN ${r.dst}: ${r.method}`);
  return lines;
}
