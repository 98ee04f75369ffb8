import { strict as assert } from 'node:assert';
import type { NativeExecuteResult } from '../../lib/native';
import { hexToBuffer as h } from '../../lib/scsi/bytes';
import { ScsiError, TransportError, categoryForSense, scsiErrorFromResult, transportErrorFromSystemError, type ScsiCategory } from '../../lib/scsi/errors';
import { AbortedError, DeviceError, MiscompareError, OdxcpError, UsageError } from '../../lib/errors';
import { ParseError } from '../../lib/scsi/bytes';
import { actionOf } from '../../lib/engine/reactions';
import { EXIT_CODES, exitCodeFor, exitCodeForCategory, exitCodeForErrno } from '../../lib/cli/exit-status';

const PT_CDB = h('83 10 00000000 00000001 00000220 00 00'); // POPULATE TOKEN, list id 1
const RRTI_CDB = h('84 07 00000001 00000000 00000400 00 00');

function result(o: Partial<NativeExecuteResult>): NativeExecuteResult {
  return { status: 0, hostStatus: 0, driverStatus: 0, sense: Buffer.alloc(0), resid: 0, durationMs: 1, info: 0, ...o };
}

/** Fixed sense (ref 2.1) with a key, ASC/ASCQ and optionally a valid INFORMATION field. */
function sense(key: number, asc: number, ascq: number, info?: number): Buffer {
  const b = Buffer.alloc(18);
  b[0] = info === undefined ? 0x70 : 0xf0;
  b[2] = key;
  b.writeUInt32BE(info ?? 0, 3);
  b[7] = 0x0a;
  b[12] = asc;
  b[13] = ascq;
  return b;
}

function check(key: number, asc: number, ascq: number, info?: number): ScsiError {
  const e = scsiErrorFromResult('POPULATE TOKEN', PT_CDB, result({ status: 0x02, driverStatus: 0x08, info: 1, sense: sense(key, asc, ascq, info) }));
  assert.ok(e instanceof ScsiError, 'expected ScsiError');
  return e;
}

describe('errors: class shapes', () => {
  it('name on the prototype, code, instanceof chain, stack starts with the name', () => {
    const all: OdxcpError[] = [
      new UsageError('bad --bs'),
      new DeviceError({ path: '/dev/sgX', code: 'EACCES', errno: 13 }),
      new TransportError({ command: 'INQUIRY', code: 'DID_TIME_OUT', hostStatus: 3 }),
      check(5, 0x20, 0),
      new ParseError('VPD page 0x83', 'DESIGNATOR LENGTH', 7, 10, 'too long'),
      new MiscompareError({ message: 'differ at byte 4096', offset: 4096n }),
      new AbortedError(undefined, { signal: 'SIGINT' }),
    ];
    const names = ['UsageError', 'DeviceError', 'TransportError', 'ScsiError', 'ParseError', 'MiscompareError', 'AbortedError'];
    const codes = ['USAGE', 'EACCES', 'DID_TIME_OUT', 'INVALID_OP', 'PARSE', 'MISCOMPARE', 'ABORTED'];
    all.forEach((e, i) => {
      assert.ok(e instanceof Error);
      assert.ok(e instanceof OdxcpError);
      assert.equal(e.name, names[i]);
      assert.equal(Object.prototype.hasOwnProperty.call(e, 'name'), false, 'name lives on the prototype');
      assert.equal(e.code, codes[i]);
      assert.ok(e.stack?.startsWith(`${names[i]}: `), e.stack);
    });
    const p = all[4] as ParseError;
    assert.deepEqual([p.structure, p.field, p.offset, p.length], ['VPD page 0x83', 'DESIGNATOR LENGTH', 7, 10]);
    assert.equal((all[1] as DeviceError).path, '/dev/sgX');
    assert.equal((all[1] as DeviceError).errno, 13);
  });
});

