// REPORT TARGET PORT GROUPS parameter data (SPC-4 6.37), length-only format: a 4-byte RETURN
// DATA LENGTH, then per target port group an 8-byte descriptor (byte 0 PREF bit 7 and
// ASYMMETRIC ACCESS STATE bits 3-0, bytes 2-3 TARGET PORT GROUP, byte 5 STATUS CODE, byte 7
// TARGET PORT COUNT) followed by 4 bytes per port (RELATIVE TARGET PORT IDENTIFIER in 2-3).
import { ByteReader } from './bytes';

/** ASYMMETRIC ACCESS STATE, named as the kernel's sysfs access_state names them. */
export const ALUA_STATES: Record<number, string> = {
  0x0: 'active/optimized',
  0x1: 'active/non-optimized',
  0x2: 'standby',
  0x3: 'unavailable',
  0x4: 'lba-dependent',
  0xe: 'offline',
  0xf: 'transitioning',
};

export interface TargetPortGroup {
  group: number;
  state: number;
  stateName: string;
  preferred: boolean;
  statusCode: number;
  relativePorts: number[];
}

export interface ReportTargetPortGroups {
  returnDataLength: number;
  groups: TargetPortGroup[];
  /** The allocation length cut the list short. */
  truncated: boolean;
}

export function decodeReportTargetPortGroups(buf: Buffer): ReportTargetPortGroups {
  const whole = new ByteReader(buf, 'REPORT TARGET PORT GROUPS data');
  whole.need(0, 4, 'RETURN DATA LENGTH');
  const returnDataLength = whole.u32(0, 'RETURN DATA LENGTH');
  const clamp = whole.clampLength(4, returnDataLength);
  const r = whole.limit(clamp.end);
  const groups: TargetPortGroup[] = [];
  let truncated = clamp.truncated;
  let off = 4;
  while (off < clamp.claimedEnd) {
    if (!r.has(off, 8)) {
      truncated = true;
      break;
    }
    const count = r.u8(off + 7, 'TARGET PORT COUNT');
    const state = r.bits(off, 3, 0, 'ASYMMETRIC ACCESS STATE');
    const g: TargetPortGroup = {
      group: r.u16(off + 2, 'TARGET PORT GROUP'),
      state,
      stateName: ALUA_STATES[state] ?? `reserved (${state})`,
      preferred: r.bit(off, 7, 'PREF'),
      statusCode: r.u8(off + 5, 'STATUS CODE'),
      relativePorts: [],
    };
    off += 8;
    for (let i = 0; i < count; i++, off += 4) {
      if (!r.has(off, 4)) {
        truncated = true;
        break;
      }
      g.relativePorts.push(r.u16(off + 2, 'RELATIVE TARGET PORT IDENTIFIER'));
    }
    groups.push(g);
    if (truncated) break;
  }
  return { returnDataLength, groups, truncated };
}
