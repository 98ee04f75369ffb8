import { strict as assert } from 'node:assert';
import { hexToBuffer as h } from '../../lib/scsi/bytes';
import { ParseError } from '../../lib/scsi/bytes';
import {
  COPY_OPERATION_STATUS,
  TRANSFER_COUNT_UNITS,
  copyOperationStatusName,
  decodeCopyStatus,
  decodeFailedSegmentDetails,
  decodeIdentificationCscd,
  decodeOperatingParameters,
  decodeReceiveCopyStatusLid4,
  decodeReceiveRodTokenInformation,
  supportsLid1BlockCopy,
  transferCountToBytes,
  transferredBytes,
} from '../../lib/scsi/tpc';
import { decodeReportAllRodTokens } from '../../lib/scsi/rod-token';
import { CSCD_E4_NAA6, NAA6, makeAurToken } from './rod-token.test';

const COPY_ABORTED_0D02 = h('70 00 0a 00000000 0a 00000000 0d 02 00 000000');
const COPY_ABORTED_0D01 = h('70 00 0a 00000000 0a 00000003 0d 01 00 000000');

export const TPC_VECTORS: Record<string, Buffer> = {
  // ref 5.6 + 5.13: LIO's RCR OPERATING PARAMETERS: available data 42, SNLID, 2 CSCDs, 1 segment,
  // 1024 list bytes, 256 MiB max segment, granularity 9, implemented codes 02 E4
  // (total/max concurrent copies 1: illustrative, not in the reference)
  lioOperatingParameters: h(`
    0000002a 01 000000 0002 0001 00000400 10000000
    00000000 00000000 00000000 0000 0001 01 09 00 00 000000 02  02 e4`),
  // ref 5.5/5.6: tcmu-runner, same counts but a 16 MiB segment limit
  tcmuOperatingParameters: h(`
    0000002a 01 000000 0002 0001 00000400 01000000
    00000000 00000000 00000000 0000 0001 01 09 00 00 000000 02  02 e4`),
  // ref 5.6: FreeBSD: 64/64, 8192 list bytes, max segment length 0, codes 02 07 14 E4
  freebsdOperatingParameters: h(`
    0000002c 01 000000 0040 0040 00002000 00000000
    00000000 00000000 00000000 0000 0040 40 00 00 00 000000 04  02 07 14 e4`),
  // ref 5.6: RECEIVE COPY STATUS(LID1): completed, 1 segment, 1 MiB in bytes (FreeBSD)
  lid1Completed: h('00000008 01 0001 00 00100000'),
  // ref 5.6, 7.2: in progress, HDD set, count in MiB (FreeBSD switches units above 32 bits)
  lid1InProgressMiB: h('00000008 80 0002 02 00000800'),
  // ref 5.6: failure details: 52 reserved bytes, status CHECK CONDITION, 18 bytes of sense
  failedSegment: Buffer.concat([h('0000004a'), Buffer.alloc(52), h('02 00 0012'), COPY_ABORTED_0D02]),
  noFailure: h('00000000'),
  // ref 5.10 + 7.2 + 7.3: FreeBSD RRTI after POPULATE TOKEN: completed, delay 0xFFFFFFFF,
  // units 0xF1 (logical blocks), 2048 blocks, no sense, ROD token descriptors length 514, token
  freebsdRrti: Buffer.concat([
    h('00000222 10 01 0000 ffffffff 00 00 00 f1 0000000000000800 0000 000000000000'),
    h('00000202 0000'),
    makeAurToken(),
  ]),
  // ref 5.10, 7.1: RRTI while a WRITE USING TOKEN runs in the foreground, delay 1000 ms, no token
  rrtiInProgress: h('00000020 11 11 0005 000003e8 00 00 00 f1 0000000000000100 0000 000000000000  00000000'),
  // ref 5.10: completed with errors, 18 bytes of sense in an 18-byte sense field, then no token
  rrtiWithSense: Buffer.concat([h('00000032 11 02 0003 ffffffff 02 12 12 00 0000000000010000 0001 000000000000'), COPY_ABORTED_0D01, h('00000000')]),
  // ref 5.10, 6.3: FreeBSD RECEIVE COPY STATUS(LID4): units bytes
  freebsdRcsLid4: h('0000001c 11 01 0001 ffffffff 00 00 00 00 0000000000100000 0001 000000000000'),
  // ref 5.12: REPORT ALL ROD TOKENS with two 96-byte management tokens
  reportAllRodTokens: Buffer.concat([h('000000c4 00000000'), makeAurToken(1).subarray(0, 96), makeAurToken(2).subarray(0, 96)]),
  // ref 5.3: 0xE4 CSCD with a NAA-6 designator and a 512-byte block length
  cscdE4: CSCD_E4_NAA6,
};

