// How the engine reacts to what a target says: the one table of actions per sense code
// (the "copy-engine action (ours)" column of reference 2.6, with the sense key deciding for
// codes without an entry of their own), and the decisions built on it: what the chunk loop
// does after an offload failed, when a pair cannot offload at all, a busy list id, a target
// that refuses IMMED, a refusal that sends zeroing to its next method. lib/scsi only names
// the codes; deciding is the engine's.
import { SENSE_KEY } from '../scsi/asc';
import { OdxcpError } from '../errors';
import { ScsiError, TransportError } from '../scsi/errors';
import { ParseError } from '../scsi/bytes';
import type { ScsiTransport } from '../scsi/transport';

/**
 * What the copy engine should do after a command failed with a given sense:
 * - `retry`: transient; retry the same command (bounded, with backoff).
 * - `repopulate`: the ROD token is unusable; issue POPULATE TOKEN again (once), then fall back.
 * - `fallback`: this copy-offload path cannot do the job; use host READ/WRITE.
 * - `fatal`: a real error (media, protection, write protect...) that host copy would hit too.
 * - `new-list-id`: the list identifier is busy; pick another one (or poll the busy one).
 * - `split`: too many descriptors/segments; send smaller parameter lists.
 * - `encoder-bug`: the target says our parameter list is malformed; do not retry, report.
 * - `recheck`: cached state (capacity, VPD designators, list status) may be stale; re-read it,
 *   then retry.
 */
export type CopyAction = 'retry' | 'repopulate' | 'fallback' | 'fatal' | 'new-list-id' | 'split' | 'encoder-bug' | 'recheck';

