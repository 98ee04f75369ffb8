import { strict as assert } from 'node:assert';
import { hexToBuffer as h } from '../../lib/scsi/bytes';
import { ParseError } from '../../lib/scsi/bytes';
import {
  ROD_TYPES,
  ZERO_ROD_TOKEN,
  decodeRodManagementToken,
  decodeRodToken,
  describeRodToken,
  isZeroRodToken,
  makeZeroRodToken,
  rodTypeName,
} from '../../lib/scsi/rod-token';

const IQN = 'iqn.2003-01.org.linux-iscsi.lab:t1';

/** NAA-6 LU designator used as the creator LU (same bytes as the LIO page in spc.test). */
export const NAA6 = h('60 01 40 5d 4e 5f 6a 7b 8c 94 d0 e8 f1 01 a2 b3');

/** 0xE4 identification CSCD (ref 5.3): PDT 0, NAA-6 LU designator, block length 512. */
export const CSCD_E4_NAA6 = Buffer.concat([h('e4 00 0000  01 03 00 10'), NAA6, h('00000000  00  000200')]);

/**
 * An access-upon-reference token laid out as ref 6.1 describes FreeBSD's: type, length 0x1F8,
 * token id, creator CSCD, bytes represented (1 MiB in 56-63), RC16 bytes 8-31 at 96 (block
 * length 512, P_I_EXPONENT 1, LBPPBE 3 in byte 101, LBPME|LBPRZ in 102), the target device
 * designator (iSCSI name, target device association) at 128, then filler.
 */
export function makeAurToken(id = 0x2a): Buffer {
  const t = Buffer.alloc(512);
  h('00010000 0000 01f8').copy(t, 0);
  t.writeBigUInt64BE(BigInt(id), 8);
  CSCD_E4_NAA6.copy(t, 16);
  t.writeBigUInt64BE(0x100000n, 56);
  h('00000200 00 13 c000').copy(t, 96);
  const name = Buffer.alloc(36);
  name.write(IQN, 'utf8');
  Buffer.concat([h('53 a8 00 24'), name]).copy(t, 128);
  for (let i = 168; i < 512; i++) t[i] = (i * 37 + 11) & 0xff;
  return t;
}

export const ROD_VECTORS: Record<string, Buffer> = {
  aur: makeAurToken(),
  // ref 6.2: the block device zero token exactly as ddptctl sends it
  zero: h('ffff0001 0000 01f8' + '00'.repeat(504)),
};

describe('rod-token: layout (ref 6.1)', () => {
  it('AUR token: type, length, id, creator CSCD, bytes represented, block data, target descriptor', () => {
    const t = decodeRodToken(ROD_VECTORS.aur!);
    assert.equal(t.rodType, 0x00010000);
    assert.equal(t.rodTypeName, 'access upon reference');
    assert.equal(t.rodTokenLength, 0x1f8);
    assert.equal(t.copyManagerRodTokenId, '000000000000002a');
    assert.equal(t.numberOfBytesRepresented, 0x100000n);
    assert.equal(t.isZeroToken, false);
    assert.equal(t.truncated, false);
    const c = t.creatorLogicalUnit!;
    assert.equal(c.descriptorTypeCode, 0xe4);
    assert.equal(c.peripheralDeviceType, 0);
    assert.equal(c.diskBlockLength, 512);
    assert.equal(c.designator.designator.toString('hex'), NAA6.toString('hex'));
    assert.equal(t.creatorLogicalUnitError, undefined);
    const b = t.blockDevice!;
    assert.equal(b.blockLength, 512);
    assert.equal(b.lbppbe, 3, 'LBPPBE is byte 101 low nibble (ref 8.4), not byte 102');
    assert.equal(b.pIExponent, 1);
    assert.deepEqual([b.lbpme, b.lbprz, b.lowestAlignedLba, b.protEn, b.pType], [true, true, 0, false, 0]);
    const td = t.targetDeviceDescriptor!;
    assert.equal(td.association, 2);
    assert.equal(td.protocolIdentifierName, 'iSCSI');
    assert.deepEqual(td.decoded, { kind: 'scsi-name-string', name: IQN });
    assert.equal(t.raw.length, 512);
    assert.match(describeRodToken(t), /^access upon reference \(0x00010000\) id 000000000000002a 1048576 bytes$/);
  });

  it('128-bit NUMBER OF BYTES REPRESENTED', () => {
    const b = Buffer.from(ROD_VECTORS.aur!);
    b.writeBigUInt64BE(1n, 48);
    assert.equal(decodeRodToken(b).numberOfBytesRepresented, (1n << 64n) | 0x100000n);
  });

  it('random bytes where a descriptor would be are not decoded; a broken creator CSCD is reported', () => {
    const b = Buffer.from(ROD_VECTORS.aur!);
    b.fill(0xee, 128, 168);
    assert.equal(decodeRodToken(b).targetDeviceDescriptor, undefined);
    b[23] = 30; // creator designator length beyond the CSCD's 20-byte field
    const t = decodeRodToken(b);
    assert.equal(t.creatorLogicalUnit, undefined);
    assert.match(t.creatorLogicalUnitError ?? '', /exceeds the 20-byte field/);
  });

  it('truncated tokens decode as far as they go; < 8 bytes is a ParseError', () => {
    const t = decodeRodToken(ROD_VECTORS.aur!.subarray(0, 100));
    assert.equal(t.truncated, true);
    assert.equal(t.numberOfBytesRepresented, 0x100000n);
    assert.equal(t.blockDevice, undefined);
    assert.match(describeRodToken(t), /truncated at 100 of 512 bytes/);
    for (let n = 0; n < 8; n++) assert.throws(() => decodeRodToken(ROD_VECTORS.aur!.subarray(0, n)), ParseError);
  });

  it('management token = first 96 bytes, not truncated at 96', () => {
    const m = decodeRodManagementToken(ROD_VECTORS.aur!.subarray(0, 96));
    assert.equal(m.truncated, false);
    assert.equal(m.copyManagerRodTokenId, '000000000000002a');
    assert.equal(m.creatorLogicalUnit?.diskBlockLength, 512);
    assert.equal(decodeRodManagementToken(ROD_VECTORS.aur!.subarray(0, 60)).truncated, true);
  });
});

