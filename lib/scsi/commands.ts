// One typed function per T10 command: encode (native) -> execute (with retry policy) ->
// decode (TypeScript). Names follow the standard's command names, as in sg3_utils.
import { loadNative, type BlockRange, type EncodedCommand, type IdentificationCscdInput, type BlockToBlockSegmentInput, type ListIdUsage, type U64 } from '../native';
import type { CommandResult, ScsiTransport } from './transport';
import {
  decodeStandardInquiry,
  decodeVpdSupportedPages,
  decodeVpdUnitSerial,
  decodeVpdDeviceIdentification,
  decodeVpdBlockLimits,
  decodeVpdThirdPartyCopy,
  decodeReadCapacity16,
  decodeReportLuns,
  decodeCopyStatus,
  decodeOperatingParameters,
  decodeFailedSegmentDetails,
  decodeReceiveRodTokenInformation,
  decodeReceiveCopyStatusLid4,
  decodeReportAllRodTokens,
} from './decoders';
import { ParseError } from './bytes';

const enc = () => loadNative().encoders;

export const VPD = {
  SUPPORTED_PAGES: 0x00,
  UNIT_SERIAL: 0x80,
  DEVICE_IDENTIFICATION: 0x83,
  THIRD_PARTY_COPY: 0x8f,
  BLOCK_LIMITS: 0xb0,
  LOGICAL_BLOCK_PROVISIONING: 0xb2,
} as const;

export async function testUnitReady(t: ScsiTransport): Promise<void> {
  await t.command(enc().testUnitReady(), { idempotent: true });
}

export async function inquiry(t: ScsiTransport) {
  const r = await t.command(enc().inquiry({ allocationLength: 255 }), { idempotent: true });
  return decodeStandardInquiry(r.data);
}

/**
 * A whole VPD page: asks for 4 KiB first and again for the full length when the page says
 * it is longer (PAGE LENGTH, bytes 2-3), so no page is silently cut.
 */
export async function vpdPage(t: ScsiTransport, page: number): Promise<Buffer> {
  let alloc = 4096;
  for (;;) {
    const r = await t.command(enc().inquiry({ evpd: true, page, allocationLength: alloc }), { idempotent: true });
    if (r.data.length < 4) throw new ParseError(`VPD page 0x${page.toString(16)}`, 'header', 0, r.data.length, 'reply shorter than the 4-byte header');
    const full = 4 + r.data.readUInt16BE(2);
    if (full <= r.data.length || alloc >= 0xffff) return r.data.subarray(0, Math.min(full, r.data.length));
    alloc = Math.min(0xffff, full);
  }
}

export async function vpdSupportedPages(t: ScsiTransport) {
  return decodeVpdSupportedPages(await vpdPage(t, VPD.SUPPORTED_PAGES));
}
export async function vpdUnitSerial(t: ScsiTransport) {
  return decodeVpdUnitSerial(await vpdPage(t, VPD.UNIT_SERIAL));
}
export async function vpdDeviceIdentification(t: ScsiTransport) {
  return decodeVpdDeviceIdentification(await vpdPage(t, VPD.DEVICE_IDENTIFICATION));
}
export async function vpdBlockLimits(t: ScsiTransport) {
  return decodeVpdBlockLimits(await vpdPage(t, VPD.BLOCK_LIMITS));
}
export async function vpdThirdPartyCopy(t: ScsiTransport) {
  return decodeVpdThirdPartyCopy(await vpdPage(t, VPD.THIRD_PARTY_COPY));
}

export async function readCapacity16(t: ScsiTransport) {
  const r = await t.command(enc().readCapacity16({ allocationLength: 32 }), { idempotent: true });
  return decodeReadCapacity16(r.data);
}

export async function reportLuns(t: ScsiTransport) {
  const r = await t.command(enc().reportLuns({ allocationLength: 8192 }), { idempotent: true });
  return decodeReportLuns(r.data);
}

/** READ(16) into `into` (or a new buffer); returns the bytes actually transferred. */
export async function read16(
  t: ScsiTransport,
  o: { lba: U64; blocks: number; blockSize: number; into?: Buffer; fua?: boolean; timeoutMs?: number },
): Promise<Buffer> {
  const len = o.blocks * o.blockSize;
  const into = o.into ?? Buffer.allocUnsafe(len);
  if (into.length !== len) throw new RangeError(`read16: buffer is ${into.length} bytes, ${o.blocks} blocks of ${o.blockSize} need ${len}`);
  const r = await t.command(enc().read16({ lba: o.lba, blocks: o.blocks, fua: o.fua }), { data: into, idempotent: true, timeoutMs: o.timeoutMs });
  if (r.resid !== 0) throw new ParseError('READ(16)', 'residual', len - r.resid, len, `${r.resid} of ${len} bytes not transferred`);
  return into;
}

