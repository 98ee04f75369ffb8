// VPD page 0x8F, Third-party copy (ref 3.6): what the copy manager supports and its limits
// (ROD limits, commands, descriptors, CSCD ids, ROD types...). Kept with the other third-party
// copy decoders (tpc.ts); the generic VPD framing is spc.ts's.
import { ByteReader, walkDescriptors } from './bytes';
import { serviceActionName, opcodeName } from './opcodes';
import { decodeDesignatorBody, DESIGNATOR_TYPE, openVpd, type VpdHeader } from './spc';
import { rodTypeName } from './tpc';

export const TPC_DESCRIPTOR = {
  BLOCK_DEVICE_ROD_LIMITS: 0x0000,
  SUPPORTED_COMMANDS: 0x0001,
  PARAMETER_DATA: 0x0004,
  SUPPORTED_DESCRIPTORS: 0x0008,
  SUPPORTED_CSCD_IDS: 0x000c,
  COPY_GROUP_IDENTIFIER: 0x000d,
  ROD_TOKEN_FEATURES: 0x0106,
  SUPPORTED_ROD_TYPES: 0x0108,
  GENERAL_COPY_OPERATIONS: 0x8001,
  STREAM_COPY_OPERATIONS: 0x9101,
  HELD_DATA: 0xc001,
} as const;

interface TpcBase {
  /** DESCRIPTOR TYPE (bytes 0-1). */
  descriptorType: number;
  name: string;
  /** DESCRIPTOR LENGTH (bytes 2-3, n-3; includes any padding to a multiple of 4). */
  descriptorLength: number;
  /** The whole descriptor (a view). */
  raw: Buffer;
}

export interface TpcBlockDeviceRodLimits extends TpcBase {
  kind: 'block-device-rod-limits';
  maximumRangeDescriptors: number;
  /** Seconds; 0 = not reported, 0xFFFFFFFF = no maximum. */
  maximumInactivityTimeout: number;
  defaultInactivityTimeout: number;
  /** Blocks; 0 = not reported. */
  maximumTokenTransferSize: bigint;
  optimalTransferCount: bigint;
}

export interface TpcSupportedCommand {
  opcode: number;
  opcodeName: string;
  serviceActions: number[];
  serviceActionNames: string[];
}
export interface TpcSupportedCommands extends TpcBase {
  kind: 'supported-commands';
  commands: TpcSupportedCommand[];
}

export interface TpcParameterData extends TpcBase {
  kind: 'parameter-data';
  maximumCscdDescriptorCount: number;
  maximumSegmentDescriptorCount: number;
  maximumDescriptorListLength: number;
  /** Bytes 16-19 (ref 8.1: sg3_utils' offset 17 is wrong). */
  maximumInlineDataLength: number;
}

export interface TpcSupportedDescriptors extends TpcBase {
  kind: 'supported-descriptors';
  descriptorCodes: number[];
}

export interface TpcSupportedCscdIds extends TpcBase {
  kind: 'supported-cscd-ids';
  cscdIds: number[];
}

export interface TpcCopyGroupIdentifier extends TpcBase {
  kind: 'copy-group-identifier';
  /** The designator after the length byte (a view); layout known from sg3_utils only. */
  identifier: Buffer;
  /** Formatted UUID when it is an 18-byte locally assigned UUID designator. */
  uuid?: string;
}

export interface RodDeviceTypeFeatures {
  /** Byte 0 bits 7-5. */
  format: number;
  /** Byte 0 bits 4-0: 0 block, 1 stream, 3 copy manager. */
  peripheralDeviceType: number;
  descriptorLength: number;
  /** Block devices (PDT 0). */
  optimalBlockRodLengthGranularity?: number;
  maximumBytesInBlockRod?: bigint;
  optimalBytesInBlockRodTransfer?: bigint;
  optimalBytesToTokenPerSegment?: bigint;
  optimalBytesFromTokenPerSegment?: bigint;
  /** Stream (PDT 1) and copy manager (PDT 3) variants. */
  maximumBytes?: bigint;
  optimalBytes?: bigint;
  raw: Buffer;
}