// [asc, ascq, action]. Where the reference names two outcomes ("retry once, else host copy")
// the first step is given; the engine bounds the retries.
const ACTIONS: ReadonlyArray<[number, number, CopyAction]> = [
  [0x00, 0x16, 'new-list-id'], // operation in progress: ddpt's list id busy (ref 2.6, 8.6)
  // 04/xx LOGICAL UNIT NOT READY family: FreeBSD fails at once on 04/02 and 04/03 and retries
  // the rest (ref 2.6). Codes that need an operator or a reset are fatal here too.
  [0x04, 0x00, 'retry'], // logical unit not ready, cause not reportable
  [0x04, 0x01, 'retry'], // logical unit is in process of becoming ready
  [0x04, 0x02, 'fatal'], // logical unit not ready, initializing command required
  [0x04, 0x03, 'fatal'], // logical unit not ready, manual intervention required
  [0x04, 0x04, 'retry'], // logical unit not ready, format in progress
  [0x04, 0x05, 'retry'], // logical unit not ready, rebuild in progress
  [0x04, 0x06, 'retry'], // logical unit not ready, recalculation in progress
  [0x04, 0x07, 'retry'], // logical unit not ready, operation in progress
  [0x04, 0x08, 'retry'], // logical unit not ready, long write in progress
  [0x04, 0x09, 'retry'], // logical unit not ready, self-test in progress
  [0x04, 0x0a, 'retry'], // logical unit not accessible, asymmetric access state transition
  [0x04, 0x0b, 'retry'], // logical unit not accessible, target port in standby state
  [0x04, 0x0c, 'retry'], // logical unit not accessible, target port in unavailable state
  [0x04, 0x0d, 'retry'], // logical unit not ready, structure check required
  [0x04, 0x0e, 'retry'], // logical unit not ready, security session in progress
  [0x04, 0x10, 'retry'], // logical unit not ready, auxiliary memory not accessible
  [0x04, 0x11, 'retry'], // logical unit not ready, notify (enable spinup) required
  [0x04, 0x12, 'fatal'], // logical unit not ready, offline
  [0x04, 0x13, 'retry'], // logical unit not ready, SA creation in progress
  [0x04, 0x14, 'retry'], // logical unit not ready, space allocation in progress
  [0x04, 0x15, 'retry'], // logical unit not ready, robotics disabled
  [0x04, 0x16, 'fatal'], // logical unit not ready, configuration required
  [0x04, 0x17, 'fatal'], // logical unit not ready, calibration required
  [0x04, 0x18, 'fatal'], // logical unit not ready, a door is open
  [0x04, 0x19, 'retry'], // logical unit not ready, operating in sequential mode
  [0x04, 0x1a, 'retry'], // logical unit not ready, start stop unit command in progress
  [0x04, 0x1b, 'retry'], // logical unit not ready, sanitize in progress
  [0x04, 0x1c, 'retry'], // logical unit not ready, additional power use not yet granted
  [0x04, 0x1d, 'retry'], // logical unit not ready, configuration in progress
  [0x04, 0x1e, 'fatal'], // logical unit not ready, microcode activation required
  [0x04, 0x1f, 'fatal'], // logical unit not ready, microcode download required
  [0x04, 0x20, 'fatal'], // logical unit not ready, logical unit reset required
  [0x04, 0x21, 'fatal'], // logical unit not ready, hard reset required
  [0x04, 0x22, 'fatal'], // logical unit not ready, power cycle required
  [0x05, 0x00, 'fatal'], // logical unit does not respond to selection
  // LIO answers NOT READY 08/00 when source and destination block sizes differ (ref 2.6, 8.9).
  [0x08, 0x00, 'fallback'], // logical unit communication failure
  [0x08, 0x01, 'retry'], // logical unit communication time-out
  [0x08, 0x02, 'retry'], // logical unit communication parity error
  [0x08, 0x03, 'retry'], // logical unit communication CRC error (Ultra-DMA/32)
  [0x08, 0x04, 'fallback'], // unreachable copy target
  [0x0c, 0x00, 'fatal'], // write error
  // 0D/00 is treated like 0D/01: retry the segment once, then host copy (ref 2.6).
  [0x0d, 0x00, 'retry'], // error detected by third party temporary initiator
  [0x0d, 0x01, 'retry'], // third party device failure
  [0x0d, 0x02, 'fallback'], // copy target device not reachable
  [0x0d, 0x03, 'fallback'], // incorrect copy target device type
  [0x0d, 0x04, 'fallback'], // copy target device data underrun
  [0x0d, 0x05, 'fallback'], // copy target device data overrun
  [0x0e, 0x00, 'retry'], // invalid information unit
  [0x0e, 0x01, 'retry'], // information unit too short
  [0x0e, 0x02, 'retry'], // information unit too long
  [0x0e, 0x03, 'retry'], // invalid field in command information unit
  [0x10, 0x00, 'fatal'], // ID CRC or ECC error
  [0x10, 0x01, 'fatal'], // logical block guard check failed
  [0x10, 0x02, 'fatal'], // logical block application tag check failed
  [0x10, 0x03, 'fatal'], // logical block reference tag check failed
  [0x10, 0x04, 'fatal'], // logical block protection error on recover buffered data
  [0x10, 0x05, 'fatal'], // logical block protection method error
  [0x11, 0x00, 'fatal'], // unrecovered read error
  [0x1a, 0x00, 'encoder-bug'], // parameter list length error
  [0x20, 0x00, 'fallback'], // invalid command operation code
  [0x21, 0x00, 'recheck'], // logical block address out of range
  [0x21, 0x01, 'fatal'], // invalid element address
  [0x23, 0x00, 'repopulate'], // invalid token operation, cause not reportable
  // 23/01: re-populate without RTV or with another ROD type (ref 2.6).
  [0x23, 0x01, 'repopulate'], // invalid token operation, unsupported token type
  [0x23, 0x02, 'fallback'], // invalid token operation, remote token usage not supported
  [0x23, 0x03, 'fallback'], // invalid token operation, remote ROD token creation not supported
  [0x23, 0x04, 'repopulate'], // invalid token operation, token unknown
  [0x23, 0x05, 'repopulate'], // invalid token operation, token corrupt
  [0x23, 0x06, 'repopulate'], // invalid token operation, token revoked
  [0x23, 0x07, 'repopulate'], // invalid token operation, token expired
  [0x23, 0x08, 'repopulate'], // invalid token operation, token cancelled
  [0x23, 0x09, 'repopulate'], // invalid token operation, token deleted
  [0x23, 0x0a, 'encoder-bug'], // invalid token operation, invalid token length
  // 24/00 from a copy command means "not supported here" (LIO, FreeBSD) or "list id gone".
  [0x24, 0x00, 'fallback'], // invalid field in CDB
  [0x25, 0x00, 'fatal'], // logical unit not supported
  // 26/00 is mostly a designator the target will not accept (LIO/tcmu want NAA-6, ref 8.7);
  // FreeBSD also uses it for a busy list id (ref 8.6): the engine may try a new id first.
  [0x26, 0x00, 'fallback'], // invalid field in parameter list
  [0x26, 0x01, 'fallback'], // parameter not supported
  [0x26, 0x02, 'fallback'], // parameter value invalid
  [0x26, 0x03, 'fallback'], // threshold parameters not supported
  [0x26, 0x04, 'fatal'], // invalid release of persistent reservation
  [0x26, 0x05, 'fatal'], // data decryption error
  [0x26, 0x06, 'split'], // too many target descriptors
  // We only ever send 0xE4 CSCDs and 0x02 segments: a target refusing them cannot do our copy.
  [0x26, 0x07, 'fallback'], // unsupported target descriptor type code
  [0x26, 0x08, 'split'], // too many segment descriptors
  [0x26, 0x09, 'fallback'], // unsupported segment descriptor type code
  [0x26, 0x0a, 'encoder-bug'], // unexpected inexact segment
  [0x26, 0x0b, 'encoder-bug'], // inline data length exceeded
  [0x26, 0x0c, 'fallback'], // invalid operation for copy source or destination
  [0x26, 0x0d, 'encoder-bug'], // copy segment granularity violation
  [0x26, 0x15, 'fallback'], // copy source or copy destination not authorized
  [0x26, 0x16, 'fallback'], // fast copy not possible
  [0x27, 0x00, 'fatal'], // write protected
  [0x27, 0x01, 'fatal'], // hardware write protected
  [0x27, 0x02, 'fatal'], // logical unit software write protected
  [0x27, 0x03, 'fatal'], // associated write protect
  [0x27, 0x04, 'fatal'], // persistent write protect
  [0x27, 0x05, 'fatal'], // permanent write protect
  [0x27, 0x06, 'fatal'], // conditional write protect
  [0x27, 0x07, 'fatal'], // space allocation failed write protect
  [0x27, 0x08, 'fatal'], // zone is read only
  [0x28, 0x00, 'recheck'], // not ready to ready change, medium may have changed
  // 29/xx: a reset may have dropped in-flight lists; re-check them with RCR/RRTI (ref 2.6).
  [0x29, 0x00, 'recheck'], // power on, reset, or bus device reset occurred
  [0x29, 0x01, 'recheck'], // power on occurred
  [0x29, 0x02, 'recheck'], // SCSI bus reset occurred
  [0x29, 0x03, 'recheck'], // bus device reset function occurred
  [0x29, 0x04, 'recheck'], // device internal reset
  [0x29, 0x05, 'recheck'], // transceiver mode changed to single-ended
  [0x29, 0x06, 'recheck'], // transceiver mode changed to LVD
  [0x29, 0x07, 'recheck'], // I_T nexus loss occurred
  [0x2a, 0x00, 'recheck'], // parameters changed
  [0x2a, 0x01, 'recheck'], // mode parameters changed
  [0x2a, 0x06, 'recheck'], // asymmetric access state changed
  [0x2a, 0x09, 'recheck'], // capacity data has changed
  [0x2c, 0x00, 'fatal'], // command sequence error
  [0x2f, 0x00, 'retry'], // commands cleared by another initiator
  [0x2f, 0x01, 'retry'], // commands cleared by power loss notification
  [0x2f, 0x02, 'retry'], // commands cleared by device server
  [0x3a, 0x00, 'fatal'], // medium not present
  [0x3f, 0x00, 'recheck'], // target operating conditions have changed
  [0x3f, 0x01, 'recheck'], // microcode has been changed
  [0x3f, 0x03, 'recheck'], // inquiry data has changed
  [0x3f, 0x05, 'recheck'], // device identifier changed
  [0x3f, 0x0e, 'recheck'], // reported LUNs data has changed
  [0x44, 0x00, 'fallback'], // internal target failure
  [0x47, 0x00, 'retry'], // SCSI parity error
  [0x4b, 0x00, 'retry'], // data phase error
  [0x55, 0x00, 'retry'], // system resource failure
  [0x55, 0x01, 'retry'], // system buffer full
  [0x55, 0x02, 'fatal'], // insufficient reservation resources
  [0x55, 0x03, 'retry'], // insufficient resources
  [0x55, 0x04, 'fatal'], // insufficient registration resources
  [0x55, 0x0c, 'retry'], // insufficient resources to create ROD
  [0x55, 0x0d, 'retry'], // insufficient resources to create ROD token
];

