import { strict as assert } from 'node:assert';
import { hexToBuffer as h } from '../../lib/scsi/bytes';
import { ParseError } from '../../lib/scsi/bytes';
import { decodeReadCapacity16 } from '../../lib/scsi/sbc';

export const SBC_VECTORS: Record<string, Buffer> = {
  // ref 4.1: 2 GiB of 512-byte blocks (last LBA 0x3FFFFF), 4 KiB physical (LBPPBE 3),
  // LBPME + LBPRZ, lowest aligned LBA 0
  thin2GiB: h('00000000003fffff 00000200 00 03 c000 00000000000000000000000000000000'),
  // ref 4.1: protection type 2 (P_TYPE 1 + PROT_EN), P_I_EXPONENT 2, lowest aligned LBA 0x3FFF
  protected4k: h('00000000000fffff 00001000 03 20 3fff 00000000000000000000000000000000'),
  // ref 4.1: the largest LBA: blocks = 2^64 - 1 does not fit a JS number
  huge: h('fffffffffffffffe 00000200 00 00 0000 00000000000000000000000000000000'),
};

describe('sbc: READ CAPACITY(16) (ref 4.1)', () => {
  it('capacity, block sizes, provisioning bits', () => {
    const r = decodeReadCapacity16(SBC_VECTORS.thin2GiB!);
    assert.equal(r.returnedLba, 0x3fffffn);
    assert.equal(r.blocks, 0x400000n);
    assert.equal(r.blocksNumber, 0x400000);
    assert.equal(r.blockLength, 512);
    assert.equal(r.capacityBytes, 2n * 1024n ** 3n);
    assert.equal(r.lbppbe, 3);
    assert.equal(r.physicalBlockSize, 4096);
    assert.equal(r.lbpme, true);
    assert.equal(r.lbprz, true);
    assert.equal(r.lowestAlignedLba, 0);
    assert.equal(r.protEn, false);
    assert.equal(r.protectionType, 0);
    assert.equal(r.truncated, false);
  });

  it('protection fields and lowest aligned LBA', () => {
    const r = decodeReadCapacity16(SBC_VECTORS.protected4k!);
    assert.deepEqual([r.pType, r.protEn, r.protectionType, r.pIExponent, r.lbppbe, r.physicalBlockSize], [1, true, 2, 2, 0, 4096]);
    assert.deepEqual([r.lbpme, r.lbprz, r.lowestAlignedLba], [false, false, 0x3fff]);
    assert.equal(r.capacityBytes, 0x100000n * 4096n);
  });

  it('bigint capacity beyond 2^53', () => {
    const r = decodeReadCapacity16(SBC_VECTORS.huge!);
    assert.equal(r.blocks, 2n ** 64n - 1n);
    assert.equal(r.blocksNumber, undefined);
    assert.equal(r.capacityBytes, (2n ** 64n - 1n) * 512n);
  });

  it('needs bytes 0-15; 16-31 are reserved and only flag truncation', () => {
    for (let n = 0; n < 16; n++) assert.throws(() => decodeReadCapacity16(SBC_VECTORS.thin2GiB!.subarray(0, n)), ParseError);
    const r = decodeReadCapacity16(SBC_VECTORS.thin2GiB!.subarray(0, 16));
    assert.equal(r.truncated, true);
    assert.equal(r.physicalBlockSize, 4096);
  });
});
