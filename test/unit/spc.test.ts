import { strict as assert } from 'node:assert';
import { hexToBuffer as h } from '../../lib/scsi/bytes';
import { ParseError } from '../../lib/scsi/bytes';
import {
  decodeDesignationDescriptor,
  decodeReportLuns,
  decodeStandardInquiry,
  decodeVpdBlockLimits,
  decodeVpdDeviceIdentification,
  decodeVpdHeader,
  decodeVpdLogicalBlockProvisioning,
  decodeVpdSupportedPages,
  decodeVpdUnitSerial,
  pickCopyDesignator,
  type DesignationDescriptor,
} from '../../lib/scsi/spc';
import { decodeVpdThirdPartyCopy, findTpcDescriptor } from '../../lib/scsi/tpc-vpd';

/** ASCII, space padded to `n` bytes (INQUIRY text fields, ref 3.2). */
function padAscii(s: string, n: number): Buffer {
  return Buffer.from(s.padEnd(n, ' ').slice(0, n), 'latin1');
}

/** Designation descriptor (ref 3.4): byte 0 = protocol<<4 | code set, byte 1 = PIV/assoc/type. */
export function desig(b0: number, b1: number, designator: Buffer): Buffer {
  return Buffer.concat([Buffer.from([b0, b1, 0, designator.length]), designator]);
}

/** A VPD page (ref 3.3): PQ/PDT 0, page code, PAGE LENGTH, body. */
export function vpd(page: number, body: Buffer): Buffer {
  const hdr = Buffer.from([0x00, page, 0, 0]);
  hdr.writeUInt16BE(body.length, 2);
  return Buffer.concat([hdr, body]);
}

/**
 * LIO/tcmu NAA-6 generation rule, written from ref 3.4 (not from the decoder): 0x6 | company id
 * nibbles, then the serial's hex digits one nibble at a time from byte 3's low nibble.
 */
function lioNaa6(companyId: number, serial: string): Buffer {
  const nibbles = [6, (companyId >> 20) & 0xf, (companyId >> 16) & 0xf, (companyId >> 12) & 0xf, (companyId >> 8) & 0xf, (companyId >> 4) & 0xf, companyId & 0xf];
  for (const c of serial) if (/[0-9a-f]/i.test(c) && nibbles.length < 32) nibbles.push(parseInt(c, 16));
  while (nibbles.length < 32) nibbles.push(0);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = ((nibbles[2 * i] as number) << 4) | (nibbles[2 * i + 1] as number);
  return out;
}

/** 0x0108 descriptor (ref 3.6): 64-byte ROD type descriptors [type, flags byte 4, preference]. */
function supportedRodTypes(...types: Array<[number, number, number]>): Buffer {
  const d = Buffer.alloc(8 + 64 * types.length);
  d.writeUInt16BE(0x0108, 0);
  d.writeUInt16BE(d.length - 4, 2);
  d.writeUInt16BE(64 * types.length, 6);
  types.forEach(([type, flags, pref], i) => {
    d.writeUInt32BE(type, 8 + 64 * i);
    d[8 + 64 * i + 4] = flags;
    d.writeUInt16BE(pref, 8 + 64 * i + 6);
  });
  return d;
}

function vpd0x8f(...descs: Buffer[]): Buffer {
  return vpd(0x8f, Buffer.concat(descs));
}

const LIO_SERIAL = 'd4e5f6a7-b8c9-4d0e-8f10-1a2b3c4d5e6f';
const IQN = 'iqn.2003-01.org.linux-iscsi.lab:t1';

/** SCSI name string designator: UTF-8, NUL terminated, padded to a multiple of 4 (ref 3.4). */
function nameString(s: string): Buffer {
  const n = Math.ceil((s.length + 1) / 4) * 4;
  const b = Buffer.alloc(n);
  b.write(s, 'utf8');
  return b;
}

