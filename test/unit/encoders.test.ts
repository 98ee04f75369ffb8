// The native command encoders, byte by byte. Every expected vector below is written out by
// hand from the tables of the protocol reference (shared spec copy-offload-reference.md; the
// section is cited as "ref N.N" next to each field), never produced by the encoder itself.
// TEST UNIT READY and REQUEST SENSE have no table there: their 6-byte SPC CDBs are given in
// the comments.
import * as assert from 'node:assert/strict';
import { loadNative, EncodedCommand, NativeEncoders } from '../../lib/native';
import { assertBytes, cat, hex, zeros } from './helpers/hex-bytes';

const enc: NativeEncoders = loadNative().encoders;
// Call an encoder with arguments the TypeScript types would refuse.
const raw = enc as unknown as Record<string, (o?: unknown) => unknown>;

const U64_MAX = (1n << 64n) - 1n;

// Two 16-byte NAA-6 LU designators (ref 3.4: NAA 6 = IEEE Registered Extended, 16 bytes).
const NAA6_A = hex('60 01 40 51 11 22 33 44 55 66 77 88 99 aa bb cc');
const NAA6_B = hex('60 01 40 52 de ad be ef 00 01 02 03 04 05 06 07');

function expectCommand(
  got: EncodedCommand,
  want: { cdb: Buffer; direction: string; data?: Buffer; allocationLength?: number },
  what: string,
): void {
  assertBytes(got.cdb, want.cdb, `${what} cdb`);
  assert.equal(got.direction, want.direction, `${what} direction`);
  if (want.data === undefined) assert.equal(got.data, undefined, `${what}: no data expected`);
  else assertBytes(got.data, want.data, `${what} data`);
  assert.equal(got.allocationLength, want.allocationLength, `${what} allocationLength`);
}

function throwsWith(fn: () => unknown, cls: typeof TypeError | typeof RangeError, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.match((e as Error).message, message);
    return true;
  });
}

describe('native encoders: SPC (ref 3.1, 4.5)', () => {
  it('testUnitReady: 6 zero bytes, no data', () => {
    // SPC TEST UNIT READY: byte 0 opcode 0x00 (ref 1.3 opcode list), bytes 1-4 reserved, 5 CONTROL
    expectCommand(enc.testUnitReady(), { cdb: hex('00 00 00 00 00 00'), direction: 'none' }, 'TUR');
  });

  it('inquiry: standard data with the 255-byte default allocation', () => {
    expectCommand(
      enc.inquiry({}),
      {
        cdb: hex(
          '12', //    ref 3.1: byte 0 INQUIRY
          '00', //    byte 1 bit 0 EVPD = 0
          '00', //    byte 2 PAGE CODE = 0
          '00 ff', // bytes 3-4 ALLOCATION LENGTH = 255
          '00', //    byte 5 CONTROL
        ),
        direction: 'from-device',
        allocationLength: 255,
      },
      'INQUIRY std',
    );
    // undefined options mean "all defaults"
    assertBytes((raw.inquiry(undefined) as EncodedCommand).cdb, hex('12 00 00 00 ff 00'), 'INQUIRY()');
  });

  it('inquiry: VPD page 0x83 and 0x8F with caller allocation lengths', () => {
    expectCommand(
      enc.inquiry({ evpd: true, page: 0x83, allocationLength: 0x1000 }),
      {
        cdb: hex('12', '01' /* EVPD */, '83' /* page */, '10 00' /* 4096 */, '00'),
        direction: 'from-device',
        allocationLength: 4096,
      },
      'INQUIRY VPD 83',
    );
    expectCommand(
      enc.inquiry({ evpd: true, page: 0x8f, allocationLength: 65535 }),
      { cdb: hex('12 01 8f ff ff 00'), direction: 'from-device', allocationLength: 65535 },
      'INQUIRY VPD 8F max allocation',
    );
    // VPD page 0x00 is a legal page with EVPD=1
    expectCommand(
      enc.inquiry({ evpd: true }),
      { cdb: hex('12 01 00 00 ff 00'), direction: 'from-device', allocationLength: 255 },
      'INQUIRY VPD 00',
    );
  });

  it('reportLuns: 12-byte CDB, default 8192 and explicit SELECT REPORT', () => {
    expectCommand(
      enc.reportLuns({}),
      {
        cdb: hex(
          'a0', //          ref 4.5: byte 0 REPORT LUNS
          '00', //          byte 1 reserved
          '00', //          byte 2 SELECT REPORT = 0
          '00 00 00', //    bytes 3-5 reserved
          '00 00 20 00', // bytes 6-9 ALLOCATION LENGTH = 8192
          '00', //          byte 10 reserved
          '00', //          byte 11 CONTROL
        ),
        direction: 'from-device',
        allocationLength: 8192,
      },
      'REPORT LUNS',
    );
    expectCommand(
      enc.reportLuns({ selectReport: 2, allocationLength: 0x01020304 }),
      { cdb: hex('a0 00 02 00 00 00 01 02 03 04 00 00'), direction: 'from-device', allocationLength: 0x01020304 },
      'REPORT LUNS select 2',
    );
  });

  it('requestSense: fixed and descriptor format', () => {
    // SPC REQUEST SENSE: 0 opcode 0x03, 1 bit 0 DESC, 2-3 reserved, 4 ALLOCATION LENGTH, 5 CONTROL
    expectCommand(
      enc.requestSense({}),
      { cdb: hex('03 00 00 00 fc 00'), direction: 'from-device', allocationLength: 252 },
      'REQUEST SENSE default',
    );
    expectCommand(
      enc.requestSense({ descriptorFormat: true, allocationLength: 18 }),
      { cdb: hex('03 01 00 00 12 00'), direction: 'from-device', allocationLength: 18 },
      'REQUEST SENSE desc',
    );
  });
});