const BY_CODE = new Map<number, CopyAction>(ACTIONS.map(([asc, ascq, a]) => [(asc << 8) | ascq, a]));

/** Default action per sense key, for codes without their own entry (ours). */
const BY_SENSE_KEY: readonly CopyAction[] = [
  'retry', // NO SENSE: nothing reported; try again
  'retry', // RECOVERED ERROR: the command completed; repeating a copy is harmless
  'retry', // NOT READY: most 04/xx are transient (FreeBSD retries them)
  'fatal', // MEDIUM ERROR
  'fatal', // HARDWARE ERROR
  'fallback', // ILLEGAL REQUEST: the offload path does not accept what we sent
  'recheck', // UNIT ATTENTION: something changed; re-read state, then retry
  'fatal', // DATA PROTECT
  'fatal', // BLANK CHECK
  'fatal', // vendor specific
  'fallback', // COPY ABORTED: the copy manager gave up; host copy may still work
  'retry', // ABORTED COMMAND: soft failure, usually transport
  'fatal', // EQUAL (obsolete)
  'fatal', // VOLUME OVERFLOW
  'fatal', // MISCOMPARE
  'fatal', // COMPLETED
];

/** The codes that have an action of their own (for tests and documentation). */
export function actionEntries(): ReadonlyArray<[number, number, CopyAction]> {
  return ACTIONS;
}

