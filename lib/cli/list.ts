// `odxcp list` (alias `scan`): every SCSI LUN and multipath map on the host, like lsscsi, with
// what copy offload each LUN supports and which LUNs share a copy manager.
//
// Sharing a copy manager: a copy manager belongs to a SCSI target device, and odxcp puts two
// LUNs (with 3PC) in one group when something proves they are behind the same one: the same
// SCSI target on this host (H:C:T: one target port, one I_T nexus), the same target port
// designator (VPD 0x83 association 1: NAA, EUI-64 or SCSI name string; the same port reached
// from two initiator ports), or the same target device designator (association 2). Groups are
// the transitive closure. LUNs put together are always behind one target device; a target may
// still run the copies of some LUNs elsewhere (the lab's LIO runs EXTENDED COPY for its fileio
// LUNs in the kernel and for tcmu LUNs in tcmu-runner), which SCSI does not report: `odxcp
// info SRC DST` asks about one pair.
import type { ScannedLun, ScannedMultipath } from '../device/scan';
import { errorLine, type CliContext } from './context';
import type { DeviceInfo } from './describe';
import { toJson } from './json';
import { formatBytes } from './sizes';

export interface ListedLun extends ScannedLun {
  kind: 'lun';
  threePC: boolean | null;
  tokenCopy: DeviceInfo['tokenCopy'] | null;
  xcopyLid1: DeviceInfo['xcopyLid1'] | null;
  naa: string | null;
  /** `cmN` shared by the LUNs of one copy manager; null without 3PC or when not probed. */
  copyManager: string | null;
  /** This LUN's identities of its target: `scsi-target:H:C:T`, `target-port:...`, `target-device:...`. */
  targetIds: string[];
  /** Why copy offload is unknown (the LUN could not be opened or probed). */
  probeError: string | null;
}

export interface ListedMultipath extends ScannedMultipath {
  kind: 'multipath';
}

/** The identities of a LUN's target the grouping joins on; none without 3PC. */
export function targetIdentities(address: string, info: Pick<DeviceInfo, 'threePC' | 'targetIds'>): string[] {
  if (!info.threePC) return [];
  return [`scsi-target:${address.split(':').slice(0, 3).join(':')}`, ...info.targetIds];
}

/** `cmN` per LUN index: LUNs sharing any identity (transitively) share a copy manager. */
export function groupCopyManagers(ids: readonly (readonly string[])[]): (string | null)[] {
  const parent = ids.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i] as number)));
  const owner = new Map<string, number>();
  ids.forEach((list, i) => {
    for (const id of list) {
      const o = owner.get(id);
      if (o === undefined) owner.set(id, i);
      else parent[find(i)] = find(o);
    }
  });
  const names = new Map<number, string>();
  return ids.map((list, i) => {
    if (list.length === 0) return null;
    const root = find(i);
    if (!names.has(root)) names.set(root, `cm${names.size}`);
    return names.get(root) ?? null;
  });
}

export async function listDevices(ctx: CliContext): Promise<(ListedLun | ListedMultipath)[]> {
  const { luns, multipath } = ctx.scan();
  const rows: ListedLun[] = [];
  for (const l of luns) {
    const row: ListedLun = { kind: 'lun', ...l, threePC: null, tokenCopy: null, xcopyLid1: null, naa: null, copyManager: null, targetIds: [], probeError: null };
    const node = l.sg ?? l.sd;
    // Only disks (type 0) answer READ CAPACITY and the copy-offload VPD pages.
    if (l.type === 0 && node) {
      try {
        const i = await ctx.describeDevice(node);
        row.threePC = i.threePC;
        row.tokenCopy = i.tokenCopy;
        row.xcopyLid1 = i.xcopyLid1;
        row.naa = i.naa;
        row.blockSize = i.blockSize;
        row.bytes = i.bytes;
        row.targetIds = targetIdentities(l.address, i);
      } catch (e) {
        row.probeError = errorLine(e);
      }
    } else if (l.type === 0) row.probeError = 'no sg or sd node (sg driver not loaded?)';
    rows.push(row);
  }
  groupCopyManagers(rows.map((r) => r.targetIds)).forEach((cm, i) => ((rows[i] as ListedLun).copyManager = cm));
  return [...rows, ...multipath.map((m): ListedMultipath => ({ kind: 'multipath', ...m }))];
}

const TYPE_NAMES: Record<number, string> = { 0: 'disk', 1: 'tape', 5: 'cd/dvd', 8: 'changer', 0x0c: 'storage', 0x0d: 'enclosu', 0x1e: 'wlun' };

function tokenText(l: ListedLun): string {
  const t = l.tokenCopy;
  if (!t) return '?';
  if (!t.supported || !t.limits) return 'no';
  const max = t.limits.maximumTokenTransferSize;
  return max > 0n && l.blockSize ? `yes ${formatBytes(max * BigInt(l.blockSize))}/token` : 'yes';
}

function xcopyText(l: ListedLun): string {
  const x = l.xcopyLid1;
  if (!x) return '?';
  if (!x.supported || !x.limits) return 'no';
  const seg = x.limits.maximumSegmentLength;
  return `yes ${x.limits.maximumSegmentDescriptorCount}x${seg ? formatBytes(BigInt(seg)) : '?'}`;
}

/** The text table: one row per LUN, then the multipath maps; a header even with no device. */
export function listLines(rows: readonly (ListedLun | ListedMultipath)[]): string[] {
  const table: string[][] = [['[H:C:T:L]', 'type', 'sg', 'sd', 'vendor', 'product', 'size', 'block', '3PC', 'token copy', 'EXTENDED COPY', 'copy manager']];
  const notes: string[] = [];
  for (const r of rows) {
    if (r.kind !== 'lun') continue;
    table.push([
      `[${r.address}]`,
      TYPE_NAMES[r.type] ?? `type${r.type}`,
      r.sg ?? '-',
      r.sd ?? '-',
      r.vendor,
      r.product,
      r.bytes === null ? '-' : formatBytes(r.bytes),
      r.blockSize === null ? '-' : String(r.blockSize),
      r.threePC === null ? '?' : r.threePC ? 'yes' : 'no',
      tokenText(r),
      xcopyText(r),
      r.copyManager ?? '-',
    ]);
    if (r.probeError) notes.push(`  [${r.address}]: not probed: ${r.probeError}`);
  }
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => (row[c] ?? '').length)));
  const lines = table.map((row) => row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd());
  const maps = rows.filter((r): r is ListedMultipath => r.kind === 'multipath');
  for (const m of maps) lines.push(`multipath ${m.name} (/dev/${m.dm}, wwid ${m.wwid}, ${m.bytes === null ? '?' : formatBytes(m.bytes)}): ${m.paths.join(', ') || 'no paths'}`);
  const groups = new Map<string, string[]>();
  for (const r of rows) if (r.kind === 'lun' && r.copyManager) groups.set(r.copyManager, [...(groups.get(r.copyManager) ?? []), r.address]);
  for (const [cm, members] of groups) {
    const ids = new Set(rows.flatMap((r) => (r.kind === 'lun' && r.copyManager === cm ? r.targetIds : [])));
    lines.push(`${cm}: ${members.map((a) => `[${a}]`).join(' ')} (${[...ids].join(', ')})`);
  }
  return [...lines, ...notes];
}

export async function listCommand(ctx: CliContext, o: { json?: boolean }): Promise<number> {
  const rows = await listDevices(ctx);
  ctx.stdout.write(o.json ? `${toJson(rows)}\n` : `${listLines(rows).join('\n')}\n`);
  return 0;
}
