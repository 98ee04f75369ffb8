// T10 command names by opcode and service action (ref 5.1 for 0x83/0x84; SPC/SBC for the rest).
// Used for error messages ("POPULATE TOKEN: ILLEGAL REQUEST 20/00 ...") and VPD 0x8F decoding.

import { hex2 } from './bytes';

/** Opcodes odxcp sends or meets around a copy. */
export const OPCODE = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  INQUIRY: 0x12,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  SYNCHRONIZE_CACHE_10: 0x35,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  THIRD_PARTY_COPY_OUT: 0x83,
  THIRD_PARTY_COPY_IN: 0x84,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3,
} as const;

/** THIRD-PARTY COPY OUT (0x83) service actions, ref 5.1. */
export const TPC_OUT_SA = {
  EXTENDED_COPY_LID1: 0x00,
  EXTENDED_COPY_LID4: 0x01,
  POPULATE_TOKEN: 0x10,
  WRITE_USING_TOKEN: 0x11,
  SET_TAPE_STREAM_MIRRORING: 0x16,
  COPY_OPERATION_ABORT: 0x1c,
} as const;

/** THIRD-PARTY COPY IN (0x84) service actions, ref 5.1. */
export const TPC_IN_SA = {
  RECEIVE_COPY_STATUS_LID1: 0x00,
  RECEIVE_COPY_DATA_LID1: 0x01,
  RECEIVE_COPY_OPERATING_PARAMETERS: 0x03,
  RECEIVE_COPY_FAILURE_DETAILS_LID1: 0x04,
  RECEIVE_COPY_STATUS_LID4: 0x05,
  RECEIVE_COPY_DATA_LID4: 0x06,
  RECEIVE_ROD_TOKEN_INFORMATION: 0x07,
  REPORT_ALL_ROD_TOKENS: 0x08,
  REPORT_TAPE_STREAM_MIRRORING: 0x16,
} as const;

const OPCODE_NAMES = new Map<number, string>([
  [0x00, 'TEST UNIT READY'],
  [0x03, 'REQUEST SENSE'],
  [0x04, 'FORMAT UNIT'],
  [0x08, 'READ(6)'],
  [0x0a, 'WRITE(6)'],
  [0x12, 'INQUIRY'],
  [0x15, 'MODE SELECT(6)'],
  [0x1a, 'MODE SENSE(6)'],
  [0x1b, 'START STOP UNIT'],
  [0x1c, 'RECEIVE DIAGNOSTIC RESULTS'],
  [0x1d, 'SEND DIAGNOSTIC'],
  [0x1e, 'PREVENT ALLOW MEDIUM REMOVAL'],
  [0x25, 'READ CAPACITY(10)'],
  [0x28, 'READ(10)'],
  [0x2a, 'WRITE(10)'],
  [0x2e, 'WRITE AND VERIFY(10)'],
  [0x2f, 'VERIFY(10)'],
  [0x35, 'SYNCHRONIZE CACHE(10)'],
  [0x37, 'READ DEFECT DATA(10)'],
  [0x3b, 'WRITE BUFFER'],
  [0x3c, 'READ BUFFER(10)'],
  [0x41, 'WRITE SAME(10)'],
  [0x42, 'UNMAP'],
  [0x4c, 'LOG SELECT'],
  [0x4d, 'LOG SENSE'],
  [0x55, 'MODE SELECT(10)'],
  [0x5a, 'MODE SENSE(10)'],
  [0x5e, 'PERSISTENT RESERVE IN'],
  [0x5f, 'PERSISTENT RESERVE OUT'],
  [0x7f, 'VARIABLE LENGTH'],
  [0x83, 'THIRD-PARTY COPY OUT'],
  [0x84, 'THIRD-PARTY COPY IN'],
  [0x85, 'ATA PASS-THROUGH(16)'],
  [0x88, 'READ(16)'],
  [0x89, 'COMPARE AND WRITE'],
  [0x8a, 'WRITE(16)'],
  [0x8e, 'WRITE AND VERIFY(16)'],
  [0x8f, 'VERIFY(16)'],
  [0x90, 'PRE-FETCH(16)'],
  [0x91, 'SYNCHRONIZE CACHE(16)'],
  [0x93, 'WRITE SAME(16)'],
  [0x9e, 'SERVICE ACTION IN(16)'],
  [0x9f, 'SERVICE ACTION OUT(16)'],
  [0xa0, 'REPORT LUNS'],
  [0xa3, 'MAINTENANCE IN'],
  [0xa4, 'MAINTENANCE OUT'],
  [0xa8, 'READ(12)'],
  [0xaa, 'WRITE(12)'],
]);

