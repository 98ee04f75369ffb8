// The odxcp command line. Commands are thin: parse, call the library, print, map the error
// to an exit code (lib/scsi/exit-codes.ts, the table the README prints).
import { Command, CommanderError } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ScsiDevice } from '../device/device';
import { exitCodeFor } from '../scsi/exit-codes';
import { OdxcpError } from '../scsi/errors';

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** JSON.stringify that prints bigints as decimal strings and Buffers as hex. */
export function toJson(v: unknown, indent = 2): string {
  return JSON.stringify(
    v,
    function (this: unknown, _k, val: unknown) {
      if (typeof val === 'bigint') return val <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(val) : val.toString();
      if (val && typeof val === 'object' && (val as { type?: string }).type === 'Buffer' && Array.isArray((val as { data?: unknown }).data)) {
        return Buffer.from((val as { data: number[] }).data).toString('hex');
      }
      return val;
    },
    indent,
  );
}

async function info(devices: string[], opts: { json?: boolean }): Promise<void> {
  const out: unknown[] = [];
  for (const p of devices) {
    const d = await ScsiDevice.open(p);
    try {
      const [identity, capacity, capabilities] = [await d.identity(), await d.capacity(), await d.capabilities()];
      const rec = {
        path: p,
        sg: d.nodes.sg ?? null,
        sd: d.nodes.sd ?? null,
        address: d.nodes.address,
        vendor: identity.vendor,
        product: identity.product,
        revision: identity.revision,
        serial: identity.serial ?? null,
        naa: identity.naa ?? null,
        blockSize: capacity.blockSize,
        blocks: capacity.blocks,
        bytes: capacity.bytes,
        threePC: identity.threePC,
        tokenCopy: capabilities.tokenCopy,
        xcopyLid1: capabilities.xcopyLid1,
      };
      out.push(rec);
      if (!opts.json) {
        console.log(`${p}: ${identity.vendor} ${identity.product} ${identity.revision} (${d.nodes.address}, ${d.nodes.sg ?? '-'} ${d.nodes.sd ?? '-'})`);
        console.log(`  serial ${identity.serial ?? '-'}  naa ${identity.naa ?? '-'}`);
        console.log(`  ${capacity.blocks} blocks of ${capacity.blockSize} bytes (${capacity.bytes} bytes)`);
        console.log(`  token copy (ODX): ${capabilities.tokenCopy.supported ? 'yes' : 'no'} - ${capabilities.tokenCopy.reason}`);
        console.log(`  EXTENDED COPY LID1: ${capabilities.xcopyLid1.supported ? 'yes' : 'no'} - ${capabilities.xcopyLid1.reason}`);
      }
    } finally {
      d.close();
    }
  }
  if (opts.json) console.log(toJson(out.length === 1 ? out[0] : out));
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('odxcp')
    .description('SCSI copy offload for Linux: ODX token copy, EXTENDED COPY (LID1), buffered fallback')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program
    .command('info')
    .description('identity, size, block size and copy-offload support of one or more LUNs')
    .argument('<device...>', '/dev/sdX, /dev/sgN or a /dev/disk/by-* link')
    .option('--json', 'print JSON')
    .action(info);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    const msg = e instanceof OdxcpError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    process.stderr.write(`odxcp: ${msg.split('\n')[0]}\n`);
    return exitCodeFor(e);
  }
}
