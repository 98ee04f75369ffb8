// Error classes for odxcp, and the one place that turns an SG_IO result into an error.
//
// Shape follows the addon anchors ("What to take for a SCSI/SG_IO addon", points 4, 5, 8):
// CHECK CONDITION is a result, not an exception, in the native layer; this module turns it into
// a typed error carrying the decoded sense; every class has `name` on the prototype, a string
// `code` and a captured stack. ScsiError.category uses sg3_utils' SG_LIB_CAT_* names
// (include/sg_lib.h, sg_err_category_sense() in lib/sg_lib.c) so exit statuses can follow them.

import type { NativeExecuteResult } from '../native';
import { OdxcpError, setName } from '../errors';
import { ascName, senseKeyName, SENSE_KEY } from './asc';
import { hex2, ParseError } from './bytes';
import { commandName as cdbCommandName, serviceActionOf } from './opcodes';
import { decodeSense, decodeSenseHeader, type DecodedSense, type SenseKeySpecific } from './sense';




/** Linux host_status (DID_*) names, ref 1.8. */
export const HOST_STATUS_NAMES: ReadonlyMap<number, string> = new Map([
  [0x00, 'DID_OK'],
  [0x01, 'DID_NO_CONNECT'],
  [0x02, 'DID_BUS_BUSY'],
  [0x03, 'DID_TIME_OUT'],
  [0x04, 'DID_BAD_TARGET'],
  [0x05, 'DID_ABORT'],
  [0x06, 'DID_PARITY'],
  [0x07, 'DID_ERROR'],
  [0x08, 'DID_RESET'],
  [0x09, 'DID_BAD_INTR'],
  [0x0a, 'DID_PASSTHROUGH'],
  [0x0b, 'DID_SOFT_ERROR'],
  [0x0c, 'DID_IMM_RETRY'],
  [0x0d, 'DID_REQUEUE'],
  [0x0e, 'DID_TRANSPORT_DISRUPTED'],
  [0x0f, 'DID_TRANSPORT_FAILFAST'],
  [0x10, 'DID_TARGET_FAILURE'],
  [0x11, 'DID_NEXUS_FAILURE'],
  [0x12, 'DID_ALLOC_FAILURE'],
  [0x13, 'DID_MEDIUM_ERROR'],
  [0x14, 'DID_TRANSPORT_MARGINAL'],
]);

/** Host statuses after which re-sending the command is reasonable (ref 1.8 engine column). */
const RETRYABLE_HOST = new Set([0x02, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x14]);

/** Historical driver_status low-nibble names, ref 1.8 (modern kernels only set DRIVER_SENSE). */
export const DRIVER_STATUS_NAMES: readonly string[] = [
  'DRIVER_OK',
  'DRIVER_BUSY',
  'DRIVER_SOFT',
  'DRIVER_MEDIA',
  'DRIVER_ERROR',
  'DRIVER_INVALID',
  'DRIVER_TIMEOUT',
  'DRIVER_HARD',
  'DRIVER_SENSE',
];
export const DRIVER_SENSE = 0x08;
const DRIVER_TIMEOUT = 0x06;

export function hostStatusName(v: number): string {
  return HOST_STATUS_NAMES.get(v) ?? `DID_0x${hex2(v)}`;
}

export function driverStatusName(v: number): string {
  return DRIVER_STATUS_NAMES[v & 0x0f] ?? `DRIVER_0x${hex2(v & 0x0f)}`;
}

export interface TransportErrorInit {
  command: string;
  opcode?: number;
  serviceAction?: number;
  hostStatus?: number;
  driverStatus?: number;
  errno?: number;
  /** 'DID_TIME_OUT', 'DRIVER_TIMEOUT', or an errno code such as 'EIO'. */
  code: string;
  status?: number;
  rawSense?: Buffer;
  message?: string;
  cause?: unknown;
}