describe('tpc: RECEIVE COPY OPERATING PARAMETERS (ref 5.6)', () => {
  it("LIO's reply", () => {
    const o = decodeOperatingParameters(TPC_VECTORS.lioOperatingParameters!);
    assert.equal(o.availableData, 42);
    assert.equal(o.snlid, true);
    assert.equal(o.maximumCscdDescriptorCount, 2);
    assert.equal(o.maximumSegmentDescriptorCount, 1);
    assert.equal(o.maximumDescriptorListLength, 1024);
    assert.equal(o.maximumSegmentLength, 256 * 1024 * 1024);
    assert.equal(o.maximumInlineDataLength, 0);
    assert.equal(o.heldDataLimit, 0);
    assert.equal(o.maximumStreamDeviceTransferSize, 0);
    assert.equal(o.totalConcurrentCopies, 1);
    assert.equal(o.maximumConcurrentCopies, 1);
    assert.equal(o.dataSegmentGranularity, 9);
    assert.equal(o.inlineDataGranularity, 0);
    assert.equal(o.heldDataGranularity, 0);
    assert.equal(o.implementedDescriptorListLength, 2);
    assert.deepEqual(o.implementedDescriptorTypeCodes, [0x02, 0xe4]);
    assert.equal(o.truncated, false);
    assert.equal(supportsLid1BlockCopy(o), true);
  });

  it("tcmu-runner's 16 MiB, FreeBSD's 64/64/8192 and four codes", () => {
    assert.equal(decodeOperatingParameters(TPC_VECTORS.tcmuOperatingParameters!).maximumSegmentLength, 16 * 1024 * 1024);
    const f = decodeOperatingParameters(TPC_VECTORS.freebsdOperatingParameters!);
    assert.deepEqual([f.maximumCscdDescriptorCount, f.maximumSegmentDescriptorCount, f.maximumDescriptorListLength, f.maximumSegmentLength], [64, 64, 8192, 0]);
    assert.deepEqual(f.implementedDescriptorTypeCodes, [0x02, 0x07, 0x14, 0xe4]);
    assert.equal(supportsLid1BlockCopy(f), true);
  });

  it('supportsLid1BlockCopy needs both 0x02 and 0xE4', () => {
    assert.equal(supportsLid1BlockCopy({ implementedDescriptorTypeCodes: [0xe4] }), false);
    assert.equal(supportsLid1BlockCopy({ implementedDescriptorTypeCodes: [0x02, 0x0a] }), false);
  });

  it('short replies: list partial and flagged; fixed part missing or inconsistent lengths throw', () => {
    const t = decodeOperatingParameters(TPC_VECTORS.lioOperatingParameters!.subarray(0, 45));
    assert.equal(t.truncated, true);
    assert.deepEqual(t.implementedDescriptorTypeCodes, [0x02]);
    assert.equal(supportsLid1BlockCopy(t), false);
    assert.throws(() => decodeOperatingParameters(TPC_VECTORS.lioOperatingParameters!.subarray(0, 43)), ParseError);
    const bad = Buffer.from(TPC_VECTORS.lioOperatingParameters!);
    bad[43] = 10;
    assert.throws(() => decodeOperatingParameters(bad), /runs past the 42 bytes of available data/);
    const small = Buffer.from(TPC_VECTORS.lioOperatingParameters!);
    small.writeUInt32BE(20, 0);
    assert.throws(() => decodeOperatingParameters(small), /less than the 40 bytes/);
  });
});