describe('rod-token: ROD types and the zero token (ref 6.2)', () => {
  it('ZERO_ROD_TOKEN is byte-exact', () => {
    assert.equal(ZERO_ROD_TOKEN.length, 512);
    assert.ok((ZERO_ROD_TOKEN as Buffer).equals(ROD_VECTORS.zero!));
    const fresh = makeZeroRodToken();
    assert.ok(fresh.equals(ROD_VECTORS.zero!));
    assert.notEqual(fresh.buffer, (ZERO_ROD_TOKEN as Buffer).buffer, 'a copy, not the shared constant');
  });

  it('isZeroRodToken: type check by default (FreeBSD), exact bytes with strict', () => {
    assert.equal(isZeroRodToken(ROD_VECTORS.zero!), true);
    assert.equal(isZeroRodToken(ROD_VECTORS.zero!, { strict: true }), true);
    const odd = Buffer.from(ROD_VECTORS.zero!);
    odd[300] = 1;
    assert.equal(isZeroRodToken(odd), true);
    assert.equal(isZeroRodToken(odd, { strict: true }), false);
    assert.equal(isZeroRodToken(ROD_VECTORS.aur!), false);
    assert.equal(isZeroRodToken(h('ffff00')), false);
  });

  it('decoding the zero token', () => {
    const t = decodeRodToken(ROD_VECTORS.zero!);
    assert.equal(t.isZeroToken, true);
    assert.equal(t.rodTypeName, 'block device zero ROD token');
    assert.equal(t.creatorLogicalUnit, undefined);
    assert.equal(t.blockDevice, undefined);
    assert.equal(t.targetDeviceDescriptor, undefined);
    assert.equal(t.numberOfBytesRepresented, 0n);
  });

  it('names for values and ranges', () => {
    const cases: Array<[number, string]> = [
      [0x00000000, 'copy manager internal'],
      [0x00800000, 'point in time copy - default'],
      [0x00800001, 'point in time copy - change vulnerable'],
      [0x00800002, 'point in time copy - persistent'],
      [0x00800003, 'point in time copy - copy on write'],
      [0x0080ffff, 'point in time copy - any'],
      [0xff000005, 'device type specific'],
      [0xffffffef, 'device type specific'],
      [0xfffffff3, 'vendor specific'],
      [0x12345678, 'reserved (0x12345678)'],
    ];
    for (const [v, n] of cases) assert.equal(rodTypeName(v), n);
    assert.ok(ROD_TYPES.length >= 10);
  });
});
