// The one place that loads the compiled addon. Nothing else imports the .node file, so tests
// can hand a fake Transport to the layers above (see lib/scsi/transport.ts).
//
// The native surface is deliberately small: open a node as a handle that owns its fd, close
// it, run one SCSI command (sg driver's async interface on sg nodes, SG_IO on an addon-owned
// thread on block nodes), and the pure CDB/parameter-list
// encoders (one per T10 command).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Data direction of one SCSI command (SG_DXFER_NONE / TO_DEV / FROM_DEV). */
export type Direction = 'none' | 'to-device' | 'from-device';

/** A 64-bit field (LBA, byte count) may be given as a safe integer or a bigint. */
export type U64 = number | bigint;

export interface NativeOpenOptions {
  /** O_RDWR when true, O_RDONLY otherwise (the sg driver filters opcodes on non-O_RDWR fds). */
  write: boolean;
  /** O_EXCL: on a block node this fails with EBUSY when the disk is mounted or held. */
  exclusive: boolean;
  /**
   * On an sg node, run commands through the sg driver's asynchronous interface (write()/read()
   * of sg_io_hdr on the event loop, no thread hand-off). Default true; false keeps SG_IO on
   * the addon's threads (for comparisons). Block nodes, and sg nodes opened without `write`
   * (write() needs a descriptor open for writing), always use SG_IO on the threads.
   */
  sgAsync?: boolean;
}

declare const nativeHandleBrand: unique symbol;

/**
 * An open device node. The addon owns the fd: JS never sees a number it could close or pass
 * to another call, so no command can land on a descriptor reused by a later open.
 *
 * Commands given to `execute(handle, ...)` run at most `maxInFlight` at once, more wait in
 * the handle's FIFO. On an sg node (16: the sg driver's per-fd queue) each is one write() of
 * an sg_io_hdr to the O_NONBLOCK fd and one read() of its completion, which a poll on the
 * event loop reports: no thread is involved. On a block node (32) each is an SG_IO on one of
 * the addon's 128 threads.
 *
 * `close(handle)` drains, it does not cancel: every command accepted before it still runs on
 * the same, still open fd, then the fd is closed and the promise resolves. From the call on,
 * `execute` and a second `close` reject with code 'ECLOSED' without touching any descriptor.
 * A handle the garbage collector takes with its fd still open closes it; a handle with
 * commands outstanding is never collected.
 *
 * Only the addon makes handles (open(), testing.adopt()); close/execute throw TypeError for
 * anything else, a look-alike object included. The properties are read-only views.
 */
export interface NativeHandle {
  readonly [nativeHandleBrand]: true;
  /** The descriptor's number while open or closing (for messages and tests); -1 once closed. */
  readonly fd: number;
  readonly kind: 'sg' | 'block';
  readonly state: 'open' | 'closing' | 'closed';
  /** Commands handed to the driver (sg) or the addon's threads (block), not yet completed (<= maxInFlight). */
  readonly inFlight: number;
  /** Commands waiting in the handle's FIFO for a free slot. */
  readonly queued: number;
  /** 16 for 'sg', 32 for 'block'. */
  readonly maxInFlight: number;
  /** True while the handle's commands go through the sg driver's asynchronous interface (an sg node opened for writing, until closed). */
  readonly sgAsync: boolean;
}

export interface NativeOpenResult {
  /** Owns the fd; give it back with close(handle). */
  handle: NativeHandle;
  /** 'sg' for a /dev/sgN char node, 'block' for a whole-disk SCSI block node. */
  kind: 'sg' | 'block';
  major: number;
  minor: number;
  /** SG_GET_VERSION_NUM (e.g. 30536); proves the node speaks SG_IO. */
  sgVersion: number;
}

export interface NativeExecuteRequest {
  /** 6..252 bytes. */
  cdb: Buffer;
  direction: Direction;
  /** to-device: the bytes sent; from-device: the buffer filled (its length is dxfer_len). */
  data?: Buffer;
  /** SG_IO timeout in milliseconds, 1..4294967295. */
  timeoutMs: number;
}