describe('native encoders: SBC (ref 4.1-4.4)', () => {
  it('readCapacity16: SERVICE ACTION IN(16) / 0x10 with allocation 32', () => {
    expectCommand(
      enc.readCapacity16({}),
      {
        cdb: hex(
          '9e', //                      ref 4.1: byte 0 SERVICE ACTION IN(16)
          '10', //                      byte 1 bits 4-0 SA READ CAPACITY(16)
          '00 00 00 00 00 00 00 00', // bytes 2-9 LBA (PMI only) = 0
          '00 00 00 20', //             bytes 10-13 ALLOCATION LENGTH = 32
          '00', //                      byte 14 PMI = 0
          '00', //                      byte 15 CONTROL
        ),
        direction: 'from-device',
        allocationLength: 32,
      },
      'RC16',
    );
  });

  it('read16: LBA, count, DPO/FUA and group', () => {
    expectCommand(
      enc.read16({ lba: 0x0102030405060708n, blocks: 0x0a0b0c0d, fua: true, dpo: true, group: 5 }),
      {
        cdb: hex(
          '88', //                      ref 4.2: byte 0 READ(16)
          '18', //                      byte 1 bit 4 DPO | bit 3 FUA
          '01 02 03 04 05 06 07 08', // bytes 2-9 LBA
          '0a 0b 0c 0d', //             bytes 10-13 TRANSFER LENGTH
          '05', //                      byte 14 GROUP NUMBER
          '00', //                      byte 15 CONTROL
        ),
        direction: 'from-device',
      },
      'READ16',
    );
    expectCommand(
      enc.read16({ lba: 0, blocks: 0xffffffff }),
      { cdb: hex('88 00 0000000000000000 ffffffff 00 00'), direction: 'from-device' },
      'READ16 max blocks',
    );
    expectCommand(
      enc.read16({ lba: 7, blocks: 1, fua: true }),
      { cdb: hex('88 08 0000000000000007 00000001 00 00'), direction: 'from-device' },
      'READ16 FUA only',
    );
  });

  it('write16: last addressable block (LBA 2^64-2, 2 blocks) as bigint', () => {
    expectCommand(
      enc.write16({ lba: U64_MAX - 1n, blocks: 2, dpo: true }),
      {
        cdb: hex('8a', '10' /* DPO */, 'ff ff ff ff ff ff ff fe', '00 00 00 02', '00', '00'),
        direction: 'to-device',
      },
      'WRITE16',
    );
    expectCommand(
      enc.write16({ lba: U64_MAX, blocks: 1 }),
      { cdb: hex('8a 00 ffffffffffffffff 00000001 00 00'), direction: 'to-device' },
      'WRITE16 LBA 2^64-1',
    );
  });

  it('synchronizeCache10: defaults, fields and the 32-bit extent', () => {
    expectCommand(enc.synchronizeCache10({}), { cdb: hex('35 00 00000000 00 0000 00'), direction: 'none' }, 'SYNC CACHE10 whole medium');
    expectCommand(
      enc.synchronizeCache10({ lba: 0x12345678, blocks: 0x100, immed: true, group: 3 }),
      {
        cdb: hex(
          '35', //          SBC-3 5.22: SYNCHRONIZE CACHE(10)
          '02', //          byte 1 bit 1 IMMED
          '12 34 56 78', // bytes 2-5 LBA
          '03', //          byte 6 GROUP NUMBER
          '01 00', //       bytes 7-8 NUMBER OF LOGICAL BLOCKS
          '00',
        ),
        direction: 'none',
      },
      'SYNC CACHE10 fields',
    );
    throwsWith(() => enc.synchronizeCache10({ lba: 2 ** 32 }), RangeError, /^synchronizeCache10: lba must be/);
    throwsWith(() => enc.synchronizeCache10({ blocks: 0x10000 }), RangeError, /^synchronizeCache10: blocks must be/);
    throwsWith(() => enc.synchronizeCache10({ lba: 0xffffffff, blocks: 2 }), RangeError, /must not exceed 4294967295/);
  });

  it('synchronizeCache16: defaults and IMMED', () => {
    expectCommand(
      enc.synchronizeCache16({}),
      { cdb: hex('91 00 0000000000000000 00000000 00 00'), direction: 'none' },
      'SYNC CACHE16 whole medium',
    );
    expectCommand(
      enc.synchronizeCache16({ lba: 0x1000, blocks: 8, immed: true, group: 1 }),
      {
        cdb: hex(
          '91', //                      ref 4.3: byte 0 SYNCHRONIZE CACHE(16)
          '02', //                      byte 1 bit 1 IMMED
          '00 00 00 00 00 00 10 00', // bytes 2-9 LBA
          '00 00 00 08', //             bytes 10-13 NUMBER OF BLOCKS
          '01', //                      byte 14 GROUP NUMBER
          '00',
        ),
        direction: 'none',
      },
      'SYNC CACHE16 immed',
    );
  });

  it('writeSame16: NDOB without a block, data-out with one', () => {
    expectCommand(
      enc.writeSame16({ lba: 100, blocks: 0x800, unmap: true }),
      {
        cdb: hex(
          '93', //                      ref 4.4: byte 0 WRITE SAME(16)
          '09', //                      byte 1 bit 3 UNMAP | bit 0 NDOB
          '00 00 00 00 00 00 00 64', // bytes 2-9 LBA = 100
          '00 00 08 00', //             bytes 10-13 NUMBER OF BLOCKS
          '00', '00',
        ),
        direction: 'none',
      },
      'WRITE SAME16 NDOB',
    );
    const block = Buffer.alloc(512, 0xab);
    expectCommand(
      enc.writeSame16({ lba: 1, blocks: 16, unmap: true, anchor: true, block }),
      {
        cdb: hex('93', '18' /* ANCHOR | UNMAP, NDOB clear */, '0000000000000001', '00000010', '00', '00'),
        direction: 'to-device',
        data: Buffer.alloc(512, 0xab),
      },
      'WRITE SAME16 with block',
    );
  });

  it('getLbaStatus: SERVICE ACTION IN(16) / 0x12 with the starting LBA and allocation length', () => {
    expectCommand(
      enc.getLbaStatus({ lba: 0x123456789an, allocationLength: 0x1000 }),
      {
        cdb: hex(
          '9e', //                      SBC-3 5.6: byte 0 SERVICE ACTION IN(16)
          '12', //                      byte 1 SERVICE ACTION GET LBA STATUS
          '00 00 00 12 34 56 78 9a', // bytes 2-9 STARTING LOGICAL BLOCK ADDRESS
          '00 00 10 00', //             bytes 10-13 ALLOCATION LENGTH
          '00', //                      byte 14 REPORT TYPE (SBC-4) 0
          '00',
        ),
        direction: 'from-device',
        allocationLength: 0x1000,
      },
      'GET LBA STATUS',
    );
    assert.equal(enc.getLbaStatus({ lba: 0, reportType: 3 }).cdb[14], 3);
  });

  it('unmap: the 10-byte CDB and a parameter list of block descriptors', () => {
    expectCommand(
      enc.unmap({ ranges: [{ lba: 0x10, blocks: 0x800 }, { lba: 2n ** 40n, blocks: 1 }], group: 3 }),
      {
        cdb: hex(
          '42', //          SBC-3 5.28: byte 0 UNMAP
          '00', //          byte 1 bit 0 ANCHOR
          '00 00 00 00', // bytes 2-5 reserved
          '03', //          byte 6 GROUP NUMBER
          '00 28', //       bytes 7-8 PARAMETER LIST LENGTH = 8 + 2 x 16
          '00',
        ),
        direction: 'to-device',
        data: hex(
          '00 26', //                   UNMAP DATA LENGTH = 40 - 2
          '00 20', //                   UNMAP BLOCK DESCRIPTOR DATA LENGTH = 2 x 16
          '00 00 00 00', //             reserved
          '00 00 00 00 00 00 00 10', // LBA
          '00 00 08 00', //             NUMBER OF LOGICAL BLOCKS
          '00 00 00 00',
          '00 00 01 00 00 00 00 00',
          '00 00 00 01',
          '00 00 00 00',
        ),
      },
      'UNMAP',
    );
    assert.equal(enc.unmap({ ranges: [{ lba: 0, blocks: 1 }], anchor: true }).cdb[1], 0x01);
  });
});

