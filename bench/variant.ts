// One copy through the engine library with knobs the CLI does not expose, as a process of
// its own (measured like every other tool): what a different default would buy, measured
// without editing the engine. Prints the CopyResult as one JSON object.
//   node dist/bench/variant.js --src DEV --dst DEV --length BYTES --mode auto|odx|xcopy|host
//        [--host-transfer BYTES] [--host-depth N] [--max-in-flight N] [--token-size BYTES]
//        [--xcopy-size BYTES] [--data-node sg|sd]
// --host-depth overrides PlanDetails.hostDepth (fixed at 2 in lib/engine/plan.ts).
// --data-node sd sends the copy's commands through the block node's SG_IO (which maps user
// pages) instead of the sg node (which copies through the driver's buffer); planning still
// probes through the sg node.
import { loadNative } from '../lib/native';
import { openPair, planPair, runPlanned, type CopyMode, type CopyOptions, type OpenedPair } from '../lib/engine';
import { runCommand, type ScsiTransport } from '../lib/scsi/transport';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string) => (arg(name) === undefined ? undefined : Number(arg(name)));

/** A transport over a block node's SG_IO, with the library's retry policy. */
async function blockNodeTransport(sd: string): Promise<{ t: ScsiTransport; close: () => void }> {
  const native = loadNative();
  const { fd } = await native.open(sd, { write: true, exclusive: false });
  const exec = { path: sd, execute: (r: Parameters<typeof native.execute>[1]) => native.execute(fd, r) };
  return { t: { path: sd, command: (cmd, o) => runCommand(exec, cmd, o) }, close: () => native.close(fd) };
}

async function main(): Promise<void> {
  const o: CopyOptions = { src: arg('src')!, dst: arg('dst')!, mode: (arg('mode') ?? 'auto') as CopyMode };
  if (!o.src || !o.dst) throw new Error('--src and --dst are required');
  if (arg('length')) o.length = BigInt(arg('length')!);
  if (num('host-transfer')) o.hostTransferSize = num('host-transfer');
  if (num('max-in-flight')) o.maxInFlight = num('max-in-flight');
  if (arg('token-size')) o.tokenSize = BigInt(arg('token-size')!);
  if (arg('xcopy-size')) o.xcopySize = BigInt(arg('xcopy-size')!);
  const pair = await openPair(o);
  const extra: Array<() => void> = [];
  try {
    const details = await planPair(pair, o);
    if (num('host-depth')) details.hostDepth = num('host-depth')!;
    let run: OpenedPair = pair;
    if (arg('data-node') === 'sd') {
      const s = await blockNodeTransport(pair.src.nodes.sd!);
      const d = await blockNodeTransport(pair.dst.nodes.sd!);
      extra.push(s.close, d.close);
      // runPlanned only sends commands through the pair (path + command).
      run = { src: s.t, dst: d.t, close: () => undefined } as unknown as OpenedPair;
    }
    const r = await runPlanned(run, details, o);
    const out = { ...r, hostDepth: details.hostDepth, hostTransferBytes: details.plan.hostTransferBytes, chunkBytes: details.plan.chunkBytes, maxInFlight: details.plan.maxInFlight };
    process.stdout.write(`${JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}\n`);
  } finally {
    extra.forEach((f) => f());
    pair.close();
  }
}

main().catch((e) => {
  process.stderr.write(`variant: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
