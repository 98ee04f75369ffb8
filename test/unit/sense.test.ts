import { strict as assert } from 'node:assert';
import { ascName, ASC_TABLE, senseKeyName } from '../../lib/scsi/asc';
import { actionEntries, copyActionFor } from '../../lib/engine/reactions';
import { hexToBuffer as h } from '../../lib/scsi/bytes';
import { ParseError } from '../../lib/scsi/bytes';
import { commandName, serviceActionOf } from '../../lib/scsi/opcodes';
import { decodeSense, decodeSenseHeader, type ForwardedSenseDescriptor } from '../../lib/scsi/sense';

/** Build fixed-format sense (ref 2.1) the way Linux does: additional length 0x0A, 18 bytes. */
function fixed(o: { rc?: number; valid?: boolean; key: number; info?: number; csi?: number; asc: number; ascq: number; fru?: number; sks?: [number, number, number]; flags?: number }): Buffer {
  const b = Buffer.alloc(18);
  b[0] = (o.rc ?? 0x70) | (o.valid ? 0x80 : 0);
  b[2] = (o.flags ?? 0) | o.key;
  b.writeUInt32BE(o.info ?? 0, 3);
  b[7] = 0x0a;
  b.writeUInt32BE(o.csi ?? 0, 8);
  b[12] = o.asc;
  b[13] = o.ascq;
  b[14] = o.fru ?? 0;
  if (o.sks) b.set(o.sks, 15);
  return b;
}

/** Hand-built sense vectors, each from the tables of ref 2.1-2.4. */
export const SENSE_VECTORS: Record<string, Buffer> = {
  // ref 2.1: fixed, ILLEGAL REQUEST 20/00 (what LIO returns with emulate_3pc=0, ref 2.6)
  lioInvalidOpcode: h('70 00 05 00000000 0a 00000000 20 00 00 000000'),
  // ref 2.4: FreeBSD 24/00 for an unknown list id, field pointer: CDB (C/D=1) byte 2
  freebsdUnknownListId: h('70 00 05 00000000 0a 00000000 24 00 00 c0 0002'),
  // ref 2.1 + 5.8: FreeBSD 21/00 with INFORMATION = first bad LBA (VALID set)
  freebsdLbaOutOfRange: h('f0 00 05 00001000 0a 00000000 21 00 00 000000'),
  // ref 2.6: LIO COPY ABORTED 0D/02
  lioCopyTargetNotReachable: h('70 00 0a 00000000 0a 00000000 0d 02 00 000000'),
  // ref 2.4: NOT READY 04/04 with progress 0x8000 (50 %)
  notReadyProgress: h('70 00 02 00000000 0a 00000000 04 04 00 80 8000'),
  // ref 2.4: COPY ABORTED, segment pointer relative to segment descriptor (SD), BPV bit 3, byte 0x10
  copyAbortedSegmentPointer: h('70 00 0a 00000000 0a 00000000 26 0a 00 ab 0010'),
  // ref 2.3 step 4: deferred fixed sense (0x71), MEDIUM ERROR 0C/00, FRU 5, retry count 3
  deferredWriteError: h('71 00 03 00000000 0a 00000000 0c 00 05 80 0003'),
  // ref 2.2: descriptor format, ILLEGAL REQUEST 21/00 with a valid 64-bit information descriptor
  descriptorInformation: h('72 05 21 00 00 00 00 0c  00 0a 80 00 0000000100000000'),
  // ref 2.2: progress indication descriptor (0x0A): NOT READY 04/07, progress 0x4000 (25 %)
  descriptorProgress: h('72 02 04 07 00 00 00 08  0a 06 02 04 07 00 4000'),
  // ref 2.2, 2.4, FreeBSD tpc_set_io_error_sense: COPY ABORTED 0D/01 with the failing segment
  // index in the command-specific descriptor, the CSCD byte offset as segment pointer (SD=0) and
  // the destination's sense forwarded (FSDT set, source 2 = destination, status CHECK CONDITION)
  freebsdThirdPartyFailure: h(`
    72 0a 0d 01 00 00 00 2a
    01 0a 00 00 0000000000000003          # command-specific: segment 3
    02 06 00 00 80 0030 00                # SKS: SKSV, SD=0, segment pointer 0x30
    0c 14 82 02                           # forwarded sense: FSDT, destination, CHECK CONDITION
       70 00 03 00000000 0a 00000000 11 00 00 000000   # MEDIUM ERROR 11/00
  `),
  // ref 2.2: stream, block, FRU descriptors and a vendor specific one (kept raw)
  descriptorMisc: h('72 0b 00 00 80 00 00 10  03 02 00 07  04 02 00 e0  05 02 00 20  80 02 aa bb'),
};

