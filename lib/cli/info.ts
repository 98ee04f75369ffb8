// `odxcp info DEV...`: what each LUN supports; for a pair SRC DST also the engine's plan: which
// method a copy would use, why the others would not be, and the chunk sizes.
import type { CopyPlan } from '../engine/types';
import { UsageError } from '../errors';
import { cliExitCode, printJsonError, type CliContext } from './context';
import { checkDevicePath } from './options';
import { parseCopyArgs, resolveCopyOptions, type CopyCliOptions, type CopyRequest } from './copy';
import { deviceInfoLines, planLines, type DeviceInfo } from './describe';
import { toJson } from './json';

export interface InfoCliOptions extends Pick<CopyCliOptions, 'srcOffset' | 'dstOffset' | 'length' | 'mode'> {
  json?: boolean;
}

export { planLines } from './describe';

export async function infoCommand(ctx: CliContext, devices: string[], o: InfoCliOptions): Promise<number> {
  const planOpts = o.srcOffset !== undefined || o.dstOffset !== undefined || o.length !== undefined || o.mode !== undefined;
  if (planOpts && devices.length !== 2) throw new UsageError('--src-offset/--dst-offset/--length/--mode: only with a pair, odxcp info SRC DST');
  for (const d of devices) checkDevicePath(d, 'DEVICE');
  const req = devices.length === 2 ? parseCopyArgs({ srcOffset: o.srcOffset, dstOffset: o.dstOffset, length: o.length, mode: o.mode }) : undefined;
  // The LUNs are probed at once (each probe is a dozen round trips to its target), and
  // reported in the order given.
  const probes = await Promise.allSettled(devices.map((d) => ctx.describeDevice(d)));
  const infos: DeviceInfo[] = [];
  for (const p of probes) {
    if (p.status === 'rejected') {
      const e: unknown = p.reason;
      // What was learned about the devices before this one is still worth printing.
      if (o.json && infos.length > 0) printJsonError(ctx, e, cliExitCode(e), devices.length === 2 ? { src: infos[0], dst: null } : { devices: infos });
      throw e;
    }
    const i = p.value;
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
    // A layered device's own size bounds the range, not its LUN's.
    const geo = (i: DeviceInfo) => ({ blockSize: i.blockSize, bytes: i.stack ? i.stack.bytes : i.bytes });
    plan = await ctx.planCopy(resolveCopyOptions(src, dst, req as CopyRequest, geo(si), geo(di)));
  } catch (e) {
    if (o.json) printJsonError(ctx, e, cliExitCode(e), { src: si, dst: di, plan: null });
    throw e;
  }
  if (o.json) ctx.stdout.write(`${toJson({ src: si, dst: di, plan })}\n`);
  else ctx.stdout.write(`${planLines(plan).join('\n')}\n`);
  return 0;
}