export interface TpcRodTokenFeatures extends TpcBase {
  kind: 'rod-token-features';
  remoteTokens: number;
  minimumTokenLifetime: number;
  maximumTokenLifetime: number;
  maximumTokenInactivityTimeout: number;
  deviceTypeFeatures: RodDeviceTypeFeatures[];
}

export interface RodTypeDescriptor {
  rodType: number;
  rodTypeName: string;
  ecpyInt: boolean;
  /** TOKEN_IN (byte 4 bit 1): the ROD type can be used with WRITE USING TOKEN. */
  tokenIn: boolean;
  /** TOKEN_OUT (byte 4 bit 0; sg3_utils' JSON uses the wrong mask, ref 8.14). */
  tokenOut: boolean;
  preferenceIndicator: number;
}
export interface TpcSupportedRodTypes extends TpcBase {
  kind: 'supported-rod-types';
  rodTypes: RodTypeDescriptor[];
}

export interface TpcGeneralCopyOperations extends TpcBase {
  kind: 'general-copy-operations';
  totalConcurrentCopies: number;
  maximumIdentifiedConcurrentCopies: number;
  maximumSegmentLength: number;
  /** log2 of bytes (ref 8.2). */
  dataSegmentGranularity: number;
  inlineDataGranularity: number;
}

export interface TpcStreamCopyOperations extends TpcBase {
  kind: 'stream-copy-operations';
  maximumStreamDeviceTransferSize: number;
}

export interface TpcHeldData extends TpcBase {
  kind: 'held-data';
  heldDataLimit: number;
  heldDataGranularity: number;
}

export interface TpcUnknownDescriptor extends TpcBase {
  kind: 'unknown';
}

export type ThirdPartyCopyDescriptor =
  | TpcBlockDeviceRodLimits
  | TpcSupportedCommands
  | TpcParameterData
  | TpcSupportedDescriptors
  | TpcSupportedCscdIds
  | TpcCopyGroupIdentifier
  | TpcRodTokenFeatures
  | TpcSupportedRodTypes
  | TpcGeneralCopyOperations
  | TpcStreamCopyOperations
  | TpcHeldData
  | TpcUnknownDescriptor;

export interface VpdThirdPartyCopy extends VpdHeader {
  descriptors: ThirdPartyCopyDescriptor[];
}

const TPC_NAMES = new Map<number, string>([
  [0x0000, 'block device ROD token limits'],
  [0x0001, 'supported commands'],
  [0x0004, 'parameter data'],
  [0x0008, 'supported descriptors'],
  [0x000c, 'supported CSCD descriptor IDs'],
  [0x000d, 'copy group identifier'],
  [0x0106, 'ROD token features'],
  [0x0108, 'supported ROD token and ROD types'],
  [0x8001, 'general copy operations'],
  [0x9101, 'stream copy operations'],
  [0xc001, 'held data'],
]);

export function thirdPartyCopyDescriptorName(type: number): string {
  const n = TPC_NAMES.get(type);
  if (n) return n;
  if (type >= 0xe000 && type <= 0xefff) return `restricted (0x${type.toString(16).padStart(4, '0')})`;
  return `unknown (0x${type.toString(16).padStart(4, '0')})`;
}

/** Decode page 0x8F (ref 3.6). Unknown descriptor types are kept raw. */
export function decodeVpdThirdPartyCopy(buf: Buffer): VpdThirdPartyCopy {
  const { h, r, claimedEnd } = openVpd(buf, 0x8f);
  const descriptors: ThirdPartyCopyDescriptor[] = [];
  const cut = walkDescriptors(
    r,
    {
      start: 4,
      claimedEnd,
      headerLen: 4,
      // The length counts any padding to a multiple of 4 (FreeBSD pads inside the length).
      length: (off) => r.u16(off + 2, 'DESCRIPTOR LENGTH'),
      headerPastEnd: (off) => r.fail('third-party copy descriptor header', off, `${claimedEnd - off} stray bytes at the end of the page`),
      bodyPastEnd: (off, len) => r.fail('DESCRIPTOR LENGTH', off + 2, `descriptor of ${4 + len} bytes runs past the page (page length ${h.pageLength})`),
    },
    (off, total) => {
      const type = r.u16(off, 'DESCRIPTOR TYPE');
      descriptors.push(decodeTpcDescriptor(r.sub(off, total, `VPD 0x8F descriptor 0x${type.toString(16).padStart(4, '0')}`)));
    },
  );
  return { ...h, truncated: h.truncated || cut, descriptors };
}

