// Which of a LUN's paths carries its commands. Every command of one list identifier must go
// down the path chosen here (list ids live in one I_T nexus); the failover code switches it.

export interface StackPath {
  /** /dev/sdX ('' for a LUN with no disk driver bound). */
  sd: string;
  /** /dev/sgN, when the sg driver is bound. */
  sg: string | undefined;
  /** H:C:T:L */
  address: string;
  /** The SCSI device's state (running, offline, blocked, transport-offline...). */
  state: string;
  /** ALUA state from the device handler (active/optimized, active/non-optimized, standby...). */
  accessState: string | undefined;
  /** iscsi, fc, sas, or the host driver's name. */
  transport: string;
  /** Where accessState came from: the kernel's ALUA handler (sysfs) or odxcp's REPORT TARGET PORT GROUPS. */
  accessSource?: 'sysfs' | 'rtpg';
  /** The target port group the path's port is in (VPD 0x83, association 1, as sysfs caches it). */
  targetPortGroup?: number;
  /** A multipath map's own view of the path (its status line), when there is a map. */
  dmState?: 'active' | 'failed';
}

/** Lower is better; undefined: the path cannot carry commands now. */
export function pathRank(p: StackPath): number | undefined {
  if (p.state !== 'running' || !p.sg || p.dmState === 'failed') return undefined;
  switch (p.accessState) {
    case 'active/optimized':
      return 0;
    case 'active/non-optimized':
      return 1;
    case undefined:
      // No ALUA device handler attached: nothing says it is not optimized.
      return 2;
    case 'lba-dependent':
      return 3;
    default:
      // standby, unavailable, offline, transitioning: no I/O there.
      return undefined;
  }
}

/**
 * The best path that is up (sysfs state running, not failed in its multipath map), preferring
 * ALUA active/optimized; ties by order.
 */
export function choosePath(paths: readonly StackPath[], exclude: readonly string[] = []): StackPath | undefined {
  let best: StackPath | undefined;
  let bestRank = Infinity;
  for (const p of paths) {
    if (exclude.includes(p.sd) || (p.sg && exclude.includes(p.sg))) continue;
    const r = pathRank(p);
    if (r !== undefined && r < bestRank) {
      best = p;
      bestRank = r;
    }
  }
  return best;
}

/** One move of a layered device's commands to another path (sg nodes). */
export interface PathMove {
  from: string;
  to: string;
  /** False when another caller had already moved away from `from`: nothing new happened. */
  switched: boolean;
}

/**
 * A device whose commands can move to another path of its LUN (a multipath map). The copy
 * engine asks it after a transport error; docs/path-failover.md is the rule it follows.
 */
export interface PathFailover {
  /** The sg node commands go through now. */
  readonly commandNode: string;
  /** The current path can no longer carry commands (its sysfs state, read now, is not running). */
  pathFailed(): boolean;
  /**
   * Whether the I_T nexus of the path `sg` is known to be gone (an iSCSI session no longer
   * logged in: at ErrorRecoveryLevel 0 the target aborted every task of it), waiting up to
   * `waitMs` for it to end: the initiator notices a dropped connection a moment after the
   * commands on an offline device already fail.
   */
  nexusGone(sg: string, waitMs: number): Promise<boolean>;
  /**
   * Move commands off `from` to the best other usable path (states read afresh). Undefined
   * when no path is left. Calls are serialised; one that finds the move done returns it.
   */
  switchPath(from: string, reason: string): Promise<PathMove | undefined>;
}

/** A device's failover, when it has one (a layered device: `ScsiDevice.failover`). */
export function failoverOf(t: unknown): PathFailover | undefined {
  return (t as { failover?: PathFailover } | undefined)?.failover;
}
