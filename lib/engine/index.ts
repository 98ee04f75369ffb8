// The copy engine: plan (probe, validate, choose a method), then copy chunk by chunk with
// truncation re-drive and fallback to the host path, keeping an exact account.
export * from './types';
import type { CopyOptions, CopyPlan, CopyResult } from './types';
import { OdxcpError } from '../scsi/errors';

/** Thrown when a copy stops part-way: `result` says exactly which bytes are on the destination. */
export class CopyError extends OdxcpError {
  readonly result: CopyResult;
  constructor(message: string, code: string, result: CopyResult, cause?: unknown) {
    super(message, code, { cause });
    this.result = result;
  }
}
Object.defineProperty(CopyError.prototype, 'name', { value: 'CopyError' });

/** Probe both LUNs and decide how the copy would run; nothing is written. */
export async function planCopy(_opts: CopyOptions): Promise<CopyPlan> {
  throw new OdxcpError('planCopy: not implemented yet', 'UNIMPLEMENTED');
}

/** Copy a range; resolves with the account, or rejects with CopyError / UsageError / DeviceError. */
export async function copy(_opts: CopyOptions): Promise<CopyResult> {
  throw new OdxcpError('copy: not implemented yet', 'UNIMPLEMENTED');
}