/**
 * The action for a failed command's sense. A code with its own entry decides; otherwise the
 * sense key does. 08/00 is a fallback whatever the key: LIO reports its block-size mismatch
 * as NOT READY 08/00.
 */
export function copyActionFor(senseKey: number, asc: number, ascq: number): CopyAction {
  const own = BY_CODE.get(((asc & 0xff) << 8) | (ascq & 0xff));
  // 00/16 means "list id busy" only as ILLEGAL REQUEST; under NOT READY etc. it is progress.
  if (own && !(asc === 0x00 && ascq === 0x16 && (senseKey & 0x0f) !== SENSE_KEY.ILLEGAL_REQUEST)) return own;
  // Protection information errors come as ABORTED COMMAND 10/xx but are never retried blindly.
  if ((senseKey & 0x0f) === SENSE_KEY.ABORTED_COMMAND && asc === 0x10) return 'fatal';
  return BY_SENSE_KEY[senseKey & 0x0f] as CopyAction;
}

/** The action for an error of a command; undefined when it carries no sense key. */
export function actionOf(e: ScsiError): CopyAction | undefined {
  return e.senseKey === undefined ? undefined : copyActionFor(e.senseKey, e.asc ?? 0, e.ascq ?? 0);
}

const is = (e: unknown, key: number, asc: number, ascq?: number): e is ScsiError =>
  e instanceof ScsiError && e.senseKey === key && e.asc === asc && (ascq === undefined || e.ascq === ascq);

/** ILLEGAL REQUEST 00/16 OPERATION IN PROGRESS: the list id is still in use (reference 7.4). */
export const isListIdInUse = (e: unknown): boolean => is(e, SENSE_KEY.ILLEGAL_REQUEST, 0x00, 0x16);

/** ILLEGAL REQUEST 24/00 to a list's status query: the target knows no list by that id (FreeBSD, the odx handler). */
export const noSuchList = (e: unknown): boolean => is(e, SENSE_KEY.ILLEGAL_REQUEST, 0x24, 0x00);

