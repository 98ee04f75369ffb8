// Byte helpers for tests that compare encoder output with vectors written out by hand.
import * as assert from 'node:assert/strict';

/** Bytes from hex text; whitespace between bytes is ignored ("83 10  00 00"). */
export function hex(...parts: string[]): Buffer {
  const text = parts.join(' ').replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error(`bad hex literal: ${parts.join(' ')}`);
  return Buffer.from(text, 'hex');
}

/** n zero bytes. */
export function zeros(n: number): Buffer {
  return Buffer.alloc(n);
}

/** Concatenate pieces of an expected vector. */
export function cat(...pieces: Buffer[]): Buffer {
  return Buffer.concat(pieces);
}

/** Compare two byte strings and name the first differing offset (easier to read than a full dump). */
export function assertBytes(actual: unknown, expected: Buffer, what: string): void {
  assert.ok(Buffer.isBuffer(actual), `${what}: expected a Buffer, got ${typeof actual}`);
  const a = actual as Buffer;
  for (let i = 0; i < Math.min(a.length, expected.length); i++) {
    if (a[i] !== expected[i]) {
      assert.fail(
        `${what}: byte ${i} is 0x${a[i].toString(16).padStart(2, '0')}, expected 0x${expected[i]
          .toString(16)
          .padStart(2, '0')}\n  actual   ${a.toString('hex')}\n  expected ${expected.toString('hex')}`,
      );
    }
  }
  assert.equal(a.length, expected.length, `${what}: length ${a.length}, expected ${expected.length}`);
}