export interface NativeExecuteResult {
  /** SAM status byte (0 GOOD, 2 CHECK CONDITION, 8 BUSY, 0x18 RESERVATION CONFLICT, 0x28 TASK SET FULL). */
  status: number;
  hostStatus: number;
  driverStatus: number;
  /** The sense bytes the kernel wrote (sb_len_wr of them); when none, one shared empty Buffer. */
  sense: Buffer;
  /** dxfer_len minus bytes actually transferred. */
  resid: number;
  /** As measured by the kernel, ms. */
  durationMs: number;
  /** sg_io_hdr.info (SG_INFO_CHECK, direct/indirect IO bits). */
  info: number;
}

/** What every encoder returns: the CDB, the direction, and the parameter list when there is one. */
export interface EncodedCommand {
  cdb: Buffer;
  direction: Direction;
  /** Parameter list for to-device commands (absent for WRITE(16): the caller supplies the blocks). */
  data?: Buffer;
  /**
   * Allocation length for from-device commands (the buffer to hand to execute); absent for
   * READ(16), whose buffer is blocks x logical block length, which only the caller knows.
   */
  allocationLength?: number;
}

export interface BlockRange {
  lba: U64;
  /** NUMBER OF LOGICAL BLOCKS (32 bit in the range descriptor). */
  blocks: number;
}

/** A designation descriptor as read from VPD 0x83 (used to build a 0xE4 CSCD descriptor). */
export interface DesignatorInput {
  codeSet: number;
  association: number;
  designatorType: number;
  /** At most 20 bytes. */
  designator: Buffer;
}

export interface IdentificationCscdInput {
  designator: DesignatorInput;
  /** PERIPHERAL DEVICE TYPE, 0 for block devices. */
  peripheralDeviceType?: number;
  /** DISK BLOCK LENGTH (24 bit). */
  blockLength: number;
  relativeInitiatorPort?: number;
  /** NUL bit (obsolete in SPC-4); default false. */
  nul?: boolean;
  pad?: boolean;
}

export interface BlockToBlockSegmentInput {
  sourceCscdId: number;
  destinationCscdId: number;
  /** NUMBER OF BLOCKS, 1..65535 (0 is a legal no-op but rejected here as a likely bug). */
  blocks: number;
  sourceLba: U64;
  destinationLba: U64;
  /** DC: count destination blocks instead of source blocks. */
  destinationCount?: boolean;
  cat?: boolean;
}

export type ListIdUsage = 'hold' | 'discard' | 'none';

export interface NativeEncoders {
  testUnitReady(): EncodedCommand;
  inquiry(o: { evpd?: boolean; page?: number; allocationLength?: number }): EncodedCommand;
  reportLuns(o: { selectReport?: number; allocationLength?: number }): EncodedCommand;
  requestSense(o: { descriptorFormat?: boolean; allocationLength?: number }): EncodedCommand;
  readCapacity16(o: { allocationLength?: number }): EncodedCommand;
  read16(o: { lba: U64; blocks: number; fua?: boolean; dpo?: boolean; group?: number }): EncodedCommand;
  write16(o: { lba: U64; blocks: number; fua?: boolean; dpo?: boolean; group?: number }): EncodedCommand;
  synchronizeCache16(o: { lba?: U64; blocks?: number; immed?: boolean; group?: number }): EncodedCommand;
  /** The 10-byte form: 32-bit LBA, 16-bit NUMBER OF LOGICAL BLOCKS (0: to the end of the medium). */
  synchronizeCache10(o: { lba?: number; blocks?: number; immed?: boolean; group?: number }): EncodedCommand;
  /** With `block` the data-out is that one logical block; without, NDOB=1 and no data. */
  writeSame16(o: { lba: U64; blocks: number; unmap?: boolean; anchor?: boolean; block?: Buffer; group?: number }): EncodedCommand;
  /** GET LBA STATUS (SBC-3 5.6): from `lba`; REPORT TYPE 0 unless given (SBC-4). */
  getLbaStatus(o: { lba: U64; allocationLength?: number; reportType?: number }): EncodedCommand;
  /** UNMAP (SBC-3 5.28): 1..4095 block descriptors in the parameter list. */
  unmap(o: { ranges: BlockRange[]; anchor?: boolean; group?: number }): EncodedCommand;
  identificationCscdDescriptor(o: IdentificationCscdInput): Buffer;
  blockToBlockSegmentDescriptor(o: BlockToBlockSegmentInput): Buffer;
  extendedCopyLid1(o: {
    listId: number;
    listIdUsage: ListIdUsage;
    priority?: number;
    str?: boolean;
    cscds: IdentificationCscdInput[];
    segments: BlockToBlockSegmentInput[];
  }): EncodedCommand;
  receiveCopyResults(o: {
    serviceAction: 'copyStatus' | 'receiveData' | 'operatingParameters' | 'failedSegmentDetails';
    listId?: number;
    allocationLength?: number;
  }): EncodedCommand;
  populateToken(o: {
    listId: number;
    immed?: boolean;
    /** Seconds; 0 = device default. */
    inactivityTimeout?: number;
    /** Sets RTV=1 and the ROD TYPE field. */
    rodType?: number;
    ranges: BlockRange[];
    group?: number;
  }): EncodedCommand;
  writeUsingToken(o: {
    listId: number;
    immed?: boolean;
    deleteToken?: boolean;
    /** OFFSET INTO ROD, logical blocks. */
    offsetIntoRod?: U64;
    /** Exactly 512 bytes. */
    token: Buffer;
    ranges: BlockRange[];
    group?: number;
  }): EncodedCommand;
  receiveRodTokenInformation(o: { listId: number; allocationLength?: number }): EncodedCommand;
  receiveCopyStatusLid4(o: { listId: number; allocationLength?: number }): EncodedCommand;
  copyOperationAbort(o: { listId: number }): EncodedCommand;
  reportAllRodTokens(o: { allocationLength?: number }): EncodedCommand;
}