describe('native encoders: EXTENDED COPY(LID1) descriptors (ref 5.3, 5.5)', () => {
  it('identificationCscdDescriptor: 0xE4 with a 16-byte NAA-6 designator, block length 512', () => {
    const got = enc.identificationCscdDescriptor({
      designator: { codeSet: 1, association: 0, designatorType: 3, designator: NAA6_A },
      blockLength: 512,
    });
    assertBytes(
      got,
      cat(
        hex('e4'), //        ref 5.3: byte 0 DESCRIPTOR TYPE CODE
        hex('00'), //        byte 1: LU ID TYPE 00b, NUL 0, PERIPHERAL DEVICE TYPE 0
        hex('00 00'), //     bytes 2-3 RELATIVE INITIATOR PORT IDENTIFIER
        hex('01'), //        byte 4 CODE SET 1 (binary), protocol id nibble clear
        hex('03'), //        byte 5 ASSOCIATION 0 / DESIGNATOR TYPE 3 (NAA), PIV clear
        hex('00'), //        byte 6 reserved
        hex('10'), //        byte 7 DESIGNATOR LENGTH 16
        NAA6_A, //           bytes 8-23 designator
        zeros(4), //         bytes 24-27 zero padding to 20 bytes
        hex('00'), //        byte 28 PAD 0
        hex('00 02 00'), //  bytes 29-31 DISK BLOCK LENGTH 512
      ),
      'CSCD E4',
    );
  });

  it('identificationCscdDescriptor: every field at its maximum', () => {
    const designator = Buffer.from([...Array(20).keys()].map((i) => 0xa0 + i));
    const got = enc.identificationCscdDescriptor({
      designator: { codeSet: 0x0f, association: 3, designatorType: 0x0f, designator },
      peripheralDeviceType: 0x1f,
      blockLength: 0xffffff,
      relativeInitiatorPort: 0xfffe,
      nul: true,
      pad: true,
    });
    assertBytes(
      got,
      cat(
        hex('e4'),
        hex('3f'), //        byte 1: NUL (bit 5) | PDT 0x1F
        hex('ff fe'), //     bytes 2-3 RELATIVE INITIATOR PORT IDENTIFIER
        hex('0f'), //        byte 4 CODE SET 15
        hex('3f'), //        byte 5 ASSOCIATION 3 (bits 5-4) | TYPE 15
        hex('00'),
        hex('14'), //        byte 7 DESIGNATOR LENGTH 20
        designator, //       bytes 8-27
        hex('04'), //        byte 28 bit 2 PAD
        hex('ff ff ff'), //  bytes 29-31 DISK BLOCK LENGTH
      ),
      'CSCD E4 max',
    );
  });

  it('blockToBlockSegmentDescriptor: 0x02 with DC, CAT, max blocks and LBA 2^64-1', () => {
    const got = enc.blockToBlockSegmentDescriptor({
      sourceCscdId: 0,
      destinationCscdId: 1,
      blocks: 0xffff,
      sourceLba: 0x10,
      destinationLba: U64_MAX,
      destinationCount: true,
      cat: true,
    });
    assertBytes(
      got,
      hex(
        '02', //                      ref 5.5: byte 0 type 0x02 block->block
        '03', //                      byte 1 bit 1 DC | bit 0 CAT
        '00 18', //                   bytes 2-3 DESCRIPTOR LENGTH 0x0018
        '00 00', //                   bytes 4-5 SOURCE CSCD DESCRIPTOR ID
        '00 01', //                   bytes 6-7 DESTINATION CSCD DESCRIPTOR ID
        '00 00', //                   bytes 8-9 reserved
        'ff ff', //                   bytes 10-11 NUMBER OF BLOCKS
        '00 00 00 00 00 00 00 10', // bytes 12-19 SOURCE LBA
        'ff ff ff ff ff ff ff ff', // bytes 20-27 DESTINATION LBA
      ),
      'segment 02',
    );
  });

  it('blockToBlockSegmentDescriptor: the special CSCD ids of ref 5.4 are accepted', () => {
    for (const id of [0x07ff, 0xc000, 0xc001, 0xf800, 0xffff]) {
      const got = enc.blockToBlockSegmentDescriptor({
        sourceCscdId: id,
        destinationCscdId: 0xffff,
        blocks: 1,
        sourceLba: 0,
        destinationLba: 0,
      });
      assert.equal(got.readUInt16BE(4), id, `source id 0x${id.toString(16)}`);
      assert.equal(got[1], 0x00, 'DC and CAT clear by default');
    }
  });
});

describe('native encoders: EXTENDED COPY(LID1) (ref 5.2)', () => {
  const cscds = [
    { designator: { codeSet: 1, association: 0, designatorType: 3, designator: NAA6_A }, blockLength: 512 },
    { designator: { codeSet: 1, association: 0, designatorType: 3, designator: NAA6_B }, blockLength: 512 },
  ];

  it('a full list: two 0xE4 CSCDs and three 0x02 segments', () => {
    const got = enc.extendedCopyLid1({
      listId: 0x2a,
      listIdUsage: 'discard',
      cscds,
      segments: [
        { sourceCscdId: 0, destinationCscdId: 1, blocks: 0x800, sourceLba: 0, destinationLba: 0x1000 },
        { sourceCscdId: 0, destinationCscdId: 1, blocks: 0xffff, sourceLba: 0x800, destinationLba: 0x1800 },
        { sourceCscdId: 1, destinationCscdId: 0, blocks: 1, sourceLba: 2 ** 40, destinationLba: 5, destinationCount: true },
      ],
    });
    const cscd = (designator: Buffer) =>
      cat(hex('e4 00 0000 01 03 00 10'), designator, zeros(4), hex('00 000200'));
    const data = cat(
      // ref 5.2 parameter list header
      hex('2a'), //          byte 0 LIST IDENTIFIER
      hex('11'), //          byte 1: STR 0, LIST ID USAGE 10b (bits 4-3), PRIORITY 1 (default)
      hex('00 40'), //       bytes 2-3 CSCD DESCRIPTOR LIST LENGTH = 2 x 32
      hex('00 00 00 00'), // bytes 4-7 reserved
      hex('00 00 00 54'), // bytes 8-11 SEGMENT DESCRIPTOR LIST LENGTH = 3 x 28 = 84
      hex('00 00 00 00'), // bytes 12-15 INLINE DATA LENGTH
      cscd(NAA6_A), //       bytes 16-47 CSCD 0 (ref 5.3)
      cscd(NAA6_B), //       bytes 48-79 CSCD 1
      // bytes 80-163: segments (ref 5.5)
      hex('02 00 0018 0000 0001 0000 0800 0000000000000000 0000000000001000'),
      hex('02 00 0018 0000 0001 0000 ffff 0000000000000800 0000000000001800'),
      hex('02 02 0018 0001 0000 0000 0001 0000010000000000 0000000000000005'),
    );
    assert.equal(data.length, 164);
    expectCommand(
      got,
      {
        cdb: hex(
          '83', //                      ref 5.2: byte 0 THIRD-PARTY COPY OUT
          '00', //                      byte 1 SA 0x00 EXTENDED COPY(LID1)
          '00 00 00 00 00 00 00 00', // bytes 2-9 reserved
          '00 00 00 a4', //             bytes 10-13 PARAMETER LIST LENGTH = 164
          '00', '00',
        ),
        direction: 'to-device',
        data,
      },
      'XCOPY LID1',
    );
  });

  it('LIST ID USAGE 11b (none) with list id 0, and hold with STR and priority 0', () => {
    const one = [{ sourceCscdId: 0, destinationCscdId: 1, blocks: 1, sourceLba: 0, destinationLba: 0 }];
    const none = enc.extendedCopyLid1({ listId: 0, listIdUsage: 'none', cscds, segments: one });
    assert.equal(none.data![0], 0x00, 'list id');
    assert.equal(none.data![1], 0x19, 'LIST ID USAGE 11b | PRIORITY 1');
    const hold = enc.extendedCopyLid1({ listId: 255, listIdUsage: 'hold', str: true, priority: 0, cscds, segments: one });
    assert.equal(hold.data![0], 0xff, 'list id');
    assert.equal(hold.data![1], 0x20, 'STR, LIST ID USAGE 00b, PRIORITY 0');
    const prio = enc.extendedCopyLid1({ listId: 3, listIdUsage: 'discard', priority: 7, cscds, segments: one });
    assert.equal(prio.data![1], 0x17, 'LIST ID USAGE 10b | PRIORITY 7');
    // 16 + 64 + 28 = 108 bytes in every case
    for (const c of [none, hold, prio]) {
      assert.equal(c.data!.length, 108);
      assert.equal(c.cdb.readUInt32BE(10), 108);
    }
  });
});