/** Opcodes whose CDB byte 1 bits 4-0 carry a service action, with the names we know. */
const SERVICE_ACTION_NAMES = new Map<number, Map<number, string>>([
  [
    0x83,
    new Map([
      [0x00, 'EXTENDED COPY(LID1)'],
      [0x01, 'EXTENDED COPY(LID4)'],
      [0x10, 'POPULATE TOKEN'],
      [0x11, 'WRITE USING TOKEN'],
      [0x16, 'SET TAPE STREAM MIRRORING'],
      [0x1c, 'COPY OPERATION ABORT'],
    ]),
  ],
  [
    0x84,
    new Map([
      [0x00, 'RECEIVE COPY STATUS(LID1)'],
      [0x01, 'RECEIVE COPY DATA(LID1)'],
      [0x03, 'RECEIVE COPY OPERATING PARAMETERS'],
      [0x04, 'RECEIVE COPY FAILURE DETAILS(LID1)'],
      [0x05, 'RECEIVE COPY STATUS(LID4)'],
      [0x06, 'RECEIVE COPY DATA(LID4)'],
      [0x07, 'RECEIVE ROD TOKEN INFORMATION'],
      [0x08, 'REPORT ALL ROD TOKENS'],
      [0x16, 'REPORT TAPE STREAM MIRRORING'],
    ]),
  ],
  [
    0x9e,
    new Map([
      [0x10, 'READ CAPACITY(16)'],
      [0x12, 'GET LBA STATUS'],
    ]),
  ],
  [
    0xa3,
    new Map([
      [0x0a, 'REPORT TARGET PORT GROUPS'],
      [0x0c, 'REPORT SUPPORTED OPERATION CODES'],
      [0x0d, 'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS'],
      [0x0f, 'REPORT TIMESTAMP'],
    ]),
  ],
  [0x9f, new Map()],
  [0xa4, new Map()],
  [0x5e, new Map()],
  [0x5f, new Map()],
]);

/** True when the opcode's CDB carries a service action in byte 1 bits 4-0. */
export function hasServiceAction(opcode: number): boolean {
  return SERVICE_ACTION_NAMES.has(opcode);
}

/** T10 name of an opcode (without service action). */
export function opcodeName(opcode: number): string {
  const n = OPCODE_NAMES.get(opcode);
  if (n) return n;
  if (opcode >= 0xc0) return `VENDOR SPECIFIC OPCODE 0x${hex2(opcode)}`;
  return `OPCODE 0x${hex2(opcode)}`;
}

/** T10 name of an opcode + service action pair; unknown pairs name both numbers. */
export function serviceActionName(opcode: number, serviceAction: number): string {
  const sas = SERVICE_ACTION_NAMES.get(opcode);
  const n = sas?.get(serviceAction);
  if (n) return n;
  return `${opcodeName(opcode)} SERVICE ACTION 0x${hex2(serviceAction)}`;
}

/** The service action of a CDB, when its opcode uses one. */
export function serviceActionOf(cdb: Uint8Array): number | undefined {
  if (cdb.length < 2) return undefined;
  const op = cdb[0] as number;
  return hasServiceAction(op) ? (cdb[1] as number) & 0x1f : undefined;
}

/** T10 name of the command a CDB encodes, e.g. "POPULATE TOKEN" for 83 10 ... */
export function commandName(cdb: Uint8Array): string {
  if (cdb.length < 1) return 'EMPTY CDB';
  const op = cdb[0] as number;
  const sa = serviceActionOf(cdb);
  if (sa !== undefined) return serviceActionName(op, sa);
  return opcodeName(op);
}
