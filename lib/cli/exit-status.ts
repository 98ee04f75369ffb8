// Process exit statuses, following sg3_utils so scripts written for sg_xcopy/ddpt keep working.
//
// Verified against doug-gilbert/sg3_utils at commit fb3d289: include/sg_lib.h (SG_LIB_CAT_*,
// SG_LIB_SYNTAX_ERROR, SG_LIB_FILE_ERROR, SG_LIB_TRANSPORT_ERROR, SG_LIB_OS_BASE_ERR, ...),
// lib/sg_lib_data.c (sg_exit_str_arr: the meaning of each value), lib/sg_lib.c
// (sg_err_category_sense: sense -> category; sg_convert_errno: errno -> 50 + errno when errno
// is 1..46, else 50; sg_exit2str: 128 + n = "stopped/aborted by signal n").
//
// Where the brief guessed otherwise, sg3_utils wins: 36 is SG_LIB_OK_FALSE ("no error,
// reporting false"), not a device error, and 48 is SG_LIB_NVME_STATUS; OS (errno) failures use
// 50 + errno (SG_LIB_OS_BASE_ERR). odxcp-specific choices (no sg3_utils equivalent) are marked
// origin 'odxcp'.

import { ScsiError, TransportError, type ScsiCategory } from '../scsi/errors';
import { AbortedError, DeviceError, MiscompareError, OdxcpError, UsageError } from '../errors';
import { ParseError } from '../scsi/bytes';
import { constants as osConstants } from 'node:os';

export interface ExitCodeEntry {
  code: number;
  /** sg3_utils constant name, or ODXCP_* for our own. */
  name: string;
  meaning: string;
  origin: 'sg3_utils' | 'odxcp';
}

export const EXIT_CODES: readonly ExitCodeEntry[] = [
  { code: 0, name: 'SG_LIB_CAT_CLEAN', meaning: 'success', origin: 'sg3_utils' },
  { code: 1, name: 'SG_LIB_SYNTAX_ERROR', meaning: 'usage error: bad command line or arguments', origin: 'sg3_utils' },
  { code: 2, name: 'SG_LIB_CAT_NOT_READY', meaning: 'device not ready (sense key NOT READY)', origin: 'sg3_utils' },
  { code: 3, name: 'SG_LIB_CAT_MEDIUM_HARD', meaning: 'medium or hardware error (or BLANK CHECK)', origin: 'sg3_utils' },
  { code: 5, name: 'SG_LIB_CAT_ILLEGAL_REQ', meaning: 'illegal request (other than invalid opcode / LBA out of range)', origin: 'sg3_utils' },
  { code: 6, name: 'SG_LIB_CAT_UNIT_ATTENTION', meaning: 'unit attention', origin: 'sg3_utils' },
  { code: 7, name: 'SG_LIB_CAT_DATA_PROTECT', meaning: 'data protect (write protected?)', origin: 'sg3_utils' },
  { code: 9, name: 'SG_LIB_CAT_INVALID_OP', meaning: 'illegal request, invalid command operation code (20/00): command not supported', origin: 'sg3_utils' },
  { code: 10, name: 'SG_LIB_CAT_COPY_ABORTED', meaning: 'copy aborted (sense key COPY ABORTED)', origin: 'sg3_utils' },
  { code: 11, name: 'SG_LIB_CAT_ABORTED_COMMAND', meaning: 'aborted command (other than protection information)', origin: 'sg3_utils' },
  { code: 14, name: 'SG_LIB_CAT_MISCOMPARE', meaning: 'miscompare (target sense, or odxcp verify found a difference)', origin: 'sg3_utils' },
  { code: 15, name: 'SG_LIB_FILE_ERROR', meaning: 'device/file problem: cannot open, no permission, not SCSI, partition, busy or mounted', origin: 'sg3_utils' },
  { code: 17, name: 'SG_LIB_CAT_ILLEGAL_REQ_WITH_INFO', meaning: 'illegal request with a valid INFORMATION field', origin: 'sg3_utils' },
  { code: 18, name: 'SG_LIB_CAT_MEDIUM_HARD_WITH_INFO', meaning: 'medium or hardware error with a valid INFORMATION field', origin: 'sg3_utils' },
  { code: 20, name: 'SG_LIB_CAT_NO_SENSE', meaning: 'sense key NO SENSE', origin: 'sg3_utils' },
  { code: 21, name: 'SG_LIB_CAT_RECOVERED', meaning: 'recovered error (a warning)', origin: 'sg3_utils' },
  { code: 22, name: 'SG_LIB_LBA_OUT_OF_RANGE', meaning: 'illegal request, LBA out of range (21/00)', origin: 'sg3_utils' },
  { code: 24, name: 'SG_LIB_CAT_RES_CONFLICT', meaning: 'RESERVATION CONFLICT status', origin: 'sg3_utils' },
  { code: 25, name: 'SG_LIB_CAT_CONDITION_MET', meaning: 'CONDITION MET status', origin: 'sg3_utils' },
  { code: 26, name: 'SG_LIB_CAT_BUSY', meaning: 'BUSY status', origin: 'sg3_utils' },
  { code: 27, name: 'SG_LIB_CAT_TS_FULL', meaning: 'TASK SET FULL status', origin: 'sg3_utils' },
  { code: 28, name: 'SG_LIB_CAT_ACA_ACTIVE', meaning: 'ACA ACTIVE status', origin: 'sg3_utils' },
  { code: 29, name: 'SG_LIB_CAT_TASK_ABORTED', meaning: 'TASK ABORTED status', origin: 'sg3_utils' },
  { code: 33, name: 'SG_LIB_CAT_TIMEOUT', meaning: 'command timed out (DID_TIME_OUT, DRIVER_TIMEOUT, ETIMEDOUT)', origin: 'sg3_utils' },
  { code: 35, name: 'SG_LIB_TRANSPORT_ERROR', meaning: 'transport error (host_status or driver_status)', origin: 'sg3_utils' },
  { code: 40, name: 'SG_LIB_CAT_PROTECTION', meaning: 'aborted command, protection information error (10/xx)', origin: 'sg3_utils' },
  { code: 41, name: 'SG_LIB_CAT_PROTECTION_WITH_INFO', meaning: 'protection information error with a valid INFORMATION field', origin: 'sg3_utils' },
  { code: 50, name: 'SG_LIB_OS_BASE_ERR', meaning: 'OS error (errno above 46, or unknown); errno 1..46 exits with 50 + errno', origin: 'sg3_utils' },
  { code: 97, name: 'SG_LIB_CAT_MALFORMED', meaning: 'malformed reply from the target (could not be decoded)', origin: 'sg3_utils' },
  { code: 98, name: 'SG_LIB_CAT_SENSE', meaning: 'other sense data (unusable sense, or a sense key with no category)', origin: 'sg3_utils' },
  { code: 99, name: 'SG_LIB_CAT_OTHER', meaning: 'other error', origin: 'sg3_utils' },
  { code: 120, name: 'ODXCP_OUTPUT_LOST', meaning: 'the command completed, but writing its result or account to stdout or stderr failed (ENOSPC, EPIPE, EIO): the output was lost; a failed command keeps its own status', origin: 'odxcp' },
  { code: 130, name: 'ODXCP_ABORTED', meaning: 'aborted by a signal: 128 + signal number (129 = SIGHUP, 130 = SIGINT, 143 = SIGTERM)', origin: 'odxcp' },
];

