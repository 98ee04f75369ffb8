// SBC reply decoders: READ CAPACITY(16) parameter data (ref 4.1).

import { ByteReader, toSafeNumber } from './bytes';

export interface ReadCapacity16 {
  /** RETURNED LOGICAL BLOCK ADDRESS: the last LBA. */
  returnedLba: bigint;
  /** Number of logical blocks (returned LBA + 1). */
  blocks: bigint;
  /** `blocks` as a number when it is a safe integer. */
  blocksNumber?: number;
  /** LOGICAL BLOCK LENGTH in bytes. */
  blockLength: number;
  capacityBytes: bigint;
  /** P_TYPE (byte 12 bits 3-1). */
  pType: number;
  /** PROT_EN (byte 12 bit 0). */
  protEn: boolean;
  /** Protection type: 0 none, else P_TYPE + 1. */
  protectionType: number;
  /** P_I_EXPONENT (byte 13 bits 7-4). */
  pIExponent: number;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (byte 13 bits 3-0). */
  lbppbe: number;
  /** Physical block size in bytes: blockLength << lbppbe. */
  physicalBlockSize: number;
  /** LBPME: logical block provisioning management enabled. */
  lbpme: boolean;
  /** LBPRZ: unmapped blocks read as zero. */
  lbprz: boolean;
  lowestAlignedLba: number;
  /** The buffer is shorter than the 32-byte parameter data (bytes 16-31 are reserved). */
  truncated: boolean;
}

/** READ CAPACITY(16) parameter data is 32 bytes (ref 4.1). */
export const READ_CAPACITY_16_LENGTH = 32;

/**
 * Decode READ CAPACITY(16) parameter data (ref 4.1). Every defined field lies in bytes 0-15, so
 * those are required; bytes 16-31 are reserved and only their absence is reported (truncated).
 */
export function decodeReadCapacity16(buf: Buffer): ReadCapacity16 {
  const r = new ByteReader(buf, 'READ CAPACITY(16) data');
  r.need(0, 16, 'READ CAPACITY(16) fields (bytes 0-15)');
  const returnedLba = r.u64(0, 'RETURNED LOGICAL BLOCK ADDRESS');
  const blockLength = r.u32(8, 'LOGICAL BLOCK LENGTH');
  const blocks = returnedLba + 1n;
  const b12 = r.u8(12, 'P_TYPE/PROT_EN');
  const b13 = r.u8(13, 'P_I_EXPONENT/LBPPBE');
  const v = r.u16(14, 'LBPME/LBPRZ/LOWEST ALIGNED LOGICAL BLOCK ADDRESS');
  const pType = (b12 >> 1) & 0x07;
  const protEn = (b12 & 0x01) !== 0;
  const lbppbe = b13 & 0x0f;
  const out: ReadCapacity16 = {
    returnedLba,
    blocks,
    blockLength,
    capacityBytes: blocks * BigInt(blockLength),
    pType,
    protEn,
    protectionType: protEn ? pType + 1 : 0,
    pIExponent: b13 >> 4,
    lbppbe,
    physicalBlockSize: blockLength * 2 ** lbppbe,
    lbpme: (v & 0x8000) !== 0,
    lbprz: (v & 0x4000) !== 0,
    lowestAlignedLba: v & 0x3fff,
    truncated: r.length < READ_CAPACITY_16_LENGTH,
  };
  const n = toSafeNumber(blocks);
  if (n !== undefined) out.blocksNumber = n;
  return out;
}

// ---------------------------------------------------------------------------------------------
// GET LBA STATUS parameter data (SBC-3 5.6.2): 0-3 PARAMETER DATA LENGTH (bytes after it),
// 4-7 reserved, then 16-byte LBA status descriptors: 0-7 LBA, 8-11 NUMBER OF LOGICAL BLOCKS,
// 12 bits 3-0 PROVISIONING STATUS, 13 (SBC-4) ADDITIONAL STATUS.

/** PROVISIONING STATUS values (SBC-3 table 40). */
export const PROVISIONING_STATUS = { MAPPED: 0, DEALLOCATED: 1, ANCHORED: 2 } as const;
const PROVISIONING_NAMES = ['mapped', 'deallocated', 'anchored'] as const;
export type ProvisioningState = (typeof PROVISIONING_NAMES)[number] | 'unknown';

export interface LbaStatusDescriptor {
  lba: bigint;
  blocks: number;
  /** PROVISIONING STATUS as sent. */
  provisioningStatus: number;
  /** Its name; 'unknown' for a value SBC-3 does not define (3 is "unknown" in SBC-4 too). */
  state: ProvisioningState;
  additionalStatus: number;
}

export interface GetLbaStatus {
  parameterDataLength: number;
  descriptors: LbaStatusDescriptor[];
  /** The reply claims more descriptors than the buffer holds (allocation length too small). */
  truncated: boolean;
}

export const LBA_STATUS_HEADER_LENGTH = 8;
export const LBA_STATUS_DESCRIPTOR_LENGTH = 16;

export function decodeGetLbaStatus(buf: Buffer): GetLbaStatus {
  const whole = new ByteReader(buf, 'GET LBA STATUS data');
  whole.need(0, LBA_STATUS_HEADER_LENGTH, 'GET LBA STATUS header (bytes 0-7)');
  const parameterDataLength = whole.u32(0, 'PARAMETER DATA LENGTH');
  if (parameterDataLength < 4 || (parameterDataLength - 4) % LBA_STATUS_DESCRIPTOR_LENGTH !== 0) {
    whole.fail('PARAMETER DATA LENGTH', 0, `${parameterDataLength} is not 4 plus a multiple of ${LBA_STATUS_DESCRIPTOR_LENGTH}`);
  }
  const clamp = whole.clampLength(4, parameterDataLength);
  const r = whole.limit(clamp.end);
  const descriptors: LbaStatusDescriptor[] = [];
  let truncated = clamp.truncated;
  for (let off = LBA_STATUS_HEADER_LENGTH; off < clamp.claimedEnd; off += LBA_STATUS_DESCRIPTOR_LENGTH) {
    if (!r.has(off, LBA_STATUS_DESCRIPTOR_LENGTH)) {
      truncated = true;
      break;
    }
    const provisioningStatus = r.u8(off + 12, 'PROVISIONING STATUS') & 0x0f;
    descriptors.push({
      lba: r.u64(off, 'LBA STATUS LOGICAL BLOCK ADDRESS'),
      blocks: r.u32(off + 8, 'NUMBER OF LOGICAL BLOCKS'),
      provisioningStatus,
      state: PROVISIONING_NAMES[provisioningStatus] ?? 'unknown',
      additionalStatus: r.u8(off + 13, 'ADDITIONAL STATUS'),
    });
  }
  return { parameterDataLength, descriptors, truncated };
}