describe('tpc: RECEIVE COPY STATUS(LID1) and FAILURE DETAILS (ref 5.6)', () => {
  it('completed, in bytes', () => {
    const s = decodeCopyStatus(TPC_VECTORS.lid1Completed!);
    assert.deepEqual(
      [s.availableData, s.hdd, s.copyManagerStatus, s.copyManagerStatusName, s.inProgress, s.segmentsProcessed, s.transferCountUnits, s.transferCountUnitsName, s.transferCount],
      [8, false, 1, 'completed without errors', false, 1, 0, 'bytes', 0x100000n],
    );
    assert.equal(s.transferredBytes(), 0x100000n);
  });

  it('in progress with HDD, MiB units', () => {
    const s = decodeCopyStatus(TPC_VECTORS.lid1InProgressMiB!);
    assert.equal(s.hdd, true);
    assert.equal(s.inProgress, true);
    assert.equal(s.copyManagerStatusName, 'in progress');
    assert.equal(s.transferCountUnitsName, 'mebibytes');
    assert.equal(s.transferredBytes(), 2048n << 20n);
    assert.equal(Object.keys(s).includes('transferredBytes'), false, 'helper is not a data field');
  });

  it('needs all 12 bytes', () => {
    for (let n = 0; n < 12; n++) assert.throws(() => decodeCopyStatus(TPC_VECTORS.lid1Completed!.subarray(0, n)), ParseError);
  });

  it('failure details with sense; none when AVAILABLE DATA is 0', () => {
    const f = decodeFailedSegmentDetails(TPC_VECTORS.failedSegment!);
    assert.equal(f.hasDetails, true);
    assert.equal(f.extendedCopyCommandStatus, 0x02);
    assert.equal(f.senseDataLength, 18);
    assert.equal(f.sense?.ascName, 'copy target device not reachable');
    assert.equal(f.truncated, false);
    assert.deepEqual(decodeFailedSegmentDetails(TPC_VECTORS.noFailure!), { availableData: 0, hasDetails: false, truncated: false });
  });

  it('failure details: truncated sense, inconsistent lengths, undecodable sense', () => {
    const t = decodeFailedSegmentDetails(TPC_VECTORS.failedSegment!.subarray(0, 70));
    assert.equal(t.truncated, true);
    assert.equal(t.senseData?.length, 10);
    assert.equal(t.sense?.truncated, true);
    assert.throws(() => decodeFailedSegmentDetails(h('0000000a 00000000000000000000')), /shorter than the 56 bytes/);
    const over = Buffer.from(TPC_VECTORS.failedSegment!);
    over.writeUInt16BE(40, 58);
    assert.throws(() => decodeFailedSegmentDetails(over), /run past the available data/);
    const junk = Buffer.from(TPC_VECTORS.failedSegment!);
    junk[60] = 0x01;
    const j = decodeFailedSegmentDetails(junk);
    assert.equal(j.sense, undefined);
    assert.match(j.senseError ?? '', /response code/);
  });
});