describe('sense: fixed format (ref 2.1, 2.3, 2.4)', () => {
  it('ILLEGAL REQUEST 20/00 as Linux builds it', () => {
    const s = decodeSense(SENSE_VECTORS.lioInvalidOpcode!);
    assert.equal(s.format, 'fixed');
    assert.equal(s.responseCode, 0x70);
    assert.equal(s.current, true);
    assert.equal(s.deferred, false);
    assert.equal(s.senseKey, 5);
    assert.equal(s.senseKeyName, 'ILLEGAL REQUEST');
    assert.equal(s.asc, 0x20);
    assert.equal(s.ascq, 0x00);
    assert.equal(s.ascPresent, true);
    assert.equal(s.ascName, 'invalid command operation code');
    assert.equal(s.additionalLength, 10);
    assert.equal(s.length, 18);
    assert.equal(s.informationValid, false);
    assert.equal(s.information, undefined);
    assert.equal(s.senseKeySpecific, undefined, 'SKSV clear');
    assert.equal(s.truncated, false);
  });

  it('field pointer: C/D and byte offset (FreeBSD unknown list id)', () => {
    const s = decodeSense(SENSE_VECTORS.freebsdUnknownListId!);
    assert.equal(s.asc, 0x24);
    const sks = s.senseKeySpecific;
    assert.ok(sks && sks.kind === 'field-pointer');
    assert.equal(sks.commandData, true);
    assert.equal(sks.fieldPointer, 2);
    assert.equal(sks.bitPointerValid, false);
    assert.equal(sks.bitPointer, undefined);
  });

  it('VALID bit gates INFORMATION (FreeBSD 21/00 carries the bad LBA)', () => {
    const s = decodeSense(SENSE_VECTORS.freebsdLbaOutOfRange!);
    assert.equal(s.informationValid, true);
    assert.equal(s.information, 0x1000n);
    const noValid = Buffer.from(SENSE_VECTORS.freebsdLbaOutOfRange!);
    noValid[0] = 0x70;
    const s2 = decodeSense(noValid);
    assert.equal(s2.informationValid, false);
    assert.equal(s2.information, undefined);
  });

  it('progress for NOT READY, segment pointer for COPY ABORTED, retry count for MEDIUM ERROR', () => {
    const p = decodeSense(SENSE_VECTORS.notReadyProgress!).senseKeySpecific;
    assert.ok(p && p.kind === 'progress');
    assert.equal(p.progress, 0x8000);
    assert.equal(p.fraction, 0.5);

    const c = decodeSense(SENSE_VECTORS.copyAbortedSegmentPointer!);
    assert.equal(c.ascName, 'unexpected inexact segment');
    const sp = c.senseKeySpecific;
    assert.ok(sp && sp.kind === 'segment-pointer');
    assert.equal(sp.segmentDescriptor, true);
    assert.equal(sp.bitPointerValid, true);
    assert.equal(sp.bitPointer, 3);
    assert.equal(sp.segmentPointer, 0x10);

    const d = decodeSense(SENSE_VECTORS.deferredWriteError!);
    assert.equal(d.deferred, true);
    assert.equal(d.current, false);
    assert.equal(d.fru, 5);
    const rc = d.senseKeySpecific;
    assert.ok(rc && rc.kind === 'retry-count');
    assert.equal(rc.actualRetryCount, 3);
  });

  it('FILEMARK/EOM/ILI/SDAT_OVFL bits of byte 2', () => {
    const s = decodeSense(fixed({ key: 0, asc: 0, ascq: 0, flags: 0xf0 }));
    assert.deepEqual([s.filemark, s.eom, s.ili, s.sdatOvfl], [true, true, true, true]);
  });

  it('UNIT ATTENTION overflow bit', () => {
    const s = decodeSense(fixed({ key: 6, asc: 0x29, ascq: 0x07, sks: [0x81, 0, 0] }));
    assert.equal(s.ascName, 'I_T nexus loss occurred');
    assert.deepEqual(s.senseKeySpecific?.kind, 'unit-attention-queue');
    assert.equal((s.senseKeySpecific as { overflow: boolean }).overflow, true);
  });

  it('only trusts bytes below 8 + additional length (ref 2.1)', () => {
    // Additional length 4: ASC/ASCQ bytes (12-13) lie outside and must be ignored.
    const b = Buffer.from(SENSE_VECTORS.lioInvalidOpcode!);
    b[7] = 4;
    const s = decodeSense(b);
    assert.equal(s.ascPresent, false);
    assert.equal(s.asc, 0);
    assert.equal(s.commandSpecific, 0n);
    assert.equal(s.length, 12);
    assert.equal(s.truncated, false);
  });

  it('a buffer shorter than claimed is truncated, not an error', () => {
    const s = decodeSense(SENSE_VECTORS.lioInvalidOpcode!.subarray(0, 14));
    assert.equal(s.truncated, true);
    assert.equal(s.asc, 0x20);
    assert.equal(s.fru, undefined);
    const tiny = decodeSense(h('70 00 06'));
    assert.equal(tiny.senseKey, 6);
    assert.equal(tiny.truncated, true);
    assert.equal(tiny.ascPresent, false);
  });

  it('rejects bad response codes and missing sense key (ref 2.3 step 1)', () => {
    assert.throws(() => decodeSense(Buffer.alloc(0)), ParseError);
    assert.throws(() => decodeSense(h('70 00')), ParseError);
    assert.throws(() => decodeSense(h('7f 00 05 00000000 0a')), ParseError);
    assert.throws(() => decodeSense(Buffer.alloc(18)), ParseError);
    assert.throws(() => decodeSense(h('72 05 24')), ParseError);
  });
});

