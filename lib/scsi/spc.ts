// SPC reply decoders: standard INQUIRY (ref 3.2), VPD pages 0x00, 0x80, 0x83, 0xB0, 0xB2, 0x8F
// (ref 3.3-3.6) and REPORT LUNS (ref 4.5).
//
// Every VPD decoder checks the page code, clamps to PAGE LENGTH (bytes 2-3) and the buffer,
// reports `truncated` when the buffer ended first, decodes only whole descriptors, and throws
// ParseError when the 4-byte header is missing or a descriptor claims more bytes than its page.

import { ByteReader, bufferToHex, hex2, walkDescriptors } from './bytes';

// ---------------------------------------------------------------------------------------------
// Shared names

const PDT_NAMES: readonly string[] = [
  'direct access block device',
  'sequential access device',
  'printer',
  'processor',
  'write once',
  'CD/DVD',
  'scanner',
  'optical memory',
  'medium changer',
  'communications',
  'obsolete (0x0a)',
  'obsolete (0x0b)',
  'storage array controller',
  'enclosure services',
  'simplified direct access',
  'optical card reader/writer',
  'bridge controller',
  'object-based storage',
  'automation/drive interface',
  'security manager',
  'host managed zoned block device',
];

/** Name of a PERIPHERAL DEVICE TYPE. */
export function peripheralDeviceTypeName(pdt: number): string {
  if (pdt === 0x1e) return 'well known logical unit';
  if (pdt === 0x1f) return 'unknown or no device type';
  return PDT_NAMES[pdt] ?? `reserved (0x${hex2(pdt)})`;
}

// ---------------------------------------------------------------------------------------------
// Standard INQUIRY (ref 3.2)

export interface StandardInquiry {
  peripheralQualifier: number;
  peripheralDeviceType: number;
  peripheralDeviceTypeName: string;
  rmb: boolean;
  version: number;
  normaca: boolean;
  hisup: boolean;
  responseDataFormat: number;
  /** ADDITIONAL LENGTH (n-4). */
  additionalLength: number;
  sccs: boolean;
  acc: boolean;
  tpgs: number;
  /** 3PC: the LU supports third-party copy (byte 5 bit 3). */
  threePC: boolean;
  protect: boolean;
  multip: boolean;
  cmdque: boolean;
  /** T10 VENDOR IDENTIFICATION, trailing spaces removed ('' when the reply stopped before it). */
  vendor: string;
  product: string;
  revision: string;
  /** Non-zero VERSION DESCRIPTORS (bytes 58-73) that were returned. */
  versionDescriptors: number[];
  /** The buffer ended before 5 + ADDITIONAL LENGTH. */
  truncated: boolean;
}

/** Bytes 0-7 carry every flag a copy engine needs (3PC is byte 5); less is not usable. */
const INQUIRY_HEADER = 8;