describe('native encoders: RECEIVE COPY RESULTS (ref 5.6)', () => {
  it('operating parameters: list id byte reserved, 1024-byte default allocation', () => {
    expectCommand(
      enc.receiveCopyResults({ serviceAction: 'operatingParameters' }),
      {
        cdb: hex(
          '84', //                   byte 0 THIRD-PARTY COPY IN
          '03', //                   byte 1 SA 0x03 OPERATING PARAMETERS
          '00', //                   byte 2 reserved for SA 0x03
          '00 00 00 00 00 00 00', // bytes 3-9 reserved
          '00 00 04 00', //          bytes 10-13 ALLOCATION LENGTH 1024
          '00', '00',
        ),
        direction: 'from-device',
        allocationLength: 1024,
      },
      'RCR op params',
    );
  });

  it('copy status / receive data / failed segment details carry the 1-byte list id in byte 2', () => {
    expectCommand(
      enc.receiveCopyResults({ serviceAction: 'copyStatus', listId: 7, allocationLength: 12 }),
      { cdb: hex('84 00 07 00000000000000 0000000c 00 00'), direction: 'from-device', allocationLength: 12 },
      'RCR copy status',
    );
    expectCommand(
      enc.receiveCopyResults({ serviceAction: 'receiveData', listId: 1 }),
      { cdb: hex('84 01 01 00000000000000 00000400 00 00'), direction: 'from-device', allocationLength: 1024 },
      'RCR receive data',
    );
    expectCommand(
      enc.receiveCopyResults({ serviceAction: 'failedSegmentDetails', listId: 255, allocationLength: 0xffffffff }),
      { cdb: hex('84 04 ff 00000000000000 ffffffff 00 00'), direction: 'from-device', allocationLength: 0xffffffff },
      'RCR failure details',
    );
  });
});

describe('native encoders: POPULATE TOKEN (ref 5.8)', () => {
  it('three ranges, IMMED, RTV with ROD type, inactivity timeout, group, extreme values', () => {
    const got = enc.populateToken({
      listId: 0x01020304,
      immed: true,
      inactivityTimeout: 600,
      rodType: 0x00800000, // ref 6.2: point in time copy - default
      group: 3,
      ranges: [
        { lba: 0, blocks: 0x800 },
        { lba: 2 ** 32, blocks: 0xffffffff },
        { lba: U64_MAX, blocks: 1 },
      ],
    });
    const data = hex(
      '00 3e', //                   bytes 0-1 POPULATE TOKEN DATA LENGTH = 64 - 2
      '03', //                      byte 2 bit 1 RTV | bit 0 IMMED
      '00', //                      byte 3 reserved
      '00 00 02 58', //             bytes 4-7 INACTIVITY TIMEOUT = 600 s
      '00 80 00 00', //             bytes 8-11 ROD TYPE
      '00 00', //                   bytes 12-13 reserved
      '00 30', //                   ref 5.8: bytes 14-15 range descriptor list length = 3 x 16
      // ranges from byte 16 (not 15: ref 8.3): 0-7 LBA, 8-11 NUMBER OF LOGICAL BLOCKS, 12-15 reserved
      '00 00 00 00 00 00 00 00  00 00 08 00  00 00 00 00',
      '00 00 00 01 00 00 00 00  ff ff ff ff  00 00 00 00',
      'ff ff ff ff ff ff ff ff  00 00 00 01  00 00 00 00',
    );
    expectCommand(
      got,
      {
        cdb: hex(
          '83', //            byte 0 THIRD-PARTY COPY OUT
          '10', //            byte 1 SA 0x10 POPULATE TOKEN
          '00 00 00 00', //   bytes 2-5 reserved
          '01 02 03 04', //   bytes 6-9 LIST IDENTIFIER
          '00 00 00 40', //   bytes 10-13 PARAMETER LIST LENGTH = 64
          '03', //            byte 14 GROUP NUMBER
          '00', //            byte 15 CONTROL
        ),
        direction: 'to-device',
        data,
      },
      'POPULATE TOKEN',
    );
  });

  it('one range without RTV or IMMED: ROD type and flags stay zero', () => {
    expectCommand(
      enc.populateToken({ listId: 257, ranges: [{ lba: 0x1234, blocks: 16 }] }),
      {
        cdb: hex('83 10 00000000 00000101 00000020 00 00'),
        direction: 'to-device',
        data: hex(
          '00 1e', //        data length 32 - 2
          '00 00', //        no RTV, no IMMED
          '00 00 00 00', //  inactivity timeout 0 = device default
          '00 00 00 00', //  ROD TYPE (RTV=0)
          '00 00 00 10', //  reserved, range descriptor list length 16
          '00 00 00 00 00 00 12 34  00 00 00 10  00 00 00 00',
        ),
      },
      'POPULATE TOKEN single',
    );
  });

  it('RTV is set by rodType even when it is 0 (copy manager internal)', () => {
    const got = enc.populateToken({ listId: 1, rodType: 0, ranges: [{ lba: 0, blocks: 1 }] });
    assert.equal(got.data![2], 0x02, 'RTV without IMMED');
  });

  it('4095 ranges is the most the 16-bit length fields can carry', () => {
    const ranges = Array.from({ length: 4095 }, (_, i) => ({ lba: i * 8, blocks: 8 }));
    const got = enc.populateToken({ listId: 9, ranges });
    assert.equal(got.data!.length, 16 + 4095 * 16);
    assert.equal(got.data!.readUInt16BE(0), 0xfffe, 'data length = 65536 - 2');
    assert.equal(got.data!.readUInt16BE(14), 0xfff0, 'range descriptor list length = 65520');
    assert.equal(got.cdb.readUInt32BE(10), 65536, 'parameter list length');
    assert.equal(got.data!.readBigUInt64BE(16 + 4094 * 16), 4094n * 8n, 'last range LBA');
  });
});

describe('native encoders: WRITE USING TOKEN (ref 5.9, 6.2)', () => {
  // ref 6.2: block device zero ROD token - bytes 0-3 FF FF 00 01, 6-7 01 F8, rest zero
  const zeroToken = cat(hex('ff ff 00 01', '00 00', '01 f8'), zeros(504));

  it('the zero ROD token, two ranges, OFFSET INTO ROD, DEL_TKN and IMMED', () => {
    assert.equal(zeroToken.length, 512);
    const got = enc.writeUsingToken({
      listId: 258,
      immed: true,
      deleteToken: true,
      offsetIntoRod: 2 ** 32 + 5,
      token: zeroToken,
      ranges: [
        { lba: 0x2000, blocks: 0x400 },
        { lba: 0x10000, blocks: 0x10 },
      ],
    });
    const data = cat(
      hex('02 36'), //                  bytes 0-1 WRITE USING TOKEN DATA LENGTH = 568 - 2
      hex('03'), //                     byte 2 bit 1 DEL_TKN | bit 0 IMMED
      zeros(5), //                      bytes 3-7 reserved
      hex('00 00 00 01 00 00 00 05'), // bytes 8-15 OFFSET INTO ROD
      zeroToken, //                     bytes 16-527 ROD TOKEN
      zeros(6), //                      bytes 528-533 reserved
      hex('00 20'), //                  ref 5.9: bytes 534-535 range descriptor list length = 2 x 16
      // ranges from byte 536 (not 535: ref 8.3)
      hex('00 00 00 00 00 00 20 00  00 00 04 00  00 00 00 00'),
      hex('00 00 00 00 00 01 00 00  00 00 00 10  00 00 00 00'),
    );
    assert.equal(data.length, 568);
    expectCommand(
      got,
      {
        cdb: hex(
          '83', //           byte 0 THIRD-PARTY COPY OUT
          '11', //           byte 1 SA 0x11 WRITE USING TOKEN
          '00 00 00 00', //  bytes 2-5 reserved
          '00 00 01 02', //  bytes 6-9 LIST IDENTIFIER = 258
          '00 00 02 38', //  bytes 10-13 PARAMETER LIST LENGTH = 568
          '00', '00',
        ),
        direction: 'to-device',
        data,
      },
      'WUT zero token',
    );
  });

  it('an opaque token is copied verbatim; flags and offset default to zero', () => {
    const token = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7 + 3) & 0xff));
    const got = enc.writeUsingToken({ listId: 0xffffffff, token, ranges: [{ lba: U64_MAX - 7n, blocks: 8 }], group: 31 });
    const data = cat(
      hex('02 26'), //   DATA LENGTH = 552 - 2 (536 + one range)
      zeros(6), //       byte 2 flags clear, 3-7 reserved
      zeros(8), //       OFFSET INTO ROD 0
      token,
      zeros(6),
      hex('00 10'),
      hex('ff ff ff ff ff ff ff f8  00 00 00 08  00 00 00 00'),
    );
    expectCommand(
      got,
      { cdb: hex('83 11 00000000 ffffffff 00000228 1f 00'), direction: 'to-device', data },
      'WUT opaque token',
    );
    // mutating the caller's token afterwards must not change what was encoded
    token.fill(0);
    assert.equal(got.data![16], 3);
  });

  it('4062 ranges is the most its DATA LENGTH field can carry', () => {
    const ranges = Array.from({ length: 4062 }, (_, i) => ({ lba: i, blocks: 1 }));
    const got = enc.writeUsingToken({ listId: 1, token: zeroToken, ranges });
    assert.equal(got.data!.length, 536 + 4062 * 16);
    assert.equal(got.data!.readUInt16BE(0), got.data!.length - 2);
    assert.equal(got.data!.readUInt16BE(534), 4062 * 16);
  });
});

