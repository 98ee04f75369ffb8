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

/** Reads the table of the map with this device number. */
export type DmTableSource = (major: number, minor: number) => DmTable;

interface NativeDm {
  table(major: number, minor: number): { name: string; uuid: string; targets: DmTarget[] };
}

/** The kernel's table, through /dev/mapper/control (DM_TABLE_STATUS with DM_STATUS_TABLE_FLAG). */
export const kernelDmTable: DmTableSource = (major, minor) => {
  const dm = (loadNative() as unknown as { dm: NativeDm }).dm;
  const t = dm.table(major, minor);
  return { name: t.name, uuid: t.uuid, targets: t.targets };
};

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