describe('tpc: RECEIVE ROD TOKEN INFORMATION / RECEIVE COPY STATUS(LID4) (ref 5.10)', () => {
  it("FreeBSD's RRTI after POPULATE TOKEN: units 0xF1, delay 0xFFFFFFFF, 512-byte token", () => {
    const r = decodeReceiveRodTokenInformation(TPC_VECTORS.freebsdRrti!);
    assert.equal(r.availableData, 546);
    assert.equal(r.responseToServiceAction, 0x10);
    assert.equal(r.responseToServiceActionName, 'POPULATE TOKEN');
    assert.equal(r.copyOperationStatus, COPY_OPERATION_STATUS.COMPLETED);
    assert.equal(r.copyOperationStatusName, 'completed without errors');
    assert.equal(r.inProgress, false);
    assert.equal(r.estimatedStatusUpdateDelay, 0xffffffff);
    assert.equal(r.extendedCopyCompletionStatus, 0);
    assert.equal(r.transferCountUnits, TRANSFER_COUNT_UNITS.LOGICAL_BLOCKS);
    assert.equal(r.transferCountUnitsName, 'logical blocks');
    assert.equal(r.transferCount, 2048n);
    assert.equal(r.transferredBytes(512), 1024n * 1024n);
    assert.equal(transferredBytes(r, 4096), 8n * 1024n * 1024n);
    assert.throws(() => r.transferredBytes(), RangeError, 'logical blocks need the block size');
    assert.equal(r.rodTokenDescriptorsLength, 514);
    assert.equal(r.senseDataLength, 0);
    assert.equal(r.sense, undefined);
    assert.ok(r.token?.equals(makeAurToken()));
    assert.equal(r.truncated, false);
  });

  it('the token is a copy: reusing the reply buffer does not change it', () => {
    const buf = Buffer.from(TPC_VECTORS.freebsdRrti!);
    const r = decodeReceiveRodTokenInformation(buf);
    buf.fill(0);
    assert.ok(r.token?.equals(makeAurToken()));
  });

  it('in progress: status 0x11, no token', () => {
    const r = decodeReceiveRodTokenInformation(TPC_VECTORS.rrtiInProgress!);
    assert.equal(r.inProgress, true);
    assert.equal(r.copyOperationStatusName, 'in progress in foreground');
    assert.equal(r.responseToServiceActionName, 'WRITE USING TOKEN');
    assert.equal(r.operationCounter, 5);
    assert.equal(r.estimatedStatusUpdateDelay, 1000);
    assert.equal(r.rodTokenDescriptorsLength, 0);
    assert.equal(r.token, undefined);
  });

  it('completed with errors carries decoded sense', () => {
    const r = decodeReceiveRodTokenInformation(TPC_VECTORS.rrtiWithSense!);
    assert.equal(r.copyOperationStatusName, 'completed with errors');
    assert.equal(r.extendedCopyCompletionStatus, 0x02);
    assert.equal(r.senseDataFieldLength, 18);
    assert.equal(r.senseData?.length, 18);
    assert.equal(r.sense?.ascName, 'third party device failure');
    assert.equal(r.sense?.commandSpecific, 3n);
    assert.equal(r.rodTokenDescriptorsLength, 0);
    assert.equal(r.segmentsProcessed, 1);
    assert.equal(r.transferredBytes(), 0x10000n);
  });

  it('RECEIVE COPY STATUS(LID4): same header, bytes, no token part', () => {
    const r = decodeReceiveCopyStatusLid4(TPC_VECTORS.freebsdRcsLid4!);
    assert.equal(r.copyOperationStatus, 0x01);
    assert.equal(r.responseToServiceActionName, 'WRITE USING TOKEN');
    assert.equal(r.transferredBytes(), 0x100000n);
    assert.equal((r as { token?: Buffer }).token, undefined);
  });

  it('truncated replies and inconsistent lengths', () => {
    const t = decodeReceiveRodTokenInformation(TPC_VECTORS.freebsdRrti!.subarray(0, 300));
    assert.equal(t.truncated, true);
    assert.equal(t.token, undefined);
    assert.equal(t.rodTokenDescriptorsLength, 514);
    assert.equal(t.transferCount, 2048n);
    for (let n = 0; n < 32; n++) assert.throws(() => decodeReceiveRodTokenInformation(TPC_VECTORS.freebsdRrti!.subarray(0, n)), ParseError);

    const senseTooLong = Buffer.from(TPC_VECTORS.rrtiWithSense!);
    senseTooLong[14] = 0x13;
    assert.throws(() => decodeReceiveRodTokenInformation(senseTooLong), /valid sense bytes in a sense data field/);
    const fieldPastEnd = Buffer.from(TPC_VECTORS.rrtiWithSense!);
    fieldPastEnd[13] = 0xf0;
    fieldPastEnd[14] = 0x00;
    assert.throws(() => decodeReceiveRodTokenInformation(fieldPastEnd), /sense data field of 240 bytes runs past/);
    const smallRtdl = Buffer.from(TPC_VECTORS.freebsdRrti!);
    smallRtdl.writeUInt32BE(100, 32);
    assert.throws(() => decodeReceiveRodTokenInformation(smallRtdl), /cannot hold a 512-byte ROD token/);
    const longRtdl = Buffer.from(TPC_VECTORS.freebsdRrti!);
    longRtdl.writeUInt32BE(1000, 32);
    assert.throws(() => decodeReceiveRodTokenInformation(longRtdl), /run past the available data/);
  });

  it('transfer count units (ref 7.2)', () => {
    assert.equal(transferCountToBytes(0x00, 5n), 5n);
    assert.equal(transferCountToBytes(0x01, 5n), 5n * 1024n);
    assert.equal(transferCountToBytes(0x03, 1n), 1n << 30n);
    assert.equal(transferCountToBytes(0x06, 1n), 1n << 60n);
    assert.equal(transferCountToBytes(0xf1, 3n, 4096), 12288n);
    assert.throws(() => transferCountToBytes(0xf1, 3n, 0), RangeError);
    assert.throws(() => transferCountToBytes(0x07, 1n), ParseError);
    const odd = Buffer.from(TPC_VECTORS.freebsdRcsLid4!);
    odd[15] = 0x42;
    const r = decodeReceiveCopyStatusLid4(odd);
    assert.equal(r.transferCountUnitsName, 'reserved (0x42)');
    assert.throws(() => r.transferredBytes(512), ParseError);
  });

  it('status names (ref 7.1)', () => {
    assert.equal(copyOperationStatusName(0x03), 'completed without errors, partial ROD token usage');
    assert.equal(copyOperationStatusName(0x04), 'completed without errors, residual data');
    assert.equal(copyOperationStatusName(0x12), 'in progress in background');
    assert.equal(copyOperationStatusName(0x60), 'operation terminated');
    assert.equal(copyOperationStatusName(0x05), 'reserved (0x05)');
  });
});