/** A target that refuses IMMED in WRITE USING TOKEN's parameter list (ILLEGAL REQUEST 26/00 or 24/00). */
export const refusesImmed = (e: unknown): boolean => is(e, SENSE_KEY.ILLEGAL_REQUEST, 0x26, 0) || is(e, SENSE_KEY.ILLEGAL_REQUEST, 0x24, 0);

/**
 * UNMAP returned GOOD but GET LBA STATUS still calls some blocks mapped (SBC-3 lets a target
 * keep them, e.g. outside its unmap granularity): zeroing goes on to its next method there.
 */
export class UnmapIncompleteError extends OdxcpError {
  constructor(readonly lba: bigint) {
    super(`UNMAP left LBA ${lba} mapped`, 'UNMAP_INCOMPLETE');
  }
}
Object.defineProperty(UnmapIncompleteError.prototype, 'name', { value: 'UnmapIncompleteError' });

/**
 * A refusal that sends zeroing on to its next method (opcode or field refused, copy aborted,
 * an UNMAP that did not deallocate everything).
 */
export const refusedForZeroing = (e: unknown): boolean =>
  e instanceof UnmapIncompleteError || (e instanceof ScsiError && (e.category === 'INVALID_OP' || e.category === 'ILLEGAL_REQ' || e.category === 'COPY_ABORTED'));

/**
 * GET LBA STATUS refused or unusable (an LU that does not implement it, or says LBPME and
 * then rejects the command): a thin-aware copy then copies every block, as a plain copy does.
 */
export const lbaStatusUnavailable = (e: unknown): boolean =>
  e instanceof ParseError || (e instanceof ScsiError && (e.category === 'INVALID_OP' || e.category === 'ILLEGAL_REQ'));

/** ILLEGAL REQUEST 24/xx: a field of the CDB the target will not take (an unadvertised limit, say). */
export const invalidFieldInCdb = (e: unknown): boolean => is(e, SENSE_KEY.ILLEGAL_REQUEST, 0x24);

/** A refusal of a command the target does not have or will not take as sent (opcode, field). */
export const refused = (e: unknown): boolean => is(e, SENSE_KEY.ILLEGAL_REQUEST, 0x20) || is(e, SENSE_KEY.ILLEGAL_REQUEST, 0x24);

/**
 * `repopulate`: the token is gone (expired, revoked, deleted...) but the pair can still
 * offload: a new POPULATE TOKEN from where the copy stopped (reference 2.6, 7.5).
 */
export type Decision = 'retry' | 'repopulate' | 'fallback-chunk' | 'fallback-copy' | 'fatal' | 'path' | 'unconfirmed';

/**
 * Host statuses that say the path (not the target) failed (docs/path-failover.md): no
 * connection, bad target, the transport disrupted / failing fast / marginal; DID_BUS_BUSY
 * once runCommand's retries are spent.
 */
const PATH_HOST_STATUSES = new Set([0x01, 0x02, 0x04, 0x0e, 0x0f, 0x14]);

/**
 * A transport failure that may be the path's: one of those host statuses, or SG_IO refusing
 * with ENODEV/ENXIO (the device offline or gone). Whether the path really failed is the
 * device's sysfs state to say; a sense code is never a path failure (the target answered).
 */
export function isPathError(e: unknown): e is TransportError {
  return e instanceof TransportError && (PATH_HOST_STATUSES.has(e.hostStatus) || e.code === 'ENODEV' || e.code === 'ENXIO');
}

/**
 * The command never left the host: SG_IO refused it (ENODEV/ENXIO), or the midlayer / the
 * iSCSI initiator failed it before sending with DID_NO_CONNECT (an offline device, a session
 * not logged in). Commands lost in flight come back DID_TRANSPORT_DISRUPTED/FAILFAST instead.
 */
export function neverReachedTarget(e: unknown): boolean {
  return e instanceof TransportError && ((e.hostStatus === 0 && (e.code === 'ENODEV' || e.code === 'ENXIO')) || e.hostStatus === 0x01);
}