/** The SG_IO call failed, or host_status/driver_status report a transport problem. */
export class TransportError extends OdxcpError {
  readonly command: string;
  readonly opcode: number | undefined;
  readonly serviceAction: number | undefined;
  readonly hostStatus: number;
  readonly hostStatusName: string;
  readonly driverStatus: number;
  readonly driverStatusName: string;
  readonly errno: number | undefined;
  /** SAM status byte, if the command got that far. */
  readonly status: number | undefined;
  readonly rawSense: Buffer | undefined;
  /** The node the command was sent through (set by runCommand): which path failed. */
  node: string | undefined;

  constructor(init: TransportErrorInit) {
    super(init.message ?? `${init.command}: transport error ${init.code}`, init.code, { cause: init.cause });
    this.command = init.command;
    this.opcode = init.opcode;
    this.serviceAction = init.serviceAction;
    this.hostStatus = init.hostStatus ?? 0;
    this.hostStatusName = hostStatusName(this.hostStatus);
    this.driverStatus = init.driverStatus ?? 0;
    this.driverStatusName = driverStatusName(this.driverStatus);
    this.errno = init.errno;
    this.status = init.status;
    this.rawSense = init.rawSense;
  }

  /** DID_TIME_OUT, DRIVER_TIMEOUT or ETIMEDOUT. For 0x83 check RCR/RRTI before re-issuing (ref 1.8). */
  get isTimeout(): boolean {
    return this.hostStatus === 0x03 || (this.driverStatus & 0x0f) === DRIVER_TIMEOUT || this.code === 'ETIMEDOUT';
  }

  /** Host statuses the reference marks "retry" (bus busy, reset, requeue, disrupted...). */
  get isRetryable(): boolean {
    return RETRYABLE_HOST.has(this.hostStatus);
  }
}
setName(TransportError, 'TransportError');

/** sg3_utils SG_LIB_CAT_* names (plus OTHER for a status no category covers). */
export type ScsiCategory =
  | 'NOT_READY'
  | 'MEDIUM_HARD'
  | 'ILLEGAL_REQ'
  | 'UNIT_ATTENTION'
  | 'DATA_PROTECT'
  | 'INVALID_OP'
  | 'COPY_ABORTED'
  | 'ABORTED_COMMAND'
  | 'MISCOMPARE'
  | 'NO_SENSE'
  | 'RECOVERED'
  | 'LBA_OUT_OF_RANGE'
  | 'RES_CONFLICT'
  | 'CONDITION_MET'
  | 'BUSY'
  | 'TS_FULL'
  | 'ACA_ACTIVE'
  | 'TASK_ABORTED'
  | 'PROTECTION'
  | 'SENSE'
  | 'OTHER';

/** SAM status codes (ref 1.1). */
export const SAM_STATUS = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  INTERMEDIATE: 0x10,
  INTERMEDIATE_CONDITION_MET: 0x14,
  RESERVATION_CONFLICT: 0x18,
  COMMAND_TERMINATED: 0x22,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;

const STATUS_NAMES = new Map<number, string>([
  [0x00, 'GOOD'],
  [0x02, 'CHECK CONDITION'],
  [0x04, 'CONDITION MET'],
  [0x08, 'BUSY'],
  [0x10, 'INTERMEDIATE'],
  [0x14, 'INTERMEDIATE-CONDITION MET'],
  [0x18, 'RESERVATION CONFLICT'],
  [0x22, 'COMMAND TERMINATED'],
  [0x28, 'TASK SET FULL'],
  [0x30, 'ACA ACTIVE'],
  [0x40, 'TASK ABORTED'],
]);

export function statusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `STATUS 0x${hex2(status)}`;
}