describe('sense: descriptor format (ref 2.2, 2.3)', () => {
  it('information descriptor gives a 64-bit INFORMATION with its VALID bit', () => {
    const s = decodeSense(SENSE_VECTORS.descriptorInformation!);
    assert.equal(s.format, 'descriptor');
    assert.equal(s.senseKey, 5);
    assert.equal(s.asc, 0x21);
    assert.equal(s.informationValid, true);
    assert.equal(s.information, 1n << 32n);
    assert.equal(s.descriptors.length, 1);
    assert.equal(s.descriptors[0]!.kind, 'information');
  });

  it('progress indication descriptor', () => {
    const s = decodeSense(SENSE_VECTORS.descriptorProgress!);
    const d = s.descriptors[0]!;
    assert.ok(d.kind === 'progress-indication');
    assert.deepEqual([d.senseKey, d.asc, d.ascq, d.progress, d.fraction], [2, 0x04, 0x07, 0x4000, 0.25]);
  });

  it('FreeBSD third party device failure: CSI segment index, SKS segment pointer, forwarded sense decoded', () => {
    const s = decodeSense(SENSE_VECTORS.freebsdThirdPartyFailure!);
    assert.equal(s.senseKeyName, 'COPY ABORTED');
    assert.equal(s.ascName, 'third party device failure');
    assert.equal(s.commandSpecific, 3n);
    const sks = s.senseKeySpecific;
    assert.ok(sks && sks.kind === 'segment-pointer');
    assert.equal(sks.segmentDescriptor, false);
    assert.equal(sks.segmentPointer, 0x30);
    assert.equal(s.descriptors.length, 3);
    const fwd = s.descriptors[2] as ForwardedSenseDescriptor;
    assert.equal(fwd.kind, 'forwarded-sense');
    assert.equal(fwd.fsdt, true);
    assert.equal(fwd.senseDataSource, 2);
    assert.equal(fwd.senseDataSourceName, 'EXTENDED COPY destination');
    assert.equal(fwd.forwardedStatus, 0x02);
    assert.equal(fwd.forwardedSenseData.length, 18);
    assert.equal(fwd.forwardedSense?.senseKeyName, 'MEDIUM ERROR');
    assert.equal(fwd.forwardedSense?.ascName, 'unrecovered read error');
    assert.equal(s.truncated, false);
  });

  it('FRU, stream, block descriptors; unknown descriptors kept raw', () => {
    const s = decodeSense(SENSE_VECTORS.descriptorMisc!);
    assert.equal(s.sdatOvfl, true);
    assert.deepEqual(
      s.descriptors.map((d) => d.kind),
      ['fru', 'stream-commands', 'block-commands', 'unknown'],
    );
    assert.equal(s.fru, 7);
    assert.deepEqual([s.filemark, s.eom, s.ili], [true, true, true]);
    assert.equal(s.descriptors[3]!.raw.toString('hex'), '8002aabb');
  });

  it('a forwarded sense that does not parse is reported on the descriptor, not thrown', () => {
    const b = Buffer.from(SENSE_VECTORS.freebsdThirdPartyFailure!);
    b[32] = 0x00; // forwarded sense response code (byte 4 of the 0x0C descriptor at 28)
    const s = decodeSense(b);
    const fwd = s.descriptors[2] as ForwardedSenseDescriptor;
    assert.equal(fwd.forwardedSense, undefined);
    assert.match(fwd.forwardedSenseError ?? '', /response code/);
  });

  it('forwarded sense recursion is bounded', () => {
    // Wrap a fixed sense in forwarded-sense descriptors four times.
    let inner = SENSE_VECTORS.lioInvalidOpcode!;
    for (let i = 0; i < 4; i++) {
      const desc = Buffer.concat([Buffer.from([0x0c, 2 + inner.length, 0x01, 0x02]), inner]);
      inner = Buffer.concat([Buffer.from([0x72, 0x0a, 0x0d, 0x01, 0, 0, 0, desc.length]), desc]);
    }
    let s = decodeSense(inner);
    let depth = 0;
    for (;;) {
      const f = s.descriptors[0] as ForwardedSenseDescriptor;
      if (!f.forwardedSense) {
        assert.match(f.forwardedSenseError ?? '', /nested/);
        break;
      }
      s = f.forwardedSense;
      depth++;
    }
    assert.equal(depth, 2);
  });

  it('descriptor running past 8 + additional length is a ParseError; past the buffer is truncation', () => {
    const over = h('72 05 24 00 00 00 00 04  00 0a 80 00');
    assert.throws(() => decodeSense(over), ParseError);
    const short = decodeSense(SENSE_VECTORS.freebsdThirdPartyFailure!.subarray(0, 30));
    assert.equal(short.truncated, true);
    assert.equal(short.descriptors.length, 2, 'only whole descriptors');
    assert.equal(short.commandSpecific, 3n);
    // stray single byte where a 2-byte descriptor header should start
    assert.throws(() => decodeSense(h('72 05 24 00 00 00 00 01  00')), ParseError);
  });

  it('known descriptor types shorter than their layout are malformed', () => {
    assert.throws(() => decodeSense(h('72 05 24 00 00 00 00 04  00 02 80 00')), ParseError);
    assert.throws(() => decodeSense(h('72 05 24 00 00 00 00 04  02 02 80 00')), ParseError);
    assert.throws(() => decodeSense(h('72 05 24 00 00 00 00 04  0a 02 80 00')), ParseError);
  });

  it('decodeSenseHeader recovers key/ASC/ASCQ when descriptors are broken', () => {
    const broken = h('72 0a 0d 02 00 00 00 04  00 0a 80 00');
    assert.throws(() => decodeSense(broken), ParseError);
    assert.deepEqual(decodeSenseHeader(broken), { format: 'descriptor', responseCode: 0x72, senseKey: 0x0a, asc: 0x0d, ascq: 0x02, ascPresent: true });
    assert.deepEqual(decodeSenseHeader(SENSE_VECTORS.lioInvalidOpcode!), { format: 'fixed', responseCode: 0x70, senseKey: 5, asc: 0x20, ascq: 0, ascPresent: true });
    assert.throws(() => decodeSenseHeader(h('00 00 00')), ParseError);
  });
});