export interface NativeThreadStats {
  /** Threads the addon has started (its own, not libuv's pool). */
  threads: number;
  idle: number;
  /** Opens and commands handed to the threads, not yet completed; not those still waiting in a handle's queue. */
  inFlight: number;
}

export interface CopyLaneOptions {
  /** Byte position on each device of the copy's offset 0 (whole blocks). */
  srcBase: U64;
  dstBase: U64;
  srcBlockSize: number;
  dstBlockSize: number;
  /** The range to copy, relative to the copy's start, bytes (whole blocks of both devices). */
  offset: U64;
  length: U64;
  /** Bytes per READ(16)/WRITE(16) pair (whole blocks), at most 32 MiB. */
  transferBytes: number;
  /** Pairs in flight, 1..8: each lane holds one addon thread and one page-aligned buffer. */
  lanes: number;
  /** SG_IO timeout per command, ms (default 60000). */
  timeoutMs?: number;
  /** Unit suite only: pread/pwrite on handles of testing.adopt instead of SG_IO. */
  testFileIo?: boolean;
  /** Unit suite only (with testFileIo): the WRITE of the piece at this offset fails with EIO. */
  testFailWriteAt?: U64;
  /** Unit suite only (with testFileIo): each WRITE waits this many ms first (0..1000). */
  testWriteDelayMs?: number;
}

/** The command a lane stopped on: its errno, or its complete SCSI outcome. */
export interface CopyLaneFailure {
  command: 'READ(16)' | 'WRITE(16)';
  /** Offset of the piece it belonged to, relative to the copy. */
  offset: number;
  cdb: Buffer;
  /** When the ioctl itself failed. */
  code?: string;
  errno?: number;
  /** When the command ran: non-GOOD status, host/driver status or a residual. */
  result?: NativeExecuteResult;
}

/**
 * A range being copied between two block nodes by the addon (READ(16)/WRITE(16) over SG_IO on
 * its threads, no JS between commands). A piece counts as done only once its WRITE came back
 * GOOD and whole; the first failure stops every lane after its current command.
 */
export interface CopyLane {
  /** The pieces done since the last call, flattened: [offset, length, offset, length, ...]. */
  take(): number[];
  /** Stop after the current commands; a piece whose READ ran but whose WRITE did not is not done. */
  abort(): void;
  /** Bytes done so far (all pieces, taken or not). */
  readonly bytes: number;
  /** Settles when every lane stopped; rejects only when no lane could start (ECLOSED, pthread_create). */
  readonly done: Promise<{ failure?: CopyLaneFailure; aborted: boolean }>;
}