/** Category of a sense key + ASC/ASCQ, as sg3_utils' sg_err_category_sense() decides it. */
export function categoryForSense(senseKey: number, asc: number, ascq: number): ScsiCategory {
  switch (senseKey & 0x0f) {
    case SENSE_KEY.NO_SENSE:
      return 'NO_SENSE';
    case SENSE_KEY.RECOVERED_ERROR:
      return 'RECOVERED';
    case SENSE_KEY.NOT_READY:
      return 'NOT_READY';
    case SENSE_KEY.MEDIUM_ERROR:
    case SENSE_KEY.HARDWARE_ERROR:
    case SENSE_KEY.BLANK_CHECK:
      return 'MEDIUM_HARD';
    case SENSE_KEY.UNIT_ATTENTION:
      return 'UNIT_ATTENTION';
    case SENSE_KEY.ILLEGAL_REQUEST:
      if (asc === 0x20 && ascq === 0x00) return 'INVALID_OP';
      if (asc === 0x21 && ascq === 0x00) return 'LBA_OUT_OF_RANGE';
      return 'ILLEGAL_REQ';
    case SENSE_KEY.ABORTED_COMMAND:
      return asc === 0x10 ? 'PROTECTION' : 'ABORTED_COMMAND';
    case SENSE_KEY.MISCOMPARE:
      return 'MISCOMPARE';
    case SENSE_KEY.DATA_PROTECT:
      return 'DATA_PROTECT';
    case SENSE_KEY.COPY_ABORTED:
      return 'COPY_ABORTED';
    default:
      // VOLUME OVERFLOW, COMPLETED, EQUAL, vendor specific: sg3_utils says "other sense".
      return 'SENSE';
  }
}

/** Status-only (no sense needed) categories. */
const STATUS_CATEGORY = new Map<number, ScsiCategory>([
  [SAM_STATUS.BUSY, 'BUSY'],
  [SAM_STATUS.RESERVATION_CONFLICT, 'RES_CONFLICT'],
  [SAM_STATUS.TASK_SET_FULL, 'TS_FULL'],
  [SAM_STATUS.ACA_ACTIVE, 'ACA_ACTIVE'],
  [SAM_STATUS.TASK_ABORTED, 'TASK_ABORTED'],
  [SAM_STATUS.CONDITION_MET, 'CONDITION_MET'],
]);

export interface ScsiErrorInit {
  command: string;
  opcode: number;
  serviceAction?: number;
  status: number;
  category: ScsiCategory;
  /** Decoded sense; absent for status-only errors and unusable sense. */
  sense?: DecodedSense;
  /** Sense key / ASC / ASCQ when only the header could be decoded. */
  header?: { senseKey: number; asc: number; ascq: number };
  rawSense?: Buffer;
  /** Why the sense could not be (fully) decoded. */
  senseError?: string;
  resid?: number;
  message?: string;
}

/** CHECK CONDITION, or another non-GOOD SAM status, for one command. */
export class ScsiError extends OdxcpError {
  /** T10 command name, e.g. "POPULATE TOKEN". */
  readonly command: string;
  readonly opcode: number;
  readonly serviceAction: number | undefined;
  /** SAM status byte as returned. */
  readonly status: number;
  readonly statusName: string;
  readonly category: ScsiCategory;
  readonly senseKey: number | undefined;
  readonly senseKeyName: string | undefined;
  readonly asc: number | undefined;
  readonly ascq: number | undefined;
  readonly ascName: string | undefined;
  /** INFORMATION field, only when its VALID bit is set. */
  readonly information: bigint | undefined;
  readonly commandSpecific: bigint | undefined;
  readonly senseKeySpecific: SenseKeySpecific | undefined;
  readonly sense: DecodedSense | undefined;
  /** The sense bytes exactly as the kernel wrote them (a copy). */
  readonly rawSense: Buffer;
  readonly senseError: string | undefined;
  readonly resid: number | undefined;