/** Decode standard INQUIRY data (ref 3.2). Needs bytes 0-7; the rest is decoded if present. */
export function decodeStandardInquiry(buf: Buffer): StandardInquiry {
  const whole = new ByteReader(buf, 'standard INQUIRY data');
  whole.need(0, 5, 'INQUIRY header (bytes 0-4)');
  const additionalLength = whole.u8(4, 'ADDITIONAL LENGTH');
  const clamp = whole.clampLength(5, additionalLength);
  if (clamp.claimedEnd < INQUIRY_HEADER) whole.fail('ADDITIONAL LENGTH', 4, `additional length ${additionalLength} leaves out bytes 5-7`);
  whole.need(0, INQUIRY_HEADER, 'INQUIRY flags (bytes 5-7)');
  const r = whole.limit(clamp.end);
  const b0 = r.u8(0, 'PERIPHERAL QUALIFIER/DEVICE TYPE');
  const b3 = r.u8(3, 'NORMACA/HISUP/RESPONSE DATA FORMAT');
  const b5 = r.u8(5, 'SCCS/ACC/TPGS/3PC/PROTECT');
  // Text fields: take what is there, even a partial field (a 20-byte reply still names the vendor).
  const text = (off: number, len: number, field: string): string => (r.length > off ? r.ascii(off, Math.min(len, r.length - off), field) : '');
  const out: StandardInquiry = {
    peripheralQualifier: b0 >> 5,
    peripheralDeviceType: b0 & 0x1f,
    peripheralDeviceTypeName: peripheralDeviceTypeName(b0 & 0x1f),
    rmb: r.bit(1, 7, 'RMB'),
    version: r.u8(2, 'VERSION'),
    normaca: (b3 & 0x20) !== 0,
    hisup: (b3 & 0x10) !== 0,
    responseDataFormat: b3 & 0x0f,
    additionalLength,
    sccs: (b5 & 0x80) !== 0,
    acc: (b5 & 0x40) !== 0,
    tpgs: (b5 >> 4) & 0x03,
    threePC: (b5 & 0x08) !== 0,
    protect: (b5 & 0x01) !== 0,
    multip: r.bit(6, 4, 'MULTIP'),
    cmdque: r.bit(7, 1, 'CMDQUE'),
    vendor: text(8, 8, 'T10 VENDOR IDENTIFICATION'),
    product: text(16, 16, 'PRODUCT IDENTIFICATION'),
    revision: text(32, 4, 'PRODUCT REVISION LEVEL'),
    versionDescriptors: [],
    truncated: clamp.truncated,
  };
  // Text fields: take what is there, even a partial field (a 20-byte reply still names the vendor).
  for (let off = 58; off <= 72 && r.has(off, 2); off += 2) {
    const v = r.u16(off, 'VERSION DESCRIPTOR');
    if (v !== 0) out.versionDescriptors.push(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// VPD header (ref 3.3)

export interface VpdHeader {
  peripheralQualifier: number;
  peripheralDeviceType: number;
  pageCode: number;
  /** PAGE LENGTH (n-3). */
  pageLength: number;
  /** Bytes of the page that are both claimed and present: min(4 + page length, buffer). */
  available: number;
  truncated: boolean;
}

/** Decode the 4-byte VPD page header (ref 3.3). */
export function decodeVpdHeader(buf: Buffer): VpdHeader {
  const r = new ByteReader(buf, 'VPD page header');
  r.need(0, 4, 'VPD header (bytes 0-3)');
  const b0 = r.u8(0, 'PERIPHERAL QUALIFIER/DEVICE TYPE');
  const pageLength = r.u16(2, 'PAGE LENGTH');
  const clamp = r.clampLength(4, pageLength);
  return {
    peripheralQualifier: b0 >> 5,
    peripheralDeviceType: b0 & 0x1f,
    pageCode: r.u8(1, 'PAGE CODE'),
    pageLength,
    available: clamp.end,
    truncated: clamp.truncated,
  };
}

/** Header + a reader limited to the trusted part of the page; checks the page code. */
export function openVpd(buf: Buffer, page: number): { h: VpdHeader; r: ByteReader; claimedEnd: number } {
  const structure = `VPD page 0x${hex2(page)}`;
  const whole = new ByteReader(buf, structure);
  whole.need(0, 4, 'VPD header (bytes 0-3)');
  const h = decodeVpdHeader(buf);
  if (h.pageCode !== page) whole.fail('PAGE CODE', 1, `page code 0x${hex2(h.pageCode)} where 0x${hex2(page)} was expected`);
  return { h, r: whole.limit(h.available), claimedEnd: 4 + h.pageLength };
}

// ---------------------------------------------------------------------------------------------
// Page 0x00 Supported VPD pages (ref 3.3)

export interface VpdSupportedPages extends VpdHeader {
  pages: number[];
}

export function decodeVpdSupportedPages(buf: Buffer): VpdSupportedPages {
  const { h, r } = openVpd(buf, 0x00);
  const pages: number[] = [];
  for (let off = 4; off < r.length; off++) pages.push(r.u8(off, 'supported page code'));
  return { ...h, pages };
}

// ---------------------------------------------------------------------------------------------
// Page 0x80 Unit serial number

export interface VpdUnitSerial extends VpdHeader {
  /** PRODUCT SERIAL NUMBER with leading/trailing spaces and NULs removed. */
  serial: string;
  /** The serial number bytes as returned (a view). */
  raw: Buffer;
}

export function decodeVpdUnitSerial(buf: Buffer): VpdUnitSerial {
  const { h, r } = openVpd(buf, 0x80);
  const raw = r.slice(4, r.length - 4, 'PRODUCT SERIAL NUMBER');
  // Serial numbers are often right-aligned with leading spaces (SPC allows either side).
  const serial = raw.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  return { ...h, serial, raw };
}

// ---------------------------------------------------------------------------------------------
// Page 0x83 Device identification (ref 3.4)

const CODE_SET_NAMES = ['reserved (0)', 'binary', 'ASCII', 'UTF-8'];
const ASSOCIATION_NAMES = ['addressed logical unit', 'target port', 'target device', 'reserved (3)'];
const DESIGNATOR_TYPE_NAMES = [
  'vendor specific',
  'T10 vendor ID',
  'EUI-64 based',
  'NAA',
  'relative target port',
  'target port group',
  'logical unit group',
  'MD5 logical unit',
  'SCSI name string',
  'protocol specific port',
  'UUID',
];
const PROTOCOL_NAMES: Record<number, string> = {
  0x0: 'Fibre Channel (FCP)',
  0x1: 'parallel SCSI (SPI)',
  0x2: 'SSA',
  0x3: 'IEEE 1394 (SBP)',
  0x4: 'SCSI RDMA (SRP)',
  0x5: 'iSCSI',
  0x6: 'SAS',
  0x7: 'ADT',
  0x8: 'ATA/ATAPI',
  0x9: 'USB attached SCSI (UAS)',
  0xa: 'SCSI over PCIe (SOP)',
  0xb: 'PCIe',
  0xf: 'no specific protocol',
};

export const DESIGNATOR_TYPE = {
  VENDOR_SPECIFIC: 0x0,
  T10_VENDOR_ID: 0x1,
  EUI64: 0x2,
  NAA: 0x3,
  RELATIVE_TARGET_PORT: 0x4,
  TARGET_PORT_GROUP: 0x5,
  LOGICAL_UNIT_GROUP: 0x6,
  MD5_LOGICAL_UNIT: 0x7,
  SCSI_NAME_STRING: 0x8,
  PROTOCOL_SPECIFIC_PORT: 0x9,
  UUID: 0xa,
} as const;

export function designatorTypeName(t: number): string {
  return DESIGNATOR_TYPE_NAMES[t] ?? `reserved (0x${t.toString(16)})`;
}

/** Designator contents decoded per DESIGNATOR TYPE (ref 3.4). */
export type DecodedDesignator =
  | { kind: 't10-vendor-id'; vendor: string; vendorSpecific: string }
  | {
      kind: 'eui-64';
      /** 8: EUI-64; 12: EUI-64 + 4-byte directory id; 16: 8-byte extension + EUI-64. */
      length: 8 | 12 | 16;
      eui64: string;
      /** IEEE company id (first 3 bytes of the EUI-64). */
      companyId: number;
      identifierExtension?: string;
      directoryId?: string;
      hex: string;
    }
  | {
      kind: 'naa';
      /** NAA field (high nibble of byte 0): 2, 3, 5 or 6 decoded; others kept as hex. */
      naa: number;
      hex: string;
      companyId?: number;
      /** NAA 2: 12-bit vendor id A; NAA 5/6: 36-bit vendor specific id (hex). */
      vendorSpecificId?: string;
      /** NAA 6: the 8-byte vendor specific identifier extension (hex). */
      vendorSpecificIdExtension?: string;
      /** NAA 2: vendor id B (hex). */
      vendorSpecificIdB?: string;
      /** NAA 3: the 60-bit locally assigned value (hex). */
      locallyAssigned?: string;
      /** Length not what this NAA format requires: hex only. */
      malformed?: string;
    }
  | { kind: 'relative-target-port'; relativeTargetPort: number }
  | { kind: 'target-port-group'; targetPortGroup: number }
  | { kind: 'logical-unit-group'; logicalUnitGroup: number }
  | { kind: 'md5'; hex: string }
  | { kind: 'scsi-name-string'; name: string }
  | { kind: 'uuid'; uuid: string }
  | { kind: 'hex'; hex: string; malformed?: string };

export interface DesignationDescriptor {
  /** PROTOCOL IDENTIFIER; only defined when PIV is set (ref 3.4). */
  protocolIdentifier?: number;
  protocolIdentifierName?: string;
  codeSet: number;
  codeSetName: string;
  piv: boolean;
  association: number;
  associationName: string;
  designatorType: number;
  designatorTypeName: string;
  designatorLength: number;
  /** The designator bytes (a view). */
  designator: Buffer;
  /** Header + designator, as needed to build an 0xE4 CSCD descriptor (a view). */
  raw: Buffer;
  decoded: DecodedDesignator;
}

export function decodeDesignatorBody(type: number, codeSet: number, d: ByteReader): DecodedDesignator {
  const n = d.length;
  const hex = bufferToHex(d.buf);
  switch (type) {
    case DESIGNATOR_TYPE.T10_VENDOR_ID:
      if (n < 8) return { kind: 'hex', hex, malformed: 'T10 vendor ID shorter than its 8-byte vendor field' };
      return { kind: 't10-vendor-id', vendor: d.ascii(0, 8, 'T10 VENDOR IDENTIFICATION'), vendorSpecific: d.ascii(8, n - 8, 'vendor specific identifier') };
    case DESIGNATOR_TYPE.EUI64: {
      if (n === 8) return { kind: 'eui-64', length: 8, eui64: hex, companyId: d.u24(0, 'IEEE COMPANY ID'), hex };
      if (n === 12) {
        return { kind: 'eui-64', length: 12, eui64: d.hex(0, 8, 'EUI-64'), companyId: d.u24(0, 'IEEE COMPANY ID'), directoryId: d.hex(8, 4, 'DIRECTORY ID'), hex };
      }
      if (n === 16) {
        return { kind: 'eui-64', length: 16, identifierExtension: d.hex(0, 8, 'IDENTIFIER EXTENSION'), eui64: d.hex(8, 8, 'EUI-64'), companyId: d.u24(8, 'IEEE COMPANY ID'), hex };
      }
      return { kind: 'hex', hex, malformed: `EUI-64 based designator of ${n} bytes (8, 12 or 16 expected)` };
    }
    case DESIGNATOR_TYPE.NAA:
      return decodeNaa(d, hex);
    case DESIGNATOR_TYPE.RELATIVE_TARGET_PORT:
      if (n !== 4) return { kind: 'hex', hex, malformed: `relative target port designator of ${n} bytes (4 expected)` };
      return { kind: 'relative-target-port', relativeTargetPort: d.u16(2, 'RELATIVE TARGET PORT IDENTIFIER') };
    case DESIGNATOR_TYPE.TARGET_PORT_GROUP:
      if (n !== 4) return { kind: 'hex', hex, malformed: `target port group designator of ${n} bytes (4 expected)` };
      return { kind: 'target-port-group', targetPortGroup: d.u16(2, 'TARGET PORT GROUP') };
    case DESIGNATOR_TYPE.LOGICAL_UNIT_GROUP:
      if (n !== 4) return { kind: 'hex', hex, malformed: `logical unit group designator of ${n} bytes (4 expected)` };
      return { kind: 'logical-unit-group', logicalUnitGroup: d.u16(2, 'LOGICAL UNIT GROUP') };
    case DESIGNATOR_TYPE.MD5_LOGICAL_UNIT:
      if (n !== 16) return { kind: 'hex', hex, malformed: `MD5 designator of ${n} bytes (16 expected)` };
      return { kind: 'md5', hex };
    case DESIGNATOR_TYPE.SCSI_NAME_STRING: {
      // UTF-8, NUL terminated and padded: stop at the first NUL.
      const nul = d.buf.indexOf(0);
      return { kind: 'scsi-name-string', name: d.buf.subarray(0, nul < 0 ? n : nul).toString('utf8') };
    }
    case DESIGNATOR_TYPE.UUID: {
      // Byte 0 high nibble 1 = locally assigned UUID, byte 1 reserved, bytes 2-17 the UUID.
      if (codeSet !== 1 || n !== 18 || d.u8(0, 'UUID type') >> 4 !== 1) return { kind: 'hex', hex, malformed: 'not an 18-byte locally assigned UUID' };
      const u = d.hex(2, 16, 'UUID');
      return { kind: 'uuid', uuid: `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}` };
    }
    default:
      return { kind: 'hex', hex };
  }
}

function decodeNaa(d: ByteReader, hex: string): DecodedDesignator {
  const n = d.length;
  if (n === 0) return { kind: 'hex', hex, malformed: 'empty NAA designator' };
  const naa = d.u8(0, 'NAA') >> 4;
  const want = naa === 6 ? 16 : naa === 2 || naa === 3 || naa === 5 ? 8 : undefined;
  if (want === undefined) return { kind: 'naa', naa, hex };
  if (n !== want) return { kind: 'naa', naa, hex, malformed: `NAA ${naa} designator of ${n} bytes (${want} expected)` };
  if (naa === 2) {
    // nibble + byte 1: vendor id A (12 bits); bytes 2-4 company id; bytes 5-7 vendor id B.
    const vendorA = ((d.u8(0, 'VENDOR SPECIFIC IDENTIFIER A') & 0x0f) << 8) | d.u8(1, 'VENDOR SPECIFIC IDENTIFIER A');
    return { kind: 'naa', naa, hex, vendorSpecificId: vendorA.toString(16).padStart(3, '0'), companyId: d.u24(2, 'IEEE COMPANY ID'), vendorSpecificIdB: d.hex(5, 3, 'VENDOR SPECIFIC IDENTIFIER B') };
  }
  if (naa === 3) return { kind: 'naa', naa, hex, locallyAssigned: hex.slice(1) };
  // NAA 5/6: 24-bit company id in the 6 nibbles after the NAA nibble, then 36 bits vendor id.
  const companyId = Number((d.u64(0, 'NAA 5/6 identifier') >> 36n) & 0xffffffn);
  const out: DecodedDesignator = { kind: 'naa', naa, hex, companyId, vendorSpecificId: hex.slice(7, 16) };
  if (naa === 6) out.vendorSpecificIdExtension = d.hex(8, 8, 'VENDOR SPECIFIC IDENTIFIER EXTENSION');
  return out;
}

/**
 * Decode one designation descriptor (ref 3.4) from a reader that starts at its header. Used by
 * page 0x83 and for the designators embedded in CSCD descriptors and ROD tokens.
 * Throws ParseError when the header is missing or the designator runs past the reader.
 */
export function decodeDesignationDescriptorAt(r: ByteReader, off: number): DesignationDescriptor {
  r.need(off, 4, 'designation descriptor header');
  const b0 = r.u8(off, 'PROTOCOL IDENTIFIER/CODE SET');
  const b1 = r.u8(off + 1, 'PIV/ASSOCIATION/DESIGNATOR TYPE');
  const len = r.u8(off + 3, 'DESIGNATOR LENGTH');
  if (!r.has(off + 4, len)) r.fail('DESIGNATOR', off + 4, `designator of ${len} bytes runs past the ${r.length - off - 4} bytes that remain`);
  const codeSet = b0 & 0x0f;
  const piv = (b1 & 0x80) !== 0;
  const association = (b1 >> 4) & 0x03;
  const designatorType = b1 & 0x0f;
  const body = r.sub(off + 4, len, 'designator');
  const out: DesignationDescriptor = {
    codeSet,
    codeSetName: CODE_SET_NAMES[codeSet] ?? `reserved (${codeSet})`,
    piv,
    association,
    associationName: ASSOCIATION_NAMES[association] as string,
    designatorType,
    designatorTypeName: designatorTypeName(designatorType),
    designatorLength: len,
    designator: body.buf,
    raw: r.slice(off, 4 + len, 'designation descriptor'),
    decoded: decodeDesignatorBody(designatorType, codeSet, body),
  };
  if (piv) {
    out.protocolIdentifier = b0 >> 4;
    out.protocolIdentifierName = PROTOCOL_NAMES[b0 >> 4] ?? `reserved (0x${(b0 >> 4).toString(16)})`;
  }
  return out;
}

/** Decode a buffer holding exactly one designation descriptor (header + designator). */
export function decodeDesignationDescriptor(buf: Buffer): DesignationDescriptor {
  return decodeDesignationDescriptorAt(new ByteReader(buf, 'designation descriptor'), 0);
}

export interface VpdDeviceIdentification extends VpdHeader {
  descriptors: DesignationDescriptor[];
}

/** Decode page 0x83 (ref 3.4): every designation descriptor, in page order. */
export function decodeVpdDeviceIdentification(buf: Buffer): VpdDeviceIdentification {
  const { h, r, claimedEnd } = openVpd(buf, 0x83);
  const descriptors: DesignationDescriptor[] = [];
  const cut = walkDescriptors(
    r,
    {
      start: 4,
      claimedEnd,
      headerLen: 4,
      length: (off) => r.u8(off + 3, 'DESIGNATOR LENGTH'),
      headerPastEnd: (off) => r.fail('designation descriptor header', off, `${claimedEnd - off} stray bytes at the end of the page`),
      bodyPastEnd: (off, len) => r.fail('DESIGNATOR LENGTH', off + 3, `designator of ${len} bytes runs past the page (page length ${h.pageLength})`),
    },
    (off) => descriptors.push(decodeDesignationDescriptorAt(r, off)),
  );
  return { ...h, truncated: h.truncated || cut, descriptors };
}

/**
 * Choose the designator to put in an 0xE4 CSCD descriptor (ref 3.4 table, 8.7; ours):
 * only LU association, at most 20 bytes; prefer a 16-byte NAA-6 (the only form LIO and
 * tcmu-runner accept), then any other NAA, then EUI-64, then T10 vendor ID, then vendor
 * specific. Page order breaks ties. Undefined when nothing qualifies.
 */
export function pickCopyDesignator(descs: readonly DesignationDescriptor[]): DesignationDescriptor | undefined {
  const rank = (d: DesignationDescriptor): number => {
    if (d.association !== 0 || d.designatorLength > 20 || d.designatorLength === 0) return -1;
    switch (d.designatorType) {
      case DESIGNATOR_TYPE.NAA:
        return d.decoded.kind === 'naa' && d.decoded.naa === 6 && d.designatorLength === 16 && d.decoded.malformed === undefined ? 5 : 4;
      case DESIGNATOR_TYPE.EUI64:
        return 3;
      case DESIGNATOR_TYPE.T10_VENDOR_ID:
        return 2;
      case DESIGNATOR_TYPE.VENDOR_SPECIFIC:
        return 1;
      default:
        return -1;
    }
  };
  let best: DesignationDescriptor | undefined;
  let bestRank = 0;
  for (const d of descs) {
    const k = rank(d);
    if (k > bestRank) {
      best = d;
      bestRank = k;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Page 0xB0 Block limits (ref 3.5)

export interface VpdBlockLimits extends VpdHeader {
  /** Fields are present only when the page length (and buffer) cover them: LIO's basic page
   * is 0x10 long and stops after MAXIMUM PREFETCH LENGTH. */
  wsnz?: boolean;
  maximumCompareAndWriteLength?: number;
  optimalTransferLengthGranularity?: number;
  maximumTransferLength?: number;
  optimalTransferLength?: number;
  maximumPrefetchLength?: number;
  maximumUnmapLbaCount?: number;
  maximumUnmapBlockDescriptorCount?: number;
  optimalUnmapGranularity?: number;
  ugavalid?: boolean;
  unmapGranularityAlignment?: number;
  maximumWriteSameLength?: bigint;
  maximumAtomicTransferLength?: number;
  atomicAlignment?: number;
  atomicTransferLengthGranularity?: number;
  maximumAtomicTransferLengthWithAtomicBoundary?: number;
  maximumAtomicBoundarySize?: number;
  /** sbc6r02 (sg3_utils only, ref 3.5); 0xFFFF = no limit. */
  maximumCoalescingCopyLbaRangeDescriptors?: number;
}

export function decodeVpdBlockLimits(buf: Buffer): VpdBlockLimits {
  const { h, r } = openVpd(buf, 0xb0);
  const out: VpdBlockLimits = { ...h };
  if (r.has(4)) out.wsnz = r.bit(4, 0, 'WSNZ');
  if (r.has(5)) out.maximumCompareAndWriteLength = r.u8(5, 'MAXIMUM COMPARE AND WRITE LENGTH');
  if (r.has(6, 2)) out.optimalTransferLengthGranularity = r.u16(6, 'OPTIMAL TRANSFER LENGTH GRANULARITY');
  if (r.has(8, 4)) out.maximumTransferLength = r.u32(8, 'MAXIMUM TRANSFER LENGTH');
  if (r.has(12, 4)) out.optimalTransferLength = r.u32(12, 'OPTIMAL TRANSFER LENGTH');
  if (r.has(16, 4)) out.maximumPrefetchLength = r.u32(16, 'MAXIMUM PREFETCH LENGTH');
  if (r.has(20, 4)) out.maximumUnmapLbaCount = r.u32(20, 'MAXIMUM UNMAP LBA COUNT');
  if (r.has(24, 4)) out.maximumUnmapBlockDescriptorCount = r.u32(24, 'MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT');
  if (r.has(28, 4)) out.optimalUnmapGranularity = r.u32(28, 'OPTIMAL UNMAP GRANULARITY');
  if (r.has(32, 4)) {
    const v = r.u32(32, 'UGAVALID/UNMAP GRANULARITY ALIGNMENT');
    out.ugavalid = v >>> 31 === 1;
    out.unmapGranularityAlignment = v & 0x7fffffff;
  }
  if (r.has(36, 8)) out.maximumWriteSameLength = r.u64(36, 'MAXIMUM WRITE SAME LENGTH');
  if (r.has(44, 4)) out.maximumAtomicTransferLength = r.u32(44, 'MAXIMUM ATOMIC TRANSFER LENGTH');
  if (r.has(48, 4)) out.atomicAlignment = r.u32(48, 'ATOMIC ALIGNMENT');
  if (r.has(52, 4)) out.atomicTransferLengthGranularity = r.u32(52, 'ATOMIC TRANSFER LENGTH GRANULARITY');
  if (r.has(56, 4)) out.maximumAtomicTransferLengthWithAtomicBoundary = r.u32(56, 'MAXIMUM ATOMIC TRANSFER LENGTH WITH ATOMIC BOUNDARY');
  if (r.has(60, 4)) out.maximumAtomicBoundarySize = r.u32(60, 'MAXIMUM ATOMIC BOUNDARY SIZE');
  if (r.has(64, 2)) out.maximumCoalescingCopyLbaRangeDescriptors = r.u16(64, 'MAXIMUM COALESCING COPY LBA RANGE DESCRIPTORS');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Page 0xB2 Logical block provisioning (ref 3.5)

export interface VpdLogicalBlockProvisioning extends VpdHeader {
  thresholdExponent?: number;
  /** UNMAP supported. */
  lbpu?: boolean;
  /** WRITE SAME(16) with UNMAP supported. */
  lbpws?: boolean;
  lbpws10?: boolean;
  /** The 3-bit LBPRZ field (bits 4-2); LIO/FreeBSD only use its low bit (0x04). */
  lbprzField?: number;
  /** Unmapped blocks read as zero (byte 5 bit 2, as LIO and FreeBSD set it). */
  lbprz?: boolean;
  ancSup?: boolean;
  /** DP: a provisioning group descriptor follows. */
  dp?: boolean;
  minimumPercentage?: number;
  /** 0 not reported / fully provisioned, 1 resource provisioned, 2 thin provisioned. */
  provisioningType?: number;
  thresholdPercentage?: number;
}

export function decodeVpdLogicalBlockProvisioning(buf: Buffer): VpdLogicalBlockProvisioning {
  const { h, r } = openVpd(buf, 0xb2);
  const out: VpdLogicalBlockProvisioning = { ...h };
  if (r.has(4)) out.thresholdExponent = r.u8(4, 'THRESHOLD EXPONENT');
  if (r.has(5)) {
    const b5 = r.u8(5, 'LBPU/LBPWS/LBPWS10/LBPRZ/ANC_SUP/DP');
    out.lbpu = (b5 & 0x80) !== 0;
    out.lbpws = (b5 & 0x40) !== 0;
    out.lbpws10 = (b5 & 0x20) !== 0;
    out.lbprzField = (b5 >> 2) & 0x07;
    out.lbprz = (b5 & 0x04) !== 0;
    out.ancSup = (b5 & 0x02) !== 0;
    out.dp = (b5 & 0x01) !== 0;
  }
  if (r.has(6)) {
    const b6 = r.u8(6, 'MINIMUM PERCENTAGE/PROVISIONING TYPE');
    out.minimumPercentage = b6 >> 3;
    out.provisioningType = b6 & 0x07;
  }
  if (r.has(7)) out.thresholdPercentage = r.u8(7, 'THRESHOLD PERCENTAGE');
  return out;
}

// ---------------------------------------------------------------------------------------------
// REPORT LUNS (ref 4.5)

export interface ReportedLun {
  /** The 8-byte LUN (a view). */
  raw: Buffer;
  hex: string;
  /** Byte 0 bits 7-6: 0 peripheral, 1 flat, 2 logical unit, 3 extended. */
  addressMethod: number;
  addressMethodName: string;
  /** Single-level peripheral (bus 0) or flat LUN as a number; undefined otherwise. */
  lun?: number;
}

export interface ReportLuns {
  /** LUN LIST LENGTH (bytes). */
  lunListLength: number;
  luns: ReportedLun[];
  truncated: boolean;
}

const ADDRESS_METHODS = ['peripheral device', 'flat space', 'logical unit', 'extended logical unit'];

export function decodeReportLuns(buf: Buffer): ReportLuns {
  const whole = new ByteReader(buf, 'REPORT LUNS data');
  whole.need(0, 8, 'REPORT LUNS header (bytes 0-7)');
  const lunListLength = whole.u32(0, 'LUN LIST LENGTH');
  if (lunListLength % 8 !== 0) whole.fail('LUN LIST LENGTH', 0, `${lunListLength} is not a multiple of 8`);
  const clamp = whole.clampLength(8, lunListLength);
  const r = whole.limit(clamp.end);
  const luns: ReportedLun[] = [];
  let truncated = clamp.truncated;
  for (let off = 8; off < clamp.claimedEnd; off += 8) {
    if (!r.has(off, 8)) {
      truncated = true;
      break;
    }
    const raw = r.slice(off, 8, 'LUN');
    const b0 = raw[0] as number;
    const method = b0 >> 6;
    const lun: ReportedLun = { raw, hex: bufferToHex(raw), addressMethod: method, addressMethodName: ADDRESS_METHODS[method] as string };
    const singleLevel = raw.readUInt32BE(4) === 0 && raw.readUInt16BE(2) === 0;
    if (singleLevel && method === 0 && (b0 & 0x3f) === 0) lun.lun = raw[1] as number;
    else if (singleLevel && method === 1) lun.lun = ((b0 & 0x3f) << 8) | (raw[1] as number);
    luns.push(lun);
  }
  return { lunListLength, luns, truncated };
}
