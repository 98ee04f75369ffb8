// The sg_xcopy operand form: recognition before commander, every operand, defaults, the
// environment, errors, and the byte range it means for two LUNs (sg_xcopy(8) semantics).
import { strict as assert } from 'node:assert';
import { UsageError } from '../../lib/errors';
import { ddListIdUsage, ddRange, isDdForm, parseDdArgs } from '../../lib/cli/dd-operands';

function usage(re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  };
}

const G512 = { blockSize: 512, bytes: 1000n * 512n };

describe('sg_xcopy form: recognition', () => {
  it('if=/of= operands with no subcommand, in any order, options anywhere', () => {
    assert.equal(isDdForm(['if=/dev/sg1', 'of=/dev/sg2']), true);
    assert.equal(isDdForm(['of=/dev/sg2', 'if=/dev/sg1']), true);
    assert.equal(isDdForm(['--json', 'if=/dev/sg1', 'of=/dev/sg2']), true);
    assert.equal(isDdForm(['--on_src', 'of=/dev/sg2']), true);
    assert.equal(isDdForm(['skip=8', 'of=/dev/sg2', 'if=/dev/sg1']), true);
    assert.equal(isDdForm(['--mode', 'odx', 'if=/dev/sg1', 'of=/dev/sg2']), true);
  });
  it('not for subcommands, plain paths or nothing', () => {
    assert.equal(isDdForm(['copy', 'if=/dev/sg1', 'of=/dev/sg2']), false);
    assert.equal(isDdForm(['info', '/dev/sg1']), false);
    assert.equal(isDdForm(['zero', 'of=/dev/sg2']), false);
    assert.equal(isDdForm(['count=5']), false);
    assert.equal(isDdForm([]), false);
    assert.equal(isDdForm(['--version']), false);
  });
});

describe('sg_xcopy form: operands', () => {
  it('every operand parsed, the rest kept as odxcp options', () => {
    const d = parseDdArgs(['if=/dev/sg1', 'of=/dev/sg2', 'bs=512', 'ibs=512', 'obs=512', 'count=2k', 'skip=0x10', 'seek=20h', 'list_id=7', 'id_usage=hold', '--on_src', 'time=1', 'verbose=2', '-v', 'conv=notrunc', '--mode', 'odx', '--json']);
    assert.equal(d.if, '/dev/sg1');
    assert.equal(d.of, '/dev/sg2');
    assert.equal(d.bs, 512);
    assert.equal(d.count, 2048n);
    assert.equal(d.skip, 16n);
    assert.equal(d.seek, 32n);
    assert.equal(d.listId, 7);
    assert.equal(d.idUsage, 'hold');
    assert.equal(d.on, 'src');
    assert.equal(d.time, true);
    assert.equal(d.verbose, 3);
    assert.deepEqual(d.options, ['--mode', 'odx', '--json']);
  });

  it('defaults: no bs, skip/seek 0, count derived, no list id, xcopy target left to the engine', () => {
    const d = parseDdArgs(['if=a', 'of=b']);
    assert.equal(d.bs, undefined);
    assert.equal(d.count, undefined);
    assert.equal(d.skip, 0n);
    assert.equal(d.seek, 0n);
    assert.equal(d.listId, undefined);
    assert.equal(d.idUsage, undefined);
    assert.equal(d.on, undefined);
    assert.equal(d.time, false);
    assert.equal(parseDdArgs(['if=a', 'of=b', 'count=-1']).count, undefined, 'count=-1 means derive, as sg_xcopy');
  });

  it('id_usage values map to LIST ID USAGE names (disable = 11b = none)', () => {
    for (const u of ['hold', 'discard', 'disable'] as const) assert.equal(parseDdArgs(['if=a', 'of=b', `id_usage=${u}`]).idUsage, u);
    assert.equal(ddListIdUsage('disable'), 'none');
    assert.equal(ddListIdUsage('hold'), 'hold');
    assert.equal(ddListIdUsage('discard'), 'discard');
    assert.equal(ddListIdUsage(undefined), undefined);
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'id_usage=keep']), usage(/^id_usage=: 'keep' is not hold, discard or disable/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'id_usage=disable', 'list_id=3']), usage(/^list_id=: must be 0 with id_usage=disable/));
    assert.equal(parseDdArgs(['if=a', 'of=b', 'id_usage=disable', 'list_id=0']).listId, 0);
  });

  it('where EXTENDED COPY goes: --on_dst/--on_src, iflag/oflag=xcopy, then XCOPY_TO_SRC / XCOPY_TO_DST', () => {
    assert.equal(parseDdArgs(['if=a', 'of=b', '--on_dst']).on, 'dst');
    assert.equal(parseDdArgs(['if=a', 'of=b', 'iflag=xcopy']).on, 'src');
    assert.equal(parseDdArgs(['if=a', 'of=b', 'oflag=excl,xcopy']).on, 'dst');
    assert.equal(parseDdArgs(['if=a', 'of=b'], { XCOPY_TO_SRC: '' }).on, 'src');
    assert.equal(parseDdArgs(['if=a', 'of=b'], { XCOPY_TO_DST: '1' }).on, 'dst');
    assert.equal(parseDdArgs(['if=a', 'of=b'], { XCOPY_TO_SRC: '1', XCOPY_TO_DST: '1' }).on, undefined, 'both set: ambiguous, ignored');
    assert.equal(parseDdArgs(['if=a', 'of=b', '--on_dst'], { XCOPY_TO_SRC: '1' }).on, 'dst', 'the command line wins');
    assert.throws(() => parseDdArgs(['if=a', 'of=b', '--on_src', '--on_dst']), usage(/--on_src and --on_dst/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'iflag=xcopy', 'oflag=xcopy']), usage(/give only one/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'oflag=append']), usage(/^oflag=: flag 'append' is not supported/));
  });

  it('errors name the operand', () => {
    assert.throws(() => parseDdArgs(['of=b']), usage(/^if=: missing source/));
    assert.throws(() => parseDdArgs(['if=a']), usage(/^of=: missing destination/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'foo=1']), usage(/^unknown operand 'foo=1'/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'count=1', 'count=2']), usage(/^count=: given twice/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'count=12Q']), usage(/^count=: bad number/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'skip=-4']), usage(/^skip=: must not be negative/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'seek=1.5']), usage(/^seek=: '1.5' is not a whole number/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'list_id=256']), usage(/^list_id=: 256 is out of range/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'bs=0']), usage(/^bs=: block size 0 is out of range/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'bs=512', 'ibs=4096']), usage(/^ibs=: must equal bs=/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'prio=1']), usage(/^prio=: not supported by odxcp/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'bpt=128']), usage(/^bpt=: not supported/));
    assert.throws(() => parseDdArgs(['if=a', 'of=b', 'time=2']), usage(/^time=: '2' is not 0 or 1/));
    assert.throws(() => parseDdArgs(['if=-', 'of=b']), usage(/^if=-: stdin/));
    assert.throws(() => parseDdArgs(['if=a', 'of=/dev/null']), usage(/^of=\/dev\/null/));
  });
});