describe('native encoders: RRTI, RCS(LID4), COPY OPERATION ABORT, REPORT ALL ROD TOKENS (ref 5.10-5.12)', () => {
  it('receiveRodTokenInformation: SA 0x07, 4-byte list id, 1024 default', () => {
    expectCommand(
      enc.receiveRodTokenInformation({ listId: 0x0a0b0c0d }),
      {
        cdb: hex(
          '84', //           byte 0 THIRD-PARTY COPY IN
          '07', //           byte 1 SA 0x07
          '0a 0b 0c 0d', //  bytes 2-5 LIST IDENTIFIER
          '00 00 00 00', //  bytes 6-9 reserved
          '00 00 04 00', //  bytes 10-13 ALLOCATION LENGTH 1024
          '00', '00',
        ),
        direction: 'from-device',
        allocationLength: 1024,
      },
      'RRTI',
    );
    expectCommand(
      enc.receiveRodTokenInformation({ listId: 1, allocationLength: 550 }),
      { cdb: hex('84 07 00000001 00000000 00000226 00 00'), direction: 'from-device', allocationLength: 550 },
      'RRTI 550',
    );
  });

  it('receiveCopyStatusLid4: SA 0x05', () => {
    expectCommand(
      enc.receiveCopyStatusLid4({ listId: 0xffffffff, allocationLength: 32 }),
      { cdb: hex('84 05 ffffffff 00000000 00000020 00 00'), direction: 'from-device', allocationLength: 32 },
      'RCS LID4',
    );
  });

  it('copyOperationAbort: 0x83 SA 0x1C, list id in 2-5, no data', () => {
    expectCommand(
      enc.copyOperationAbort({ listId: 257 }),
      { cdb: hex('83 1c 00000101 00000000 00000000 00 00'), direction: 'none' },
      'COA',
    );
  });

  it('reportAllRodTokens: SA 0x08, header + 512 management tokens by default', () => {
    expectCommand(
      enc.reportAllRodTokens({}),
      // 49160 = 8 + 512 x 96 = 0xC008
      { cdb: hex('84 08 0000000000000000 0000c008 00 00'), direction: 'from-device', allocationLength: 49160 },
      'RART',
    );
  });
});