export const SPC_VECTORS: Record<string, Buffer> = {
  // ref 3.2: LIO-like standard INQUIRY, 74 bytes: SPC-4 (version 6), HISUP, RDF 2, TPGS 1, 3PC,
  // MULTIP, CMDQUE, two version descriptors (values illustrative)
  lioInquiry: Buffer.concat([
    h('00 00 06 12 45 18 10 02'),
    padAscii('LIO-ORG', 8),
    padAscii('FILEIO', 16),
    padAscii('4.0', 4),
    Buffer.alloc(22),
    h('0460 04c0 0000 0000 0000 0000 0000 0000'),
  ]),
  // ref 5.13 / 3.2: tcmu-runner: byte 5 = 0x08 (3PC), VERSION 5, 36 bytes
  tcmuInquiry: Buffer.concat([h('00 00 05 02 1f 08 00 02'), padAscii('LIO-ORG', 8), padAscii('TCMU device', 16), padAscii('0002', 4)]),
  // ref 3.3: tcmu lists 00, 80, 83, B0, B1, B2 in page 0x00
  tcmuSupportedPages: h('00 00 00 06  00 80 83 b0 b1 b2'),
  // page 0x80 with a right-aligned serial
  unitSerial: vpd(0x80, Buffer.from(`  ${LIO_SERIAL}`, 'latin1')),
  // ref 3.4: LIO's page 0x83: NAA-6 from the serial (company id 0x001405), T10 vendor id,
  // relative target port, target port group, SCSI name string of the target port (iSCSI)
  lioDeviceId: vpd(
    0x83,
    Buffer.concat([
      desig(0x01, 0x03, h('60 01 40 5d 4e 5f 6a 7b 8c 94 d0 e8 f1 01 a2 b3')),
      desig(0x02, 0x01, Buffer.concat([padAscii('LIO-ORG', 8), Buffer.from(LIO_SERIAL, 'latin1')])),
      desig(0x51, 0x94, h('0000 0001')),
      desig(0x51, 0x95, h('0000 0000')),
      desig(0x53, 0x98, nameString(`${IQN},t,0x0001`)),
    ]),
  ),
  // ref 3.4: every other designator type and length decoded
  otherDesignators: vpd(
    0x83,
    Buffer.concat([
      desig(0x01, 0x02, h('0050c2 ff fe 123456')), // EUI-64, 8 bytes
      desig(0x01, 0x02, h('0050c2fffe123456 00000001')), // EUI-64 + directory id, 12 bytes
      desig(0x01, 0x02, h('1122334455667788 0050c2fffe123456')), // extension + EUI-64, 16 bytes
      desig(0x01, 0x03, h('2a bc 00a0b8 123456')), // NAA 2
      desig(0x01, 0x03, h('3f ed cb a9 87 65 43 21')), // NAA 3
      desig(0x01, 0x03, h('50 01 40 5a bc de f0 12')), // NAA 5
      desig(0x01, 0x06, h('0000 0007')), // logical unit group
      desig(0x01, 0x07, h('00112233445566778899aabbccddeeff')), // MD5
      desig(0x01, 0x0a, h('10 00 0123456789abcdef0123456789abcdef')), // UUID
      desig(0x01, 0x00, h('deadbeef')), // vendor specific
      desig(0x01, 0x03, h('60 01 40 5a bc de f0 12')), // NAA 6 of the wrong (8) length
    ]),
  ),
  // ref 3.5: LIO's basic 0xB0 page, length 0x10 (stops after MAXIMUM PREFETCH LENGTH)
  lioBlockLimitsShort: vpd(0xb0, h('00 01 0001 00002000 00002000 00000000')),
  // ref 3.5: full 0x3C page (thin provisioning), plus 64-65 in a 0x3E page (sbc6r02)
  blockLimitsFull: vpd(
    0xb0,
    h(`
      01 01 0008 00004000 00000800 00000000
      ffffffff 00000100 00000008 80000004
      0000000000010000 00000000 00000000 00000000 00000000 00000000
      ffff`),
  ),
  // ref 3.5: 0xB2 byte 5: LBPU | LBPWS | LBPWS10 | LBPRZ(0x04); byte 6 provisioning type 2 (thin)
  lbp: vpd(0xb2, h('00 e4 02 00')),
  // ref 3.6 + FreeBSD: 0000, 0001, 0004, 0008, 000C, 0106, 0108, 8001 (values FreeBSD uses where
  // the reference gives them: 64 ranges/CSCDs/segments, 600/60 s timeouts, 8192 list bytes)
  freebsdTpc: vpd0x8f(
    h(`
      0000 0020  000000000000 0040 00000258 0000003c 0000000000000000 0000000000000000
      0001 0010  0f 83 05 00 01 10 11 1c 84 06 00 04 05 03 07 08
      0004 001c  00000000 0040 0040 00002000 00000000 000000000000000000000000
      0008 0008  04 02 07 14 e4 000000
      000c 0004  0002 ffff
      0106 005c  00 0000000000000000000000 00000001 ffffffff 00000258 000000000000000000000000000000000000 0030
                 00 00 002c 0000 0000 0000000000000000 0000000000000000 ffffffffffffffff 0000000000100000 0000000000000000
    `),
    supportedRodTypes([0x00010000, 0x03, 0], [0xffff0001, 0x02, 0]),
    h('8001 0020  00000040 00000040 00100000 00 00 000000000000000000000000000000000000'),
  ),
  // ref 3.6: the LIO-proposed (LX8F) page: 0001 (83/00 + 84/03), 0004, 0008 (02 E4), 000C (none),
  // 8001 with 16 MiB / granularity 9; plus 9101, C001, 000D and an unknown type kept raw.
  // Parameter data puts 4096 at bytes 16-19 and 0xAB at 20 so reading offset 17 (ref 8.1) shows.
  lx8fTpc: vpd0x8f(
    h(`
      0001 0008  06 83 01 00 84 01 03 00
      0004 001c  00000000 0002 0001 00000400 00001000 ab0000000000000000000000
      0008 0004  02 02 e4 00
      000c 0004  0000 0000
      8001 0020  00000001 00000001 01000000 09 00 000000000000000000000000000000000000
      9101 0004  00100000
      c001 0008  00010000 09 000000
      000d 0014  12 10 00 0123456789abcdef0123456789abcdef 00
      1234 0004  deadbeef
    `),
    supportedRodTypes([0x00800000, 0x81, 5], [0x00010000, 0x01, 1]),
  ),
  // ref 4.5: REPORT LUNS: LUN 0, LUN 1 (peripheral), LUN 261 (flat), a well-known LUN (extended)
  reportLuns: h('00000020 00000000  0000000000000000 0001000000000000 4105000000000000 c101000000000000'),
};

