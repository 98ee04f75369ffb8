// `odxcp info DEV...`: what each LUN supports; for a pair SRC DST also the engine's plan: which
// method a copy would use, why the others would not be, and the chunk sizes.
import type { CopyPlan } from '../engine/types';
import { UsageError } from '../errors';
import { cliExitCode, printJsonError, type CliContext } from './context';
import { checkDevicePath } from './options';
import { parseCopyArgs, resolveCopyOptions, type CopyCliOptions, type CopyRequest } from './copy';
import { deviceInfoLines, type DeviceInfo } from './describe';
import { toJson } from './json';
import { formatBytes } from './sizes';

export interface InfoCliOptions extends Pick<CopyCliOptions, 'srcOffset' | 'dstOffset' | 'length' | 'mode'> {
  json?: boolean;
}

const METHOD_NAMES: Record<'odx' | 'xcopy', string> = { odx: 'token copy (ODX)', xcopy: 'EXTENDED COPY LID1' };

export function planLines(p: CopyPlan): string[] {
  const lines = [
    `copy plan ${p.src.path} -> ${p.dst.path}: ${p.length} bytes (${formatBytes(p.length)}) from +${p.srcOffset} to +${p.dstOffset}`,
  ];
  for (const m of ['odx', 'xcopy'] as const) {
    const v = p.verdicts[m];
    lines.push(`  ${METHOD_NAMES[m]}: ${v.usable ? 'usable' : 'not usable'} - ${v.reason}`);
  }
  const chunk = p.method === 'host' ? `host transfers of ${p.hostTransferBytes} bytes` : `${p.chunkBytes} bytes (${formatBytes(p.chunkBytes)}) per ${p.method === 'odx' ? 'token' : 'EXTENDED COPY'}, host transfers of ${p.hostTransferBytes} bytes if it falls back`;
  lines.push(`  method: ${p.method}; ${chunk}; ${p.maxInFlight} in flight`);
  return lines;
}

export async function infoCommand(ctx: CliContext, devices: string[], o: InfoCliOptions): Promise<number> {
  const planOpts = o.srcOffset !== undefined || o.dstOffset !== undefined || o.length !== undefined || o.mode !== undefined;
  if (planOpts && devices.length !== 2) throw new UsageError('--src-offset/--dst-offset/--length/--mode: only with a pair, odxcp info SRC DST');
  for (const d of devices) checkDevicePath(d, 'DEVICE');
  const req = devices.length === 2 ? parseCopyArgs({ srcOffset: o.srcOffset, dstOffset: o.dstOffset, length: o.length, mode: o.mode }) : undefined;
  const infos: DeviceInfo[] = [];
  for (const d of devices) {
    let i: DeviceInfo;
    try {
      i = await ctx.describeDevice(d);
    } catch (e) {
      // What was learned about the devices before this one is still worth printing.
      if (o.json && infos.length > 0) printJsonError(ctx, e, cliExitCode(e), devices.length === 2 ? { src: infos[0], dst: null } : { devices: infos });
      throw e;
    }
    infos.push(i);
    if (!o.json) ctx.stdout.write(`${deviceInfoLines(i).join('\n')}\n`);
  }
  if (devices.length !== 2) {
    if (o.json) ctx.stdout.write(`${toJson(infos.length === 1 ? infos[0] : infos)}\n`);
    return 0;
  }
  const [src, dst] = devices as [string, string];
  const [si, di] = infos as [DeviceInfo, DeviceInfo];
  let plan: CopyPlan;
  try {
    plan = await ctx.planCopy(resolveCopyOptions(src, dst, req as CopyRequest, si, di));
  } catch (e) {
    if (o.json) printJsonError(ctx, e, cliExitCode(e), { src: si, dst: di, plan: null });
    throw e;
  }
  if (o.json) ctx.stdout.write(`${toJson({ src: si, dst: di, plan })}\n`);
  else ctx.stdout.write(`${planLines(plan).join('\n')}\n`);
  return 0;
}