  constructor(init: ScsiErrorInit) {
    const key = init.sense?.senseKey ?? init.header?.senseKey;
    const asc = init.sense?.asc ?? init.header?.asc;
    const ascq = init.sense?.ascq ?? init.header?.ascq;
    super(init.message ?? scsiMessage(init.command, init.status, key, asc, ascq, init.sense?.deferred === true, init.senseError), init.category);
    this.command = init.command;
    this.opcode = init.opcode;
    this.serviceAction = init.serviceAction;
    this.status = init.status;
    this.statusName = statusName(init.status);
    this.category = init.category;
    this.senseKey = key;
    this.senseKeyName = key === undefined ? undefined : senseKeyName(key);
    this.asc = asc;
    this.ascq = ascq;
    this.ascName = asc === undefined || ascq === undefined ? undefined : ascName(asc, ascq);
    this.information = init.sense?.information;
    this.commandSpecific = init.sense?.commandSpecific;
    this.senseKeySpecific = init.sense?.senseKeySpecific;
    this.sense = init.sense;
    this.rawSense = init.rawSense ? Buffer.from(init.rawSense) : Buffer.alloc(0);
    this.senseError = init.senseError;
    this.resid = init.resid;
  }

  get isUnitAttention(): boolean {
    return this.category === 'UNIT_ATTENTION';
  }

  /**
   * True when simply re-sending the same command is reasonable. Deliberately conservative:
   * UNIT ATTENTION (the condition is cleared by reporting it), BUSY and TASK SET FULL (SAM:
   * "try later"), NOT READY 04/01 (becoming ready) and 04/0A (ALUA state transition, transient
   * by definition), and ABORTED COMMAND other than protection errors (usually a transport
   * hiccup). Everything else needs a decision (the engine's, lib/engine/reactions.ts).
   */
  get isRetryable(): boolean {
    switch (this.category) {
      case 'UNIT_ATTENTION':
      case 'BUSY':
      case 'TS_FULL':
      case 'ABORTED_COMMAND':
        return true;
      case 'NOT_READY':
        return this.asc === 0x04 && (this.ascq === 0x01 || this.ascq === 0x0a);
      default:
        return false;
    }
  }
}
setName(ScsiError, 'ScsiError');

function scsiMessage(
  command: string,
  status: number,
  key: number | undefined,
  asc: number | undefined,
  ascq: number | undefined,
  deferred: boolean,
  senseError: string | undefined,
): string {
  const isCheck = status === SAM_STATUS.CHECK_CONDITION || status === SAM_STATUS.COMMAND_TERMINATED;
  if (key !== undefined && asc !== undefined && ascq !== undefined) {
    let m = `${command}: ${senseKeyName(key)} ${hex2(asc)}/${hex2(ascq)} ${ascName(asc, ascq)}`;
    if (deferred) m += ' (deferred error)';
    if (senseError) m += ` (malformed sense data: ${senseError})`;
    return m;
  }
  if (isCheck) {
    return senseError ? `${command}: ${statusName(status)} with unusable sense data (${senseError})` : `${command}: ${statusName(status)} without sense data`;
  }
  return `${command}: ${statusName(status)} status`;
}




/**
 * Turn one SG_IO result into an error, or undefined when the command succeeded.
 *
 * Order follows sg3_utils' get_scsi_pt_result_category() (lib/sg_pt_linux.c): a transport
 * problem wins over the SCSI status, because DRIVER_SENSE/sense are not meaningful then.
 * - host_status != 0 -> TransportError (code = DID_* name, ref 1.8)
 * - driver_status low nibble other than 0 or DRIVER_SENSE -> TransportError (the high-nibble
 *   SUGGEST_* bits are obsolete and ignored, as sg3_utils' SG_LIB_DRIVER_MASK does)
 * - GOOD or CONDITION MET -> undefined
 * - CHECK CONDITION (or the obsolete COMMAND TERMINATED) -> ScsiError from the sense data;
 *   without usable sense -> category SENSE
 * - BUSY, RESERVATION CONFLICT, TASK SET FULL, ACA ACTIVE, TASK ABORTED -> ScsiError with that
 *   category; any other status -> ScsiError category OTHER.
 */
