// `--dry-run` (`-n`) for the commands that write: open and probe the devices, plan, print what
// would be done, and write nothing. The plan is the engine's own (planCopy, the zero method
// order describeDevice reports), so a dry run says what the real run would decide.
import type { CopyOptions, CopyPlan } from '../engine/types';
import { UsageError } from '../errors';
import type { CliContext } from './context';
import { deviceInfoLines, planLines } from './describe';
import { toJson } from './json';
import { formatBytes } from './sizes';

export async function dryRunCopy(ctx: CliContext, opts: CopyOptions, json: boolean): Promise<number> {
  const { signal: _s, onProgress: _p, ...plain } = opts;
  const plan = await ctx.planCopy(plain);
  if (json) ctx.stdout.write(`${toJson({ dryRun: true, options: plain, plan })}\n`);
  else ctx.stdout.write(`${['dry run: nothing is written', ...planLines(plan)].join('\n')}\n`);
  return 0;
}

/** `copy SRC DST1 DST2... --dry-run`: the plan of each pair, in order; nothing is copied. */
export async function dryRunCopies(ctx: CliContext, all: readonly CopyOptions[], json: boolean): Promise<number> {
  const pairs: { options: CopyOptions; plan: CopyPlan }[] = [];
  for (const opts of all) {
    const { signal: _s, onProgress: _p, ...plain } = opts;
    pairs.push({ options: plain, plan: await ctx.planCopy(plain) });
  }
  if (json) ctx.stdout.write(`${toJson({ dryRun: true, pairs })}\n`);
  else ctx.stdout.write(`${['dry run: nothing is written', ...pairs.flatMap((p) => planLines(p.plan))].join('\n')}\n`);
  return 0;
}

export async function dryRunZero(ctx: CliContext, o: { device: string; offset: bigint; length: bigint; method: string; sync: boolean }, json: boolean): Promise<number> {
  const info = await ctx.describeDevice(o.device);
  if (o.offset + o.length > info.bytes) {
    throw new UsageError(`--length: ${o.offset}+${o.length} runs past the end of ${o.device} (${info.bytes} bytes)`);
  }
  const methods = o.method === 'auto' ? info.zeroMethods : [o.method];
  const plan = { device: o.device, offset: o.offset, length: o.length, methods, fallback: o.method === 'auto', sync: o.sync };
  if (json) ctx.stdout.write(`${toJson({ dryRun: true, plan, device: info })}\n`);
  else {
    ctx.stdout.write(
      `${[
        'dry run: nothing is written',
        ...deviceInfoLines(info),
        `zero plan ${o.device}: ${o.length} bytes (${formatBytes(o.length)}) from +${o.offset}: ${methods.join(', then ')}${o.method === 'auto' ? '' : ' (forced, no fallback)'}; ${o.sync ? 'then SYNCHRONIZE CACHE over the range' : 'no flush (--no-sync)'}`,
      ].join('\n')}\n`,
    );
  }
  return 0;
}