describe('tpc: REPORT ALL ROD TOKENS (ref 5.12)', () => {
  it('two management tokens', () => {
    const r = decodeReportAllRodTokens(TPC_VECTORS.reportAllRodTokens!);
    assert.equal(r.availableData, 196);
    assert.deepEqual(r.tokens.map((t) => t.copyManagerRodTokenId), ['0000000000000001', '0000000000000002']);
    assert.equal(r.tokens[0]!.rodTypeName, 'access upon reference');
    assert.equal(r.tokens[0]!.numberOfBytesRepresented, 0x100000n);
    assert.equal(r.tokens[1]!.raw.length, 96);
    assert.equal(r.truncated, false);
  });

  it('partial token list; token list not a multiple of 96', () => {
    const t = decodeReportAllRodTokens(TPC_VECTORS.reportAllRodTokens!.subarray(0, 150));
    assert.equal(t.truncated, true);
    assert.equal(t.tokens.length, 1);
    assert.deepEqual(decodeReportAllRodTokens(h('00000004 00000000')).tokens, []);
    assert.throws(() => decodeReportAllRodTokens(h('00000010 00000000 000000000000000000000000')), /multiple of the 96-byte/);
  });
});

describe('tpc: identification CSCD descriptor 0xE4 (ref 5.3)', () => {
  it('decodes LU ID type, PDT, designator, block length', () => {
    const c = decodeIdentificationCscd(TPC_VECTORS.cscdE4!);
    assert.deepEqual([c.descriptorTypeCode, c.luIdType, c.nul, c.peripheralDeviceType, c.relativeInitiatorPortIdentifier, c.pad, c.fixed, c.diskBlockLength], [0xe4, 0, false, 0, 0, false, false, 512]);
    assert.equal(c.peripheralDeviceTypeName, 'direct access block device');
    assert.equal(c.designator.designatorTypeName, 'NAA');
    assert.equal(c.designator.designator.toString('hex'), NAA6.toString('hex'));
    assert.equal(c.raw.length, 32);
  });

  it('wrong type code, oversized designator, short buffer', () => {
    const notE4 = Buffer.from(TPC_VECTORS.cscdE4!);
    notE4[0] = 0xe5;
    assert.throws(() => decodeIdentificationCscd(notE4), /is not 0xE4/);
    const big = Buffer.from(TPC_VECTORS.cscdE4!);
    big[7] = 21;
    assert.throws(() => decodeIdentificationCscd(big), /exceeds the 20-byte field/);
    assert.throws(() => decodeIdentificationCscd(TPC_VECTORS.cscdE4!.subarray(0, 31)), ParseError);
  });
});