describe('errors: scsiErrorFromResult', () => {
  it('GOOD and CONDITION MET without a transport problem are not errors', () => {
    assert.equal(scsiErrorFromResult('INQUIRY', h('12 00 00 00 ff 00'), result({})), undefined);
    assert.equal(scsiErrorFromResult('PRE-FETCH(16)', h('90'), result({ status: 0x04 })), undefined);
    // DRIVER_SENSE alone with GOOD status is not a transport problem
    assert.equal(scsiErrorFromResult('INQUIRY', h('12'), result({ driverStatus: 0x08 })), undefined);
  });

  it('message format "<COMMAND>: <SENSE KEY> <asc>/<ascq> <asc name>"', () => {
    const e = check(5, 0x20, 0x00);
    assert.equal(e.message, 'POPULATE TOKEN: ILLEGAL REQUEST 20/00 invalid command operation code');
    assert.equal(check(0xa, 0x0d, 0x02).message, 'POPULATE TOKEN: COPY ABORTED 0D/02 copy target device not reachable');
  });

  it('all fields of a decoded CHECK CONDITION', () => {
    const e = check(5, 0x26, 0x00, 0x1234);
    assert.equal(e.command, 'POPULATE TOKEN');
    assert.equal(e.opcode, 0x83);
    assert.equal(e.serviceAction, 0x10);
    assert.equal(e.status, 0x02);
    assert.equal(e.statusName, 'CHECK CONDITION');
    assert.equal(e.senseKey, 5);
    assert.equal(e.senseKeyName, 'ILLEGAL REQUEST');
    assert.equal(e.asc, 0x26);
    assert.equal(e.ascq, 0x00);
    assert.equal(e.ascName, 'invalid field in parameter list');
    assert.equal(e.information, 0x1234n);
    assert.equal(e.commandSpecific, 0n);
    assert.equal(e.senseKeySpecific, undefined);
    assert.equal(e.sense?.format, 'fixed');
    assert.equal(e.rawSense.toString('hex'), sense(5, 0x26, 0x00, 0x1234).toString('hex'));
    assert.equal(e.category, 'ILLEGAL_REQ');
    assert.equal(actionOf(e as ScsiError), 'fallback');
  });

  it('takes the command name from the CDB when none is given', () => {
    const e = scsiErrorFromResult(undefined, RRTI_CDB, result({ status: 2, sense: sense(5, 0x24, 0) }));
    assert.equal(e?.message, 'RECEIVE ROD TOKEN INFORMATION: ILLEGAL REQUEST 24/00 invalid field in CDB');
  });

  it('categories follow sg3_utils sg_err_category_sense()', () => {
    const cases: Array<[number, number, number, ScsiCategory]> = [
      [0x0, 0x00, 0x00, 'NO_SENSE'],
      [0x1, 0x17, 0x01, 'RECOVERED'],
      [0x2, 0x04, 0x02, 'NOT_READY'],
      [0x3, 0x11, 0x00, 'MEDIUM_HARD'],
      [0x4, 0x44, 0x00, 'MEDIUM_HARD'],
      [0x5, 0x24, 0x00, 'ILLEGAL_REQ'],
      [0x5, 0x20, 0x00, 'INVALID_OP'],
      [0x5, 0x21, 0x00, 'LBA_OUT_OF_RANGE'],
      [0x5, 0x21, 0x01, 'ILLEGAL_REQ'],
      [0x6, 0x29, 0x00, 'UNIT_ATTENTION'],
      [0x7, 0x27, 0x00, 'DATA_PROTECT'],
      [0x8, 0x00, 0x05, 'MEDIUM_HARD'],
      [0x9, 0x80, 0x00, 'SENSE'],
      [0xa, 0x0d, 0x02, 'COPY_ABORTED'],
      [0xb, 0x47, 0x00, 'ABORTED_COMMAND'],
      [0xb, 0x10, 0x01, 'PROTECTION'],
      [0xd, 0x00, 0x00, 'SENSE'],
      [0xe, 0x1d, 0x00, 'MISCOMPARE'],
      [0xf, 0x00, 0x00, 'SENSE'],
    ];
    for (const [key, asc, ascq, cat] of cases) {
      assert.equal(categoryForSense(key, asc, ascq), cat, `${key}/${asc}/${ascq}`);
      assert.equal(check(key, asc, ascq).category, cat, `factory ${key}/${asc}/${ascq}`);
    }
  });

  it('status-only errors need no sense', () => {
    const cases: Array<[number, ScsiCategory, string]> = [
      [0x08, 'BUSY', 'BUSY'],
      [0x18, 'RES_CONFLICT', 'RESERVATION CONFLICT'],
      [0x28, 'TS_FULL', 'TASK SET FULL'],
      [0x30, 'ACA_ACTIVE', 'ACA ACTIVE'],
      [0x40, 'TASK_ABORTED', 'TASK ABORTED'],
      [0x10, 'OTHER', 'INTERMEDIATE'],
    ];
    for (const [status, cat, name] of cases) {
      const e = scsiErrorFromResult('WRITE USING TOKEN', h('83 11'), result({ status }));
      assert.ok(e instanceof ScsiError);
      assert.equal(e.category, cat);
      assert.equal(e.statusName, name);
      assert.equal(e.message, `WRITE USING TOKEN: ${name} status`);
      assert.equal(e.senseKey, undefined);
      assert.equal(actionOf(e), undefined);
    }
  });

  it('CHECK CONDITION without sense, or with unusable sense, is category SENSE', () => {
    const none = scsiErrorFromResult('POPULATE TOKEN', PT_CDB, result({ status: 2 }));
    assert.ok(none instanceof ScsiError);
    assert.equal(none.category, 'SENSE');
    assert.equal(none.message, 'POPULATE TOKEN: CHECK CONDITION without sense data');
    const junk = scsiErrorFromResult('POPULATE TOKEN', PT_CDB, result({ status: 2, sense: h('00 11 22 33') }));
    assert.ok(junk instanceof ScsiError);
    assert.equal(junk.category, 'SENSE');
    assert.match(junk.message, /^POPULATE TOKEN: CHECK CONDITION with unusable sense data \(sense data: response code/);
    assert.equal(junk.rawSense.toString('hex'), '00112233');
  });

  it('malformed descriptors but a usable header keep key and ASC/ASCQ', () => {
    const e = scsiErrorFromResult('EXTENDED COPY(LID1)', h('83 00'), result({ status: 2, sense: h('72 0a 0d 02 00 00 00 04  00 0a 80 00') }));
    assert.ok(e instanceof ScsiError);
    assert.equal(e.category, 'COPY_ABORTED');
    assert.equal(e.asc, 0x0d);
    assert.equal(e.sense, undefined);
    assert.match(e.message, /^EXTENDED COPY\(LID1\): COPY ABORTED 0D\/02 copy target device not reachable \(malformed sense data: /);
  });

  it('COMMAND TERMINATED (obsolete) is handled like CHECK CONDITION; status masked with 0x7e', () => {
    assert.equal(scsiErrorFromResult('X', PT_CDB, result({ status: 0x22, sense: sense(0xb, 0x47, 0) }))?.code, 'ABORTED_COMMAND');
    assert.equal(scsiErrorFromResult('X', PT_CDB, result({ status: 0x83, sense: sense(0x6, 0x29, 0) }))?.code, 'UNIT_ATTENTION');
  });

  it('deferred errors say so', () => {
    const s = sense(3, 0x0c, 0x00);
    s[0] = 0x71;
    assert.match(scsiErrorFromResult('WRITE(16)', h('8a'), result({ status: 2, sense: s }))!.message, /\(deferred error\)$/);
  });

  it('host_status != 0 is a TransportError named after DID_* (ref 1.8), even with sense', () => {
    const e = scsiErrorFromResult('EXTENDED COPY(LID1)', h('83 00'), result({ hostStatus: 0x03, status: 2, sense: sense(6, 0x29, 0) }));
    assert.ok(e instanceof TransportError);
    assert.equal(e.code, 'DID_TIME_OUT');
    assert.equal(e.hostStatusName, 'DID_TIME_OUT');
    assert.equal(e.isTimeout, true);
    assert.equal(e.isRetryable, false, 'a timed-out 0x83 must be checked, not blindly re-sent');
    assert.equal(e.message, 'EXTENDED COPY(LID1): transport error DID_TIME_OUT (host_status 0x03, driver_status 0x00)');
    assert.equal(e.rawSense?.length, 18);
    const d = scsiErrorFromResult('INQUIRY', h('12'), result({ hostStatus: 0x0e })) as TransportError;
    assert.equal(d.code, 'DID_TRANSPORT_DISRUPTED');
    assert.equal(d.isRetryable, true);
    assert.equal(d.isTimeout, false);
    assert.equal((scsiErrorFromResult('INQUIRY', h('12'), result({ hostStatus: 0x01 })) as TransportError).isRetryable, false);
    assert.equal(scsiErrorFromResult('INQUIRY', h('12'), result({ hostStatus: 0x55 }))?.code, 'DID_0x55');
  });

  it('driver_status other than DRIVER_SENSE is a TransportError; SUGGEST_* bits ignored', () => {
    const t = scsiErrorFromResult('INQUIRY', h('12'), result({ driverStatus: 0x06 })) as TransportError;
    assert.ok(t instanceof TransportError);
    assert.equal(t.code, 'DRIVER_TIMEOUT');
    assert.equal(t.isTimeout, true);
    assert.equal(scsiErrorFromResult('INQUIRY', h('12'), result({ driverStatus: 0x04 }))?.code, 'DRIVER_ERROR');
    const s = scsiErrorFromResult('INQUIRY', h('12'), result({ status: 2, driverStatus: 0x28, sense: sense(5, 0x24, 0) }));
    assert.ok(s instanceof ScsiError, 'SUGGEST_ABORT|DRIVER_SENSE still means sense is present');
  });

  it('isUnitAttention / isRetryable are conservative', () => {
    assert.equal(check(6, 0x29, 0x00).isUnitAttention, true);
    assert.equal(check(6, 0x29, 0x00).isRetryable, true);
    assert.equal(check(2, 0x04, 0x01).isRetryable, true);
    assert.equal(check(2, 0x04, 0x0a).isRetryable, true);
    assert.equal(check(2, 0x04, 0x02).isRetryable, false);
    assert.equal(check(2, 0x3a, 0x00).isRetryable, false);
    assert.equal(check(0xb, 0x47, 0x00).isRetryable, true);
    assert.equal(check(0xb, 0x10, 0x01).isRetryable, false, 'protection errors are not soft');
    assert.equal(check(5, 0x24, 0x00).isRetryable, false);
    assert.equal(check(5, 0x24, 0x00).isUnitAttention, false);
    const busy = scsiErrorFromResult('X', PT_CDB, result({ status: 0x08 })) as ScsiError;
    assert.equal(busy.isRetryable, true);
    const conflict = scsiErrorFromResult('X', PT_CDB, result({ status: 0x18 })) as ScsiError;
    assert.equal(conflict.isRetryable, false);
  });

  it('transportErrorFromSystemError keeps errno and code', () => {
    const e = transportErrorFromSystemError(undefined, PT_CDB, { code: 'EPERM', errno: -1, syscall: 'ioctl', message: 'Operation not permitted' });
    assert.equal(e.code, 'EPERM');
    assert.equal(e.errno, 1);
    assert.equal(e.command, 'POPULATE TOKEN');
    assert.equal(e.message, 'POPULATE TOKEN: ioctl failed: EPERM (Operation not permitted)');
    assert.equal(exitCodeFor(e), 51);
  });
});

describe('exit codes (sg3_utils include/sg_lib.h)', () => {
  it('maps errors to sg3_utils exit statuses', () => {
    assert.equal(exitCodeFor(new UsageError('x')), 1);
    assert.equal(exitCodeFor(new DeviceError({ path: '/dev/sdz', code: 'MOUNTED' })), 15);
    assert.equal(exitCodeFor(new ParseError('s', 'f', 0, 0)), 97);
    assert.equal(exitCodeFor(new MiscompareError({ message: 'x' })), 14);
    assert.equal(exitCodeFor(new AbortedError()), 130);
    assert.equal(exitCodeFor(new AbortedError('x', { signal: 'SIGINT' })), 130);
    assert.equal(exitCodeFor(new AbortedError('x', { signal: 'SIGTERM' })), 143);
    assert.equal(exitCodeFor(new TransportError({ command: 'X', code: 'DID_TIME_OUT', hostStatus: 3 })), 33);
    assert.equal(exitCodeFor(new TransportError({ command: 'X', code: 'DID_ERROR', hostStatus: 7 })), 35);
    assert.equal(exitCodeFor(new TransportError({ command: 'X', code: 'DRIVER_TIMEOUT', driverStatus: 6 })), 33);
    assert.equal(exitCodeFor(new TransportError({ command: 'X', code: 'EIO', errno: 5 })), 55);
    assert.equal(exitCodeFor(new TransportError({ command: 'X', code: 'EHWPOISON', errno: 133 })), 50);
    assert.equal(exitCodeFor(new Error('plain')), 99);
    assert.equal(exitCodeFor('a string'), 99);
    assert.equal(exitCodeFor(undefined), 99);
  });

  it('SCSI categories, including the *_WITH_INFO variants', () => {
    const cases: Array<[number, number, number, number | undefined, number]> = [
      [2, 0x04, 0x01, undefined, 2],
      [3, 0x11, 0x00, undefined, 3],
      [3, 0x11, 0x00, 0x100, 18],
      [4, 0x44, 0x00, 0x100, 18],
      [5, 0x24, 0x00, undefined, 5],
      [5, 0x26, 0x00, 0x10, 17],
      [5, 0x20, 0x00, undefined, 9],
      [5, 0x21, 0x00, 0x1000, 22],
      [6, 0x29, 0x00, undefined, 6],
      [7, 0x27, 0x00, undefined, 7],
      [0xa, 0x0d, 0x02, undefined, 10],
      [0xb, 0x47, 0x00, undefined, 11],
      [0xb, 0x10, 0x01, undefined, 40],
      [0xb, 0x10, 0x01, 0x20, 41],
      [0xe, 0x1d, 0x00, undefined, 14],
      [0x0, 0x00, 0x00, undefined, 20],
      [0x1, 0x17, 0x01, undefined, 21],
      [0xd, 0x00, 0x00, undefined, 98],
    ];
    for (const [key, asc, ascq, info, code] of cases) assert.equal(exitCodeFor(check(key, asc, ascq, info)), code, `${key} ${asc}/${ascq} info=${info}`);
    const statuses: Array<[number, number]> = [[0x18, 24], [0x08, 26], [0x28, 27], [0x30, 28], [0x40, 29], [0x10, 99]];
    for (const [status, code] of statuses) assert.equal(exitCodeFor(scsiErrorFromResult('X', PT_CDB, result({ status }))), code);
    assert.equal(exitCodeForCategory('CONDITION_MET'), 25);
  });

  it('OS errors use 50 + errno as sg_convert_errno() does', () => {
    assert.equal(exitCodeForErrno(0), 0);
    assert.equal(exitCodeForErrno(1), 51);
    assert.equal(exitCodeForErrno(-13), 63);
    assert.equal(exitCodeForErrno(46), 96);
    assert.equal(exitCodeForErrno(47), 50);
    const enoent = Object.assign(new Error('open'), { code: 'ENOENT', errno: -2, syscall: 'open' });
    assert.equal(exitCodeFor(enoent), 52);
    const etimedout = Object.assign(new Error('t'), { code: 'ETIMEDOUT', errno: -110 });
    assert.equal(exitCodeFor(etimedout), 33);
  });

  it('looks through `cause`', () => {
    const wrapped = new Error('copy failed', { cause: new Error('inner', { cause: check(0xa, 0x0d, 0x02) }) });
    assert.equal(exitCodeFor(wrapped), 10);
  });

  it('the EXIT_CODES table lists every status exitCodeFor can return for odxcp errors, once', () => {
    const codes = EXIT_CODES.map((e) => e.code);
    assert.equal(new Set(codes).size, codes.length);
    for (const e of EXIT_CODES) {
      assert.ok(e.name.length > 0 && e.meaning.length > 0);
      assert.ok(e.origin === 'sg3_utils' || e.origin === 'odxcp');
    }
    const cats: ScsiCategory[] = [
      'NOT_READY', 'MEDIUM_HARD', 'ILLEGAL_REQ', 'UNIT_ATTENTION', 'DATA_PROTECT', 'INVALID_OP', 'COPY_ABORTED', 'ABORTED_COMMAND',
      'MISCOMPARE', 'NO_SENSE', 'RECOVERED', 'LBA_OUT_OF_RANGE', 'RES_CONFLICT', 'CONDITION_MET', 'BUSY', 'TS_FULL', 'ACA_ACTIVE',
      'TASK_ABORTED', 'PROTECTION', 'SENSE', 'OTHER',
    ];
    const reachable = new Set<number>([0, 1, 15, 97, 14, 130, 33, 35, 50]);
    for (const c of cats) {
      reachable.add(exitCodeForCategory(c));
      reachable.add(exitCodeForCategory(c, true));
    }
    for (const c of reachable) assert.ok(codes.includes(c), `exit code ${c} missing from EXIT_CODES`);
    // The sg3_utils values verified in include/sg_lib.h.
    const byName = new Map(EXIT_CODES.map((e) => [e.name, e.code]));
    assert.equal(byName.get('SG_LIB_CAT_COPY_ABORTED'), 10);
    assert.equal(byName.get('SG_LIB_CAT_TIMEOUT'), 33);
    assert.equal(byName.get('SG_LIB_TRANSPORT_ERROR'), 35);
    assert.equal(byName.get('SG_LIB_CAT_MALFORMED'), 97);
    assert.equal(byName.get('SG_LIB_FILE_ERROR'), 15);
  });
});