function decodeTpcDescriptor(d: ByteReader): ThirdPartyCopyDescriptor {
  const descriptorType = d.u16(0, 'DESCRIPTOR TYPE');
  const descriptorLength = d.u16(2, 'DESCRIPTOR LENGTH');
  const base: TpcBase = { descriptorType, name: thirdPartyCopyDescriptorName(descriptorType), descriptorLength, raw: d.buf };
  // Fixed-layout descriptors must be long enough for their fields.
  const needLen = (total: number): void => {
    if (d.length < total) d.fail('DESCRIPTOR LENGTH', 2, `descriptor length 0x${descriptorLength.toString(16)} is too short for a ${base.name} descriptor (needs ${total - 4})`);
  };
  switch (descriptorType) {
    case TPC_DESCRIPTOR.BLOCK_DEVICE_ROD_LIMITS:
      needLen(36);
      return {
        ...base,
        kind: 'block-device-rod-limits',
        maximumRangeDescriptors: d.u16(10, 'MAXIMUM RANGE DESCRIPTORS'),
        maximumInactivityTimeout: d.u32(12, 'MAXIMUM INACTIVITY TIMEOUT'),
        defaultInactivityTimeout: d.u32(16, 'DEFAULT INACTIVITY TIMEOUT'),
        maximumTokenTransferSize: d.u64(20, 'MAXIMUM TOKEN TRANSFER SIZE'),
        optimalTransferCount: d.u64(28, 'OPTIMAL TRANSFER COUNT'),
      };
    case TPC_DESCRIPTOR.SUPPORTED_COMMANDS: {
      needLen(5);
      const listLen = d.u8(4, 'COMMANDS SUPPORTED LIST LENGTH');
      if (5 + listLen > d.length) d.fail('COMMANDS SUPPORTED LIST LENGTH', 4, `list of ${listLen} bytes runs past the descriptor`);
      const commands: TpcSupportedCommand[] = [];
      // The list lies inside d (checked above): the walk is never cut short.
      walkDescriptors(
        d,
        {
          start: 5,
          claimedEnd: 5 + listLen,
          headerLen: 2,
          length: (p) => d.u8(p + 1, 'SERVICE ACTION LIST LENGTH'),
          headerPastEnd: (p) => d.fail('supported command', p, 'command entry header crosses the end of the list'),
          bodyPastEnd: (p, saLen) => d.fail('SERVICE ACTION LIST LENGTH', p + 1, `${saLen} service actions run past the list`),
        },
        (p, total) => {
          const opcode = d.u8(p, 'OPERATION CODE');
          const serviceActions = [...d.slice(p + 2, total - 2, 'SUPPORTED SERVICE ACTIONS')];
          commands.push({ opcode, opcodeName: opcodeName(opcode), serviceActions, serviceActionNames: serviceActions.map((sa) => serviceActionName(opcode, sa)) });
        },
      );
      return { ...base, kind: 'supported-commands', commands };
    }
    case TPC_DESCRIPTOR.PARAMETER_DATA:
      needLen(20);
      return {
        ...base,
        kind: 'parameter-data',
        maximumCscdDescriptorCount: d.u16(8, 'MAXIMUM CSCD DESCRIPTOR COUNT'),
        maximumSegmentDescriptorCount: d.u16(10, 'MAXIMUM SEGMENT DESCRIPTOR COUNT'),
        maximumDescriptorListLength: d.u32(12, 'MAXIMUM DESCRIPTOR LIST LENGTH'),
        maximumInlineDataLength: d.u32(16, 'MAXIMUM INLINE DATA LENGTH'),
      };
    case TPC_DESCRIPTOR.SUPPORTED_DESCRIPTORS: {
      needLen(5);
      const n = d.u8(4, 'SUPPORTED DESCRIPTOR LIST LENGTH');
      if (5 + n > d.length) d.fail('SUPPORTED DESCRIPTOR LIST LENGTH', 4, `list of ${n} bytes runs past the descriptor`);
      return { ...base, kind: 'supported-descriptors', descriptorCodes: [...d.slice(5, n, 'SUPPORTED DESCRIPTOR CODES')] };
    }
    case TPC_DESCRIPTOR.SUPPORTED_CSCD_IDS: {
      needLen(6);
      const n = d.u16(4, 'SUPPORTED CSCD DESCRIPTOR IDS LIST LENGTH');
      if (n % 2 !== 0) d.fail('SUPPORTED CSCD DESCRIPTOR IDS LIST LENGTH', 4, `odd list length ${n} for 2-byte IDs`);
      if (6 + n > d.length) d.fail('SUPPORTED CSCD DESCRIPTOR IDS LIST LENGTH', 4, `list of ${n} bytes runs past the descriptor`);
      const cscdIds: number[] = [];
      for (let p = 6; p < 6 + n; p += 2) cscdIds.push(d.u16(p, 'CSCD DESCRIPTOR ID'));
      return { ...base, kind: 'supported-cscd-ids', cscdIds };
    }
    case TPC_DESCRIPTOR.COPY_GROUP_IDENTIFIER: {
      needLen(5);
      const n = d.u8(4, 'COPY GROUP IDENTIFIER LENGTH');
      if (5 + n > d.length) d.fail('COPY GROUP IDENTIFIER LENGTH', 4, `identifier of ${n} bytes runs past the descriptor`);
      const identifier = d.slice(5, n, 'COPY GROUP IDENTIFIER');
      const out: TpcCopyGroupIdentifier = { ...base, kind: 'copy-group-identifier', identifier };
      const body = decodeDesignatorBody(DESIGNATOR_TYPE.UUID, 1, d.sub(5, n, 'copy group identifier'));
      if (body.kind === 'uuid') out.uuid = body.uuid;
      return out;
    }
    case TPC_DESCRIPTOR.ROD_TOKEN_FEATURES: {
      needLen(48);
      const featLen = d.u16(46, 'ROD DEVICE TYPE SPECIFIC FEATURES DESCRIPTORS LENGTH');
      if (48 + featLen > d.length) d.fail('ROD DEVICE TYPE SPECIFIC FEATURES DESCRIPTORS LENGTH', 46, `${featLen} bytes of features run past the descriptor`);
      const deviceTypeFeatures: RodDeviceTypeFeatures[] = [];
      // The list lies inside d (checked above): the walk is never cut short.
      walkDescriptors(
        d,
        {
          start: 48,
          claimedEnd: 48 + featLen,
          headerLen: 4,
          length: (p) => d.u16(p + 2, 'features DESCRIPTOR LENGTH'),
          headerPastEnd: (p) => d.fail('ROD device type specific features descriptor', p, 'header crosses the end of the list'),
          bodyPastEnd: (p, fLen) => d.fail('features DESCRIPTOR LENGTH', p + 2, `features descriptor of ${4 + fLen} bytes runs past the list`),
        },
        (p, total) => deviceTypeFeatures.push(decodeRodFeatures(d.sub(p, total, 'ROD device type specific features descriptor'))),
      );
      return {
        ...base,
        kind: 'rod-token-features',
        remoteTokens: d.u8(4, 'REMOTE TOKENS') & 0x0f,
        minimumTokenLifetime: d.u32(16, 'MINIMUM TOKEN LIFETIME'),
        maximumTokenLifetime: d.u32(20, 'MAXIMUM TOKEN LIFETIME'),
        maximumTokenInactivityTimeout: d.u32(24, 'MAXIMUM TOKEN INACTIVITY TIMEOUT'),
        deviceTypeFeatures,
      };
    }
    case TPC_DESCRIPTOR.SUPPORTED_ROD_TYPES: {
      needLen(8);
      const n = d.u16(6, 'ROD TYPE DESCRIPTORS LENGTH');
      if (n % 64 !== 0) d.fail('ROD TYPE DESCRIPTORS LENGTH', 6, `${n} is not a multiple of the 64-byte ROD type descriptor`);
      if (8 + n > d.length) d.fail('ROD TYPE DESCRIPTORS LENGTH', 6, `${n} bytes of ROD type descriptors run past the descriptor`);
      const rodTypes: RodTypeDescriptor[] = [];
      for (let p = 8; p < 8 + n; p += 64) {
        const rodType = d.u32(p, 'ROD TYPE');
        const flags = d.u8(p + 4, 'ECPY_INT/TOKEN_IN/TOKEN_OUT');
        rodTypes.push({
          rodType,
          rodTypeName: rodTypeName(rodType),
          ecpyInt: (flags & 0x80) !== 0,
          tokenIn: (flags & 0x02) !== 0,
          tokenOut: (flags & 0x01) !== 0,
          preferenceIndicator: d.u16(p + 6, 'PREFERENCE INDICATOR'),
        });
      }
      return { ...base, kind: 'supported-rod-types', rodTypes };
    }
    case TPC_DESCRIPTOR.GENERAL_COPY_OPERATIONS:
      needLen(18);
      return {
        ...base,
        kind: 'general-copy-operations',
        totalConcurrentCopies: d.u32(4, 'TOTAL CONCURRENT COPIES'),
        maximumIdentifiedConcurrentCopies: d.u32(8, 'MAXIMUM IDENTIFIED CONCURRENT COPIES'),
        maximumSegmentLength: d.u32(12, 'MAXIMUM SEGMENT LENGTH'),
        dataSegmentGranularity: d.u8(16, 'DATA SEGMENT GRANULARITY'),
        inlineDataGranularity: d.u8(17, 'INLINE DATA GRANULARITY'),
      };
    case TPC_DESCRIPTOR.STREAM_COPY_OPERATIONS:
      needLen(8);
      return { ...base, kind: 'stream-copy-operations', maximumStreamDeviceTransferSize: d.u32(4, 'MAXIMUM STREAM DEVICE TRANSFER SIZE') };
    case TPC_DESCRIPTOR.HELD_DATA:
      needLen(9);
      return { ...base, kind: 'held-data', heldDataLimit: d.u32(4, 'HELD DATA LIMIT'), heldDataGranularity: d.u8(8, 'HELD DATA GRANULARITY') };
    default:
      return { ...base, kind: 'unknown' };
  }
}

