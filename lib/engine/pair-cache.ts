// Like the Windows copy engine, remember per process that a pair of LUNs cannot offload (an
// invalid opcode, an unreachable copy target...), so later copies go straight to the method
// that works. Entries expire, because arrays change (a port comes back, a license is added).
import type { CopyMethod } from './types';

export const PAIR_CACHE_TTL_MS = 5 * 60_000;

interface Entry {
  until: number;
  reason: string;
}

const cache = new Map<string, Entry>();

const key = (src: string, dst: string, m: CopyMethod) => `${src}\u0000${dst}\u0000${m}`;

export function rememberFailure(src: string, dst: string, method: CopyMethod, reason: string, now = Date.now()): void {
  cache.set(key(src, dst, method), { until: now + PAIR_CACHE_TTL_MS, reason });
}

/** The reason a method is off for this pair, or undefined when it may be tried. */
export function knownFailure(src: string, dst: string, method: CopyMethod, now = Date.now()): string | undefined {
  const e = cache.get(key(src, dst, method));
  if (!e) return undefined;
  if (e.until <= now) {
    cache.delete(key(src, dst, method));
    return undefined;
  }
  return e.reason;
}

export function clearPairCache(): void {
  cache.clear();
}
