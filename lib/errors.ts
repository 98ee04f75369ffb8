// The error classes every layer of odxcp uses: the base class with its stable `code`, and the
// causes that are not SCSI's (bad arguments, an unusable device, a miscompare, an abort).
// lib/scsi/errors.ts adds what SCSI says (ScsiError, TransportError); lib/scsi/bytes.ts the
// decoders' ParseError.

/** Give an error class its `name` on the prototype (so `e.name` survives minification and subclassing). */
export function setName(ctor: { prototype: object }, name: string): void {
  Object.defineProperty(ctor.prototype, 'name', { value: name, writable: true, configurable: true, enumerable: false });
}

/** Base class of every error odxcp throws on purpose. */
export class OdxcpError extends Error {
  /** Stable machine-readable code (e.g. 'USAGE', 'ILLEGAL_REQ', 'DID_TIME_OUT', 'EACCES'). */
  readonly code: string;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    // The stack is captured once, below, without the constructor frames; skipping the capture
    // Error() would do halves the cost of a ParseError (decoders may throw many while probing).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message, options);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.code = code;
    Error.captureStackTrace(this, new.target);
  }
}
setName(OdxcpError, 'OdxcpError');

/** Bad arguments (command line or API). */
export class UsageError extends OdxcpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'USAGE', options);
  }
}
setName(UsageError, 'UsageError');

/** Why a device could not be used: the errno code, or one of odxcp's own checks. */
export type DeviceErrorCode = 'ENOENT' | 'EACCES' | 'EPERM' | 'EBUSY' | 'ENXIO' | 'ENODEV' | 'NOT_SCSI' | 'PARTITION' | 'MOUNTED' | 'NOT_BLOCK' | (string & {});

export interface DeviceErrorInit {
  path: string;
  code: DeviceErrorCode;
  errno?: number;
  message?: string;
  cause?: unknown;
}

/** The device cannot be used: open failed, no permission, not SCSI, a partition, busy, mounted. */
export class DeviceError extends OdxcpError {
  readonly path: string;
  readonly errno: number | undefined;

  constructor(init: DeviceErrorInit) {
    super(init.message ?? `${init.path}: ${init.code}`, init.code, { cause: init.cause });
    this.path = init.path;
    this.errno = init.errno;
  }
}
setName(DeviceError, 'DeviceError');

export interface MiscompareErrorInit {
  message: string;
  /** Byte offset of the first difference, when known. */
  offset?: bigint;
  /** LBA of the first differing block, when known. */
  lba?: bigint;
  cause?: unknown;
}

/** Source and destination differ after a copy (odxcp's own verify), or a target miscompare. */
export class MiscompareError extends OdxcpError {
  readonly offset: bigint | undefined;
  readonly lba: bigint | undefined;

  constructor(init: MiscompareErrorInit) {
    super(init.message, 'MISCOMPARE', { cause: init.cause });
    this.offset = init.offset;
    this.lba = init.lba;
  }
}
setName(MiscompareError, 'MiscompareError');

/** The operation was stopped on purpose (SIGINT/SIGTERM, an AbortSignal). */
export class AbortedError extends OdxcpError {
  /** The signal that stopped us, when one did. */
  readonly signal: NodeJS.Signals | undefined;

  constructor(message = 'operation aborted', options?: { signal?: NodeJS.Signals; cause?: unknown }) {
    super(message, 'ABORTED', { cause: options?.cause });
    this.signal = options?.signal;
  }
}
setName(AbortedError, 'AbortedError');
