// One copy through the engine library with knobs the CLI does not expose, as a process of
// its own (measured like every other tool): what a different default would buy, measured
// without editing the engine. Prints the CopyResult as one JSON object.
//   node dist/bench/variant.js --src DEV --dst DEV --length BYTES --mode auto|odx|xcopy|host
//        [--host-transfer BYTES] [--host-depth N] [--max-in-flight N] [--token-size BYTES]
//        [--xcopy-size BYTES] [--data-node sg|sd] [--sparse auto|never]
// --host-depth overrides PlanDetails.hostDepth (fixed at 2 in lib/engine/plan.ts).
// --data-node sg keeps READ/WRITE data on the sg node (the driver copies it through its own
// buffer) instead of the block node the engine uses by default (its SG_IO maps user pages).
import { ScsiDevice } from '../lib/device/device';
import { openPair, planPair, runPlanned, type CopyMode, type CopyOptions } from '../lib/engine';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string) => (arg(name) === undefined ? undefined : Number(arg(name)));

async function main(): Promise<void> {
  const o: CopyOptions = { src: arg('src')!, dst: arg('dst')!, mode: (arg('mode') ?? 'auto') as CopyMode };
  if (!o.src || !o.dst) throw new Error('--src and --dst are required');
  if (arg('length')) o.length = BigInt(arg('length')!);
  if (num('host-transfer')) o.hostTransferSize = num('host-transfer');
  if (num('max-in-flight')) o.maxInFlight = num('max-in-flight');
  if (arg('token-size')) o.tokenSize = BigInt(arg('token-size')!);
  if (arg('xcopy-size')) o.xcopySize = BigInt(arg('xcopy-size')!);
  if (arg('sparse')) o.sparse = arg('sparse') as CopyOptions['sparse'];
  if (arg('data-node') === 'sg') {
    o.src = await ScsiDevice.open(o.src as string, { dataNode: 'command' });
    o.dst = await ScsiDevice.open(o.dst as string, { exclusive: true, dataNode: 'command' });
  }
  const pair = await openPair(o);
  try {
    const details = await planPair(pair, o);
    if (num('host-depth')) details.hostDepth = num('host-depth')!;
    const r = await runPlanned(pair, details, o);
    const out = { ...r, hostDepth: details.hostDepth, hostTransferBytes: details.plan.hostTransferBytes, chunkBytes: details.plan.chunkBytes, maxInFlight: details.plan.maxInFlight };
    process.stdout.write(`${JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}\n`);
  } finally {
    await pair.close();
    for (const d of [o.src, o.dst]) if (d instanceof ScsiDevice) await d.close();
  }
}

main().catch((e) => {
  process.stderr.write(`variant: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