function decodeRodFeatures(f: ByteReader): RodDeviceTypeFeatures {
  const b0 = f.u8(0, 'FORMAT/PERIPHERAL DEVICE TYPE');
  const out: RodDeviceTypeFeatures = { format: b0 >> 5, peripheralDeviceType: b0 & 0x1f, descriptorLength: f.u16(2, 'DESCRIPTOR LENGTH'), raw: f.buf };
  if (out.peripheralDeviceType === 0x00) {
    if (f.has(6, 2)) out.optimalBlockRodLengthGranularity = f.u16(6, 'OPTIMAL BLOCK ROD LENGTH GRANULARITY');
    if (f.has(8, 8)) out.maximumBytesInBlockRod = f.u64(8, 'MAXIMUM BYTES IN BLOCK ROD');
    if (f.has(16, 8)) out.optimalBytesInBlockRodTransfer = f.u64(16, 'OPTIMAL BYTES IN BLOCK ROD TRANSFER');
    if (f.has(24, 8)) out.optimalBytesToTokenPerSegment = f.u64(24, 'OPTIMAL BYTES TO TOKEN PER SEGMENT');
    if (f.has(32, 8)) out.optimalBytesFromTokenPerSegment = f.u64(32, 'OPTIMAL BYTES FROM TOKEN PER SEGMENT');
  } else if (out.peripheralDeviceType === 0x01 || out.peripheralDeviceType === 0x03) {
    if (f.has(8, 8)) out.maximumBytes = f.u64(8, 'MAXIMUM BYTES');
    if (f.has(16, 8)) out.optimalBytes = f.u64(16, 'OPTIMAL BYTES');
  }
  return out;
}

/** Convenience: the first 0x8F descriptor of a kind. */
export function findTpcDescriptor<K extends ThirdPartyCopyDescriptor['kind']>(
  page: VpdThirdPartyCopy,
  kind: K,
): Extract<ThirdPartyCopyDescriptor, { kind: K }> | undefined {
  return page.descriptors.find((d) => d.kind === kind) as Extract<ThirdPartyCopyDescriptor, { kind: K }> | undefined;
}
