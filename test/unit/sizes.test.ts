// Size and number parsing of the command line: odxcp's own sizes (K/M/G/T, Nb blocks) and
// sg3_utils' numeric arguments for the sg_xcopy operands.
import { strict as assert } from 'node:assert';
import { UsageError } from '../../lib/errors';
import { formatBytes, parseCount, parseSeconds, parseSgNumber, parseSize, resolveSize, U64_MAX } from '../../lib/cli/sizes';

function usage(re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${String(e)}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'));
    return true;
  };
}

describe('parseSize (odxcp options)', () => {
  it('plain bytes and every binary suffix', () => {
    const cases: [string, bigint][] = [
      ['0', 0n],
      ['512', 512n],
      ['1k', 1024n],
      ['1K', 1024n],
      ['1KiB', 1024n],
      ['3m', 3n << 20n],
      ['3M', 3n << 20n],
      ['3MiB', 3n << 20n],
      ['2g', 2n << 30n],
      ['2G', 2n << 30n],
      ['2GiB', 2n << 30n],
      ['5t', 5n << 40n],
      ['5T', 5n << 40n],
      ['5TiB', 5n << 40n],
      ['18446744073709551615', U64_MAX],
      [' 64M ', 64n << 20n],
    ];
    for (const [text, bytes] of cases) assert.deepEqual(parseSize(text, '--length'), { unit: 'bytes', value: bytes, text }, text);
  });

  it('`b` is a count of logical blocks, resolved with the block size', () => {
    const s = parseSize('2048b', '--src-offset');
    assert.deepEqual(s, { unit: 'blocks', value: 2048n, text: '2048b' });
    assert.equal(resolveSize(s, 512, '--src-offset'), 1048576n);
    assert.equal(resolveSize(s, 4096, '--src-offset'), 8388608n);
    assert.equal(resolveSize(parseSize('0b', '--x'), 512, '--x'), 0n);
  });

  it('refuses overflow past 2^64-1 bytes, also after multiplying blocks', () => {
    assert.throws(() => parseSize('16777216T', '--length'), usage(/--length: '16777216T' is too large/));
    assert.deepEqual(parseSize('16777215T', '--length').value, 16777215n << 40n);
    assert.throws(() => parseSize('18446744073709551616', '--length'), usage(/too large/));
    assert.throws(() => resolveSize(parseSize('36028797018963968b', '--length'), 512, '--length'), usage(/--length: .* exceed 2\^64-1 bytes/));
    assert.throws(() => parseSize('18446744073709551616b', '--length'), usage(/too large/));
  });

  it('bad input names the option: unknown suffix, negative, fraction, junk, empty', () => {
    assert.throws(() => parseSize('12Q', '--length'), usage(/^--length: bad size suffix in '12Q'/));
    assert.throws(() => parseSize('12MB', '--length'), usage(/^--length: bad size suffix/));
    assert.throws(() => parseSize('12B', '--length'), usage(/^--length: bad size suffix/));
    assert.throws(() => parseSize('-5', '--src-offset'), usage(/^--src-offset: size must not be negative/));
    assert.throws(() => parseSize('-5b', '--src-offset'), usage(/must not be negative/));
    assert.throws(() => parseSize('1.5b', '--length'), usage(/^--length: '1.5b' is not a whole number/));
    assert.throws(() => parseSize('1.5', '--length'), usage(/not a whole number/));
    assert.throws(() => parseSize('0x10', '--length'), usage(/bad size/));
    assert.throws(() => parseSize('abc', '--length'), usage(/^--length: bad size 'abc'/));
    assert.throws(() => parseSize('5 M', '--length'), usage(/bad size/));
    assert.throws(() => parseSize('', '--length'), usage(/^--length: missing size/));
  });

  it('byte sizes must be whole blocks of the device they belong to', () => {
    assert.equal(resolveSize(parseSize('4k', '--dst-offset'), 4096, '--dst-offset'), 4096n);
    assert.throws(
      () => resolveSize(parseSize('1000', '--dst-offset'), 512, '--dst-offset', true, 'DST /dev/sg1'),
      usage(/^--dst-offset: 1000 bytes \('1000'\) is not a multiple of the 512-byte logical block of DST \/dev\/sg1/),
    );
    assert.throws(() => resolveSize(parseSize('2k', '--x'), 4096, '--x'), usage(/not a multiple of the 4096-byte/));
    assert.equal(resolveSize(parseSize('1000', '--x'), 512, '--x', false), 1000n);
  });
});