/** SG_LIB_OS_BASE_ERR: errno n in 1..46 exits as 50 + n (sg_convert_errno). */
export const OS_BASE_ERR = 50;
const MALFORMED = 97;

const CATEGORY_EXIT: Record<ScsiCategory, number> = {
  NOT_READY: 2,
  MEDIUM_HARD: 3,
  ILLEGAL_REQ: 5,
  UNIT_ATTENTION: 6,
  DATA_PROTECT: 7,
  INVALID_OP: 9,
  COPY_ABORTED: 10,
  ABORTED_COMMAND: 11,
  MISCOMPARE: 14,
  NO_SENSE: 20,
  RECOVERED: 21,
  LBA_OUT_OF_RANGE: 22,
  RES_CONFLICT: 24,
  CONDITION_MET: 25,
  BUSY: 26,
  TS_FULL: 27,
  ACA_ACTIVE: 28,
  TASK_ABORTED: 29,
  PROTECTION: 40,
  SENSE: 98,
  OTHER: 99,
};

/** sg3_utils' sg_convert_errno(): 1..46 -> 50 + errno, other non-zero -> 50. */
export function exitCodeForErrno(errno: number): number {
  const n = Math.abs(errno);
  if (n === 0) return 0;
  return n < MALFORMED - OS_BASE_ERR ? OS_BASE_ERR + n : OS_BASE_ERR;
}

/** Exit status for a SCSI category; the *_WITH_INFO variants when INFORMATION is valid. */
export function exitCodeForCategory(category: ScsiCategory, informationValid = false): number {
  if (informationValid) {
    if (category === 'ILLEGAL_REQ') return 17;
    if (category === 'MEDIUM_HARD') return 18;
    if (category === 'PROTECTION') return 41;
  }
  return CATEGORY_EXIT[category];
}

function signalExit(signal: NodeJS.Signals | undefined): number {
  const n = signal ? (osConstants.signals as Record<string, number | undefined>)[signal] : undefined;
  return 128 + (n ?? osConstants.signals.SIGINT);
}

/**
 * The exit status for whatever ended the program. Unrecognised errors with a `cause` are
 * looked through (bounded), so wrapping an error does not lose its status.
 */
export function exitCodeFor(err: unknown): number {
  let cur: unknown = err;
  for (let depth = 0; depth < 8 && cur !== null && cur !== undefined; depth++) {
    const code = directExitCode(cur);
    if (code !== undefined) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return 99;
}

function directExitCode(err: unknown): number | undefined {
  if (err instanceof UsageError) return 1;
  if (err instanceof DeviceError) return 15;
  if (err instanceof ParseError) return MALFORMED;
  if (err instanceof MiscompareError) return 14;
  if (err instanceof AbortedError) return signalExit(err.signal);
  if (err instanceof ScsiError) return exitCodeForCategory(err.category, err.information !== undefined);
  if (err instanceof TransportError) {
    if (err.isTimeout) return 33;
    if (err.hostStatus !== 0 || (err.driverStatus & 0x0f) !== 0) return 35;
    if (err.errno !== undefined) return exitCodeForErrno(err.errno);
    return 35;
  }
  // Ranges left unconfirmed after a lost copy list (docs/path-failover.md): a transport failure.
  if (err instanceof OdxcpError && err.code === 'PATH_UNCONFIRMED') return 35;
  // A wrapper (e.g. the engine's CopyError) takes the status of what it wraps.
  if (err instanceof OdxcpError) return err.cause !== undefined ? undefined : 99;
  // A Node system error (fs, net): code 'Exxx' plus a numeric errno.
  if (typeof err === 'object' && err !== null) {
    const e = err as { errno?: unknown; code?: unknown };
    if (typeof e.errno === 'number' && typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) {
      return e.code === 'ETIMEDOUT' ? 33 : exitCodeForErrno(e.errno);
    }
  }
  return undefined;
}
