// odxcp's public API. Layers (each uses only the ones below): native transport + encoders
// (lib/native.ts), the SCSI layer (lib/scsi: decoders, errors, one function per command,
// retry policy), the device layer (lib/device). The copy engine and the CLI build on these.
export * from './scsi/decoders';
export * from './errors';
export * from './scsi/errors';
export { ParseError } from './scsi/bytes';
export { EXIT_CODES, exitCodeFor, exitCodeForCategory, exitCodeForErrno, type ExitCodeEntry } from './cli/exit-status';
export * as commands from './scsi/commands';
export {
  DEFAULT_RETRY,
  defaultTimeoutMs,
  runCommand,
  type CommandOptions,
  type CommandResult,
  type Executor,
  type RetryEvents,
  type RetryPolicy,
  type RetryStats,
  type ScsiTransport,
} from './scsi/transport';
export {
  ScsiDevice,
  type DeviceCapacity,
  type DeviceIdentity,
  type DeviceStats,
  type OpenOptions,
} from './device/device';
export { probeCapabilities, type Capabilities, type Lid1Limits, type TokenCopyLimits } from './device/capabilities';
export * as engine from './engine';
export { copy, planCopy, CopyError, type CopyOptions, type CopyResult, type CopyPlan, type CopyProgress } from './engine';
export * as tokens from './tokens';
export { setCommandTrace, type CommandTraceRecord, type CommandTraceSink } from './scsi/trace';
export { scanLuns, scanMultipath, type ScannedLun, type ScannedMultipath } from './device/scan';
export { inspectNode, queueLimits, scsiNodesOf, usersOf, type NodeInfo, type QueueLimits, type ScsiNodes } from './device/sysfs';
export {
  loadNative,
  type BlockRange,
  type BlockToBlockSegmentInput,
  type DesignatorInput,
  type Direction,
  type EncodedCommand,
  type IdentificationCscdInput,
  type ListIdUsage,
  type NativeBinding,
  type NativeEncoders,
  type NativeExecuteRequest,
  type NativeExecuteResult,
  type NativeHandle,
  type NativeOpenResult,
  type U64,
} from './native';

import { loadNative } from './native';
/** The command encoders (pure: typed options in, CDB + parameter list out). */
export const encoders = new Proxy({} as ReturnType<typeof loadNative>['encoders'], {
  get: (_t, k) => (loadNative().encoders as unknown as Record<string | symbol, unknown>)[k],
});
