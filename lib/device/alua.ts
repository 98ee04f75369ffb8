// ALUA states of a LUN's paths when no ALUA device handler put them in sysfs (access_state):
// one REPORT TARGET PORT GROUPS through a path that is up reports every group's state; each
// path's group is known from its vpd_pg83 (the port it reaches). Then the path is chosen again.
import { loadNative, type EncodedCommand } from '../native';
import type { ReportTargetPortGroups } from '../scsi/alua';
import { choosePath } from './paths';
import type { StackLun } from './stack';

/** Sends REPORT TARGET PORT GROUPS through one sg node. */
export type RtpgSender = (sg: string) => Promise<ReportTargetPortGroups>;

interface AluaEncoders {
  reportTargetPortGroups(o: { extended?: boolean; allocationLength?: number }): EncodedCommand;
}

/** The encoder lives in native/alua.cc; typed here to keep lib/native.ts untouched by this layer. */
export function encodeReportTargetPortGroups(allocationLength = 4096): EncodedCommand {
  return (loadNative().encoders as unknown as AluaEncoders).reportTargetPortGroups({ allocationLength });
}

/**
 * Fill in the access state of the paths that have none, from the target's own report, and
 * choose the path again. Paths with a sysfs state keep it. A target that refuses the command
 * (no ALUA) leaves everything as it was: the choice stays by state alone.
 */
export async function refineWithRtpg(lun: StackLun, send: RtpgSender): Promise<void> {
  const unknown = lun.paths.filter((p) => p.accessState === undefined && p.targetPortGroup !== undefined);
  if (unknown.length === 0) return;
  const via = lun.paths.find((p) => p.state === 'running' && p.sg && p.dmState !== 'failed');
  if (!via?.sg) return;
  let report: ReportTargetPortGroups;
  try {
    report = await send(via.sg);
  } catch {
    return;
  }
  for (const p of unknown) {
    const g = report.groups.find((x) => x.group === p.targetPortGroup);
    if (g) {
      p.accessState = g.stateName;
      p.accessSource = 'rtpg';
    }
  }
  lun.chosen = choosePath(lun.paths);
}