/**
 * A list command (0x83: POPULATE TOKEN, WRITE USING TOKEN, EXTENDED COPY; or 0x84, its status)
 * lost to a transport error that leaves the nexus to be asked (docs/path-failover.md, case 2):
 * DID_TIME_OUT or an SG_IO timeout, DID_ABORT, DID_RESET, DID_ERROR, DID_SOFT_ERROR after
 * retries...; or a path-class error while the path `t` still runs (its device's sysfs state,
 * read now: a transport hiccup, not a failed path). The list may have reached the target and
 * may still run, so its status is asked there until it is no longer in progress before anything
 * rewrites its range. Not: a path that failed (path failover decides), a list opener refused
 * before it left the host (no list), an error without a host status or a timeout (SG_IO refused
 * it).
 */
export function listFateUnknown(e: unknown, t?: ScsiTransport): e is TransportError {
  if (!(e instanceof TransportError) || (e.opcode !== 0x83 && e.opcode !== 0x84)) return false;
  if (!isPathError(e as unknown)) return e.hostStatus !== 0 || e.isTimeout;
  // The path's own failure: asked about only while the path still runs; a list opener refused
  // before it was sent has no list.
  return !(e.opcode === 0x83 && neverReachedTarget(e)) && t?.pathRunning?.() === true;
}

/** ASCs after which this pair cannot offload at all (the array said so, not a passing state). */
function pairCannotOffload(e: ScsiError): boolean {
  const { senseKey: k, asc, ascq } = e;
  if (asc === undefined) return false;
  if (asc === 0x20 || asc === 0x24 || asc === 0x26 || asc === 0x1a) return k === 0x5 || k === 0xa; // opcode / field / list refused
  if (asc === 0x08) return true; // LU communication failure (LIO block-size mismatch) / unreachable copy target
  if (asc === 0x0d) return ascq === 0x02 || ascq === 0x03 || ascq === 0x04 || ascq === 0x05; // not reachable / wrong type / under/overrun
  if (asc === 0x23) return ascq === 0x01 || ascq === 0x02 || ascq === 0x03 || ascq === 0x0a; // token type / remote use unsupported
  return false;
}

/**
 * FreeBSD answers a busy list id with ILLEGAL REQUEST 26/00 (reference 8.6), the same code as
 * a field it does not accept: the first 26/00 to a token command is retried (with a new list
 * id, as every attempt has), a repeated one is taken as a refusal.
 */
function maybeListIdBusy(e: ScsiError): boolean {
  return e.opcode === 0x83 && (e.serviceAction === 0x10 || e.serviceAction === 0x11) && e.senseKey === 0x5 && e.asc === 0x26 && e.ascq === 0x00;
}

/** What to do after an offload method failed (reference 2.6 actions, bounded here). */
export function classify(cause: unknown, previous?: unknown): Decision {
  // The array may still be writing that range (StillInProgressError): nothing may rewrite it.
  if (cause instanceof OdxcpError && cause.code === 'STILL_IN_PROGRESS') return 'fatal';
  // A list lost whose fate the nexus did not tell: its range is left alone, the copy goes on.
  if (cause instanceof OdxcpError && (cause.code === 'LIST_UNCONFIRMED' || cause.code === 'PATH_UNCONFIRMED')) return 'unconfirmed';
  if (cause instanceof ScsiError && maybeListIdBusy(cause) && !(previous instanceof ScsiError && maybeListIdBusy(previous))) return 'retry';
  if (cause instanceof ScsiError) {
    const action = actionOf(cause);
    if (action === undefined) {
      // Status without sense: RESERVATION CONFLICT would stop the host path too.
      return cause.category === 'RES_CONFLICT' ? 'fatal' : 'fallback-chunk';
    }
    switch (action) {
      case 'repopulate':
        return 'repopulate';
      case 'retry':
      case 'recheck':
      case 'new-list-id':
        return 'retry';
      case 'fatal':
        return 'fatal';
      default:
        return pairCannotOffload(cause) ? 'fallback-copy' : 'fallback-chunk';
    }
  }
  // The chunk loop switches the path when a side's path is down, else takes it as below.
  if (isPathError(cause)) return 'path';
  if (cause instanceof TransportError) return 'fallback-chunk';
  // A status reply without sense, a zero transfer count, an undecodable reply: try once more.
  return 'retry';
}