describe('spc: standard INQUIRY (ref 3.2)', () => {
  it('LIO-like reply: every flag, 3PC, text fields trimmed, version descriptors', () => {
    const q = decodeStandardInquiry(SPC_VECTORS.lioInquiry!);
    assert.equal(q.peripheralQualifier, 0);
    assert.equal(q.peripheralDeviceType, 0);
    assert.equal(q.peripheralDeviceTypeName, 'direct access block device');
    assert.equal(q.rmb, false);
    assert.equal(q.version, 6);
    assert.equal(q.hisup, true);
    assert.equal(q.normaca, false);
    assert.equal(q.responseDataFormat, 2);
    assert.equal(q.additionalLength, 0x45);
    assert.equal(q.tpgs, 1);
    assert.equal(q.threePC, true);
    assert.equal(q.protect, false);
    assert.equal(q.sccs, false);
    assert.equal(q.acc, false);
    assert.equal(q.multip, true);
    assert.equal(q.cmdque, true);
    assert.equal(q.vendor, 'LIO-ORG');
    assert.equal(q.product, 'FILEIO');
    assert.equal(q.revision, '4.0');
    assert.deepEqual(q.versionDescriptors, [0x0460, 0x04c0]);
    assert.equal(q.truncated, false);
  });

  it('tcmu-runner: 3PC set via byte 5 = 0x08, version 5', () => {
    const q = decodeStandardInquiry(SPC_VECTORS.tcmuInquiry!);
    assert.equal(q.threePC, true);
    assert.equal(q.version, 5);
    assert.equal(q.tpgs, 0);
    assert.equal(q.product, 'TCMU device');
    assert.deepEqual(q.versionDescriptors, []);
  });

  it('3PC clear, RMB, PROTECT, SCCS, ACC, NORMACA decode from their own bits', () => {
    const q = decodeStandardInquiry(h('25 80 06 22 03 c1 00 00'));
    assert.deepEqual(
      [q.peripheralQualifier, q.peripheralDeviceType, q.rmb, q.normaca, q.hisup, q.sccs, q.acc, q.threePC, q.protect, q.multip, q.cmdque],
      [1, 5, true, true, false, true, true, false, true, false, false],
    );
    assert.equal(q.vendor, '');
  });

  it('short allocation: decodes what is there, flags truncation; header < 8 bytes is a ParseError', () => {
    const q = decodeStandardInquiry(SPC_VECTORS.lioInquiry!.subarray(0, 12));
    assert.equal(q.truncated, true);
    assert.equal(q.vendor, 'LIO-');
    assert.equal(q.product, '');
    assert.equal(q.threePC, true);
    for (let n = 0; n < 8; n++) assert.throws(() => decodeStandardInquiry(SPC_VECTORS.lioInquiry!.subarray(0, n)), ParseError);
  });

  it('ADDITIONAL LENGTH too small to cover bytes 5-7 is inconsistent', () => {
    assert.throws(() => decodeStandardInquiry(h('00 00 06 12 02 08 00 02 00 00')), ParseError);
  });

  it('ADDITIONAL LENGTH shorter than the buffer limits what is read', () => {
    const b = Buffer.from(SPC_VECTORS.lioInquiry!);
    b[4] = 31; // claims 36 bytes: no version descriptors
    const q = decodeStandardInquiry(b);
    assert.deepEqual(q.versionDescriptors, []);
    assert.equal(q.revision, '4.0');
    assert.equal(q.truncated, false);
  });
});