describe('native encoders: validation', () => {
  const token = Buffer.alloc(512);
  const ranges = [{ lba: 0, blocks: 8 }];
  const cscd = { designator: { codeSet: 1, association: 0, designatorType: 3, designator: NAA6_A }, blockLength: 512 };
  const seg = { sourceCscdId: 0, destinationCscdId: 1, blocks: 1, sourceLba: 0, destinationLba: 0 };

  it('range fields: bad values name the encoder and the field', () => {
    const pt = (r: unknown) =>
      raw.populateToken({ listId: 1, ranges: [{ lba: 0, blocks: 1 }, { lba: 8, blocks: 1 }, r] });
    const blocksMsg = /^populateToken: ranges\[2\]\.blocks must be an integer in 1\.\.4294967295/;
    throwsWith(() => pt({ lba: 0, blocks: 0 }), RangeError, blocksMsg);
    throwsWith(() => pt({ lba: 0, blocks: 2 ** 32 }), RangeError, blocksMsg);
    throwsWith(() => pt({ lba: 0, blocks: 1.5 }), RangeError, blocksMsg);
    throwsWith(() => pt({ lba: 0, blocks: NaN }), RangeError, blocksMsg);
    throwsWith(() => pt({ lba: 0, blocks: -1 }), RangeError, blocksMsg);
    throwsWith(() => pt({ lba: 0, blocks: '8' }), TypeError, blocksMsg);
    throwsWith(() => pt({ lba: 0, blocks: 8n }), TypeError, blocksMsg);
    throwsWith(() => pt({ lba: 0 }), TypeError, blocksMsg);
    const lbaMsg = /^populateToken: ranges\[2\]\.lba must be a safe integer or a bigint in 0\.\.18446744073709551615/;
    throwsWith(() => pt({ lba: -1, blocks: 1 }), RangeError, lbaMsg);
    throwsWith(() => pt({ lba: 2 ** 53, blocks: 1 }), RangeError, lbaMsg);
    throwsWith(() => pt({ lba: 1n << 64n, blocks: 1 }), RangeError, lbaMsg);
    throwsWith(() => pt({ lba: -1n, blocks: 1 }), RangeError, lbaMsg);
    throwsWith(() => pt({ lba: Infinity, blocks: 1 }), RangeError, lbaMsg);
    throwsWith(() => pt({ lba: '0', blocks: 1 }), TypeError, lbaMsg);
    throwsWith(() => pt({ lba: null, blocks: 1 }), TypeError, lbaMsg);
    throwsWith(() => pt({ lba: U64_MAX, blocks: 2 }), RangeError, /ranges\[2\]\.lba \+ ranges\[2\]\.blocks - 1 must not exceed/);
    throwsWith(() => pt(null), TypeError, /^populateToken: ranges\[2\] must be an object/);
    throwsWith(() => pt(5), TypeError, /^populateToken: ranges\[2\] must be an object/);
  });

  it('range lists: empty, too long, not an array, sparse', () => {
    throwsWith(() => enc.populateToken({ listId: 1, ranges: [] }), RangeError, /^populateToken: ranges must be an array of 1\.\.4095 elements \(got 0\)/);
    const many = Array.from({ length: 4096 }, () => ({ lba: 0, blocks: 1 }));
    throwsWith(() => enc.populateToken({ listId: 1, ranges: many }), RangeError, /ranges must be an array of 1\.\.4095/);
    throwsWith(() => enc.writeUsingToken({ listId: 1, token, ranges: many.slice(0, 4063) }), RangeError, /^writeUsingToken: ranges must be an array of 1\.\.4062/);
    throwsWith(() => raw.populateToken({ listId: 1, ranges: { 0: ranges[0], length: 1 } }), TypeError, /ranges must be an array/);
    throwsWith(() => raw.populateToken({ listId: 1 }), TypeError, /^populateToken: ranges must be an array/);
    throwsWith(() => raw.populateToken({ listId: 1, ranges: new Array(3) }), TypeError, /ranges\[0\] must be an object/);
    throwsWith(() => raw.populateToken({ listId: 1, ranges: new Array(2 ** 32 - 1) }), RangeError, /ranges must be an array of 1\.\.4095 elements \(got 4294967295\)/);
  });

  it('POPULATE TOKEN / WRITE USING TOKEN scalar fields', () => {
    throwsWith(() => raw.populateToken({ listId: -1, ranges }), RangeError, /^populateToken: listId must be an integer in 0\.\.4294967295/);
    throwsWith(() => raw.populateToken({ listId: 2 ** 32, ranges }), RangeError, /listId must be an integer/);
    throwsWith(() => raw.populateToken({ ranges }), TypeError, /^populateToken: listId must be an integer/);
    throwsWith(() => raw.populateToken({ listId: 1, ranges, group: 32 }), RangeError, /^populateToken: group must be an integer in 0\.\.31/);
    throwsWith(() => raw.populateToken({ listId: 1, ranges, immed: 1 }), TypeError, /^populateToken: immed must be a boolean \(got 1\)/);
    throwsWith(() => raw.populateToken({ listId: 1, ranges, rodType: 2 ** 32 }), RangeError, /^populateToken: rodType must be an integer in 0\.\.4294967295/);
    throwsWith(() => raw.populateToken({ listId: 1, ranges, inactivityTimeout: -5 }), RangeError, /inactivityTimeout must be an integer/);
    throwsWith(() => raw.writeUsingToken({ listId: 1, ranges, token: Buffer.alloc(511) }), RangeError, /^writeUsingToken: token must be a Buffer of exactly 512 bytes \(got 511 bytes\)/);
    throwsWith(() => raw.writeUsingToken({ listId: 1, ranges, token: Buffer.alloc(513) }), RangeError, /token must be a Buffer of exactly 512 bytes/);
    throwsWith(() => raw.writeUsingToken({ listId: 1, ranges, token: 'x'.repeat(512) }), TypeError, /^writeUsingToken: token must be a Buffer/);
    throwsWith(() => raw.writeUsingToken({ listId: 1, ranges }), TypeError, /token must be a Buffer/);
    throwsWith(() => raw.writeUsingToken({ listId: 1, ranges, token, offsetIntoRod: -1n }), RangeError, /^writeUsingToken: offsetIntoRod must be a safe integer or a bigint/);
    throwsWith(() => raw.writeUsingToken({ listId: 1, ranges, token, deleteToken: 'yes' }), TypeError, /deleteToken must be a boolean/);
  });

  it('options themselves must be objects', () => {
    for (const bad of [null, 5, 'x', true, 1n, () => ({})]) {
      throwsWith(() => raw.populateToken(bad), TypeError, /^populateToken: options must be an object/);
    }
    throwsWith(() => raw.writeUsingToken(undefined), TypeError, /^writeUsingToken: options must be an object/);
    throwsWith(() => raw.read16(undefined), TypeError, /^read16: options must be an object/);
    throwsWith(() => raw.inquiry(null), TypeError, /^inquiry: options must be an object/);
  });

  it('CSCD and segment descriptor fields', () => {
    const x = (over: Record<string, unknown>, segOver: Record<string, unknown> = {}) =>
      raw.extendedCopyLid1({ listId: 1, listIdUsage: 'discard', cscds: [cscd, { ...cscd, ...over }], segments: [{ ...seg, ...segOver }] });
    throwsWith(
      () => x({ designator: { ...cscd.designator, designator: Buffer.alloc(21) } }),
      RangeError,
      /^extendedCopyLid1: cscds\[1\]\.designator\.designator must be a Buffer of 1\.\.20 bytes \(got 21 bytes\)/,
    );
    throwsWith(() => x({ designator: { ...cscd.designator, designator: Buffer.alloc(0) } }), RangeError, /designator\.designator must be a Buffer of 1\.\.20/);
    throwsWith(() => x({ designator: { ...cscd.designator, codeSet: 16 } }), RangeError, /cscds\[1\]\.designator\.codeSet must be an integer in 0\.\.15/);
    throwsWith(() => x({ designator: { ...cscd.designator, association: 4 } }), RangeError, /cscds\[1\]\.designator\.association must be an integer in 0\.\.3/);
    throwsWith(() => x({ designator: { ...cscd.designator, designatorType: 16 } }), RangeError, /designatorType must be an integer in 0\.\.15/);
    throwsWith(() => x({ designator: undefined }), TypeError, /cscds\[1\]\.designator must be an object/);
    throwsWith(() => x({ blockLength: 2 ** 24 }), RangeError, /cscds\[1\]\.blockLength must be an integer in 0\.\.16777215/);
    throwsWith(() => x({ peripheralDeviceType: 32 }), RangeError, /cscds\[1\]\.peripheralDeviceType must be an integer in 0\.\.31/);
    throwsWith(() => x({ relativeInitiatorPort: 65536 }), RangeError, /cscds\[1\]\.relativeInitiatorPort must be an integer in 0\.\.65535/);
    throwsWith(() => x({ pad: 'no' }), TypeError, /cscds\[1\]\.pad must be a boolean/);
    throwsWith(() => x({}, { blocks: 0 }), RangeError, /^extendedCopyLid1: segments\[0\]\.blocks must be an integer in 1\.\.65535/);
    throwsWith(() => x({}, { blocks: 65536 }), RangeError, /segments\[0\]\.blocks must be an integer in 1\.\.65535/);
    throwsWith(() => x({}, { sourceCscdId: 0x0800 }), RangeError, /segments\[0\]\.sourceCscdId must be 0\.\.2047 .* or one of 0xC000, 0xC001, 0xF800, 0xFFFF \(got 2048\)/);
    throwsWith(() => x({}, { destinationCscdId: 0x10000 }), RangeError, /segments\[0\]\.destinationCscdId must be an integer in 0\.\.65535/);
    throwsWith(() => x({}, { destinationCscdId: 2 }), RangeError, /segments\[0\]\.destinationCscdId is 2 but only 2 CSCD descriptor/);
    throwsWith(() => x({}, { sourceLba: 1n << 64n }), RangeError, /segments\[0\]\.sourceLba must be a safe integer or a bigint/);
    throwsWith(() => x({}, { cat: 1 }), TypeError, /segments\[0\]\.cat must be a boolean/);
    throwsWith(
      () => raw.blockToBlockSegmentDescriptor({ ...seg, sourceCscdId: 0xc002 }),
      RangeError,
      /^blockToBlockSegmentDescriptor: sourceCscdId must be 0\.\.2047/,
    );
    throwsWith(
      () => raw.identificationCscdDescriptor({ ...cscd, blockLength: -1 }),
      RangeError,
      /^identificationCscdDescriptor: blockLength must be an integer in 0\.\.16777215/,
    );
  });

  it('EXTENDED COPY list header rules', () => {
    const base = { listId: 1, listIdUsage: 'discard', cscds: [cscd, cscd], segments: [seg] };
    throwsWith(() => raw.extendedCopyLid1({ ...base, listIdUsage: 'none' }), RangeError, /^extendedCopyLid1: listId must be 0 when listIdUsage is 'none' \(got 1\)/);
    throwsWith(() => raw.extendedCopyLid1({ ...base, listIdUsage: 'keep' }), RangeError, /listIdUsage must be one of 'hold' 'discard' 'none' \(got 'keep'\)/);
    throwsWith(() => raw.extendedCopyLid1({ ...base, listIdUsage: 3 }), TypeError, /listIdUsage must be one of/);
    throwsWith(() => raw.extendedCopyLid1({ ...base, listId: 256 }), RangeError, /^extendedCopyLid1: listId must be an integer in 0\.\.255/);
    throwsWith(() => raw.extendedCopyLid1({ ...base, priority: 8 }), RangeError, /priority must be an integer in 0\.\.7/);
    throwsWith(() => raw.extendedCopyLid1({ ...base, segments: [] }), RangeError, /segments must be an array of 1\.\./);
    throwsWith(() => raw.extendedCopyLid1({ ...base, cscds: new Array(2048).fill(cscd) }), RangeError, /cscds must be an array of 0\.\.2047 elements/);
  });

  it('SPC / SBC fields', () => {
    throwsWith(() => raw.inquiry({ page: 0x80 }), RangeError, /^inquiry: page must be 0 when evpd is false \(got 128\)/);
    throwsWith(() => raw.inquiry({ evpd: true, page: 256 }), RangeError, /^inquiry: page must be an integer in 0\.\.255/);
    throwsWith(() => raw.inquiry({ allocationLength: 65536 }), RangeError, /^inquiry: allocationLength must be an integer in 1\.\.65535/);
    throwsWith(() => raw.inquiry({ allocationLength: 0 }), RangeError, /allocationLength must be an integer in 1\.\.65535/);
    throwsWith(() => raw.requestSense({ allocationLength: 256 }), RangeError, /^requestSense: allocationLength must be an integer in 1\.\.255/);
    throwsWith(() => raw.reportLuns({ selectReport: -1 }), RangeError, /^reportLuns: selectReport must be an integer in 0\.\.255/);
    throwsWith(() => raw.readCapacity16({ allocationLength: 2 ** 32 }), RangeError, /^readCapacity16: allocationLength must be an integer in 1\.\.4294967295/);
    throwsWith(() => raw.read16({ lba: U64_MAX, blocks: 2 }), RangeError, /^read16: lba \+ blocks - 1 must not exceed 18446744073709551615/);
    throwsWith(() => raw.write16({ lba: 0, blocks: 0 }), RangeError, /^write16: blocks must be an integer in 1\.\.4294967295/);
    throwsWith(() => raw.write16({ blocks: 1 }), TypeError, /^write16: lba must be a safe integer or a bigint/);
    throwsWith(() => raw.read16({ lba: 0, blocks: 1, group: 32 }), RangeError, /^read16: group must be an integer in 0\.\.31/);
    throwsWith(() => raw.synchronizeCache16({ lba: 2 ** 53 }), RangeError, /^synchronizeCache16: lba must be a safe integer/);
    throwsWith(() => raw.writeSame16({ lba: 0, blocks: 0 }), RangeError, /^writeSame16: blocks must be an integer in 1\.\.4294967295/);
    throwsWith(() => raw.writeSame16({ lba: 0, blocks: 1, block: Buffer.alloc(0) }), RangeError, /^writeSame16: block must be a Buffer of 1\.\./);
    throwsWith(() => raw.writeSame16({ lba: 0, blocks: 1, block: [0, 0] }), TypeError, /^writeSame16: block must be a Buffer/);
    throwsWith(() => raw.getLbaStatus({ lba: 0, allocationLength: 0 }), RangeError, /^getLbaStatus: allocationLength must be an integer in 1\.\.4294967295/);
    throwsWith(() => raw.getLbaStatus({}), TypeError, /^getLbaStatus: lba/);
    throwsWith(() => raw.unmap({ ranges: [] }), RangeError, /^unmap: ranges/);
    throwsWith(() => raw.unmap({ ranges: [{ lba: 0, blocks: 0 }] }), RangeError, /^unmap: ranges\[0\]\.blocks must be an integer in 1\.\.4294967295/);
    throwsWith(() => raw.unmap({ ranges: Array.from({ length: 4096 }, () => ({ lba: 0, blocks: 1 })) }), RangeError, /^unmap: ranges/);
    throwsWith(() => raw.unmap({ ranges: [{ lba: 2n ** 64n - 1n, blocks: 2 }] }), RangeError, /^unmap: /);
    throwsWith(() => raw.receiveCopyResults({ serviceAction: 'operatingParameters', listId: 1 }), RangeError, /^receiveCopyResults: listId must be 0 for serviceAction 'operatingParameters'/);
    throwsWith(() => raw.receiveCopyResults({ serviceAction: 'status' }), RangeError, /^receiveCopyResults: serviceAction must be one of/);
    throwsWith(() => raw.receiveCopyResults({ serviceAction: 'copyStatus', listId: 256 }), RangeError, /listId must be an integer in 0\.\.255/);
    throwsWith(() => raw.receiveRodTokenInformation({}), TypeError, /^receiveRodTokenInformation: listId must be an integer/);
    throwsWith(() => raw.receiveCopyStatusLid4({ listId: 1, allocationLength: 0 }), RangeError, /^receiveCopyStatusLid4: allocationLength must be an integer in 1\.\.4294967295/);
    throwsWith(() => raw.copyOperationAbort({ listId: 1.25 }), RangeError, /^copyOperationAbort: listId must be an integer in 0\.\.4294967295 \(got 1\.25\)/);
    throwsWith(() => raw.reportAllRodTokens({ allocationLength: -1 }), RangeError, /^reportAllRodTokens: allocationLength must be an integer/);
  });

  it('a throwing getter or proxy trap surfaces as that exception', () => {
    class Boom extends Error {}
    const getter = { listId: 1, get ranges(): unknown { throw new Boom('getter'); } };
    assert.throws(() => raw.populateToken(getter), Boom);
    const proxy = new Proxy({}, { get() { throw new Boom('trap'); } });
    assert.throws(() => raw.writeUsingToken(proxy), Boom);
    const rangeGetter = { listId: 1, ranges: [{ lba: 0, get blocks(): number { throw new Boom('nested'); } }] };
    assert.throws(() => raw.populateToken(rangeGetter), Boom);
  });
});

