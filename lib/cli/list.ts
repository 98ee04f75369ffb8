// `odxcp list` (alias `scan`): every SCSI LUN and multipath map on the host, like lsscsi, with
// what copy offload each LUN supports and which LUNs share a copy manager.
//
// Sharing a copy manager: a copy manager belongs to a SCSI target device, and odxcp groups
// LUNs by the strongest identity of it they report, in this order: (1) the same target device
// designator (VPD 0x83, association 2); (2) else the same target port designator
// (association 1: NAA, EUI-64 or SCSI name string); (3) else the same SCSI target on this host
// (H:C:T, one I_T nexus). A LUN without 3PC has no copy manager. The rule can only under-group:
// LUNs of one array reached through different ports that name no target device are listed
// apart, while LUNs put together are always served by one target device.
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
  /** What the grouping used: `target-device:...`, `target-port:...` or `scsi-target:H:C:T`. */
  copyManagerKey: string | null;
  /** Why copy offload is unknown (the LUN could not be opened or probed). */
  probeError: string | null;
}

export interface ListedMultipath extends ScannedMultipath {
  kind: 'multipath';
}

/** The key rule above; null when the LUN has no copy manager. */
export function copyManagerKey(address: string, info: Pick<DeviceInfo, 'threePC' | 'targetIds'>): string | null {
  if (!info.threePC) return null;
  const device = info.targetIds.find((t) => t.startsWith('target-device:'));
  if (device) return device;
  const port = info.targetIds.find((t) => t.startsWith('target-port:'));
  if (port) return port;
  return `scsi-target:${address.split(':').slice(0, 3).join(':')}`;
}

export async function listDevices(ctx: CliContext): Promise<(ListedLun | ListedMultipath)[]> {
  const { luns, multipath } = ctx.scan();
  const out: (ListedLun | ListedMultipath)[] = [];
  const keys = new Map<string, string>();
  for (const l of luns) {
    const row: ListedLun = { kind: 'lun', ...l, threePC: null, tokenCopy: null, xcopyLid1: null, naa: null, copyManager: null, copyManagerKey: null, probeError: null };
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
        const key = copyManagerKey(l.address, i);
        if (key) {
          if (!keys.has(key)) keys.set(key, `cm${keys.size}`);
          row.copyManager = keys.get(key) ?? null;
          row.copyManagerKey = key;
        }
      } catch (e) {
        row.probeError = errorLine(e);
      }
    } else if (l.type === 0) row.probeError = 'no sg or sd node (sg driver not loaded?)';
    out.push(row);
  }
  for (const m of multipath) out.push({ kind: 'multipath', ...m });
  return out;
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
    const key = rows.find((r) => r.kind === 'lun' && r.copyManager === cm) as ListedLun;
    lines.push(`${cm}: ${members.map((a) => `[${a}]`).join(' ')} (${key.copyManagerKey})`);
  }
  return [...lines, ...notes];
}

export async function listCommand(ctx: CliContext, o: { json?: boolean }): Promise<number> {
  const rows = await listDevices(ctx);
  ctx.stdout.write(o.json ? `${toJson(rows)}\n` : `${listLines(rows).join('\n')}\n`);
  return 0;
}