describe('asc: names and copy-engine actions (ref 2.5, 2.6)', () => {
  it('sense key names (ref 2.5)', () => {
    assert.equal(senseKeyName(0xa), 'COPY ABORTED');
    assert.equal(senseKeyName(0xb), 'ABORTED COMMAND');
    assert.equal(senseKeyName(0x1f), 'COMPLETED', 'masked to 4 bits');
  });

  // Every code of table 2.6 (ranges expanded) must have a name and an action.
  const TABLE_2_6: Array<[number, number]> = [
    [0x00, 0x16],
    ...Array.from({ length: 0x20 }, (_, q) => [0x04, q] as [number, number]).filter(([, q]) => q !== 0x0f),
    [0x08, 0x00], [0x08, 0x04], [0x0c, 0x00], [0x11, 0x00],
    [0x0d, 0x00], [0x0d, 0x01], [0x0d, 0x02], [0x0d, 0x03], [0x0d, 0x04], [0x0d, 0x05],
    [0x1a, 0x00], [0x20, 0x00], [0x21, 0x00],
    ...Array.from({ length: 11 }, (_, q) => [0x23, q] as [number, number]),
    [0x24, 0x00], [0x25, 0x00], [0x26, 0x00],
    ...[0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x15, 0x16].map((q) => [0x26, q] as [number, number]),
    ...Array.from({ length: 9 }, (_, q) => [0x27, q] as [number, number]),
    ...Array.from({ length: 8 }, (_, q) => [0x29, q] as [number, number]),
    [0x2a, 0x09], [0x2c, 0x00], [0x2f, 0x02], [0x3f, 0x03], [0x3f, 0x05], [0x3f, 0x0e], [0x44, 0x00],
    [0x55, 0x03], [0x55, 0x04], [0x55, 0x0c], [0x55, 0x0d],
  ];

  it('every ASC/ASCQ of table 2.6 has a specific name and an action', () => {
    for (const [asc, ascq] of TABLE_2_6) {
      const e = ASC_TABLE.find((x) => x.asc === asc && x.ascq === ascq);
      assert.ok(e, `missing ${asc.toString(16)}/${ascq.toString(16)}`);
      assert.ok(actionEntries().some(([a, q]) => a === asc && q === ascq), `no action for ${asc.toString(16)}/${ascq.toString(16)}`);
      assert.doesNotMatch(ascName(asc, ascq), /^ASC 0x/);
    }
  });

  it('names used in messages', () => {
    assert.equal(ascName(0x0d, 0x02), 'copy target device not reachable');
    assert.equal(ascName(0x23, 0x04), 'invalid token operation, token unknown');
    assert.equal(ascName(0x3a, 0x00), 'medium not present');
    assert.equal(ascName(0x05, 0x00), 'logical unit does not respond to selection');
    assert.equal(ascName(0x10, 0x01), 'logical block guard check failed');
  });

  it('generic and vendor-specific fallbacks', () => {
    assert.equal(ascName(0x7e, 0x00), 'ASC 0x7E ASCQ 0x00');
    assert.equal(ascName(0x80, 0x01), 'vendor specific ASC 0x80 ASCQ 0x01');
    assert.equal(ascName(0x04, 0x85), 'vendor specific ASCQ 0x85 for ASC 0x04');
  });

  it('no duplicate entries', () => {
    const keys = ASC_TABLE.map((e) => (e.asc << 8) | e.ascq);
    assert.equal(new Set(keys).size, keys.length);
  });

  it('copy actions follow table 2.6', () => {
    const ILLEGAL = 5, NOT_READY = 2, COPY_ABORTED = 0xa, UA = 6, ABORTED = 0xb, MEDIUM = 3;
    assert.equal(copyActionFor(ILLEGAL, 0x00, 0x16), 'new-list-id');
    assert.equal(copyActionFor(NOT_READY, 0x00, 0x16), 'retry', '00/16 under NOT READY is not a busy list id');
    assert.equal(copyActionFor(NOT_READY, 0x04, 0x01), 'retry');
    assert.equal(copyActionFor(NOT_READY, 0x04, 0x02), 'fatal');
    assert.equal(copyActionFor(NOT_READY, 0x04, 0x03), 'fatal');
    assert.equal(copyActionFor(NOT_READY, 0x08, 0x00), 'fallback', 'LIO block size mismatch');
    assert.equal(copyActionFor(COPY_ABORTED, 0x08, 0x04), 'fallback');
    assert.equal(copyActionFor(COPY_ABORTED, 0x0d, 0x01), 'retry');
    assert.equal(copyActionFor(COPY_ABORTED, 0x0d, 0x02), 'fallback');
    assert.equal(copyActionFor(ILLEGAL, 0x1a, 0x00), 'encoder-bug');
    assert.equal(copyActionFor(ILLEGAL, 0x20, 0x00), 'fallback');
    assert.equal(copyActionFor(ILLEGAL, 0x21, 0x00), 'recheck');
    assert.equal(copyActionFor(ILLEGAL, 0x23, 0x04), 'repopulate');
    assert.equal(copyActionFor(ILLEGAL, 0x23, 0x02), 'fallback');
    assert.equal(copyActionFor(ILLEGAL, 0x23, 0x0a), 'encoder-bug');
    assert.equal(copyActionFor(ILLEGAL, 0x26, 0x06), 'split');
    assert.equal(copyActionFor(ILLEGAL, 0x26, 0x08), 'split');
    assert.equal(copyActionFor(UA, 0x29, 0x00), 'recheck');
    assert.equal(copyActionFor(UA, 0x3f, 0x05), 'recheck');
    assert.equal(copyActionFor(ABORTED, 0x2f, 0x02), 'retry');
    assert.equal(copyActionFor(ILLEGAL, 0x55, 0x0d), 'retry');
    assert.equal(copyActionFor(MEDIUM, 0x11, 0x00), 'fatal');
    // Unknown codes fall back to the sense key.
    assert.equal(copyActionFor(ILLEGAL, 0x24, 0x01), 'fallback');
    assert.equal(copyActionFor(UA, 0x2a, 0x10), 'recheck');
    assert.equal(copyActionFor(ABORTED, 0x47, 0x7f), 'retry');
    assert.equal(copyActionFor(ABORTED, 0x10, 0x7f), 'fatal', 'protection errors never retried');
    assert.equal(copyActionFor(MEDIUM, 0x31, 0x00), 'fatal');
    assert.equal(copyActionFor(COPY_ABORTED, 0x80, 0x00), 'fallback');
  });
});