// ---- randomized robustness ---------------------------------------------------------------

// mulberry32: small seeded PRNG so a failure can be replayed from its seed.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class FuzzGetterError extends Error {}

function garbage(rnd: () => number, depth = 0): unknown {
  const pick = Math.floor(rnd() * 26);
  switch (pick) {
    case 0: return undefined;
    case 1: return null;
    case 2: return rnd() < 0.5;
    case 3: return Math.floor(rnd() * 16);
    case 4: return -Math.floor(rnd() * 1000) - 1;
    case 5: return rnd() * 100;
    case 6: return [NaN, Infinity, -Infinity, -0][Math.floor(rnd() * 4)];
    case 7: return [2 ** 8, 2 ** 16, 2 ** 24, 2 ** 32, 2 ** 32 - 1, 2 ** 53, 2 ** 53 - 1, 2 ** 64, Number.MAX_VALUE][Math.floor(rnd() * 9)];
    case 8: return [0n, 1n, -1n, (1n << 64n) - 1n, 1n << 64n, -(1n << 70n), 1n << 200n][Math.floor(rnd() * 7)];
    case 9: return ['', 'x', '0', 'none', 'hold', 'discard', 'operatingParameters', '\u0000'][Math.floor(rnd() * 8)];
    case 10: return Buffer.alloc(Math.floor(rnd() * 600), Math.floor(rnd() * 256));
    case 11: return Buffer.alloc([0, 20, 21, 512, 511, 513][Math.floor(rnd() * 6)]);
    case 12: return new Uint8Array(Math.floor(rnd() * 40));
    case 13: return new Float64Array(64); // 512 bytes, not a Uint8Array
    case 14: return Symbol('s');
    case 15: return () => 1;
    case 16: return new Array(Math.floor(rnd() * 5)); // holes
    case 17: return new Array(2 ** 32 - 1);
    case 18: return depth > 2 ? {} : Array.from({ length: Math.floor(rnd() * 4) }, () => garbage(rnd, depth + 1));
    case 19: {
      if (depth > 2) return {};
      const o: Record<string, unknown> = {};
      for (const k of ['lba', 'blocks', 'designator', 'codeSet', 'association', 'designatorType', 'blockLength', 'sourceCscdId', 'destinationCscdId', 'sourceLba', 'destinationLba']) {
        if (rnd() < 0.4) o[k] = garbage(rnd, depth + 1);
      }
      return o;
    }
    case 20: return Object.defineProperty({}, 'lba', { get() { throw new FuzzGetterError('lba getter'); }, enumerable: true });
    case 21: return new Proxy({}, { get() { throw new FuzzGetterError('proxy get'); }, has() { throw new FuzzGetterError('proxy has'); } });
    case 22: return new Proxy([1, 2, 3], {});
    case 23: return new Date(0);
    case 24: return Object.create(null);
    default: return { valueOf: () => 5, toString: () => '5' };
  }
}

