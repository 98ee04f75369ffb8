// Planning a copy: open both LUNs (the destination exclusively), probe them (cached per
// device), check the range, and choose a method and chunk sizes within the targets' limits.
// Nothing is written here; every refusal is a one-line UsageError or DeviceError.
import { ScsiDevice } from '../device/device';
import type { Capabilities } from '../device/capabilities';
import { UsageError } from '../errors';
import type { IdentificationCscdInput, ListIdUsage } from '../native';
import { knownFailure } from './pair-cache';
import type { CopyMethod, CopyOptions, CopyPlan, MethodVerdict, PlannedDevice } from './types';
import type { XcopyMethodOptions } from './methods/xcopy';
import { SideMap, spans } from './layout';
import { planRuns } from './span';
import { chainLine } from '../device/stack';

export const DEFAULT_TOKEN_BYTES = 8n << 20n; // ONTAP's token size, when the target gives none
export const DEFAULT_HOST_TRANSFER = 1 << 20;
export const DEFAULT_MAX_IN_FLIGHT = 4;
const MAX_SEGMENT_BLOCKS = 65535n; // NUMBER OF BLOCKS is 16 bits (reference 5.5)
const SG_MAX_TRANSFER = (256 << 20) - 1; // the sg driver refuses dxfer_len >= 256 MiB (reference 1.4)

export interface OpenedPair {
  src: ScsiDevice;
  dst: ScsiDevice;
  /** Closes the devices openPair opened (not those passed in); resolves once all are closed. */
  close(): Promise<void>;
}

/** Open the source, and the destination exclusively (refusing a mounted or held disk). */
export async function openPair(o: Pick<CopyOptions, 'src' | 'dst'>): Promise<OpenedPair> {
  const owned: ScsiDevice[] = [];
  try {
    const src = typeof o.src === 'string' ? await ScsiDevice.open(o.src, { layered: true }) : o.src;
    if (typeof o.src === 'string') owned.push(src);
    const dst = typeof o.dst === 'string' ? await ScsiDevice.open(o.dst, { exclusive: true, layered: true }) : o.dst;
    if (typeof o.dst === 'string') owned.push(dst);
    return {
      src,
      dst,
      close: async () => {
        await Promise.all(owned.map((d) => d.close()));
      },
    };
  } catch (e) {
    await Promise.allSettled(owned.map((d) => d.close()));
    throw e;
  }
}

function bytesArg(v: bigint | number | undefined, name: string): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new UsageError(`${name} must be a whole number of bytes (got ${v})`);
  const b = BigInt(v);
  if (b < 0n) throw new UsageError(`${name} must not be negative (got ${b})`);
  return b;
}

const PAGE_BYTES = 4096;
const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
const lcm = (a: bigint, b: bigint) => (a / gcd(a, b)) * b;
const roundDown = (v: bigint, unit: bigint) => v - (v % unit);

export interface PlanDetails {
  plan: CopyPlan;
  srcCaps: Capabilities;
  dstCaps: Capabilities;
  /** A stable name of each LUN for the per-process pair cache. */
  srcKey: string;
  dstKey: string;
  tokenBytes: bigint;
  /** How EXTENDED COPY would run: exactly what the method takes. */
  xcopy?: XcopyMethodOptions;
  inactivityTimeout: number;
  /** Seconds a token of the source lives whatever its use (VPD 0x8F/0106); 0 = no limit. */
  tokenLifetime: number;
  hostDepth: number;
  /** A side over several LUNs: every LUN pair's run, planned (engine/span.ts). */
  runs?: PlannedRun[];
}

/** One LUN pair's part of a copy over several LUNs: the copy-relative offset, its pair and plan. */
export interface PlannedRun {
  at: bigint;
  pair: OpenedPair;
  details: PlanDetails;
}

