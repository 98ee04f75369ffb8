// JSON output of the CLI: bigints as numbers when they are exact, else as decimal strings
// (scripts in any language can read either), Buffers as hex.

function replacer(this: unknown, _k: string, val: unknown): unknown {
  if (typeof val === 'bigint') return val <= BigInt(Number.MAX_SAFE_INTEGER) && val >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(val) : val.toString();
  if (val && typeof val === 'object' && (val as { type?: string }).type === 'Buffer' && Array.isArray((val as { data?: unknown }).data)) {
    return Buffer.from((val as { data: number[] }).data).toString('hex');
  }
  return val;
}

/** JSON.stringify that prints bigints as numbers (strings beyond 2^53) and Buffers as hex. */
export function toJson(v: unknown, indent = 2): string {
  return JSON.stringify(v, replacer, indent);
}

/** One line of NDJSON (no newline). */
export function toJsonLine(v: unknown): string {
  return JSON.stringify(v, replacer);
}