describe('spc: VPD header, pages 0x00 and 0x80 (ref 3.3)', () => {
  it('header', () => {
    assert.deepEqual(decodeVpdHeader(h('20 83 01 00 00')), {
      peripheralQualifier: 1,
      peripheralDeviceType: 0,
      pageCode: 0x83,
      pageLength: 0x100,
      available: 5,
      truncated: true,
    });
    assert.throws(() => decodeVpdHeader(h('00 83 00')), ParseError);
  });

  it('supported pages (tcmu)', () => {
    const p = decodeVpdSupportedPages(SPC_VECTORS.tcmuSupportedPages!);
    assert.deepEqual(p.pages, [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    assert.equal(p.pages.includes(0x8f), false);
    const t = decodeVpdSupportedPages(SPC_VECTORS.tcmuSupportedPages!.subarray(0, 7));
    assert.deepEqual(t.pages, [0x00, 0x80, 0x83]);
    assert.equal(t.truncated, true);
  });

  it('the page code must match', () => {
    assert.throws(() => decodeVpdSupportedPages(SPC_VECTORS.unitSerial!), /page code 0x80 where 0x00 was expected/);
    assert.throws(() => decodeVpdDeviceIdentification(SPC_VECTORS.tcmuSupportedPages!), ParseError);
  });

  it('unit serial number, leading and trailing padding removed', () => {
    const s = decodeVpdUnitSerial(SPC_VECTORS.unitSerial!);
    assert.equal(s.serial, LIO_SERIAL);
    assert.equal(s.raw.length, LIO_SERIAL.length + 2);
  });
});

describe('spc: VPD 0x83 device identification (ref 3.4)', () => {
  it("LIO's page: NAA-6 from the unit serial, T10 id, port designators with PIV", () => {
    const p = decodeVpdDeviceIdentification(SPC_VECTORS.lioDeviceId!);
    assert.equal(p.truncated, false);
    assert.equal(p.descriptors.length, 5);
    const [naa, t10, rtp, tpg, name] = p.descriptors as [DesignationDescriptor, DesignationDescriptor, DesignationDescriptor, DesignationDescriptor, DesignationDescriptor];

    // The vector's NAA bytes were written by hand; the ref 3.4 generation rule must agree.
    assert.equal(naa.designator.toString('hex'), lioNaa6(0x001405, LIO_SERIAL).toString('hex'));
    assert.equal(naa.codeSet, 1);
    assert.equal(naa.codeSetName, 'binary');
    assert.equal(naa.association, 0);
    assert.equal(naa.associationName, 'addressed logical unit');
    assert.equal(naa.designatorType, 3);
    assert.equal(naa.designatorTypeName, 'NAA');
    assert.equal(naa.designatorLength, 16);
    assert.equal(naa.piv, false);
    assert.equal(naa.protocolIdentifier, undefined, 'protocol id only with PIV');
    assert.equal(naa.raw.length, 20);
    const d = naa.decoded;
    assert.ok(d.kind === 'naa');
    assert.equal(d.naa, 6);
    assert.equal(d.companyId, 0x001405);
    assert.equal(d.vendorSpecificId, 'd4e5f6a7b');
    assert.equal(d.vendorSpecificIdExtension, '8c94d0e8f101a2b3');
    assert.equal(d.malformed, undefined);

    assert.equal(t10.codeSetName, 'ASCII');
    assert.deepEqual(t10.decoded, { kind: 't10-vendor-id', vendor: 'LIO-ORG', vendorSpecific: LIO_SERIAL });

    assert.equal(rtp.piv, true);
    assert.equal(rtp.protocolIdentifier, 5);
    assert.equal(rtp.protocolIdentifierName, 'iSCSI');
    assert.equal(rtp.association, 1);
    assert.deepEqual(rtp.decoded, { kind: 'relative-target-port', relativeTargetPort: 1 });
    assert.deepEqual(tpg.decoded, { kind: 'target-port-group', targetPortGroup: 0 });

    assert.equal(name.codeSetName, 'UTF-8');
    assert.deepEqual(name.decoded, { kind: 'scsi-name-string', name: `${IQN},t,0x0001` });
  });

  it('EUI-64 (8/12/16), NAA 2/3/5, LU group, MD5, UUID, vendor specific, malformed NAA', () => {
    const p = decodeVpdDeviceIdentification(SPC_VECTORS.otherDesignators!);
    const k = p.descriptors.map((d) => d.decoded);
    assert.deepEqual(k[0], { kind: 'eui-64', length: 8, eui64: '0050c2fffe123456', companyId: 0x0050c2, hex: '0050c2fffe123456' });
    assert.deepEqual(k[1], { kind: 'eui-64', length: 12, eui64: '0050c2fffe123456', companyId: 0x0050c2, directoryId: '00000001', hex: '0050c2fffe12345600000001' });
    assert.deepEqual(k[2], {
      kind: 'eui-64',
      length: 16,
      identifierExtension: '1122334455667788',
      eui64: '0050c2fffe123456',
      companyId: 0x0050c2,
      hex: '11223344556677880050c2fffe123456',
    });
    assert.deepEqual(k[3], { kind: 'naa', naa: 2, hex: '2abc00a0b8123456', vendorSpecificId: 'abc', companyId: 0x00a0b8, vendorSpecificIdB: '123456' });
    assert.deepEqual(k[4], { kind: 'naa', naa: 3, hex: '3fedcba987654321', locallyAssigned: 'fedcba987654321' });
    assert.deepEqual(k[5], { kind: 'naa', naa: 5, hex: '5001405abcdef012', companyId: 0x001405, vendorSpecificId: 'abcdef012' });
    assert.deepEqual(k[6], { kind: 'logical-unit-group', logicalUnitGroup: 7 });
    assert.deepEqual(k[7], { kind: 'md5', hex: '00112233445566778899aabbccddeeff' });
    assert.deepEqual(k[8], { kind: 'uuid', uuid: '01234567-89ab-cdef-0123-456789abcdef' });
    assert.deepEqual(k[9], { kind: 'hex', hex: 'deadbeef' });
    assert.equal(k[10]!.kind, 'naa');
    assert.match((k[10] as { malformed?: string }).malformed ?? '', /NAA 6 designator of 8 bytes/);
  });

  it('truncated page: whole descriptors only; inconsistent lengths are ParseErrors', () => {
    const full = SPC_VECTORS.lioDeviceId!;
    const t = decodeVpdDeviceIdentification(full.subarray(0, 30));
    assert.equal(t.truncated, true);
    assert.equal(t.descriptors.length, 1);
    // descriptor claiming more than the page has
    const bad = Buffer.from(full);
    bad[7] = 0xf0;
    assert.throws(() => decodeVpdDeviceIdentification(bad), /runs past the page/);
    // 2 stray bytes at the end of the page
    assert.throws(() => decodeVpdDeviceIdentification(vpd(0x83, h('01 03'))), ParseError);
    // empty page is fine
    assert.deepEqual(decodeVpdDeviceIdentification(vpd(0x83, Buffer.alloc(0))).descriptors, []);
  });

  it('decodeDesignationDescriptor: one descriptor; designator past the end is a ParseError', () => {
    const d = decodeDesignationDescriptor(desig(0x01, 0x03, h('5001405abcdef012')));
    assert.equal(d.decoded.kind, 'naa');
    assert.throws(() => decodeDesignationDescriptor(h('01 03 00 10 5001405a')), ParseError);
  });
});

describe('spc: pickCopyDesignator (ref 3.4, 8.7)', () => {
  const D = (b0: number, b1: number, hex: string) => decodeDesignationDescriptor(desig(b0, b1, h(hex)));
  const naa6 = D(0x01, 0x03, '6001405d4e5f6a7b8c94d0e8f101a2b3');
  const naa5 = D(0x01, 0x03, '5001405abcdef012');
  const eui = D(0x01, 0x02, '0050c2fffe123456');
  const t10 = D(0x02, 0x01, Buffer.from('LIO-ORG serial12', 'latin1').toString('hex'));
  const vs = D(0x01, 0x00, 'deadbeef');
  const naa6Port = D(0x01, 0x13, '6001405d4e5f6a7b8c94d0e8f101a2b3');
  const longVs = D(0x01, 0x00, '00'.repeat(24));

  it('prefers a 16-byte NAA-6 even when another NAA comes first', () => {
    assert.equal(pickCopyDesignator([naa5, eui, naa6]), naa6);
  });
  it('then other NAA, then EUI-64, then T10 vendor id, then vendor specific', () => {
    assert.equal(pickCopyDesignator([vs, t10, eui, naa5]), naa5);
    assert.equal(pickCopyDesignator([vs, t10, eui]), eui);
    assert.equal(pickCopyDesignator([vs, t10]), t10);
    assert.equal(pickCopyDesignator([vs]), vs);
  });
  it('only LU association and at most 20 bytes', () => {
    assert.equal(pickCopyDesignator([naa6Port, longVs]), undefined);
    assert.equal(pickCopyDesignator([naa6Port, naa5]), naa5);
    const p = decodeVpdDeviceIdentification(SPC_VECTORS.lioDeviceId!);
    assert.equal(pickCopyDesignator(p.descriptors), p.descriptors[0], 'LIO: the NAA-6; the 44-byte T10 id is too long anyway');
  });
});

describe('spc: VPD 0xB0 / 0xB2 (ref 3.5)', () => {
  it("LIO's 0x10-long page: fields up to MAXIMUM PREFETCH LENGTH only", () => {
    const b = decodeVpdBlockLimits(SPC_VECTORS.lioBlockLimitsShort!);
    assert.equal(b.pageLength, 0x10);
    assert.equal(b.wsnz, false);
    assert.equal(b.maximumCompareAndWriteLength, 1);
    assert.equal(b.optimalTransferLengthGranularity, 1);
    assert.equal(b.maximumTransferLength, 0x2000);
    assert.equal(b.optimalTransferLength, 0x2000);
    assert.equal(b.maximumPrefetchLength, 0);
    assert.equal(b.maximumUnmapLbaCount, undefined);
    assert.equal(b.maximumWriteSameLength, undefined);
    assert.equal(b.truncated, false);
  });

  it('full page incl. UGAVALID, 64-bit MAXIMUM WRITE SAME LENGTH and bytes 64-65', () => {
    const b = decodeVpdBlockLimits(SPC_VECTORS.blockLimitsFull!);
    assert.equal(b.wsnz, true);
    assert.equal(b.optimalTransferLengthGranularity, 8);
    assert.equal(b.maximumTransferLength, 0x4000);
    assert.equal(b.optimalTransferLength, 0x800);
    assert.equal(b.maximumUnmapLbaCount, 0xffffffff);
    assert.equal(b.maximumUnmapBlockDescriptorCount, 0x100);
    assert.equal(b.optimalUnmapGranularity, 8);
    assert.equal(b.ugavalid, true);
    assert.equal(b.unmapGranularityAlignment, 4);
    assert.equal(b.maximumWriteSameLength, 0x10000n);
    assert.equal(b.maximumAtomicBoundarySize, 0);
    assert.equal(b.maximumCoalescingCopyLbaRangeDescriptors, 0xffff);
    const cut = decodeVpdBlockLimits(SPC_VECTORS.blockLimitsFull!.subarray(0, 40));
    assert.equal(cut.truncated, true);
    assert.equal(cut.ugavalid, true);
    assert.equal(cut.maximumWriteSameLength, undefined);
  });

  it('0xB2 byte 5 bits and provisioning type', () => {
    const p = decodeVpdLogicalBlockProvisioning(SPC_VECTORS.lbp!);
    assert.deepEqual(
      [p.thresholdExponent, p.lbpu, p.lbpws, p.lbpws10, p.lbprz, p.lbprzField, p.ancSup, p.dp, p.provisioningType, p.minimumPercentage, p.thresholdPercentage],
      [0, true, true, true, true, 1, false, false, 2, 0, 0],
    );
    const q = decodeVpdLogicalBlockProvisioning(vpd(0xb2, h('08 03 00 00')));
    assert.deepEqual([q.lbpu, q.lbprz, q.ancSup, q.dp, q.thresholdExponent], [false, false, true, true, 8]);
  });
});

describe('spc: VPD 0x8F third-party copy (ref 3.6)', () => {
  it("FreeBSD's page: every descriptor decoded", () => {
    const p = decodeVpdThirdPartyCopy(SPC_VECTORS.freebsdTpc!);
    assert.equal(p.truncated, false);
    assert.deepEqual(
      p.descriptors.map((d) => d.descriptorType),
      [0x0000, 0x0001, 0x0004, 0x0008, 0x000c, 0x0106, 0x0108, 0x8001],
    );
    const lim = findTpcDescriptor(p, 'block-device-rod-limits')!;
    assert.equal(lim.maximumRangeDescriptors, 64);
    assert.equal(lim.maximumInactivityTimeout, 600);
    assert.equal(lim.defaultInactivityTimeout, 60);
    assert.equal(lim.maximumTokenTransferSize, 0n);
    const sc = findTpcDescriptor(p, 'supported-commands')!;
    assert.deepEqual(sc.commands.map((c) => [c.opcode, c.serviceActions]), [
      [0x83, [0x00, 0x01, 0x10, 0x11, 0x1c]],
      [0x84, [0x00, 0x04, 0x05, 0x03, 0x07, 0x08]],
    ]);
    assert.equal(sc.commands[0]!.serviceActionNames[2], 'POPULATE TOKEN');
    assert.equal(sc.commands[1]!.serviceActionNames[4], 'RECEIVE ROD TOKEN INFORMATION');
    const pd = findTpcDescriptor(p, 'parameter-data')!;
    assert.deepEqual([pd.maximumCscdDescriptorCount, pd.maximumSegmentDescriptorCount, pd.maximumDescriptorListLength, pd.maximumInlineDataLength], [64, 64, 8192, 0]);
    assert.deepEqual(findTpcDescriptor(p, 'supported-descriptors')!.descriptorCodes, [0x02, 0x07, 0x14, 0xe4]);
    assert.deepEqual(findTpcDescriptor(p, 'supported-cscd-ids')!.cscdIds, [0xffff]);
    const rtf = findTpcDescriptor(p, 'rod-token-features')!;
    assert.equal(rtf.remoteTokens, 0);
    assert.equal(rtf.minimumTokenLifetime, 1);
    assert.equal(rtf.maximumTokenLifetime, 0xffffffff);
    assert.equal(rtf.maximumTokenInactivityTimeout, 600);
    assert.equal(rtf.deviceTypeFeatures.length, 1);
    const f = rtf.deviceTypeFeatures[0]!;
    assert.equal(f.peripheralDeviceType, 0);
    assert.equal(f.descriptorLength, 0x2c);
    assert.equal(f.optimalBytesToTokenPerSegment, 0xffffffffffffffffn);
    assert.equal(f.optimalBytesFromTokenPerSegment, 0x100000n);
    const rt = findTpcDescriptor(p, 'supported-rod-types')!;
    assert.deepEqual(
      rt.rodTypes.map((r) => [r.rodType, r.rodTypeName, r.tokenIn, r.tokenOut, r.ecpyInt]),
      [
        [0x00010000, 'access upon reference', true, true, false],
        [0xffff0001, 'block device zero ROD token', true, false, false],
      ],
    );
    const gco = findTpcDescriptor(p, 'general-copy-operations')!;
    assert.deepEqual([gco.totalConcurrentCopies, gco.maximumIdentifiedConcurrentCopies, gco.maximumSegmentLength, gco.dataSegmentGranularity], [64, 64, 0x100000, 0]);
  });

  it('LX8F page: inline length at offset 16, TOKEN_OUT mask 0x01, 9101, C001, 000D, unknown kept raw', () => {
    const p = decodeVpdThirdPartyCopy(SPC_VECTORS.lx8fTpc!);
    assert.deepEqual(findTpcDescriptor(p, 'supported-commands')!.commands.map((c) => [c.opcodeName, c.serviceActionNames]), [
      ['THIRD-PARTY COPY OUT', ['EXTENDED COPY(LID1)']],
      ['THIRD-PARTY COPY IN', ['RECEIVE COPY OPERATING PARAMETERS']],
    ]);
    const pd = findTpcDescriptor(p, 'parameter-data')!;
    assert.equal(pd.maximumInlineDataLength, 4096, 'bytes 16-19, not 17-20 (ref 8.1)');
    assert.equal(pd.maximumDescriptorListLength, 1024);
    assert.deepEqual(findTpcDescriptor(p, 'supported-descriptors')!.descriptorCodes, [0x02, 0xe4]);
    assert.deepEqual(findTpcDescriptor(p, 'supported-cscd-ids')!.cscdIds, []);
    const gco = findTpcDescriptor(p, 'general-copy-operations')!;
    assert.equal(gco.maximumSegmentLength, 16 * 1024 * 1024);
    assert.equal(gco.dataSegmentGranularity, 9);
    assert.equal(findTpcDescriptor(p, 'stream-copy-operations')!.maximumStreamDeviceTransferSize, 0x100000);
    const hd = findTpcDescriptor(p, 'held-data')!;
    assert.deepEqual([hd.heldDataLimit, hd.heldDataGranularity], [0x10000, 9]);
    assert.equal(findTpcDescriptor(p, 'copy-group-identifier')!.uuid, '01234567-89ab-cdef-0123-456789abcdef');
    const unk = findTpcDescriptor(p, 'unknown')!;
    assert.equal(unk.descriptorType, 0x1234);
    assert.equal(unk.raw.toString('hex'), '12340004deadbeef');
    const rt = findTpcDescriptor(p, 'supported-rod-types')!;
    assert.deepEqual(
      rt.rodTypes.map((r) => [r.rodTypeName, r.ecpyInt, r.tokenIn, r.tokenOut, r.preferenceIndicator]),
      [
        ['point in time copy - default', true, false, true, 5],
        ['access upon reference', false, false, true, 1],
      ],
    );
  });

  it('truncated page keeps whole descriptors; inconsistent inner lengths are ParseErrors', () => {
    const full = SPC_VECTORS.freebsdTpc!;
    const t = decodeVpdThirdPartyCopy(full.subarray(0, 50));
    assert.equal(t.truncated, true);
    assert.equal(t.descriptors.length, 1);

    const over = Buffer.from(full);
    over.writeUInt16BE(0x1000, 6); // first descriptor longer than the page
    assert.throws(() => decodeVpdThirdPartyCopy(over), ParseError);

    assert.throws(() => decodeVpdThirdPartyCopy(vpd(0x8f, h('0001 0004 09 83 00 00'))), /runs past the descriptor/);
    assert.throws(() => decodeVpdThirdPartyCopy(vpd(0x8f, h('0001 0004 03 83 05 00'))), /service actions run past the list/);
    assert.throws(() => decodeVpdThirdPartyCopy(vpd(0x8f, h('0004 0008 00000000 0040 0040'))), /too short for a parameter data descriptor/);
    assert.throws(() => decodeVpdThirdPartyCopy(vpd(0x8f, h('0108 0004 0000 0020'))), /multiple of the 64-byte/);
    assert.throws(() => decodeVpdThirdPartyCopy(vpd(0x8f, h('000c 0004 0003 ffff'))), /odd list length/);
    assert.throws(() => decodeVpdThirdPartyCopy(vpd(0x8f, h('0000'))), /stray bytes/);
  });
});

describe('spc: REPORT LUNS (ref 4.5)', () => {
  it('peripheral, flat and extended LUNs', () => {
    const r = decodeReportLuns(SPC_VECTORS.reportLuns!);
    assert.equal(r.lunListLength, 32);
    assert.deepEqual(
      r.luns.map((l) => [l.hex, l.addressMethodName, l.lun]),
      [
        ['0000000000000000', 'peripheral device', 0],
        ['0001000000000000', 'peripheral device', 1],
        ['4105000000000000', 'flat space', 261],
        ['c101000000000000', 'extended logical unit', undefined],
      ],
    );
    assert.equal(r.truncated, false);
  });

  it('multi-level LUNs get no flat number; short buffers are truncated; odd lengths rejected', () => {
    const two = decodeReportLuns(h('00000008 00000000 0001 0002 00000000'));
    assert.equal(two.luns[0]!.lun, undefined);
    const t = decodeReportLuns(SPC_VECTORS.reportLuns!.subarray(0, 20));
    assert.equal(t.truncated, true);
    assert.equal(t.luns.length, 1);
    assert.throws(() => decodeReportLuns(h('0000000c 00000000')), /multiple of 8/);
    assert.throws(() => decodeReportLuns(h('00000008 000000')), ParseError);
  });
});