describe('parseCount / parseSeconds', () => {
  it('whole numbers within bounds', () => {
    assert.equal(parseCount('8', '--max-in-flight', 1, 1024), 8);
    assert.throws(() => parseCount('0', '--max-in-flight', 1, 1024), usage(/^--max-in-flight: 0 is out of range \(1\.\.1024\)/));
    assert.throws(() => parseCount('2.5', '--max-in-flight', 1, 1024), usage(/not a whole number/));
    assert.throws(() => parseCount('-1', '--max-in-flight', 1, 1024), usage(/not a whole number/));
    assert.throws(() => parseCount('x', '--max-in-flight', 1, 1024), usage(/not a whole number/));
  });

  it('seconds to milliseconds, positive and within the 32-bit SG_IO timeout', () => {
    assert.equal(parseSeconds('30', '--timeout'), 30000);
    assert.equal(parseSeconds('0.5', '--timeout'), 500);
    assert.equal(parseSeconds('.25', '--timeout'), 250);
    assert.throws(() => parseSeconds('0', '--timeout'), usage(/^--timeout: 0 s is out of range/));
    assert.throws(() => parseSeconds('5000000', '--timeout'), usage(/out of range/));
    assert.throws(() => parseSeconds('10s', '--timeout'), usage(/^--timeout: '10s' is not a number of seconds/));
    assert.throws(() => parseSeconds('-1', '--timeout'), usage(/not a number/));
  });
});

describe('parseSgNumber (sg3_utils numeric arguments)', () => {
  it('every multiplicative suffix', () => {
    const cases: [string, bigint][] = [
      ['7', 7n],
      ['7c', 7n],
      ['7C', 7n],
      ['7w', 14n],
      ['7W', 14n],
      ['2b', 1024n],
      ['2B', 1024n],
      ['2k', 2048n],
      ['2K', 2048n],
      ['2KiB', 2048n],
      ['2KB', 2000n],
      ['2kB', 2000n],
      ['2m', 2n << 20n],
      ['2M', 2n << 20n],
      ['2MiB', 2n << 20n],
      ['2MB', 2000000n],
      ['2mB', 2000000n],
      ['2g', 2n << 30n],
      ['2G', 2n << 30n],
      ['2GiB', 2n << 30n],
      ['2GB', 2000000000n],
      ['2gB', 2000000000n],
      ['2t', 2n << 40n],
      ['2T', 2n << 40n],
      ['2TiB', 2n << 40n],
      ['2TB', 2n * 10n ** 12n],
      ['2p', 2n << 50n],
      ['2P', 2n << 50n],
      ['2PiB', 2n << 50n],
      ['2PB', 2n * 10n ** 15n],
    ];
    for (const [t, v] of cases) assert.equal(parseSgNumber(t, 'count='), v, t);
  });

  it('hex (0x prefix or h suffix), products and sums', () => {
    assert.equal(parseSgNumber('0x100', 'skip='), 256n);
    assert.equal(parseSgNumber('0X1f', 'skip='), 31n);
    assert.equal(parseSgNumber('100h', 'skip='), 256n);
    assert.equal(parseSgNumber('1FH', 'skip='), 31n);
    assert.equal(parseSgNumber('2x33', 'skip='), 66n);
    assert.equal(parseSgNumber('3+1k', 'skip='), 1027n);
    assert.equal(parseSgNumber('0xfx0x2', 'skip='), 30n);
    assert.equal(parseSgNumber('0xf+0x2', 'skip='), 17n);
    assert.equal(parseSgNumber('18446744073709551615', 'seek='), U64_MAX);
  });

  it('bad numbers name the operand', () => {
    assert.throws(() => parseSgNumber('12Q', 'count='), usage(/^count=: bad number '12Q'/));
    assert.throws(() => parseSgNumber('-3', 'skip='), usage(/^skip=: must not be negative/));
    assert.throws(() => parseSgNumber('1.5', 'seek='), usage(/^seek=: '1.5' is not a whole number/));
    assert.throws(() => parseSgNumber('', 'bs='), usage(/^bs=: missing number/));
    assert.throws(() => parseSgNumber('0x10k', 'bs='), usage(/bad number/));
    assert.throws(() => parseSgNumber('18446744073709551616', 'count='), usage(/too large/));
    assert.throws(() => parseSgNumber('2xQ', 'count='), usage(/bad number/));
  });
});

describe('formatBytes', () => {
  it('binary units, one decimal below 100', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1024n), '1 KiB');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(64n << 20n), '64 MiB');
    assert.equal(formatBytes(150n << 30n), '150 GiB');
  });
});