describe('opcodes: T10 command names (ref 5.1)', () => {
  it('names by opcode and service action', () => {
    const cases: Array<[string, string]> = [
      ['83 00', 'EXTENDED COPY(LID1)'],
      ['83 01', 'EXTENDED COPY(LID4)'],
      ['83 10', 'POPULATE TOKEN'],
      ['83 11', 'WRITE USING TOKEN'],
      ['83 1c', 'COPY OPERATION ABORT'],
      ['84 00', 'RECEIVE COPY STATUS(LID1)'],
      ['84 03', 'RECEIVE COPY OPERATING PARAMETERS'],
      ['84 04', 'RECEIVE COPY FAILURE DETAILS(LID1)'],
      ['84 05', 'RECEIVE COPY STATUS(LID4)'],
      ['84 07', 'RECEIVE ROD TOKEN INFORMATION'],
      ['84 08', 'REPORT ALL ROD TOKENS'],
      ['9e 10', 'READ CAPACITY(16)'],
      ['12 01 83', 'INQUIRY'],
      ['a0 00', 'REPORT LUNS'],
      ['88 00', 'READ(16)'],
      ['83 05', 'THIRD-PARTY COPY OUT SERVICE ACTION 0x05'],
      ['c5 00', 'VENDOR SPECIFIC OPCODE 0xC5'],
      ['6f 00', 'OPCODE 0x6F'],
    ];
    for (const [cdb, name] of cases) assert.equal(commandName(h(cdb)), name, cdb);
    // Service action is CDB byte 1 bits 4-0; upper bits ignored.
    assert.equal(commandName(h('83 f0')), 'POPULATE TOKEN');
    assert.equal(serviceActionOf(h('84 e7')), 0x07);
    assert.equal(serviceActionOf(h('12 01')), undefined);
    assert.equal(commandName(Buffer.alloc(0)), 'EMPTY CDB');
  });
});