/** WRITE(16) of whole blocks. A residual is an error: the caller must know what was written. */
export async function write16(
  t: ScsiTransport,
  o: { lba: U64; data: Buffer; blockSize: number; fua?: boolean; timeoutMs?: number },
): Promise<CommandResult> {
  if (o.data.length === 0 || o.data.length % o.blockSize !== 0) {
    throw new RangeError(`write16: ${o.data.length} bytes is not a whole number of ${o.blockSize}-byte blocks`);
  }
  const r = await t.command(enc().write16({ lba: o.lba, blocks: o.data.length / o.blockSize, fua: o.fua }), {
    data: o.data,
    idempotent: true,
    timeoutMs: o.timeoutMs,
  });
  if (r.resid !== 0) throw new ParseError('WRITE(16)', 'residual', o.data.length - r.resid, o.data.length, `${r.resid} of ${o.data.length} bytes not transferred`);
  return r;
}

export async function synchronizeCache16(t: ScsiTransport, o: { lba?: U64; blocks?: number; timeoutMs?: number } = {}): Promise<void> {
  await t.command(enc().synchronizeCache16({ lba: o.lba, blocks: o.blocks }), { idempotent: true, timeoutMs: o.timeoutMs });
}

export async function synchronizeCache10(t: ScsiTransport, o: { lba?: number; blocks?: number; timeoutMs?: number } = {}): Promise<void> {
  await t.command(enc().synchronizeCache10({ lba: o.lba, blocks: o.blocks }), { idempotent: true, timeoutMs: o.timeoutMs });
}

export async function writeSame16(
  t: ScsiTransport,
  o: { lba: U64; blocks: number; unmap?: boolean; block?: Buffer; timeoutMs?: number },
): Promise<void> {
  await t.command(enc().writeSame16(o), { idempotent: true, timeoutMs: o.timeoutMs });
}

// ---- third-party copy (reference section 5)

export async function receiveCopyOperatingParameters(t: ScsiTransport) {
  // LIO rejects an allocation length under 54 (reference 5.6).
  const r = await t.command(enc().receiveCopyResults({ serviceAction: 'operatingParameters', allocationLength: 1024 }), { idempotent: true });
  return decodeOperatingParameters(r.data);
}

export async function receiveCopyStatus(t: ScsiTransport, listId: number) {
  const r = await t.command(enc().receiveCopyResults({ serviceAction: 'copyStatus', listId, allocationLength: 1024 }), { idempotent: true });
  return decodeCopyStatus(r.data);
}

export async function receiveCopyFailureDetails(t: ScsiTransport, listId: number) {
  const r = await t.command(enc().receiveCopyResults({ serviceAction: 'failedSegmentDetails', listId, allocationLength: 1024 }), { idempotent: true });
  return decodeFailedSegmentDetails(r.data);
}

export interface ExtendedCopyLid1Params {
  listId: number;
  listIdUsage: ListIdUsage;
  priority?: number;
  cscds: IdentificationCscdInput[];
  segments: BlockToBlockSegmentInput[];
  timeoutMs?: number;
}

export async function extendedCopyLid1(t: ScsiTransport, p: ExtendedCopyLid1Params): Promise<CommandResult> {
  const cmd: EncodedCommand = enc().extendedCopyLid1(p);
  return t.command(cmd, { timeoutMs: p.timeoutMs });
}

export async function populateToken(
  t: ScsiTransport,
  p: { listId: number; ranges: BlockRange[]; immed?: boolean; inactivityTimeout?: number; rodType?: number; timeoutMs?: number },
): Promise<CommandResult> {
  return t.command(enc().populateToken(p), { timeoutMs: p.timeoutMs });
}

export async function writeUsingToken(
  t: ScsiTransport,
  p: { listId: number; token: Buffer; ranges: BlockRange[]; offsetIntoRod?: U64; deleteToken?: boolean; immed?: boolean; timeoutMs?: number },
): Promise<CommandResult> {
  return t.command(enc().writeUsingToken(p), { timeoutMs: p.timeoutMs });
}

export async function receiveRodTokenInformation(t: ScsiTransport, listId: number) {
  const r = await t.command(enc().receiveRodTokenInformation({ listId, allocationLength: 1024 }), { idempotent: true });
  return decodeReceiveRodTokenInformation(r.data);
}

export async function receiveCopyStatusLid4(t: ScsiTransport, listId: number) {
  const r = await t.command(enc().receiveCopyStatusLid4({ listId, allocationLength: 1024 }), { idempotent: true });
  return decodeReceiveCopyStatusLid4(r.data);
}

export async function copyOperationAbort(t: ScsiTransport, listId: number): Promise<void> {
  await t.command(enc().copyOperationAbort({ listId }), { idempotent: true });
}

export async function reportAllRodTokens(t: ScsiTransport) {
  const r = await t.command(enc().reportAllRodTokens({ allocationLength: 64 * 1024 - 1 }), { idempotent: true });
  return decodeReportAllRodTokens(r.data);
}