export function scsiErrorFromResult(commandName: string | undefined, cdb: Buffer, result: NativeExecuteResult): TransportError | ScsiError | undefined {
  const command = commandName ?? cdbCommandName(cdb);
  const opcode = cdb.length > 0 ? (cdb[0] as number) : -1;
  const serviceAction = serviceActionOf(cdb);
  const rawSense = result.sense && result.sense.length > 0 ? Buffer.from(result.sense) : undefined;

  if (result.hostStatus !== 0) {
    const code = hostStatusName(result.hostStatus);
    return new TransportError({
      command,
      opcode,
      serviceAction,
      hostStatus: result.hostStatus,
      driverStatus: result.driverStatus,
      status: result.status,
      rawSense,
      code,
      message: `${command}: transport error ${code} (host_status 0x${hex2(result.hostStatus)}, driver_status 0x${hex2(result.driverStatus)})`,
    });
  }
  const driver = result.driverStatus & 0x0f;
  if (driver !== 0 && driver !== DRIVER_SENSE) {
    const code = driverStatusName(driver);
    return new TransportError({
      command,
      opcode,
      serviceAction,
      hostStatus: 0,
      driverStatus: result.driverStatus,
      status: result.status,
      rawSense,
      code,
      message: `${command}: transport error ${code} (driver_status 0x${hex2(result.driverStatus)})`,
    });
  }

  // Bit 0 and bits 6-7 are reserved/vendor in the status byte; sg3_utils masks with 0x7e.
  const status = result.status & 0x7e;
  if (status === SAM_STATUS.GOOD || status === SAM_STATUS.CONDITION_MET) return undefined;

  const base = { command, opcode, serviceAction, status: result.status, resid: result.resid, rawSense };
  if (status === SAM_STATUS.CHECK_CONDITION || status === SAM_STATUS.COMMAND_TERMINATED) {
    if (!rawSense) return new ScsiError({ ...base, category: 'SENSE' });
    try {
      const sense = decodeSense(rawSense);
      return new ScsiError({ ...base, sense, category: categoryForSense(sense.senseKey, sense.asc, sense.ascq) });
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      // The descriptors may be broken while key/ASC/ASCQ are fine: keep what is usable.
      try {
        const h = decodeSenseHeader(rawSense);
        return new ScsiError({ ...base, header: h, senseError: e.message, category: categoryForSense(h.senseKey, h.asc, h.ascq) });
      } catch (e2) {
        if (!(e2 instanceof ParseError)) throw e2;
        return new ScsiError({ ...base, senseError: e2.message, category: 'SENSE' });
      }
    }
  }

  // Status-only errors: decode sense too if a target sent some, but it does not decide.
  let sense: DecodedSense | undefined;
  if (rawSense) {
    try {
      sense = decodeSense(rawSense);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
    }
  }
  const category = STATUS_CATEGORY.get(status) ?? 'OTHER';
  return new ScsiError({ ...base, category, sense, message: `${command}: ${statusName(result.status)} status` });
}

/** The shape the addon rejects with (see NativeSystemError in lib/native.ts). */
export interface SystemErrorLike {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  message?: unknown;
}

/**
 * Wrap a rejected `execute` (the SG_IO ioctl itself failed: EPERM for a filtered opcode, EIO,
 * ENODEV while detaching... ref 1.4) as a TransportError carrying the errno.
 */
export function transportErrorFromSystemError(commandName: string | undefined, cdb: Buffer, err: SystemErrorLike): TransportError {
  const command = commandName ?? cdbCommandName(cdb);
  const code = typeof err.code === 'string' ? err.code : 'EIO';
  const errno = typeof err.errno === 'number' ? Math.abs(err.errno) : undefined;
  const syscall = typeof err.syscall === 'string' ? err.syscall : 'SG_IO';
  return new TransportError({
    command,
    opcode: cdb.length > 0 ? (cdb[0] as number) : undefined,
    serviceAction: serviceActionOf(cdb),
    errno,
    code,
    message: `${command}: ${syscall} failed: ${code}${typeof err.message === 'string' && err.message ? ` (${err.message})` : ''}`,
    cause: err,
  });
}
