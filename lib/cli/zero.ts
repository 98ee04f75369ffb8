// `odxcp zero DEV --offset N --length N [--method auto|unmap|token|write-same|write]`; the policy is
// in lib/tokens/zero.ts.
import { UsageError } from '../errors';
import { ZERO_METHODS, ZeroError, type ZeroMethod, type ZeroResult } from '../tokens/zero';
import { cliExitCode, printJsonError, reportError, reportLeaving, signalExitCode, withSignals, type CliContext, type Stopped } from './context';
import { checkDevicePath } from './options';
import { dryRunZero } from './dry-run';
import { toJson } from './json';
import { chooseProgress, makeProgress, PROGRESS_KINDS, type ProgressKind } from './progress';
import { formatBytes, parseSeconds, parseSize } from './sizes';
import { sizeOnDevice } from './token';

export interface ZeroCliOptions {
  offset?: string;
  length?: string;
  method?: string;
  sync?: boolean;
  json?: boolean;
  progress?: string;
  timeout?: string;
  dryRun?: boolean;
}

export function zeroSummaryLines(r: ZeroResult): string[] {
  const lines = [
    `zeroed ${r.bytes} of ${r.length} bytes (${formatBytes(r.bytes)}) of ${r.device} from +${r.offset} in ${(r.elapsedMs / 1000).toFixed(2)} s with ${r.commands} command${r.commands === 1 ? '' : 's'}`,
    `  method ${r.method} (unmap ${r.byMethod.unmap}, token ${r.byMethod.token}, write-same ${r.byMethod['write-same']}, write ${r.byMethod.write} bytes)`,
  ];
  for (const f of r.fallbacks) lines.push(`  fallback at +${f.offset}: ${f.from} -> ${f.to}: ${f.reason}`);
  lines.push(r.synced ? '  flushed: SYNCHRONIZE CACHE over the range' : '  not flushed (--no-sync)');
  return lines;
}

export async function zeroCommand(ctx: CliContext, device: string, o: ZeroCliOptions): Promise<number> {
  checkDevicePath(device, 'DEVICE');
  if (o.length === undefined) throw new UsageError('--length: missing (bytes to zero; Nb = blocks)');
  const method = (o.method ?? 'auto') as 'auto' | ZeroMethod;
  if (method !== 'auto' && !ZERO_METHODS.includes(method)) throw new UsageError(`--method: '${o.method}' is not one of auto, ${ZERO_METHODS.join(', ')}`);
  const progress = (o.progress ?? 'auto') as ProgressKind;
  if (!PROGRESS_KINDS.includes(progress)) throw new UsageError(`--progress: '${o.progress}' is not one of ${PROGRESS_KINDS.join(', ')}`);
  const offsetSpec = parseSize(o.offset ?? '0', '--offset');
  const lengthSpec = parseSize(o.length, '--length');
  if (lengthSpec.value === 0n) throw new UsageError('--length: must be more than 0');
  const timeoutMs = o.timeout !== undefined ? parseSeconds(o.timeout, '--timeout') : undefined;
  const offset = (await sizeOnDevice(ctx, device, offsetSpec, '--offset')) as bigint;
  const length = (await sizeOnDevice(ctx, device, lengthSpec, '--length')) as bigint;
  if (o.dryRun) return dryRunZero(ctx, { device, offset, length, method, sync: o.sync !== false }, o.json === true);
  const reporter = makeProgress(chooseProgress(progress, o.json === true, ctx.stderr), ctx.stderr, ctx.run);
  const stopped: Stopped = {};
  const { onProgress, leaving } = reportLeaving(ctx, reporter, 'zeroed', o.json === true);
  try {
    const r = await withSignals(
      ctx,
      async (s) => {
        return await ctx.zeroRange({
          device,
          offset,
          length,
          method,
          sync: o.sync !== false,
          timeoutMs,
          signal: s.signal,
          onProgress,
        });
      },
      leaving,
      stopped,
    );
    reporter.finish({ ok: true, bytes: r.bytes, method: r.method });
    ctx.stdout.write(o.json ? `${toJson({ ...r, complete: true })}\n` : `${zeroSummaryLines(r).join('\n')}\n`);
    return 0;
  } catch (e) {
    const r = e instanceof ZeroError ? e.result : undefined;
    const code = stopped.by ? signalExitCode(stopped.by) : cliExitCode(e);
    reporter.finish({ ok: false, bytes: r?.bytes ?? null, exitCode: code });
    if (o.json) printJsonError(ctx, e, code, r ? { ...r } : {});
    if (stopped.by) {
      ctx.stderr.write(`odxcp: aborted by ${stopped.by}${r ? `: ${r.bytes} of ${r.length} bytes zeroed` : ''}\n`);
      return signalExitCode(stopped.by);
    }
    return reportError(ctx, e);
  }
}