describe('sg_xcopy form: the byte range for two LUNs', () => {
  it('skip/count in source blocks, seek in destination blocks', () => {
    const r = ddRange(parseDdArgs(['if=a', 'of=b', 'bs=512', 'skip=10', 'seek=20', 'count=100']), G512, G512);
    assert.deepEqual(r, { srcOffset: 5120n, dstOffset: 10240n, length: 51200n });
    const mixed = ddRange(parseDdArgs(['if=a', 'of=b', 'skip=8', 'seek=1', 'count=8']), G512, { blockSize: 4096, bytes: 100n * 4096n });
    assert.deepEqual(mixed, { srcOffset: 4096n, dstOffset: 4096n, length: 4096n });
  });

  it('derived count: the rest of the source, cut back to fit the destination after seek=', () => {
    assert.equal(ddRange(parseDdArgs(['if=a', 'of=b', 'skip=100']), G512, G512).length, 900n * 512n);
    assert.equal(ddRange(parseDdArgs(['if=a', 'of=b', 'seek=700']), G512, G512).length, 300n * 512n);
    assert.equal(ddRange(parseDdArgs(['if=a', 'of=b', 'skip=100', 'seek=50']), G512, { blockSize: 512, bytes: 500n * 512n }).length, 450n * 512n);
  });

  it('bs= must be the logical block size of both LUNs', () => {
    assert.throws(() => ddRange(parseDdArgs(['if=a', 'of=b', 'bs=4096']), G512, G512), usage(/^bs=4096: must be the logical block size of if=a \(512\)/));
    assert.throws(() => ddRange(parseDdArgs(['if=a', 'of=b', 'bs=512']), G512, { blockSize: 4096, bytes: 4096n }), usage(/of=b \(4096\)/));
  });

  it('skip/seek past the end, and nothing left to copy, are usage errors', () => {
    assert.throws(() => ddRange(parseDdArgs(['if=a', 'of=b', 'skip=1001']), G512, G512), usage(/^skip=1001: beyond the end of if=a/));
    assert.throws(() => ddRange(parseDdArgs(['if=a', 'of=b', 'seek=1001']), G512, G512), usage(/^seek=1001: beyond the end of of=b/));
    assert.throws(() => ddRange(parseDdArgs(['if=a', 'of=b', 'skip=1000']), G512, G512), usage(/nothing to copy/));
  });
});