export interface NativeBinding {
  open(path: string, options: NativeOpenOptions): Promise<NativeOpenResult>;
  /**
   * Stop accepting commands on `handle`, wait for those already accepted, close the fd.
   * Rejects with 'ECLOSED' when close was already called, or with the close(2) errno (the fd
   * is released either way). Throws TypeError when `handle` is not a handle.
   */
  close(handle: NativeHandle): Promise<void>;
  /** One SG_IO on the handle's fd; rejects 'ECLOSED' once close(handle) was called. */
  execute(handle: NativeHandle, request: NativeExecuteRequest): Promise<NativeExecuteResult>;
  threadStats(): NativeThreadStats;
  /**
   * Copy a range between two block-node handles in the addon (the host method's data lane).
   * Both handles count one command in flight until `done` settles, so close() waits for it.
   * Throws TypeError for sg handles, a read-only destination or misaligned offsets.
   */
  copyLane(src: NativeHandle, dst: NativeHandle, options: CopyLaneOptions): CopyLane;
  /**
   * A zeroed Buffer of `length` bytes (1..2^30) whose memory starts on a page boundary, freed
   * when collected: the block layer maps such a buffer into an SG_IO request directly instead
   * of copying it through a bounce buffer. For the host copy's data (lib/engine/buffers.ts).
   */
  alignedBuffer(length: number): Buffer;
  encoders: NativeEncoders;
  /** For the unit suite only: never use in lib/. */
  testing: {
    /**
     * A handle on any path, opened read-only without open()'s SCSI checks (SG_IO on it fails
     * with ENOTTY); `kind` chooses its queue bound. Throws on an open(2) failure.
     */
    adopt(path: string, options: { kind: 'sg' | 'block'; write?: boolean }): NativeHandle;
    /**
     * An sg handle on the asynchronous interface whose driver is the caller: `peer` is the
     * other end of a SOCK_SEQPACKET socketpair (blocking; close it with fs.closeSync). Each
     * command arrives there as an sg_io_hdr (sgIoHdrSize bytes); writing a header back
     * completes the command whose pack_id and usr_ptr it carries.
     */
    adoptPeer(): { handle: NativeHandle; peer: number };
    /** The Buffer's start address modulo the page size (0: page-aligned). */
    alignment(buffer: Buffer): number;
  };
  /** sizeof(struct sg_io_hdr) as compiled, for a sanity test (88 on x86_64). */
  sgIoHdrSize: number;
}

/**
 * Errors the addon rejects with carry the errno as a string code, the number and the syscall.
 * Message: "<code>: <what happened>, <syscall> '<path>'" (or "(fd N)" for execute/close, N
 * being the number the handle's fd had).
 */
export interface NativeSystemError extends Error {
  /**
   * The errno name ('ENOENT', 'EACCES', 'EBUSY', 'ENOTTY'...), or one of the addon's own:
   * 'ENOTSCSI' (not an sg node or a SCSI whole disk: regular file, other device, no SG_IO),
   * 'EPARTITION' (a partition's block node; use the whole disk) and 'ECLOSED' (execute or
   * close on a handle whose close() was already called).
   */
  code: string;
  /** The positive C errno value (2 for ENOENT, not libuv's -2); 0 for the addon's own codes. */
  errno: number;
  /**
   * 'stat', 'open', 'fstat', 'ioctl SG_GET_VERSION_NUM', 'ioctl SG_IO', 'write sg_io_hdr'
   * (an sg node refused the command), 'close', 'pthread_create'; for 'ECLOSED' the call
   * refused: 'execute' or 'close'.
   */
  syscall: string;
  /** The path given to open(); absent for fd-based calls. */
  path?: string;
}

let cached: NativeBinding | undefined;

/**
 * Load the addon. ODXCP_NATIVE overrides the path (the sanitizer build uses it); otherwise
 * build/Release then build/Debug under the package root. The error names every place tried.
 */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  const root = path.resolve(__dirname, '..', '..');
  const candidates = process.env.ODXCP_NATIVE
    ? [path.resolve(process.env.ODXCP_NATIVE)]
    : [path.join(root, 'build', 'Release', 'odxcp.node'), path.join(root, 'build', 'Debug', 'odxcp.node')];
  for (const file of candidates) {
    if (fs.existsSync(file)) {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      cached = require(file) as NativeBinding;
      return cached;
    }
  }
  throw new Error(`odxcp native addon not built; looked in: ${candidates.join(', ')} (run npm install)`);
}
