// ddpt/ddptctl interop of token files (issue 14): the bare 512-byte token ddptctl --rtf reads
// and writes, and ddpt's 520-byte rtf_len form (the token, then the bytes it represents as a
// big-endian 64-bit integer), read by `token info`/`token write` and written by
// `token populate --format raw|raw-len`. The lab proves the files against ddpt itself.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROD_TYPE } from '../../lib/scsi/rod-token';
import { decodeTokenFile, encodeRawToken, populateTokenFile, readTokenFile, RTF_LEN_FILE_LENGTH, TokenFileError, writeTokenFile } from '../../lib/tokens/token-file';
import { FakeLun, fillPattern } from './helpers/fake-lun';
import { harness, run } from './helpers/cli-harness';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'odxcp-interop-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A token of a vendor ROD type that states neither its count nor its block size (as ddpt allows). */
function token(o: { bytes?: bigint; blockSize?: number } = {}): Buffer {
  const t = Buffer.alloc(512, 0x5a);
  t.writeUInt32BE(ROD_TYPE.ACCESS_UPON_REFERENCE, 0);
  t.writeUInt16BE(0x1f8, 6);
  t.fill(0, 16, 128);
  if (o.bytes !== undefined) t.writeBigUInt64BE(o.bytes, 56);
  if (o.blockSize !== undefined) t.writeUInt32BE(o.blockSize, 96);
  return t;
}

const rtfLen = (t: Buffer, n: bigint) => Buffer.concat([t, Buffer.from(n.toString(16).padStart(16, '0'), 'hex')]);

describe("ddpt's 520-byte rtf_len token file and the bare token", () => {
  it('520 bytes: the token, then its length; the length is what the token represents', () => {
    const d = decodeTokenFile(rtfLen(token({ blockSize: 512 }), 65536n), 'a.rt');
    assert.equal(d.format, 'raw-len');
    assert.equal(d.bytes, 65536n);
    assert.equal(d.blockSize, 512);
    assert.equal(d.token.length, 512);
    assert.ok(encodeRawToken('raw-len', d.token, 65536n).equals(rtfLen(token({ blockSize: 512 }), 65536n)));
  });

  it('a 520-byte file whose length disagrees with the token, is 0, or is not whole blocks is refused (exit 15)', () => {
    const bad = (b: Buffer, re: RegExp) => assert.throws(() => decodeTokenFile(b, 'a.rt'), (e: unknown) => e instanceof TokenFileError && re.test(e.message));
    bad(rtfLen(token({ bytes: 4096n }), 8192n), /the length after the token does not match the token \(8192 bytes after it, 4096 in it\)/);
    bad(rtfLen(token(), 0n), /represents 0 bytes/);
    bad(rtfLen(token({ blockSize: 4096 }), 512n), /not a whole number of the token's 4096-byte blocks/);
    bad(rtfLen(Buffer.alloc(512, 0x41), 512n), /not a ROD token/);
  });

  it('a ddpt file of several tokens is named as such', () => {
    for (const b of [Buffer.concat([token(), token()]), Buffer.concat([rtfLen(token(), 512n), rtfLen(token(), 512n)])]) {
      assert.throws(() => decodeTokenFile(b, 'many.rt'), /several ROD tokens \(a ddpt rtf= file\?\)/);
    }
  });

  it('token info reads both forms and says which', async () => {
    const f = path.join(tmp, 'a.rt');
    fs.writeFileSync(f, rtfLen(token({ blockSize: 512 }), 1048576n));
    const h = harness();
    assert.equal(await run(h, 'token', 'info', f), 0, h.stderr.text);
    assert.match(h.stdout.text, /ddpt's rtf_len form \(520 bytes\)/);
    assert.match(h.stdout.text, /represents 1048576 bytes \(1 MiB\)/);
    const j = harness();
    assert.equal(await run(j, 'token', 'info', f, '--json'), 0);
    assert.equal((JSON.parse(j.stdout.text) as { format: string }).format, 'raw-len');
    const r = path.join(tmp, 'b.rt');
    fs.writeFileSync(r, token({ bytes: 4096n, blockSize: 512 }));
    const k = harness();
    assert.equal(await run(k, 'token', 'info', r), 0);
    assert.match(k.stdout.text, /bare 512-byte ROD token, as ddptctl --rtf reads and writes/);
  });

  it('token populate --format: raw writes the 512 token bytes, raw-len 520; odxcp reads them back and writes the data', async () => {
    for (const format of ['raw', 'raw-len'] as const) {
      const lun = new FakeLun({ blocks: 4096 });
      fillPattern(lun.mem, 3);
      const before = Buffer.from(lun.mem);
      const out = path.join(tmp, `p.${format}`);
      const p = await populateTokenFile({ device: lun, offset: 64 * 512, length: 128 * 512, out, format });
      assert.equal(p.format, format);
      const bytes = fs.readFileSync(out);
      assert.equal(bytes.length, format === 'raw' ? 512 : RTF_LEN_FILE_LENGTH);
      assert.equal(fs.statSync(out).mode & 0o777, 0o600);
      if (format === 'raw-len') assert.equal(bytes.readBigUInt64BE(512), 128n * 512n);
      const tf = readTokenFile(out);
      assert.equal(tf.format, format);
      assert.equal(tf.bytes, 128n * 512n);
      const w = await writeTokenFile({ device: lun, token: out, offset: 1024 * 512 });
      assert.equal(w.bytesWritten, 128n * 512n);
      assert.ok(lun.mem.subarray(1024 * 512, 1152 * 512).equals(before.subarray(64 * 512, 192 * 512)));
    }
  });

  it('--format is checked before any device: an unknown one is a usage error', async () => {
    const h = harness();
    let called = 0;
    h.ctx.populateTokenFile = async () => {
      called++;
      throw new Error('not reached');
    };
    assert.equal(await run(h, 'token', 'populate', '/dev/sg1', '--length', '1M', '--out', path.join(tmp, 'x'), '--format', 'ddpt'), 1);
    assert.match(h.stderr.text, /^odxcp: --format: 'ddpt' is not one of odxcp, raw, raw-len\n$/);
    assert.equal(called, 0);
    assert.deepEqual(h.geometryCalls, []);
  });
});
