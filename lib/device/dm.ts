// Device-mapper tables: where the raw target specs come from (the addon's DM_TABLE_STATUS, or
// a test's map), and what their parameter strings say. Only the targets odxcp can see through
// are parsed; every other one is named, for the refusal.
import { loadNative } from '../native';

/** One target of a dm table; start and length in 512-byte sectors. */
export interface DmTarget {
  start: bigint;
  length: bigint;
  type: string;
  params: string;
}

export interface DmTable {
  name: string;
  uuid: string;
  targets: DmTarget[];
}

/**
 * Reads the table of the map with this device number; with `status`, each target's status
 * line in `params` instead (a multipath map's path states).
 */
export type DmTableSource = (major: number, minor: number, status?: boolean) => DmTable;

interface NativeDm {
  table(major: number, minor: number, status?: boolean): { name: string; uuid: string; targets: DmTarget[] };
}

/** The kernel's table or status, through /dev/mapper/control (DM_TABLE_STATUS). */
export const kernelDmTable: DmTableSource = (major, minor, status) => {
  const dm = (loadNative() as unknown as { dm: NativeDm }).dm;
  const t = dm.table(major, minor, status === true);
  return { name: t.name, uuid: t.uuid, targets: t.targets };
};

/**
 * The path states in a multipath target's status line ("MAJ:MIN" → active or failed), as
 * dm-mpath prints them: features, hardware handler, then per priority group its state, its
 * selector's arguments, and per path "dev A|F fail_count" plus the selector's info arguments.
 * Undefined when the line does not parse (never guessed).
 */
export function multipathPathStates(status: string): Map<string, 'active' | 'failed'> | undefined {
  const t = status.trim().split(/\s+/);
  let i = 0;
  const num = (): number | undefined => {
    const v = t[i++];
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const skip = (n: number | undefined): boolean => {
    if (n === undefined || i + n > t.length) return false;
    i += n;
    return true;
  };
  if (!skip(num()) || !skip(num())) return undefined; // features, hardware handler
  const groups = num();
  if (groups === undefined || num() === undefined) return undefined; // groups, next group
  const out = new Map<string, 'active' | 'failed'>();
  for (let g = 0; g < groups; g++) {
    if (!/^[ADE]$/.test(t[i++] ?? '')) return undefined;
    if (!skip(num())) return undefined; // the selector's group status
    const paths = num();
    const infoArgs = num();
    if (paths === undefined || infoArgs === undefined) return undefined;
    for (let p = 0; p < paths; p++) {
      const dev = t[i++];
      const state = t[i++];
      if (dev === undefined || !/^\d+:\d+$/.test(dev) || (state !== 'A' && state !== 'F') || num() === undefined || !skip(infoArgs)) return undefined;
      out.set(dev, state === 'A' ? 'active' : 'failed');
    }
  }
  return i === t.length ? out : undefined;
}

/** A linear target's member ("MAJ:MIN" or a /dev path) and its offset there, in sectors. */
export interface LinearParams {
  device: string;
  offset: bigint;
}

export function parseLinear(params: string): LinearParams | undefined {
  const m = /^\s*(\S+)\s+(\d+)\s*$/.exec(params);
  return m ? { device: m[1] as string, offset: BigInt(m[2] as string) } : undefined;
}

/**
 * Why a target type hides where the bytes sit on the LUN, in one line naming the layer;
 * undefined for the types resolution handles (linear, multipath).
 */
export function unsupportedTarget(type: string): string | undefined {
  switch (type) {
    case 'linear':
    case 'multipath':
      return undefined;
    case 'crypt':
      return "dm-crypt: data is encrypted above the LUN; copy offload would copy ciphertext to a different key's volume";
    case 'thin':
    case 'thin-pool':
      return `dm-${type}: blocks are allocated by the pool, not at fixed places on the LUN; copy the pool's LUN or use a host copy`;
    case 'striped':
      return 'dm-striped: the bytes alternate between LUNs in stripes; offload would need one range per stripe chunk (not supported)';
    case 'raid':
    case 'mirror':
      return `dm-${type}: the data is replicated or has parity across LUNs; writing one leg behind the array's back breaks it`;
    case 'snapshot':
    case 'snapshot-origin':
    case 'snapshot-merge':
      return `dm-${type}: blocks move to the copy-on-write store; the origin LUN does not hold the device's bytes`;
    case 'cache':
    case 'writecache':
    case 'era':
    case 'integrity':
    case 'verity':
    case 'vdo':
      return `dm-${type}: this layer transforms or caches the data above the LUN`;
    case 'zero':
    case 'error':
      return `dm-${type}: no LUN holds these bytes`;
    default:
      return `dm target "${type}": not a layer odxcp can map onto LUN blocks (linear and multipath only)`;
  }
}
