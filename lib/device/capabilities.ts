// What copy offload a LU supports and within which limits, from INQUIRY (3PC), VPD 0x00,
// 0xB0, 0x8F and RECEIVE COPY RESULTS operating parameters (reference 3.2, 3.5, 3.6, 5.6,
// 7.6). Each decision carries a one-line reason, so `odxcp info` can say why.
import * as cmds from '../scsi/commands';
import { ScsiError } from '../scsi/errors';
import type { VpdBlockLimits } from '../scsi/spc';
import { findTpcDescriptor, type VpdThirdPartyCopy } from '../scsi/tpc-vpd';
import { supportsLid1BlockCopy, type OperatingParameters } from '../scsi/tpc';
import type { ScsiTransport } from '../scsi/transport';

export interface TokenCopyLimits {
  maximumRangeDescriptors: number;
  /** Seconds; 0 = not reported. */
  maximumInactivityTimeout: number;
  defaultInactivityTimeout: number;
  /** Blocks; 0 = not reported. */
  maximumTokenTransferSize: bigint;
  /** Blocks; 0 = not reported. */
  optimalTransferCount: bigint;
  /**
   * MAXIMUM TOKEN LIFETIME of VPD 0x8F/0106, seconds: a token dies this long after it was
   * made, however it is used; 0 = not reported or unlimited (0xFFFFFFFF).
   */
  maximumTokenLifetime: number;
  /** ROD types the LU can create (TOKEN_OUT) and accept (TOKEN_IN), from descriptor 0x0108. */
  rodTypesOut: number[];
  rodTypesIn: number[];
}

export interface Lid1Limits {
  maximumCscdDescriptorCount: number;
  maximumSegmentDescriptorCount: number;
  maximumDescriptorListLength: number;
  /** Bytes; 0 = no limit reported. */
  maximumSegmentLength: number;
  /** LIST ID USAGE 11b supported (the only form tcmu-runner accepts). */
  snlid: boolean;
  /** Held data limit; 0 means no held data (sg_xcopy then uses LIST ID USAGE 10b). */
  heldDataLimit: number;
}

export interface Capabilities {
  threePC: boolean;
  vpdPages: number[];
  blockLimits?: VpdBlockLimits;
  thirdPartyCopy?: VpdThirdPartyCopy;
  operatingParameters?: OperatingParameters;
  tokenCopy: { supported: boolean; reason: string; limits?: TokenCopyLimits };
  xcopyLid1: { supported: boolean; reason: string; limits?: Lid1Limits };
  /** Probes that failed, with the target's answer (informational). */
  probeErrors: string[];
}

interface Probeable extends ScsiTransport {
  identity(): Promise<{ threePC: boolean }>;
}

const has = (list: { opcode: number; serviceActions: number[] }[], op: number, sa: number) =>
  list.some((c) => c.opcode === op && c.serviceActions.includes(sa));