async function describe(d: ScsiDevice): Promise<{ pd: PlannedDevice; caps: Capabilities; key: string; cscd?: IdentificationCscdInput }> {
  const [id, cap, caps] = [await d.identity(), await d.capacity(), await d.capabilities()];
  const pd: PlannedDevice = {
    path: d.path,
    sg: d.nodes.sg,
    sd: d.nodes.sd,
    vendor: id.vendor,
    product: id.product,
    serial: id.serial,
    naa: id.naa,
    blockSize: cap.blockSize,
    bytes: d.layout ? d.layout.bytes : cap.bytes,
    ...(d.layout
      ? { chain: chainLine(d.layout.stack), extents: d.layout.extents.map((e) => ({ offset: e.offset, length: e.length, lunOffset: e.lunOffset, ...(d.parts ? { lun: e.lun } : {}) })) }
      : {}),
  };
  const key = id.naa ? `naa.${id.naa}` : `${id.vendor}/${id.product}/${id.serial ?? d.nodes.address}`;
  const c = id.copyDesignator;
  const cscd = c
    ? { designator: { codeSet: c.codeSet, association: c.association, designatorType: c.designatorType, designator: c.designator }, blockLength: cap.blockSize }
    : undefined;
  return { pd, caps, key, cscd };
}

/** Decide how a copy would run. Throws UsageError for a range that cannot be copied at all. */
export async function planPair(pair: OpenedPair, o: CopyOptions): Promise<PlanDetails> {
  const mode = o.mode ?? 'auto';
  if (!['auto', 'odx', 'xcopy', 'host'].includes(mode)) throw new UsageError(`mode must be auto, odx, xcopy or host (got ${String(mode)})`);
  if (o.sparse !== undefined && o.sparse !== 'auto' && o.sparse !== 'never') throw new UsageError(`sparse must be auto or never (got ${String(o.sparse)})`);
  const s = await describe(pair.src);
  const d = await describe(pair.dst);
  const sbs = BigInt(s.pd.blockSize);
  const dbs = BigInt(d.pd.blockSize);
  const srcOffset = bytesArg(o.srcOffset, 'source offset') ?? 0n;
  const dstOffset = bytesArg(o.dstOffset, 'destination offset') ?? 0n;
  if (srcOffset % sbs !== 0n) throw new UsageError(`source offset ${srcOffset} is not a multiple of the source block size ${sbs}`);
  if (dstOffset % dbs !== 0n) throw new UsageError(`destination offset ${dstOffset} is not a multiple of the destination block size ${dbs}`);
  if (srcOffset > s.pd.bytes) throw new UsageError(`source offset ${srcOffset} is past the end of ${s.pd.path} (${s.pd.bytes} bytes)`);
  const length = bytesArg(o.length, 'length') ?? s.pd.bytes - srcOffset;
  if (length === 0n) throw new UsageError('nothing to copy: the length is 0');
  const unit = lcm(sbs, dbs);
  if (length % unit !== 0n) throw new UsageError(`length ${length} is not a multiple of the block size${sbs === dbs ? '' : 's'} (${unit})`);
  if (srcOffset + length > s.pd.bytes) throw new UsageError(`source range ends at ${srcOffset + length}, past the end of ${s.pd.path} (${s.pd.bytes} bytes)`);
  if (dstOffset + length > d.pd.bytes) throw new UsageError(`destination range ends at ${dstOffset + length}, past the end of ${d.pd.path} (${d.pd.bytes} bytes)`);
  // A side over several LUNs: each LUN pair's run is planned and checked on its own (span.ts).
  const sameLun = !spans(pair) && (pair.src.nodes.address === pair.dst.nodes.address || (s.key === d.key && s.key.startsWith('naa.')));
  if (sameLun && !pair.src.layout && !pair.dst.layout && srcOffset < dstOffset + length && dstOffset < srcOffset + length) {
    throw new UsageError(`source and destination ranges overlap on one LUN (${srcOffset}+${length} and ${dstOffset}+${length})`);
  }
  if (sameLun && (pair.src.layout || pair.dst.layout)) {
    // Layered devices on one LUN (two partitions of it, say): compare where the bytes really are.
    const a = new SideMap(pair.src.layout, srcOffset).ranges(0n, length);
    const b = new SideMap(pair.dst.layout, dstOffset).ranges(0n, length);
    for (const x of a) {
      for (const y of b) {
        if (x.lunOffset < y.lunOffset + y.length && y.lunOffset < x.lunOffset + x.length) {
          throw new UsageError(`source and destination ranges overlap on LUN ${s.key} (bytes ${x.lunOffset}+${x.length} and ${y.lunOffset}+${y.length} of the LUN)`);
        }
      }
    }
  }

  // ---- token copy
  const sTok = s.caps.tokenCopy;
  const dTok = d.caps.tokenCopy;
  let odx: MethodVerdict;
  if (!sTok.supported) odx = { usable: false, reason: `source: ${sTok.reason}` };
  else if (!dTok.supported) odx = { usable: false, reason: `destination: ${dTok.reason}` };
  else if (sbs !== dbs) odx = { usable: false, reason: `block sizes differ (${sbs} and ${dbs}): a ROD token names blocks of the source` };
  else odx = { usable: true, reason: 'both LUNs advertise token copy (VPD 0x8F)' };
  const odxCached = knownFailure(s.key, d.key, 'odx');
  if (odx.usable && odxCached) odx = { usable: false, reason: `failed earlier in this process: ${odxCached}` };

  // ---- EXTENDED COPY
  const on = o.xcopyOn ?? 'dst';
  const receiver = on === 'src' ? s : d;
  let xcopy: MethodVerdict;
  if (!receiver.caps.xcopyLid1.supported) xcopy = { usable: false, reason: `${on === 'src' ? 'source' : 'destination'}: ${receiver.caps.xcopyLid1.reason}` };
  else if (!s.cscd || !d.cscd) xcopy = { usable: false, reason: `${!s.cscd ? 'source' : 'destination'} has no LU designator to name it in a CSCD descriptor` };
  else if (sbs !== dbs) xcopy = { usable: false, reason: `block sizes differ (${sbs} and ${dbs}); LIO and tcmu-runner refuse that` };
  else xcopy = { usable: true, reason: `the ${on === 'src' ? 'source' : 'destination'}'s copy manager implements 0x02 segments and 0xE4 CSCDs` };
  const xcopyCached = knownFailure(s.key, d.key, 'xcopy');
  if (xcopy.usable && xcopyCached) xcopy = { usable: false, reason: `failed earlier in this process: ${xcopyCached}` };

  let method: CopyMethod;
  if (mode === 'auto') method = odx.usable ? 'odx' : xcopy.usable ? 'xcopy' : 'host';
  else method = mode;
  if (method === 'xcopy' && (!s.cscd || !d.cscd)) throw new UsageError(`cannot use EXTENDED COPY: ${xcopy.reason}`);

  // ---- sizes
  const tokLimit = (caps: Capabilities) => {
    const l = caps.tokenCopy.limits;
    return { max: l ? l.maximumTokenTransferSize : 0n, opt: l ? l.optimalTransferCount : 0n };
  };
  let tokenBytes = bytesArg(o.tokenSize, 'token size') ?? 0n;
  if (tokenBytes === 0n) {
    const opts = [tokLimit(s.caps).opt, tokLimit(d.caps).opt].filter((v) => v > 0n).map((v) => v * sbs);
    tokenBytes = opts.length ? opts.reduce((a, b) => (a < b ? a : b)) : DEFAULT_TOKEN_BYTES;
  }
  for (const m of [tokLimit(s.caps).max, tokLimit(d.caps).max]) if (m > 0n && tokenBytes > m * sbs) tokenBytes = m * sbs;
  if (tokenBytes > 0xffffffffn * sbs) tokenBytes = 0xffffffffn * sbs; // one range descriptor's block count
  tokenBytes = roundDown(tokenBytes, unit);
  if (tokenBytes < unit) throw new UsageError(`token size must be at least one block (${unit} bytes)`);

  let xcopyDetails: PlanDetails['xcopy'];
  if (s.cscd && d.cscd) {
    const lim = receiver.caps.xcopyLid1.limits;
    let segmentBytes = MAX_SEGMENT_BLOCKS * sbs;
    if (lim && lim.maximumSegmentLength > 0 && BigInt(lim.maximumSegmentLength) < segmentBytes) segmentBytes = BigInt(lim.maximumSegmentLength);
    segmentBytes = roundDown(segmentBytes, unit);
    let segs = lim ? Math.max(1, lim.maximumSegmentDescriptorCount) : 1;
    if (lim && lim.maximumDescriptorListLength > 0) segs = Math.max(1, Math.min(segs, Math.floor((lim.maximumDescriptorListLength - 16 - 64) / 28)));
    let commandBytes = segmentBytes * BigInt(segs);
    const asked = bytesArg(o.xcopySize, 'EXTENDED COPY size');
    if (asked !== undefined && asked > 0n && asked < commandBytes) commandBytes = roundDown(asked, unit) || unit;
    if (commandBytes < segmentBytes) segmentBytes = commandBytes;
    const snlid = lim?.snlid ?? true;
    const listIdUsage: ListIdUsage = o.xcopyListIdUsage ?? (snlid ? 'none' : 'discard');
    xcopyDetails = {
      commandBytes,
      segmentBytes,
      segmentsPerCommand: segs,
      source: s.cscd,
      destination: d.cscd,
      on,
      listIdUsage,
      listId: listIdUsage === 'none' ? 0 : o.xcopyListId,
    };
  }

  let hostTransfer = o.hostTransferSize ?? DEFAULT_HOST_TRANSFER;
  if (!Number.isSafeInteger(hostTransfer) || hostTransfer <= 0) throw new UsageError(`host transfer size must be a positive number of bytes (got ${hostTransfer})`);
  for (const [dev, caps, bs] of [
    [pair.src, s.caps, s.pd.blockSize],
    [pair.dst, d.caps, d.pd.blockSize],
  ] as const) {
    const mtl = caps.blockLimits?.maximumTransferLength;
    if (mtl && mtl > 0) hostTransfer = Math.min(hostTransfer, mtl * bs);
    const q = dev.queueLimits();
    if (q?.maxSectorsBytes) hostTransfer = Math.min(hostTransfer, q.maxSectorsBytes);
    // The block node maps the caller's pages, one segment per page at worst, and a Buffer
    // need not start on a page boundary: n pages of data can span n + 1 (the kernel refuses
    // more than max_segments with EINVAL).
    if (dev.dataNode !== dev.commandNode && q?.maxSegments) hostTransfer = Math.min(hostTransfer, (q.maxSegments - 1) * PAGE_BYTES);
  }
  hostTransfer = Math.min(hostTransfer, SG_MAX_TRANSFER);
  hostTransfer = Number(roundDown(BigInt(hostTransfer), unit));
  if (hostTransfer < Number(unit)) hostTransfer = Number(unit);

  let maxInFlight = o.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 64) throw new UsageError(`max in flight must be 1..64 (got ${maxInFlight})`);
  // One list id names one list: with a fixed id, one EXTENDED COPY at a time (reference 7.4).
  if (method === 'xcopy' && xcopyDetails?.listId !== undefined && xcopyDetails.listIdUsage !== 'none') maxInFlight = 1;

  const chunkBytes =
    method === 'odx' ? tokenBytes : method === 'xcopy' && xcopyDetails ? xcopyDetails.commandBytes : BigInt(hostTransfer) * 8n;
  const limits = s.caps.tokenCopy.limits;
  const details: PlanDetails = {
    plan: {
      src: s.pd,
      dst: d.pd,
      srcOffset,
      dstOffset,
      length,
      method,
      verdicts: { odx, xcopy },
      chunkBytes,
      hostTransferBytes: hostTransfer,
      maxInFlight,
    },
    srcCaps: s.caps,
    dstCaps: d.caps,
    srcKey: s.key,
    dstKey: d.key,
    tokenBytes,
    xcopy: xcopyDetails,
    inactivityTimeout: limits?.defaultInactivityTimeout || 60,
    tokenLifetime: limits?.maximumTokenLifetime ?? 0,
    hostDepth: 2,
  };
  if (spans(pair)) {
    details.runs = await planRuns(pair, details, o, planPair);
    details.plan.runs = details.runs.map((r) => ({ offset: r.at, length: r.details.plan.length, src: r.details.srcKey, dst: r.details.dstKey, method: r.details.plan.method }));
  }
  return details;
}
