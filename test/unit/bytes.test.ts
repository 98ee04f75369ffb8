import { strict as assert } from 'node:assert';
import { ByteReader, bufferToHex, hex2, hexToBuffer, toSafeNumber } from '../../lib/scsi/bytes';
import { ParseError } from '../../lib/scsi/bytes';

describe('bytes: ByteReader', () => {
  const buf = hexToBuffer('01 0203 040506 0708090a 0b0c0d0e0f10 1112131415161718');

  it('reads big-endian fields (reference conventions: all multi-byte fields big-endian)', () => {
    const r = new ByteReader(buf, 'test struct');
    assert.equal(r.u8(0, 'a'), 0x01);
    assert.equal(r.u16(1, 'b'), 0x0203);
    assert.equal(r.u24(3, 'c'), 0x040506);
    assert.equal(r.u32(6, 'd'), 0x0708090a);
    assert.equal(r.u48(10, 'e'), 0x0b0c0d0e0f10);
    assert.equal(r.u64(16, 'f'), 0x1112131415161718n);
    assert.equal(r.u64Safe(16, 'f'), undefined, '0x1112... is above 2^53');
    assert.equal(new ByteReader(hexToBuffer('001fffffffffffff'), 's').u64Safe(0, 'x'), Number.MAX_SAFE_INTEGER);
    assert.equal(r.bit(0, 0, 'bit0'), true);
    assert.equal(r.bit(0, 1, 'bit1'), false);
    assert.equal(r.bits(1, 7, 4, 'hi nibble'), 0x0);
    assert.equal(r.bits(2, 3, 0, 'lo nibble'), 0x3);
  });

  it('u128 combines two 64-bit halves', () => {
    const r = new ByteReader(hexToBuffer('00000000000000010000000000000002'), 's');
    assert.equal(r.u128(0, 'n'), (1n << 64n) | 2n);
  });

  it('throws ParseError naming structure, field, offset and buffer length on any out-of-range read', () => {
    const r = new ByteReader(buf, 'VPD page 0x83');
    const cases: Array<() => unknown> = [
      () => r.u8(24, 'x'),
      () => r.u16(23, 'x'),
      () => r.u24(22, 'x'),
      () => r.u32(21, 'x'),
      () => r.u48(19, 'x'),
      () => r.u64(17, 'x'),
      () => r.u128(9, 'x'),
      () => r.slice(20, 5, 'x'),
      () => r.copy(0, 25, 'x'),
      () => r.ascii(24, 1, 'x'),
      () => r.sub(10, 15, 'x'),
      () => r.u8(-1, 'x'),
      () => r.u8(1.5, 'x'),
      () => r.slice(0, -1, 'x'),
    ];
    for (const c of cases) assert.throws(c, ParseError);
    try {
      r.u32(22, 'PAGE LENGTH');
      assert.fail('no throw');
    } catch (e) {
      assert.ok(e instanceof ParseError);
      assert.equal(e.structure, 'VPD page 0x83');
      assert.equal(e.field, 'PAGE LENGTH');
      assert.equal(e.offset, 22);
      assert.equal(e.length, 24);
      assert.match(e.message, /VPD page 0x83: PAGE LENGTH at offset 22: .*buffer length 24/);
    }
  });

  it('nested readers report offsets relative to the outer structure', () => {
    const r = new ByteReader(buf, 'outer');
    const s = r.sub(8, 4, 'inner');
    assert.equal(s.u16(0, 'x'), 0x090a);
    try {
      s.u32(2, 'field');
      assert.fail('no throw');
    } catch (e) {
      assert.ok(e instanceof ParseError);
      assert.equal(e.offset, 10);
      assert.equal(e.length, 12);
    }
  });

  it('slice returns a view inside the input; copy returns independent bytes', () => {
    const b = hexToBuffer('aabbccdd');
    const r = new ByteReader(b, 's');
    const v = r.slice(1, 2, 'v');
    const c = r.copy(1, 2, 'c');
    assert.equal(v.buffer, b.buffer);
    assert.equal(v.byteOffset, b.byteOffset + 1);
    b[1] = 0x00;
    assert.equal(v[0], 0x00);
    assert.equal(c[0], 0xbb);
  });

  it('ascii trims trailing spaces and NULs only', () => {
    const r = new ByteReader(Buffer.from(' LIO-ORG  \0\0', 'latin1'), 's');
    assert.equal(r.ascii(0, 12, 'vendor'), ' LIO-ORG');
  });

  it('clampLength and limit: trust min(length field, buffer) and say when the buffer ended first', () => {
    const r = new ByteReader(Buffer.alloc(10), 's');
    assert.deepEqual(r.clampLength(4, 20), { claimedEnd: 24, end: 10, truncated: true });
    assert.deepEqual(r.clampLength(4, 2), { claimedEnd: 6, end: 6, truncated: false });
    const l = r.limit(6);
    assert.equal(l.length, 6);
    assert.throws(() => l.u8(6, 'past the claimed end'), ParseError);
    assert.equal(r.limit(50), r);
  });

  it('a non-Buffer input is a ParseError, not a TypeError', () => {
    assert.throws(() => new ByteReader('abc' as unknown as Buffer, 's'), ParseError);
  });

  it('hex helpers', () => {
    assert.equal(bufferToHex(hexToBuffer('de ad:be-ef # comment\n 01 // another\n')), 'deadbeef01');
    assert.throws(() => hexToBuffer('abc'), TypeError);
    assert.throws(() => hexToBuffer('zz'), TypeError);
    assert.equal(hex2(0x0d), '0D');
    assert.equal(toSafeNumber(2n ** 53n), undefined);
    assert.equal(toSafeNumber(2n ** 53n - 1n), Number.MAX_SAFE_INTEGER);
    assert.equal(toSafeNumber(-1n), undefined);
  });
});