// A valid input per encoder: mutating one field of it reaches the deeper checks.
function template(name: string): Record<string, unknown> {
  const cscd = { designator: { codeSet: 1, association: 0, designatorType: 3, designator: Buffer.alloc(16, 0x60) }, blockLength: 512 };
  const seg = { sourceCscdId: 0, destinationCscdId: 1, blocks: 8, sourceLba: 0, destinationLba: 8 };
  const ranges = [{ lba: 0, blocks: 8 }, { lba: 16, blocks: 8 }];
  switch (name) {
    case 'read16': case 'write16': case 'writeSame16': return { lba: 0, blocks: 8 };
    case 'synchronizeCache16': case 'synchronizeCache10': return { lba: 0, blocks: 8 };
    case 'identificationCscdDescriptor': return cscd;
    case 'blockToBlockSegmentDescriptor': return seg;
    case 'extendedCopyLid1': return { listId: 1, listIdUsage: 'discard', cscds: [cscd, cscd], segments: [seg, seg] };
    case 'receiveCopyResults': return { serviceAction: 'copyStatus', listId: 1 };
    case 'populateToken': return { listId: 1, ranges };
    case 'writeUsingToken': return { listId: 2, token: Buffer.alloc(512), ranges };
    case 'receiveRodTokenInformation': case 'receiveCopyStatusLid4': case 'copyOperationAbort': return { listId: 1 };
    case 'getLbaStatus': return { lba: 8, allocationLength: 4096 };
    case 'unmap': return { ranges };
    case 'reportTargetPortGroups': return { allocationLength: 4096 };
    default: return {};
  }
}

function mutate(rnd: () => number, value: unknown, depth = 0): unknown {
  if (depth > 3 || value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return garbage(rnd);
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const extra = ['listId', 'immed', 'rodType', 'group', 'offsetIntoRod', 'token', 'ranges', 'priority', 'str', 'evpd', 'page', 'allocationLength', 'block', 'unmap'];
  const key = rnd() < 0.8 && keys.length > 0 ? keys[Math.floor(rnd() * keys.length)] : extra[Math.floor(rnd() * extra.length)];
  (copy as Record<string, unknown>)[key] = rnd() < 0.5 ? mutate(rnd, (copy as Record<string, unknown>)[key], depth + 1) : garbage(rnd);
  return copy;
}

// What a successful call must look like, including the self-consistency of length fields.
function checkWellFormed(name: string, out: unknown): void {
  if (name === 'identificationCscdDescriptor') {
    assert.ok(Buffer.isBuffer(out) && out.length === 32 && out[0] === 0xe4, name);
    return;
  }
  if (name === 'blockToBlockSegmentDescriptor') {
    assert.ok(Buffer.isBuffer(out) && out.length === 28 && out[0] === 0x02 && out.readUInt16BE(2) === 0x18, name);
    return;
  }
  const c = out as EncodedCommand;
  assert.ok(Buffer.isBuffer(c.cdb) && [6, 10, 12, 16].includes(c.cdb.length), `${name}: cdb`);
  assert.ok(['none', 'to-device', 'from-device'].includes(c.direction), `${name}: direction`);
  if (c.direction === 'from-device' && c.allocationLength !== undefined) {
    assert.ok(Number.isInteger(c.allocationLength) && c.allocationLength >= 1 && c.allocationLength <= 0xffffffff, `${name}: allocationLength`);
  }
  if (c.data !== undefined) assert.ok(Buffer.isBuffer(c.data) && c.direction === 'to-device', `${name}: data`);
  if (name === 'populateToken' || name === 'writeUsingToken' || name === 'extendedCopyLid1') {
    assert.equal(c.cdb.readUInt32BE(10), c.data!.length, `${name}: PARAMETER LIST LENGTH`);
  }
  if (name === 'populateToken') {
    assert.equal(c.data!.readUInt16BE(0), c.data!.length - 2);
    assert.equal(c.data!.readUInt16BE(14), c.data!.length - 16);
  }
  if (name === 'writeUsingToken') {
    assert.equal(c.data!.readUInt16BE(0), c.data!.length - 2);
    assert.equal(c.data!.readUInt16BE(534), c.data!.length - 536);
  }
  if (name === 'unmap') {
    assert.equal(c.cdb.readUInt16BE(7), c.data!.length, `${name}: PARAMETER LIST LENGTH`);
    assert.equal(c.data!.readUInt16BE(0), c.data!.length - 2);
    assert.equal(c.data!.readUInt16BE(2), c.data!.length - 8);
  }
  if (name === 'extendedCopyLid1') {
    assert.equal(16 + c.data!.readUInt16BE(2) + c.data!.readUInt32BE(8) + c.data!.readUInt32BE(12), c.data!.length);
  }
}

describe('native encoders: randomized garbage never crashes', () => {
  const names = Object.keys(enc).sort();

  it('exports every encoder of the NativeEncoders contract', () => {
    assert.deepEqual(names, [
      'blockToBlockSegmentDescriptor', 'copyOperationAbort', 'extendedCopyLid1', 'getLbaStatus', 'identificationCscdDescriptor',
      'inquiry', 'populateToken', 'read16', 'readCapacity16', 'receiveCopyResults', 'receiveCopyStatusLid4',
      'receiveRodTokenInformation', 'reportAllRodTokens', 'reportLuns', 'reportTargetPortGroups', 'requestSense', 'synchronizeCache10', 'synchronizeCache16',
      'testUnitReady', 'unmap', 'write16', 'writeSame16', 'writeUsingToken',
    ]);
  });

  for (const seed of [1, 0xc0ffee, 20251122]) {
    it(`4000 random inputs (seed ${seed}) either encode well-formed commands or throw TypeError/RangeError`, () => {
      const rnd = prng(seed);
      const outcomes = { ok: 0, type: 0, range: 0, getter: 0 };
      for (let i = 0; i < 4000; i++) {
        const name = names[Math.floor(rnd() * names.length)];
        const input = rnd() < 0.25 ? garbage(rnd) : mutate(rnd, template(name));
        let out: unknown;
        try {
          out = raw[name](input);
        } catch (e) {
          if (e instanceof TypeError) outcomes.type++;
          else if (e instanceof RangeError) outcomes.range++;
          else if (e instanceof FuzzGetterError) outcomes.getter++;
          else assert.fail(`seed ${seed} iteration ${i}: ${name} threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
          if (!(e instanceof FuzzGetterError)) assert.match((e as Error).message, new RegExp(`^${name}: `), `seed ${seed} iteration ${i}`);
          continue;
        }
        checkWellFormed(name, out);
        outcomes.ok++;
      }
      // The generator must reach both outcomes, or the loop tests nothing.
      assert.ok(outcomes.ok > 200, `too few successful encodes: ${JSON.stringify(outcomes)}`);
      assert.ok(outcomes.type > 200 && outcomes.range > 200, `too few rejections: ${JSON.stringify(outcomes)}`);
    });
  }
});