export async function probeCapabilities(dev: Probeable): Promise<Capabilities> {
  const probeErrors: string[] = [];
  const note = (what: string) => (e: unknown) => {
    probeErrors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  };
  const id = await dev.identity();
  const pages = (await cmds.vpdSupportedPages(dev).catch(note('VPD 0x00')))?.pages ?? [];
  const blockLimits = pages.includes(0xb0) ? await cmds.vpdBlockLimits(dev).catch(note('VPD 0xB0')) : undefined;
  // ESXi and Windows read 0x8F only when page 0x00 lists it (reference 7.7); so do we.
  const thirdPartyCopy = pages.includes(0x8f) ? await cmds.vpdThirdPartyCopy(dev).catch(note('VPD 0x8F')) : undefined;
  let operatingParameters: OperatingParameters | undefined;
  if (id.threePC) {
    try {
      operatingParameters = await cmds.receiveCopyOperatingParameters(dev);
    } catch (e) {
      if (!(e instanceof ScsiError)) throw e;
      note('RECEIVE COPY OPERATING PARAMETERS')(e);
    }
  }

  // Token copy: the ROD token limits descriptor (ddpt refuses ODX without it) and the
  // supported-commands descriptor naming POPULATE TOKEN, WRITE USING TOKEN and RRTI (reference 7.6).
  let tokenCopy: Capabilities['tokenCopy'];
  const limits = thirdPartyCopy && findTpcDescriptor(thirdPartyCopy, 'block-device-rod-limits');
  const commands = thirdPartyCopy && findTpcDescriptor(thirdPartyCopy, 'supported-commands');
  if (!id.threePC) tokenCopy = { supported: false, reason: 'no copy manager (INQUIRY 3PC=0)' };
  else if (!thirdPartyCopy) tokenCopy = { supported: false, reason: 'no Third-Party Copy VPD page (0x8F)' };
  else if (!limits) tokenCopy = { supported: false, reason: 'VPD 0x8F has no Block Device ROD Token Limits descriptor' };
  else if (!commands || !has(commands.commands, 0x83, 0x10) || !has(commands.commands, 0x83, 0x11) || !has(commands.commands, 0x84, 0x07)) {
    tokenCopy = { supported: false, reason: 'VPD 0x8F does not list POPULATE TOKEN, WRITE USING TOKEN and RECEIVE ROD TOKEN INFORMATION' };
  } else {
    const rodTypes = findTpcDescriptor(thirdPartyCopy, 'supported-rod-types')?.rodTypes ?? [];
    const lifetime = findTpcDescriptor(thirdPartyCopy, 'rod-token-features')?.maximumTokenLifetime ?? 0;
    tokenCopy = {
      supported: true,
      reason: 'VPD 0x8F advertises token copy',
      limits: {
        maximumRangeDescriptors: limits.maximumRangeDescriptors,
        maximumInactivityTimeout: limits.maximumInactivityTimeout,
        defaultInactivityTimeout: limits.defaultInactivityTimeout,
        maximumTokenTransferSize: limits.maximumTokenTransferSize,
        optimalTransferCount: limits.optimalTransferCount,
        maximumTokenLifetime: lifetime === 0xffffffff ? 0 : lifetime,
        rodTypesOut: rodTypes.filter((r) => r.tokenOut).map((r) => r.rodType),
        rodTypesIn: rodTypes.filter((r) => r.tokenIn).map((r) => r.rodType),
      },
    };
  }

  // EXTENDED COPY LID1: segment type 0x02 and CSCD type 0xE4 implemented (sg_xcopy's test, reference 5.6).
  let xcopyLid1: Capabilities['xcopyLid1'];
  if (!id.threePC) xcopyLid1 = { supported: false, reason: 'no copy manager (INQUIRY 3PC=0)' };
  else if (!operatingParameters) xcopyLid1 = { supported: false, reason: 'RECEIVE COPY OPERATING PARAMETERS refused' };
  else if (commands && !has(commands.commands, 0x83, 0x00)) {
    // A copy manager for token copy only: its VPD 0x8F command list is meant to be complete.
    xcopyLid1 = { supported: false, reason: 'VPD 0x8F Supported Commands does not list EXTENDED COPY(LID1) (83/00)' };
  } else if (!supportsLid1BlockCopy(operatingParameters)) {
    xcopyLid1 = { supported: false, reason: 'copy manager lacks block->block segments (0x02) or identification CSCDs (0xE4)' };
  } else {
    const op = operatingParameters;
    xcopyLid1 = {
      supported: true,
      reason: 'copy manager implements 0x02 segments and 0xE4 CSCD descriptors',
      limits: {
        maximumCscdDescriptorCount: op.maximumCscdDescriptorCount,
        maximumSegmentDescriptorCount: op.maximumSegmentDescriptorCount,
        maximumDescriptorListLength: op.maximumDescriptorListLength,
        maximumSegmentLength: op.maximumSegmentLength,
        snlid: op.snlid,
        heldDataLimit: op.heldDataLimit,
      },
    };
  }
  return { threePC: id.threePC, vpdPages: pages, blockLimits, thirdPartyCopy, operatingParameters, tokenCopy, xcopyLid1, probeErrors };
}
